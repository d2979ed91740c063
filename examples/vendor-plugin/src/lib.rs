//! A vendor's failure-handler plugin, as a template.
//!
//! This one is for a runtime whose pods share one network namespace and that runs workloads under
//! gVisor: it tolerates `network-namespace` for `EPERM`, and the two seccomp kinds for `EPERM`
//! only when the supervisor sees gVisor. Everything else aborts, with a reason.
//!
//! Configuration (`--handler-config FILE`, optional):
//!
//! ```json
//! {"network_namespace": true, "seccomp_requires_gvisor": true}
//! ```
//!
//! Build: `cargo build --release`; deploy `target/release/libvendor_plugin_template.so` read-only,
//! owned by root, in a directory only root can write to, and start
//! `sandbox-supervisor --handler-plugin /abs/path/libvendor_plugin_template.so`. Check its decisions
//! without root with `sandbox-supervisor simulate` (see docs/plugin-authors.md).

use sandbox_plugin_api::errno::EPERM;
use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
};
use serde::Deserialize;

/// The kinds this plugin may tolerate, named one by one: a rebuild against a newer plugin API
/// (with new kinds) must not declare more than the vendor decided to.
pub const DECLARED: [SandboxFailureKind; 3] = [
    SandboxFailureKind::NetworkNamespace,
    SandboxFailureKind::SupervisorSeccomp,
    SandboxFailureKind::WorkloadSeccomp,
];

/// The operator's configuration. Unknown keys are refused: a typo must not go unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Tolerate a refused network namespace (`EPERM`).
    pub network_namespace: bool,
    /// Tolerate refused seccomp filters only under gVisor.
    pub seccomp_requires_gvisor: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network_namespace: true,
            seccomp_requires_gvisor: true,
        }
    }
}

/// The vendor's policy. Keep it a plain value: it is created once, in `init`, and each decision
/// runs in a short-lived child of the supervisor (state changed in `decide` does not persist).
#[derive(Debug)]
pub struct VendorPolicy {
    config: Config,
}

impl FailurePolicy for VendorPolicy {
    const NAME: &'static str = "example-vendor";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let config = match config {
            None => Config::default(),
            // The supervisor prints this as
            // `plugin:example-vendor@0.1.0 rejected its configuration: <this message>`:
            // do not repeat the plugin's name.
            Some(value) => serde_json::from_value(value)
                .map_err(|err| format!("invalid configuration: {err}"))?,
        };
        Ok(VendorPolicy { config })
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        DECLARED.to_vec()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        self.decide(report).verdict
    }

    fn decide(&self, report: &FailureReport) -> Ruling {
        if report.errno != EPERM {
            return Ruling::abort(format!(
                "{} is not this runtime's refusal",
                report.errno_name
            ));
        }
        match report.kind {
            SandboxFailureKind::NetworkNamespace if self.config.network_namespace => {
                Ruling::tolerate("pods share the node's network namespace")
            }
            SandboxFailureKind::SupervisorSeccomp | SandboxFailureKind::WorkloadSeccomp => {
                if report.context.gvisor || !self.config.seccomp_requires_gvisor {
                    Ruling::tolerate("gVisor filters system calls itself")
                } else {
                    Ruling::abort("seccomp refused outside gVisor")
                }
            }
            // Kinds added in later versions of the API never reach this function (the glue
            // aborts them); anything else this policy does not expect aborts.
            _ => Ruling::abort("not tolerated by this vendor's policy"),
        }
    }
}

export_plugin!(VendorPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_plugin_api::errno::ENOSYS;
    use sandbox_plugin_api::FailureContext;
    use serde_json::json;

    fn refusal(kind: SandboxFailureKind, errno: i32, gvisor: bool) -> FailureReport {
        FailureReport::new(kind, "call", errno, "test")
            .with_context(FailureContext::default().with_gvisor(gvisor))
    }

    #[test]
    fn declares_explicit_kinds() {
        let policy = VendorPolicy::init(None).unwrap();
        assert_eq!(policy.tolerates(), DECLARED.to_vec());
    }

    #[test]
    fn decides_by_kind_errno_and_gvisor() {
        let policy = VendorPolicy::init(None).unwrap();
        let netns = policy.decide(&refusal(SandboxFailureKind::NetworkNamespace, EPERM, false));
        assert_eq!(
            netns,
            Ruling::tolerate("pods share the node's network namespace")
        );
        let outside = policy.decide(&refusal(SandboxFailureKind::WorkloadSeccomp, EPERM, false));
        assert_eq!(outside.verdict, Verdict::Abort);
        let inside = policy.decide(&refusal(SandboxFailureKind::WorkloadSeccomp, EPERM, true));
        assert_eq!(inside.verdict, Verdict::Tolerate);
        let enosys = policy.decide(&refusal(SandboxFailureKind::NetworkNamespace, ENOSYS, true));
        assert_eq!(enosys.verdict, Verdict::Abort);
        let pid = policy.decide(&refusal(SandboxFailureKind::PidNamespace, EPERM, true));
        assert_eq!(pid.verdict, Verdict::Abort);
    }

    #[test]
    fn parses_and_checks_its_configuration() {
        let policy = VendorPolicy::init(Some(json!({"network_namespace": false}))).unwrap();
        let netns = policy.decide(&refusal(SandboxFailureKind::NetworkNamespace, EPERM, true));
        assert_eq!(netns.verdict, Verdict::Abort);
        let lax = VendorPolicy::init(Some(json!({"seccomp_requires_gvisor": false}))).unwrap();
        let seccomp = lax.decide(&refusal(
            SandboxFailureKind::SupervisorSeccomp,
            EPERM,
            false,
        ));
        assert_eq!(seccomp.verdict, Verdict::Tolerate);
        let err = VendorPolicy::init(Some(json!({"network-namespace": true}))).unwrap_err();
        assert!(
            err.starts_with("invalid configuration: unknown field"),
            "{err}"
        );
    }
}
