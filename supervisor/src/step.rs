//! The hardening steps, in boot order, and the one refusal type.
//!
//! A [`Step`] is named in one place ([`Step::name`]); logs, reports, `probe` and the tests use
//! that name. A [`Call`] is a system call a step makes; a [`Refusal`] is the kernel (or an outer
//! runtime) answering one of them with an errno: the only thing a failure handler is asked about.

use nix::errno::Errno;
use sandbox_plugin_api::SandboxFailureKind;

use crate::identity::DropStage;

/// A hardening step, in the order a boot performs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Step {
    /// The supervisor enters a new network namespace with only `lo` up; the sandbox inherits it.
    NetworkNamespace,
    /// The sandbox's init is created in new PID and IPC namespaces, as its PID 1.
    PidNamespace,
    /// The init enters a new mount namespace, makes every mount private and mounts a fresh `/proc`.
    MountNamespace,
    /// The init builds the workload's filesystem view (a read-only host or a minimal root,
    /// private scratch space, a minimal `/dev`, masked paths) and `pivot_root`s into it.
    FilesystemView,
    /// The workload starts a new session: no controlling terminal.
    Session,
    /// The workload drops every capability: bounding, ambient, inheritable, permitted, effective.
    Capabilities,
    /// The workload takes the target uid, gid and groups, verified.
    PrivilegeDrop,
    /// The workload sets `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// The workload enters a Landlock domain mirroring the view.
    Landlock,
    /// The workload installs its seccomp programs.
    WorkloadSeccomp,
    /// The supervisor installs its own seccomp prelude, once the sandbox exists.
    SupervisorSeccomp,
}

impl Step {
    /// Every step, in boot order.
    pub const ALL: [Step; 11] = [
        Step::NetworkNamespace,
        Step::PidNamespace,
        Step::MountNamespace,
        Step::FilesystemView,
        Step::Session,
        Step::Capabilities,
        Step::PrivilegeDrop,
        Step::NoNewPrivs,
        Step::Landlock,
        Step::WorkloadSeccomp,
        Step::SupervisorSeccomp,
    ];

    /// The stable name used in logs, reports, `probe` and configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Step::NetworkNamespace => "network-namespace",
            Step::PidNamespace => "pid-namespace",
            Step::MountNamespace => "mount-namespace",
            Step::FilesystemView => "filesystem-view",
            Step::Session => "session",
            Step::Capabilities => "capabilities",
            Step::PrivilegeDrop => "privilege-drop",
            Step::NoNewPrivs => "no-new-privs",
            Step::Landlock => "landlock",
            Step::WorkloadSeccomp => "workload-seccomp",
            Step::SupervisorSeccomp => "supervisor-seccomp",
        }
    }

    /// The step with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.name() == name)
    }

    /// The failure kind a handler decides about, for the steps that may be tolerated; `None` for
    /// the steps that are fatal whatever a handler says (session, capabilities, ids, NNP).
    pub const fn kind(self) -> Option<SandboxFailureKind> {
        match self {
            Step::NetworkNamespace => Some(SandboxFailureKind::NetworkNamespace),
            Step::PidNamespace => Some(SandboxFailureKind::PidNamespace),
            Step::MountNamespace => Some(SandboxFailureKind::MountNamespace),
            Step::FilesystemView => Some(SandboxFailureKind::FilesystemView),
            Step::Landlock => Some(SandboxFailureKind::Landlock),
            Step::WorkloadSeccomp => Some(SandboxFailureKind::WorkloadSeccomp),
            Step::SupervisorSeccomp => Some(SandboxFailureKind::SupervisorSeccomp),
            Step::Session | Step::Capabilities | Step::PrivilegeDrop | Step::NoNewPrivs => None,
        }
    }

    /// The step of a failure kind.
    pub fn of_kind(kind: SandboxFailureKind) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.kind() == Some(kind))
    }

    /// What the step protects, in a few words (the report's `protection`).
    pub const fn protection(self) -> &'static str {
        match self {
            Step::NetworkNamespace => "a network namespace with only lo",
            Step::PidNamespace => "PID and IPC namespaces whose init is the sandbox's own",
            Step::MountNamespace => {
                "a private mount namespace with a fresh /proc (its /proc/sys read-only) and /dev/shm"
            }
            Step::FilesystemView => {
                "a filesystem view of its own: the host read-only (or a minimal root), private noexec /tmp, /var/tmp, /run and /dev/shm, writable workspaces only where named, a minimal /dev, masked /proc and /sys paths, no host socket"
            }
            Step::Session => "a new session without a controlling terminal",
            Step::Capabilities => "no capability in any set",
            Step::PrivilegeDrop => "the workload's uid, gid and groups",
            Step::NoNewPrivs => "no_new_privs: exec never grants privileges",
            Step::Landlock => "a Landlock domain mirroring the view: writes only to the writable places, abstract Unix sockets and signals scoped to the sandbox",
            Step::WorkloadSeccomp => "the workload seccomp filter",
            Step::SupervisorSeccomp => "the supervisor's own seccomp prelude",
        }
    }

    /// What the step does, as a verb phrase for "failed to ..." lines.
    pub const fn action(self) -> &'static str {
        match self {
            Step::NetworkNamespace => "enter a new network namespace",
            Step::PidNamespace => "create the sandbox's PID namespace",
            Step::MountNamespace => "give the sandbox a private mount namespace and /proc",
            Step::FilesystemView => "build the workload's filesystem view",
            Step::Landlock => "restrict the workload with Landlock",
            Step::Session => "start a new session",
            Step::Capabilities => "drop capabilities",
            Step::PrivilegeDrop => "drop privileges",
            Step::NoNewPrivs => "set no_new_privs",
            Step::WorkloadSeccomp => "install the workload seccomp filter",
            Step::SupervisorSeccomp => "install the supervisor's seccomp prelude",
        }
    }

    /// One sentence for a refusal of this step.
    pub const fn refused_sentence(self) -> &'static str {
        match self {
            Step::NetworkNamespace => {
                "the kernel refused to give the workload its own network namespace"
            }
            Step::PidNamespace => "the kernel refused to give the sandbox its own PID namespace",
            Step::MountNamespace => {
                "the kernel refused to give the sandbox a private mount namespace and /proc"
            }
            Step::FilesystemView => "the kernel refused to build the workload's filesystem view",
            Step::Landlock => "the kernel refused to restrict the workload with Landlock",
            Step::Session => "the kernel refused a new session for the workload",
            Step::Capabilities => "the kernel refused to drop the workload's capabilities",
            Step::PrivilegeDrop => "the kernel refused to change the workload's ids",
            Step::NoNewPrivs => "the kernel refused no_new_privs for the workload",
            Step::WorkloadSeccomp => "the kernel refused the workload's seccomp filter",
            Step::SupervisorSeccomp => "the kernel refused the supervisor's own seccomp filter",
        }
    }
}

impl From<Step> for &'static str {
    fn from(step: Step) -> Self {
        step.name()
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A system call the boot makes, as written in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `unshare(CLONE_NEWNET)`.
    UnshareNet,
    /// The socket used to bring `lo` up.
    LoopbackSocket,
    /// `ioctl(SIOCGIFFLAGS, lo)`.
    LoopbackGetFlags,
    /// `ioctl(SIOCSIFFLAGS, lo, IFF_UP)`.
    LoopbackSetFlags,
    /// `unshare(CLONE_NEWUSER)` (the user-namespace route).
    UnshareUser,
    /// Writing `/proc/self/setgroups`, `uid_map` or `gid_map` (the user-namespace route).
    WriteIdMap,
    /// `clone(CLONE_NEWPID|CLONE_NEWIPC)` creating the sandbox's init.
    ClonePid,
    /// `unshare(CLONE_NEWNS)`.
    UnshareMount,
    /// `mount(/, MS_REC|MS_PRIVATE)`.
    MountPrivate,
    /// `mount(proc, /proc)`.
    MountProc,
    /// Bind-mounting `/proc/sys` and friends read-only.
    MountProcReadOnly,
    /// A tmpfs of the sandbox's own on `/dev/shm`.
    MountShm,
    /// A fresh read-only sysfs on `/sys`.
    MountSys,
    /// The mount namespace is the parent's after `unshare(CLONE_NEWNS)`.
    VerifyMountNamespace,
    /// A mount is still shared after `mount(/, MS_REC|MS_PRIVATE)`.
    VerifyMountsPrivate,
    /// `clone` returned 0 in the calling process itself.
    VerifyClone,
    /// `PR_GET_NO_NEW_PRIVS` is not 1 after `PR_SET_NO_NEW_PRIVS`.
    VerifyNoNewPrivs,
    /// `setsid`.
    Setsid,
    /// `prctl(PR_CAPBSET_DROP)`.
    CapbsetDrop,
    /// `prctl(PR_CAP_AMBIENT_CLEAR_ALL)`.
    AmbientClear,
    /// `capset` to empty sets.
    Capset,
    /// A capability set is not empty after the drop.
    VerifyCapabilities,
    /// A privilege-drop call.
    Drop(DropStage),
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
    /// A call of the filesystem view.
    View(crate::view::ViewCall),
    /// A Landlock call.
    Landlock(crate::landlock::LandlockCall),
}

impl Call {
    /// The call as written in messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            Call::UnshareNet => "unshare(CLONE_NEWNET)",
            Call::LoopbackSocket => "socket(AF_INET, SOCK_DGRAM)",
            Call::LoopbackGetFlags => "ioctl(SIOCGIFFLAGS, lo)",
            Call::LoopbackSetFlags => "ioctl(SIOCSIFFLAGS, lo, IFF_UP)",
            Call::UnshareUser => "unshare(CLONE_NEWUSER)",
            Call::WriteIdMap => "write(/proc/self/uid_map)",
            Call::ClonePid => "clone(CLONE_NEWPID|CLONE_NEWIPC)",
            Call::UnshareMount => "unshare(CLONE_NEWNS)",
            Call::MountPrivate => "mount(/, MS_REC|MS_PRIVATE)",
            Call::MountProc => "mount(proc, /proc)",
            Call::MountProcReadOnly => "mount(/proc/sys, MS_BIND|MS_RDONLY)",
            Call::MountShm => "mount(tmpfs, /dev/shm) or mount(mqueue, /dev/mqueue)",
            Call::MountSys => "mount(sysfs, /sys, MS_RDONLY)",
            Call::VerifyMountNamespace => "stat(/proc/self/ns/mnt) (verification)",
            Call::VerifyMountsPrivate => "read(/proc/self/mountinfo) (verification)",
            Call::VerifyClone => "clone's child tid (verification)",
            Call::VerifyNoNewPrivs => "prctl(PR_GET_NO_NEW_PRIVS) (verification)",
            Call::Setsid => "setsid",
            Call::CapbsetDrop => "prctl(PR_CAPBSET_DROP)",
            Call::AmbientClear => "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            Call::Capset => "capset",
            Call::VerifyCapabilities => "capget (verification)",
            Call::Drop(stage) => stage.syscall(),
            Call::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Call::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
            Call::View(call) => call.name(),
            Call::Landlock(call) => call.name(),
        }
    }
}

impl Call {
    /// Whether this is a check the child makes after a call (its errno says nothing about a
    /// refusal: the call before it returned success without effect).
    pub fn is_verification(self) -> bool {
        matches!(
            self,
            Call::VerifyCapabilities
                | Call::VerifyMountNamespace
                | Call::VerifyMountsPrivate
                | Call::VerifyClone
                | Call::VerifyNoNewPrivs
                | Call::View(
                    crate::view::ViewCall::VerifySource | crate::view::ViewCall::VerifyPivot
                )
                | Call::Drop(
                    DropStage::VerifyIds | DropStage::VerifyGroups | DropStage::RegainedRoot
                )
        )
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel or an outer runtime refused a call of a step with a real errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {call} failed with {errno}")]
pub struct Refusal {
    /// The step.
    pub step: Step,
    /// The call that failed.
    pub call: Call,
    /// The errno it returned (never invented).
    pub errno: Errno,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_kinds_match_the_api() {
        for step in Step::ALL {
            assert_eq!(Step::from_name(step.name()), Some(step));
            if let Some(kind) = step.kind() {
                assert_eq!(kind.name(), step.name());
                assert_eq!(Step::of_kind(kind), Some(step));
            }
        }
        for kind in SandboxFailureKind::ALL {
            assert!(Step::of_kind(kind).is_some(), "{kind} has a step");
        }
    }

    #[test]
    fn only_namespaces_and_filters_are_tolerable() {
        let tolerable: Vec<&str> = Step::ALL
            .into_iter()
            .filter(|step| step.kind().is_some())
            .map(Step::name)
            .collect();
        assert_eq!(
            tolerable,
            [
                "network-namespace",
                "pid-namespace",
                "mount-namespace",
                "filesystem-view",
                "landlock",
                "workload-seccomp",
                "supervisor-seccomp"
            ]
        );
    }
}
