//! A vendor's failure-handler plugin, as a template.
//!
//! This one is for a runtime that never grants a network namespace (its pods share one) and, under
//! gVisor, may refuse seccomp filters: it tolerates `network-namespace` for `EPERM`, and the two
//! seccomp kinds only when the supervisor sees gVisor. Everything else aborts.
//!
//! Build: `cargo build --release`; deploy `target/release/libvendor_plugin_template.so` read-only,
//! owned by root, and start `sandbox-supervisor --handler-plugin /abs/path/libvendor_plugin_template.so`.

use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, SandboxFailureKind, Verdict,
};

const EPERM: i32 = 1;

/// The vendor's policy. Keep it a plain value: it is created once, in `init`.
pub struct VendorPolicy;

impl FailurePolicy for VendorPolicy {
    const NAME: &'static str = "example-vendor";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        // Refuse what you do not understand: a typo in an operator's file must not go unnoticed.
        match config {
            None => Ok(VendorPolicy),
            Some(_) => Err("example-vendor takes no configuration".to_owned()),
        }
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        SandboxFailureKind::ALL.to_vec()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        match report.kind {
            SandboxFailureKind::NetworkNamespace if report.errno == EPERM => Verdict::Tolerate,
            SandboxFailureKind::SupervisorSeccomp | SandboxFailureKind::WorkloadSeccomp
                if report.context.gvisor && report.errno == EPERM =>
            {
                Verdict::Tolerate
            }
            // New kinds in later versions of the API never reach this function; anything else
            // this policy does not expect aborts.
            _ => Verdict::Abort,
        }
    }
}

export_plugin!(VendorPolicy);
