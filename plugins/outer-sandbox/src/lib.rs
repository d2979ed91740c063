//! `outer-sandbox`: the failure handler for deployments where an outer runtime (gVisor,
//! Firecracker, Kata, a container or a cap-dropped Kubernetes pod) is the enforcing boundary.
//!
//! It tolerates a refused step only when **both** hold:
//!
//! 1. **There is an outer boundary.** One the supervisor detects (`context.gvisor`: gVisor's
//!    `/proc/version`; `context.container`: `/.dockerenv`, `/run/.containerenv`, the `container`
//!    or `KUBERNETES_SERVICE_HOST` environment variable, or a container cgroup of PID 1), or one
//!    the operator declares in the configuration: `{"boundary": "firecracker"}`. A microVM
//!    (Firecracker, Kata, Cloud Hypervisor) cannot be told from a plain host from inside, so it
//!    must be declared. On a plain host, with no clue and nothing declared, every refusal aborts.
//!    Clues lie (a microVM built from a container image keeps `/.dockerenv`): the reason of every
//!    decision names the clue or the declaration it relied on, and the operator reads it in the
//!    WARN line and the report.
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
//! The `cgroup` kind (a group of the sandbox's own, or a limit the operator asked for, could not be
//! made) is tolerated only behind a boundary the operator **declared** (`{"boundary": ...}`): a
//! clue says the outer runtime refuses system calls, not that it bounds the workload's processes
//! and memory; only the operator knows whether the runtime's own limits stand in for the ones
//! asked for.
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
pub const BOUNDARIES: [&str; 6] = [
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

impl OuterSandbox {
    /// The outer boundary this decision may rely on, as a phrase for the reason, or `None`.
    fn boundary(&self, report: &FailureReport) -> Option<String> {
        if report.context.gvisor {
            return Some("gVisor detected (/proc/version)".to_owned());
        }
        if let Some(declared) = &self.declared {
            return Some(format!("the operator declared the boundary {declared}"));
        }
        report
            .context
            .container
            .as_ref()
            .map(|clue| format!("container clue {clue}"))
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
        if cgroup {
            return match &self.declared {
                Some(declared) => Ruling::tolerate(format!(
                    "outer boundary: the operator declared the boundary {declared}, whose own limits bound the sandbox"
                )),
                None => Ruling::abort(
                    "a refused cgroup is tolerated only behind a declared boundary \
                     ({\"boundary\": NAME} in --handler-config): a detected one says nothing of its limits",
                ),
            };
        }
        match self.boundary(report) {
            Some(boundary) => Ruling::tolerate(format!("outer boundary: {boundary}")),
            None => Ruling::abort(
                "no outer boundary: not gVisor, no container clue, and none declared \
                 ({\"boundary\": NAME} in --handler-config)",
            ),
        }
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

    fn with_container(clue: &str) -> FailureContext {
        let mut context = FailureContext::default();
        context.container = Some(clue.to_owned());
        context
    }

    fn gvisor() -> FailureContext {
        let mut context = FailureContext::default();
        context.gvisor = true;
        context
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
    fn aborts_on_a_plain_host_and_says_why() {
        let policy = OuterSandbox::init(None).unwrap();
        let ruling = policy.decide(&report(
            SandboxFailureKind::NetworkNamespace,
            EPERM,
            plain_host(),
        ));
        assert_eq!(ruling.verdict, Verdict::Abort);
        assert!(ruling.reason.unwrap().starts_with("no outer boundary"));
    }

    #[test]
    fn tolerates_behind_a_detected_or_declared_boundary_naming_it() {
        let policy = OuterSandbox::init(None).unwrap();
        let ruling = policy.decide(&report(
            SandboxFailureKind::NetworkNamespace,
            EPERM,
            with_container("/.dockerenv"),
        ));
        assert_eq!(
            ruling,
            Ruling::tolerate("outer boundary: container clue /.dockerenv")
        );
        let ruling = policy.decide(&report(SandboxFailureKind::PidNamespace, EPERM, gvisor()));
        assert_eq!(
            ruling,
            Ruling::tolerate("outer boundary: gVisor detected (/proc/version)")
        );
        let declared = OuterSandbox::init(Some(json!({"boundary": "firecracker"}))).unwrap();
        let ruling = declared.decide(&report(
            SandboxFailureKind::MountNamespace,
            EPERM,
            plain_host(),
        ));
        assert_eq!(
            ruling,
            Ruling::tolerate("outer boundary: the operator declared the boundary firecracker")
        );
    }

    #[test]
    fn decides_by_errno_even_behind_a_boundary() {
        let policy = OuterSandbox::init(None).unwrap();
        let netns = |errno| report(SandboxFailureKind::NetworkNamespace, errno, gvisor());
        assert_eq!(policy.handle(&netns(EPERM)), Verdict::Tolerate);
        assert_eq!(policy.handle(&netns(12)), Verdict::Abort);
        // EINVAL only for the seccomp kinds (gVisor's answer to unsupported filter flags).
        assert_eq!(policy.handle(&netns(EINVAL)), Verdict::Abort);
        let seccomp = report(SandboxFailureKind::WorkloadSeccomp, EINVAL, gvisor());
        assert_eq!(policy.handle(&seccomp), Verdict::Tolerate);
    }

    #[test]
    fn tolerates_a_refused_cgroup_only_behind_a_declared_boundary() {
        let detected = OuterSandbox::init(None).unwrap();
        let refused = |errno, context| report(SandboxFailureKind::Cgroup, errno, context);
        assert_eq!(detected.handle(&refused(EROFS, gvisor())), Verdict::Abort);
        assert_eq!(
            detected.handle(&refused(EACCES, with_container("/.dockerenv"))),
            Verdict::Abort
        );
        let declared = OuterSandbox::init(Some(json!({"boundary": "kubernetes-pod"}))).unwrap();
        assert_eq!(
            declared.handle(&refused(EROFS, plain_host())),
            Verdict::Tolerate
        );
        assert_eq!(
            declared.handle(&refused(EACCES, plain_host())),
            Verdict::Tolerate
        );
        assert_eq!(declared.handle(&refused(12, plain_host())), Verdict::Abort);
        // EROFS is no answer for the other kinds.
        let netns = report(SandboxFailureKind::NetworkNamespace, EROFS, gvisor());
        assert_eq!(declared.handle(&netns), Verdict::Abort);
    }

    #[test]
    fn rejects_unknown_configuration() {
        assert!(OuterSandbox::init(Some(json!({"x": 1}))).is_err());
        assert!(OuterSandbox::init(Some(json!({"boundary": "vmware"}))).is_err());
        assert!(OuterSandbox::init(Some(json!({"boundary": "kata"}))).is_ok());
        assert_eq!(
            OuterSandbox::init(None).unwrap().tolerates(),
            DECLARED.to_vec()
        );
    }
}
