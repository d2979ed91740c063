//! `outer-sandbox`: the failure handler for deployments where an outer runtime (gVisor,
//! Firecracker, Kata, a cap-dropped Kubernetes pod) is the enforcing boundary.
//!
//! It may tolerate the three tolerable kinds, and tolerates a refusal only when the errno is one
//! an outer runtime answers with for a call it does not permit:
//!
//! | errno | where it comes from |
//! |---|---|
//! | `EPERM` | missing capability (`CAP_SYS_ADMIN` in a cap-dropped pod), a container seccomp profile |
//! | `EACCES` | an LSM (AppArmor, SELinux) denying the call |
//! | `ENOSYS` | a runtime that does not implement the call |
//! | `EINVAL` | gVisor rejecting seccomp filter flags it does not support |
//! | `EOPNOTSUPP` | a runtime that implements the call but not this use of it |
//!
//! Every other errno (for example `ENOMEM` or `EFAULT`) is not a policy refusal and aborts. The
//! plugin takes no configuration; use the `policy` plugin for per-kind, per-errno rules.

#![deny(missing_docs)]

use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, SandboxFailureKind, Verdict,
};

/// The errnos an outer runtime answers with when it refuses a hardening call.
pub const OUTER_RUNTIME_ERRNOS: [i32; 5] = [1, 13, 38, 22, 95];

/// The `outer-sandbox` policy.
#[derive(Debug)]
pub struct OuterSandbox;

impl FailurePolicy for OuterSandbox {
    const NAME: &'static str = "outer-sandbox";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        match config {
            None | Some(serde_json::Value::Null) => Ok(OuterSandbox),
            Some(_) => Err(
                "outer-sandbox takes no configuration; use the policy plugin for per-errno rules"
                    .to_owned(),
            ),
        }
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        SandboxFailureKind::ALL.to_vec()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        if OUTER_RUNTIME_ERRNOS.contains(&report.errno) {
            Verdict::Tolerate
        } else {
            Verdict::Abort
        }
    }
}

export_plugin!(OuterSandbox);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_table_matches_names() {
        let names: Vec<String> = OUTER_RUNTIME_ERRNOS
            .iter()
            .map(|errno| sandbox_plugin_api::errno_name(*errno))
            .collect();
        assert_eq!(names, ["EPERM", "EACCES", "ENOSYS", "EINVAL", "EOPNOTSUPP"]);
    }

    #[test]
    fn decides_by_errno() {
        let policy = OuterSandbox::init(None).unwrap();
        let report = |errno| {
            FailureReport::new(
                SandboxFailureKind::NetworkNamespace,
                "unshare(CLONE_NEWNET)",
                errno,
                "",
            )
        };
        assert_eq!(policy.handle(&report(1)), Verdict::Tolerate);
        assert_eq!(policy.handle(&report(12)), Verdict::Abort);
        assert!(OuterSandbox::init(Some(serde_json::json!({"x": 1}))).is_err());
    }
}
