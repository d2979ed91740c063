//! `policy`: tolerance per kind and per errno, read from the operator's JSON configuration.
//!
//! ```json
//! {
//!   "tolerate": {
//!     "network-namespace": ["EPERM"],
//!     "workload-seccomp": ["EPERM", "EINVAL"]
//!   }
//! }
//! ```
//!
//! Keys are kind names (`network-namespace`, `supervisor-seccomp`, `workload-seccomp`,
//! `pid-namespace`, `mount-namespace`, `filesystem-view`, `landlock`); values are lists of errno names (`EPERM`) or numbers. The plugin declares exactly the kinds listed and
//! `pid-namespace`, `mount-namespace`, `cgroup`: `{"cgroup": ["EROFS", "EACCES"]}` lets a run
//! whose limits cannot be set go on bounded by the outer runtime's); values are lists of errno names (`EPERM`) or numbers. The plugin declares exactly the kinds listed and
//! tolerates a refusal only when its errno is listed for its kind; everything else aborts. A
//! configuration is required; an unknown kind, errno name or key is rejected at init.

#![deny(missing_docs)]

use std::collections::BTreeMap;

use sandbox_plugin_api::{
    errno_name, export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
};
use serde::Deserialize;

/// The `policy` plugin's configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tolerate: BTreeMap<String, Vec<ErrnoSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrnoSpec {
    Number(i32),
    Name(String),
}

/// The `policy` plugin: which errnos are tolerated for which kind.
#[derive(Debug)]
pub struct Policy {
    tolerate: BTreeMap<SandboxFailureKind, Vec<i32>>,
}

impl FailurePolicy for Policy {
    const NAME: &'static str = "policy";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let config = config.ok_or(
            "policy needs a configuration: --handler-config FILE with {\"tolerate\": {KIND: [ERRNO, ...]}}",
        )?;
        let config: Config = serde_json::from_value(config)
            .map_err(|err| format!("invalid configuration: {err}"))?;
        let mut tolerate = BTreeMap::new();
        for (kind_name, errnos) in config.tolerate {
            let kind = SandboxFailureKind::from_name(&kind_name).ok_or_else(|| {
                format!(
                    "unknown kind {kind_name:?} (expected one of {})",
                    SandboxFailureKind::ALL
                        .map(SandboxFailureKind::name)
                        .join(", ")
                )
            })?;
            let errnos = errnos
                .into_iter()
                .map(|spec| match spec {
                    ErrnoSpec::Number(errno) if errno > 0 => Ok(errno),
                    ErrnoSpec::Number(errno) => Err(format!("errno {errno} is not positive")),
                    ErrnoSpec::Name(name) => sandbox_plugin_api::errno::from_name(&name)
                        .ok_or_else(|| format!("unknown errno name {name:?}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            tolerate.insert(kind, errnos);
        }
        Ok(Policy { tolerate })
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        self.tolerate.keys().copied().collect()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        self.decide(report).verdict
    }

    /// The same verdicts as `handle`, saying which entry of the configuration decided.
    fn decide(&self, report: &FailureReport) -> Ruling {
        let kind = report.kind;
        match self.tolerate.get(&kind) {
            Some(errnos) if errnos.contains(&report.errno) => {
                Ruling::tolerate(format!("the policy lists {} for {kind}", report.errno_name))
            }
            Some(errnos) => Ruling::abort(format!(
                "the policy lists only {} for {kind}",
                errnos
                    .iter()
                    .map(|errno| errno_name(*errno))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Ruling::abort(format!("the policy tolerates nothing for {kind}")),
        }
    }
}

export_plugin!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(kind: SandboxFailureKind, errno: i32) -> FailureReport {
        FailureReport::new(kind, "call", errno, "")
    }

    #[test]
    fn tolerates_exactly_what_is_listed() {
        let policy = Policy::init(Some(
            json!({"tolerate": {"network-namespace": ["EPERM", 38]}}),
        ))
        .unwrap();
        assert_eq!(
            policy.tolerates(),
            vec![SandboxFailureKind::NetworkNamespace]
        );
        assert_eq!(
            policy.handle(&report(SandboxFailureKind::NetworkNamespace, 1)),
            Verdict::Tolerate
        );
        assert_eq!(
            policy.handle(&report(SandboxFailureKind::NetworkNamespace, 38)),
            Verdict::Tolerate
        );
        assert_eq!(
            policy.decide(&report(SandboxFailureKind::NetworkNamespace, 38)),
            Ruling::tolerate("the policy lists ENOSYS for network-namespace")
        );
        assert_eq!(
            policy.decide(&report(SandboxFailureKind::NetworkNamespace, 22)),
            Ruling::abort("the policy lists only EPERM, ENOSYS for network-namespace")
        );
        assert_eq!(
            policy.decide(&report(SandboxFailureKind::PidNamespace, 1)),
            Ruling::abort("the policy tolerates nothing for pid-namespace")
        );
        assert_eq!(
            policy.handle(&report(SandboxFailureKind::NetworkNamespace, 13)),
            Verdict::Abort
        );
        assert_eq!(
            policy.handle(&report(SandboxFailureKind::WorkloadSeccomp, 1)),
            Verdict::Abort
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(Policy::init(None).is_err());
        assert!(Policy::init(Some(json!({"tolerate": {"bogus": ["EPERM"]}}))).is_err());
        assert!(
            Policy::init(Some(json!({"tolerate": {"network-namespace": ["EBOGUS"]}}))).is_err()
        );
        assert!(Policy::init(Some(json!({"tolerate": {}, "extra": 1}))).is_err());
    }
}
