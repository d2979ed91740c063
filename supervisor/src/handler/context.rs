//! What the supervisor can tell about where it runs, for the failure handler and the report.
//!
//! Every clue here is a heuristic an outer runtime can hide or fake. It informs a handler's
//! decision and the operator's reading of the report; it never switches a step off by itself.

use std::path::Path;

pub use sandbox_plugin_api::FailureContext;

/// gVisor's `/proc/version` names this fixed build.
const GVISOR_VERSION_MARK: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

/// Looks at `/proc`, the file system and the environment; reads a few small files.
pub fn detect() -> FailureContext {
    let gvisor = std::fs::read_to_string("/proc/version")
        .map(|version| version.contains(GVISOR_VERSION_MARK))
        .unwrap_or(false);
    let effective_capabilities = crate::procfs::Status::read(crate::procfs::Process::This)
        .ok()
        .and_then(|status| status.caps.effective)
        .unwrap_or(0);
    let mut context = FailureContext::default();
    context.gvisor = gvisor;
    context.container = container_clue();
    context.threads = crate::procfs::thread_count();
    context.effective_capabilities = effective_capabilities;
    context.uid = nix::unistd::getuid().as_raw();
    context
}

fn container_clue() -> Option<String> {
    for file in ["/.dockerenv", "/run/.containerenv"] {
        if Path::new(file).exists() {
            return Some(file.to_owned());
        }
    }
    for variable in ["container", "KUBERNETES_SERVICE_HOST"] {
        if std::env::var_os(variable).is_some() {
            return Some(format!("${variable}"));
        }
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["kubepods", "docker", "containerd", "libpod", "lxc"]
        .into_iter()
        .find(|mark| cgroup.contains(mark))
        .map(|mark| format!("/proc/1/cgroup mentions {mark}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_this_process() {
        let context = super::detect();
        assert!(context.threads >= 1);
        assert_eq!(context.uid, nix::unistd::getuid().as_raw());
    }
}
