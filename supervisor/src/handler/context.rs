//! What the supervisor can tell about where it runs, for the failure handler and the report.
//!
//! Every clue here is a heuristic an outer runtime can hide or fake: a hint for the operator's
//! reading of the report and `probe`, never a switch. The one thing in the context that is not a
//! guess is the boundary the operator declared (`--outer-boundary`), passed on as it was given.

use std::path::Path;

pub use sandbox_plugin_api::FailureContext;

/// gVisor's `/proc/version` names this fixed build.
const GVISOR_VERSION_MARK: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

pub use crate::options::OuterBoundary;

impl OuterBoundary {
    /// Every boundary, in the order `--help` lists them.
    pub const ALL: [OuterBoundary; 3] = [
        OuterBoundary::Gvisor,
        OuterBoundary::Container,
        OuterBoundary::Vm,
    ];

    /// The name on the command line, in the context and in the report.
    pub fn name(self) -> &'static str {
        match self {
            OuterBoundary::Gvisor => "gvisor",
            OuterBoundary::Container => "container",
            OuterBoundary::Vm => "vm",
        }
    }

    /// The boundary called `name`.
    pub fn from_name(name: &str) -> Option<OuterBoundary> {
        Self::ALL
            .into_iter()
            .find(|boundary| boundary.name() == name)
    }
}

/// Looks at `/proc`, the file system and the environment; reads a few small files. `declared`
/// is the operator's `--outer-boundary`, carried as given.
pub fn detect(declared: Option<OuterBoundary>) -> FailureContext {
    let gvisor = crate::procfs::read_file(std::path::Path::new("/proc/version"))
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
    context.outer_boundary = declared.map(|boundary| boundary.name().to_owned());
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
    let cgroup =
        crate::procfs::read_file(std::path::Path::new("/proc/1/cgroup")).unwrap_or_default();
    ["kubepods", "docker", "containerd", "libpod", "lxc"]
        .into_iter()
        .find(|mark| cgroup.contains(mark))
        .map(|mark| format!("/proc/1/cgroup mentions {mark}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_this_process() {
        let context = super::detect(Some(super::OuterBoundary::Vm));
        assert_eq!(context.outer_boundary.as_deref(), Some("vm"));
        assert!(context.threads >= 1);
        assert_eq!(context.uid, nix::unistd::getuid().as_raw());
    }
}
