//! `outer-sandbox`: the failure handler for deployments where an outer runtime (gVisor,
//! Firecracker, Kata, a container or a cap-dropped Kubernetes pod) is the enforcing boundary.
//!
//! It tolerates a refused step only when **both** hold:
//!
//! 1. **The operator declared an outer boundary.** With the supervisor's flag
//!    `--outer-boundary gvisor|container|vm` (it reaches the plugin as `context.outer_boundary`)
//!    or in this plugin's configuration: `{"boundary": "firecracker"}` (one of [`BOUNDARIES`]);
//!    when both are given, the configuration's is the one named. Nothing detected decides:
//!    gVisor's `/proc/version` (`context.gvisor`) and the container clues (`context.container`:
//!    `/.dockerenv`, `/run/.containerenv`, `$container`, `$KUBERNETES_SERVICE_HOST`, a container
//!    cgroup of PID 1) are named in the reason as hints, and that is all. Clues lie both ways: a
//!    microVM built from a container image keeps `/.dockerenv`, one environment variable is all
//!    `$KUBERNETES_SERVICE_HOST` takes, and a real runc container may show no clue at all. Up to
//!    sandbox-supervisor 0.1.0 this plugin tolerated on a detected clue; a deployment that relied
//!    on one now aborts with exit 121 and a reason that says how to declare the boundary.
//! 2. **The errno is one an outer runtime answers with** for a call it does not permit:
//!
//! | errno | kinds | where it comes from |
//! |---|---|---|
//! | `EPERM` | all | missing capability (`CAP_SYS_ADMIN` in a cap-dropped pod), a container seccomp profile |
//! | `EACCES` | all | an LSM (AppArmor, SELinux) denying the call |
//! | `ENOSYS` | all | a runtime that does not implement the call |
//! | `EOPNOTSUPP` | all | a runtime that implements the call but not this use of it |
//! | `EINVAL` | the two seccomp kinds | gVisor rejecting seccomp filter flags it does not support |
//!
//! | `EROFS` | `cgroup` | a cgroup file system mounted read-only (a pod or container without delegation) |
//!
//! For the `filesystem-view` and `landlock` kinds the declaration is the operator's word that the
//! outer runtime keeps the workload off the host's files; for `cgroup`, that its own limits stand in
//! for the ones asked for. The reason says so.
//!
//! Every other errno (for example `ENOMEM` or `EFAULT`) is not a policy refusal and aborts.
//! It declares the eight tolerable kinds by name (a rebuild against a newer plugin API does not
//! declare new kinds silently). Use the `policy` plugin for per-kind, per-errno rules.

#![deny(missing_docs)]

use sandbox_plugin_api::errno::{EACCES, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, EROFS};
use sandbox_plugin_api::{
    errno_name, export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
};
use serde::Deserialize;

/// The errnos an outer runtime answers with when it refuses a hardening call, for every kind.
pub const OUTER_RUNTIME_ERRNOS: [i32; 4] = [EPERM, EACCES, ENOSYS, EOPNOTSUPP];

/// The boundaries an operator may declare.
pub const BOUNDARIES: [&str; 7] = [
    "vm",
    "firecracker",
    "kata",
    "cloud-hypervisor",
    "gvisor",
    "container",
    "kubernetes-pod",
];

/// The kinds this plugin may tolerate, named one by one.
pub const DECLARED: [SandboxFailureKind; 8] = [
    SandboxFailureKind::NetworkNamespace,
    SandboxFailureKind::SupervisorSeccomp,
    SandboxFailureKind::WorkloadSeccomp,
    SandboxFailureKind::PidNamespace,
    SandboxFailureKind::MountNamespace,
    SandboxFailureKind::FilesystemView,
    SandboxFailureKind::Landlock,
    SandboxFailureKind::Cgroup,
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    boundary: Option<String>,
}

/// The `outer-sandbox` policy.
#[derive(Debug)]
pub struct OuterSandbox {
    /// The boundary the operator declared, if any.
    declared: Option<String>,
}

/// The reason of an abort for want of a declaration: how to declare one (the hints seen follow,
/// last, so that the reason's cap can only cut them).
const UNDECLARED: &str = "no outer boundary declared (--outer-boundary gvisor|container|vm, \
                          or {\"boundary\": NAME} in --handler-config)";

impl OuterSandbox {
    /// The boundary the operator declared, as a phrase for the reason, or `None`.
    fn boundary(&self, report: &FailureReport) -> Option<String> {
        if let Some(declared) = &self.declared {
            return Some(format!("the operator declared the boundary {declared}"));
        }
        report.context.outer_boundary.as_ref().map(|declared| {
            format!("the operator declared the boundary {declared} (--outer-boundary)")
        })
    }

    /// The reason of an abort for want of a declared boundary, naming the hints seen.
    fn undeclared(report: &FailureReport) -> String {
        let mut hints = Vec::new();
        if report.context.gvisor {
            hints.push("gVisor's /proc/version".to_owned());
        }
        if let Some(clue) = &report.context.container {
            hints.push(format!("container clue {clue}"));
        }
        match hints.is_empty() {
            true => UNDECLARED.to_owned(),
            false => format!(
                "{UNDECLARED}; hints, which never decide: {}",
                hints.join(", ")
            ),
        }
    }
}

impl FailurePolicy for OuterSandbox {
    const NAME: &'static str = "outer-sandbox";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let config: Config = match config {
            None | Some(serde_json::Value::Null) => Config::default(),
            Some(value) => serde_json::from_value(value).map_err(|err| {
                format!("invalid configuration: {err} (expected {{\"boundary\": NAME}})")
            })?,
        };
        if let Some(boundary) = &config.boundary {
            if !BOUNDARIES.contains(&boundary.as_str()) {
                return Err(format!(
                    "unknown boundary {boundary:?} (expected one of {})",
                    BOUNDARIES.join(", ")
                ));
            }
        }
        Ok(OuterSandbox {
            declared: config.boundary,
        })
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        DECLARED.to_vec()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        self.decide(report).verdict
    }

    fn decide(&self, report: &FailureReport) -> Ruling {
        let seccomp = matches!(
            report.kind,
            SandboxFailureKind::SupervisorSeccomp | SandboxFailureKind::WorkloadSeccomp
        );
        let cgroup = report.kind == SandboxFailureKind::Cgroup;
        // The filesystem view and Landlock keep the workload off the host's files: the reason says
        // that the declared boundary stands in for them.
        let files = matches!(
            report.kind,
            SandboxFailureKind::FilesystemView | SandboxFailureKind::Landlock
        );
        let errno_fits = OUTER_RUNTIME_ERRNOS.contains(&report.errno)
            || (seccomp && report.errno == EINVAL)
            || (cgroup && report.errno == EROFS);
        if !errno_fits {
            return Ruling::abort(format!(
                "{} is not an errno an outer runtime refuses {} with",
                errno_name(report.errno),
                report.kind
            ));
        }
        let Some(boundary) = self.boundary(report) else {
            return Ruling::abort(Self::undeclared(report));
        };
        Ruling::tolerate(match (cgroup, files) {
            (true, _) => format!("outer boundary: {boundary}, whose own limits bound the sandbox"),
            (_, true) => format!("outer boundary: {boundary}, which confines the workload's files"),
            _ => format!("outer boundary: {boundary}"),
        })
    }
}

export_plugin!(OuterSandbox);

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_plugin_api::FailureContext;
    use serde_json::json;

    fn report(kind: SandboxFailureKind, errno: i32, context: FailureContext) -> FailureReport {
        FailureReport::new(kind, "call", errno, "").with_context(context)
    }

    fn plain_host() -> FailureContext {
        FailureContext::default()
    }

    /// Every clue the supervisor can detect, and nothing declared.
    fn clues() -> FailureContext {
        FailureContext::default()
            .with_gvisor(true)
            .with_container("$KUBERNETES_SERVICE_HOST")
    }

    fn declared(boundary: &str) -> FailureContext {
        FailureContext::default().with_outer_boundary(boundary)
    }

    #[test]
    fn errno_table_matches_names() {
        let names: Vec<String> = OUTER_RUNTIME_ERRNOS
            .iter()
            .map(|e| errno_name(*e))
            .collect();
        assert_eq!(names, ["EPERM", "EACCES", "ENOSYS", "EOPNOTSUPP"]);
    }

    #[test]
    fn aborts_on_a_plain_host_and_says_how_to_declare() {
        let policy = OuterSandbox::init(None).unwrap();
        let ruling = policy.decide(&report(
            SandboxFailureKind::NetworkNamespace,
            EPERM,
            plain_host(),
        ));
        assert_eq!(
            ruling,
            Ruling::abort(
                "no outer boundary declared (--outer-boundary gvisor|container|vm, \
                 or {\"boundary\": NAME} in --handler-config)"
            )
        );
    }

    /// Clues are hints: named in the reason, never a tolerance, for any kind.
    #[test]
    fn clues_decide_nothing_and_are_named_as_hints() {
        let policy = OuterSandbox::init(None).unwrap();
        for kind in DECLARED {
            let ruling = policy.decide(&report(kind, EPERM, clues()));
            assert_eq!(ruling.verdict, Verdict::Abort, "{kind}");
            assert!(
                ruling.reason.unwrap().ends_with(
                    "in --handler-config); hints, which never decide: gVisor's /proc/version, \
                     container clue $KUBERNETES_SERVICE_HOST"
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn tolerates_behind_a_declared_boundary_naming_the_declaration() {
        let policy = OuterSandbox::init(None).unwrap();
        let ruling = policy.decide(&report(
            SandboxFailureKind::NetworkNamespace,
            EPERM,
            declared("vm"),
        ));
        assert_eq!(
            ruling,
            Ruling::tolerate(
                "outer boundary: the operator declared the boundary vm (--outer-boundary)"
            )
        );
        let configured = OuterSandbox::init(Some(json!({"boundary": "firecracker"}))).unwrap();
        for context in [plain_host(), declared("container")] {
            let ruling =
                configured.decide(&report(SandboxFailureKind::MountNamespace, EPERM, context));
            assert_eq!(
                ruling,
                Ruling::tolerate("outer boundary: the operator declared the boundary firecracker")
            );
        }
    }

    #[test]
    fn decides_by_errno_even_behind_a_boundary() {
        let policy = OuterSandbox::init(None).unwrap();
        let netns = |errno| {
            report(
                SandboxFailureKind::NetworkNamespace,
                errno,
                declared("gvisor"),
            )
        };
        assert_eq!(policy.handle(&netns(EPERM)), Verdict::Tolerate);
        assert_eq!(policy.handle(&netns(12)), Verdict::Abort);
        // EINVAL only for the seccomp kinds (gVisor's answer to unsupported filter flags).
        assert_eq!(policy.handle(&netns(EINVAL)), Verdict::Abort);
        let seccomp = report(
            SandboxFailureKind::WorkloadSeccomp,
            EINVAL,
            declared("gvisor"),
        );
        assert_eq!(policy.handle(&seccomp), Verdict::Tolerate);
    }

    #[test]
    fn the_view_landlock_and_cgroup_say_what_the_declaration_stands_in_for() {
        let policy = OuterSandbox::init(None).unwrap();
        for kind in [
            SandboxFailureKind::FilesystemView,
            SandboxFailureKind::Landlock,
        ] {
            let ruling = policy.decide(&report(kind, ENOSYS, declared("gvisor")));
            assert_eq!(ruling.verdict, Verdict::Tolerate, "{kind}");
            assert!(ruling
                .reason
                .unwrap()
                .ends_with("which confines the workload's files"));
            assert_eq!(
                policy.handle(&report(kind, 12, declared("gvisor"))),
                Verdict::Abort
            );
        }
        let refused = |errno| report(SandboxFailureKind::Cgroup, errno, declared("container"));
        let ruling = policy.decide(&refused(EROFS));
        assert_eq!(ruling.verdict, Verdict::Tolerate);
        assert!(ruling
            .reason
            .unwrap()
            .ends_with("whose own limits bound the sandbox"));
        assert_eq!(policy.handle(&refused(EACCES)), Verdict::Tolerate);
        assert_eq!(policy.handle(&refused(12)), Verdict::Abort);
        // EROFS is no answer for the other kinds.
        let netns = report(SandboxFailureKind::NetworkNamespace, EROFS, declared("vm"));
        assert_eq!(policy.handle(&netns), Verdict::Abort);
    }

    #[test]
    fn rejects_unknown_configuration() {
        assert!(OuterSandbox::init(Some(json!({"x": 1}))).is_err());
        assert!(OuterSandbox::init(Some(json!({"boundary": "vmware"}))).is_err());
        assert!(OuterSandbox::init(Some(json!({"boundary": "kata"}))).is_ok());
        assert!(OuterSandbox::init(Some(json!({"boundary": "vm"}))).is_ok());
        assert_eq!(
            OuterSandbox::init(None).unwrap().tolerates(),
            DECLARED.to_vec()
        );
    }
}
