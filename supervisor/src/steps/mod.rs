//! The hardening steps, in boot order, and the one refusal type.
//!
//! A [`Step`] is named in one place ([`Step::name`]); logs, reports, `probe` and the tests use
//! that name. A [`Call`] is a system call a step makes; a [`Refusal`] is the kernel (or an outer
//! runtime) answering one of them with an errno: the only thing a failure handler is asked about.

pub(crate) mod capabilities;
pub(crate) mod cgroup;
pub(crate) mod costs;
pub(crate) mod identity;
pub(crate) mod landlock;
pub(crate) mod mount;
pub(crate) mod network;
pub(crate) mod no_new_privs;
pub(crate) mod observed;
pub(crate) mod pid;
pub(crate) mod prelude;
pub(crate) mod rlimits;
pub(crate) mod seccomp;
pub(crate) mod session;
pub(crate) mod userns;
pub(crate) mod view;

use nix::errno::Errno;
use sandbox_plugin_api::SandboxFailureKind;

use crate::steps::identity::DropStage;
use crate::steps::landlock::LandlockCall;
use crate::steps::view::ViewCall;

pub use crate::options::Step;

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// In the supervisor, before the sandbox is spawned.
    Supervisor,
    /// In the sandbox's init (or in the `clone` that creates it), before the workload exists.
    Init,
    /// In the workload, after `clone` and before `execve`.
    Workload,
    /// In the supervisor, once the sandbox is spawned and verified.
    AfterSpawn,
    /// In the supervisor, after the workload has been reaped; adds to the final record.
    Teardown,
}

/// One row of the step catalogue: everything the supervisor says about a step, in one place.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// The step.
    pub step: Step,
    /// The stable name used in logs, reports, `probe` and configuration.
    pub name: &'static str,
    /// The failure kind a handler decides about; `None` for a step that is fatal whatever a
    /// handler says.
    pub kind: Option<SandboxFailureKind>,
    /// Where it runs.
    pub phase: Phase,
    /// The steps it cannot do without: leaving one of them out leaves this one out too, recorded
    /// as lost with it.
    pub requires: &'static [Step],
    /// What the step protects, in a few words (the report's `protection`).
    pub protection: &'static str,
    /// What the step does, as a verb phrase for "failed to ..." lines.
    pub action: &'static str,
    /// One sentence for a refusal of this step.
    pub refused: &'static str,
    /// The call a refusal of this step names first (what `simulate` puts in a made-up refusal).
    pub first_call: Call,
    /// How the step is verified from the paused sandbox (`None`: the step runs in the supervisor
    /// and is verified where it is taken).
    pub(crate) verify: Option<observed::Verify>,
    /// What the step cleans up once the workload has been reaped (or the boot stopped), adding
    /// to the final record (`None`: nothing).
    pub(crate) teardown: Option<Teardown>,
}

/// A step's teardown: runs in the supervisor after the workload was reaped, with the plan the
/// step was prepared in, and may add to the final record.
pub(crate) type Teardown = fn(&crate::sandbox::Plan, &mut crate::record::HardeningReport);

/// The steps, in boot order: a step's row is at `step as usize`.
pub const STEPS: [StepInfo; 13] = [
    StepInfo {
        step: Step::Cgroup,
        name: "cgroup",
        kind: Some(SandboxFailureKind::Cgroup),
        phase: Phase::Supervisor,
        requires: &[],
        protection: "a control group of the sandbox's own with its limits (pids, memory, CPU)",
        action: "give the sandbox a control group with its limits",
        refused: "the kernel refused to create or limit the sandbox's control group",
        first_call: Call::CgroupCreate,
        // Made in the supervisor and verified there (boot::bounds), from the paused sandbox.
        verify: None,
        teardown: Some(cgroup::teardown),
    },
    StepInfo {
        step: Step::NetworkNamespace,
        name: "network-namespace",
        kind: Some(SandboxFailureKind::NetworkNamespace),
        phase: Phase::Supervisor,
        requires: &[],
        protection: "a network namespace with only lo",
        action: "enter a new network namespace",
        refused: "the kernel refused to give the workload its own network namespace",
        first_call: Call::UnshareNet,
        verify: None,
        teardown: None,
    },
    StepInfo {
        step: Step::PidNamespace,
        name: "pid-namespace",
        kind: Some(SandboxFailureKind::PidNamespace),
        phase: Phase::Init,
        requires: &[],
        protection: "PID and IPC namespaces whose init is the sandbox's own",
        action: "create the sandbox's PID namespace",
        refused: "the kernel refused to give the sandbox its own PID namespace",
        first_call: Call::ClonePid,
        verify: Some(pid::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::MountNamespace,
        name: "mount-namespace",
        kind: Some(SandboxFailureKind::MountNamespace),
        phase: Phase::Init,
        requires: &[],
        protection:
            "a private mount namespace with a fresh /proc (its /proc/sys read-only) and /dev/shm",
        action: "give the sandbox a private mount namespace and /proc",
        refused: "the kernel refused to give the sandbox a private mount namespace and /proc",
        first_call: Call::UnshareMount,
        verify: Some(mount::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::FilesystemView,
        name: "filesystem-view",
        kind: Some(SandboxFailureKind::FilesystemView),
        phase: Phase::Init,
        requires: &[Step::MountNamespace],
        protection: "a filesystem view of its own: the host read-only (or a minimal root), private noexec /tmp, /var/tmp, /run and /dev/shm, writable workspaces only where named, a minimal /dev, masked /proc and /sys paths, no host socket",
        action: "build the workload's filesystem view",
        refused: "the kernel refused to build the workload's filesystem view",
        first_call: Call::View(ViewCall::PivotRoot),
        verify: Some(view::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::Session,
        name: "session",
        kind: None,
        phase: Phase::Workload,
        requires: &[],
        protection: "a new session, whose only terminal is a pty of the sandbox's own",
        action: "start a new session (and give it a pty of its own)",
        refused: "the kernel refused a new session for the workload",
        first_call: Call::Setsid,
        verify: Some(session::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::Rlimits,
        name: "rlimits",
        kind: None,
        phase: Phase::Workload,
        requires: &[],
        protection: "resource limits of the workload (core 0, nofile, --rlimit)",
        action: "set the workload's resource limits",
        refused: "the kernel refused a resource limit of the workload",
        first_call: Call::Setrlimit(crate::steps::rlimits::Resource::Core),
        // Verified from /proc/PID/limits with the cgroup (boot::bounds).
        verify: None,
        teardown: None,
    },
    StepInfo {
        step: Step::Capabilities,
        name: "capabilities",
        kind: None,
        phase: Phase::Workload,
        requires: &[],
        protection: "no capability in any set",
        action: "drop capabilities",
        refused: "the kernel refused to drop the workload's capabilities",
        first_call: Call::CapbsetDrop,
        verify: Some(capabilities::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::PrivilegeDrop,
        name: "privilege-drop",
        kind: None,
        phase: Phase::Workload,
        requires: &[],
        protection: "the workload's uid, gid and groups",
        action: "drop privileges",
        refused: "the kernel refused to change the workload's ids",
        first_call: Call::Drop(DropStage::Setgroups),
        verify: Some(identity::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::NoNewPrivs,
        name: "no-new-privs",
        kind: None,
        phase: Phase::Workload,
        requires: &[],
        protection: "no_new_privs: exec never grants privileges",
        action: "set no_new_privs",
        refused: "the kernel refused no_new_privs for the workload",
        first_call: Call::NoNewPrivs,
        verify: Some(no_new_privs::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::Landlock,
        name: "landlock",
        kind: Some(SandboxFailureKind::Landlock),
        phase: Phase::Workload,
        requires: &[],
        protection: "a Landlock domain mirroring the view: writes only to the writable places, abstract Unix sockets and signals scoped to the sandbox",
        action: "restrict the workload with Landlock",
        refused: "the kernel refused to restrict the workload with Landlock",
        first_call: Call::Landlock(LandlockCall::CreateRuleset),
        verify: Some(landlock::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::WorkloadSeccomp,
        name: "workload-seccomp",
        kind: Some(SandboxFailureKind::WorkloadSeccomp),
        phase: Phase::Workload,
        requires: &[],
        protection: "the workload seccomp filter",
        action: "install the workload seccomp filter",
        refused: "the kernel refused the workload's seccomp filter",
        first_call: Call::Seccomp,
        verify: Some(seccomp::verify),
        teardown: None,
    },
    StepInfo {
        step: Step::SupervisorSeccomp,
        name: "supervisor-seccomp",
        kind: Some(SandboxFailureKind::SupervisorSeccomp),
        phase: Phase::AfterSpawn,
        requires: &[],
        protection: "the supervisor's own seccomp prelude",
        action: "install the supervisor's seccomp prelude",
        refused: "the kernel refused the supervisor's own seccomp filter",
        first_call: Call::Seccomp,
        verify: None,
        teardown: None,
    },
];

impl Step {
    /// Every step, in boot order.
    pub const ALL: [Step; STEPS.len()] = {
        let mut all = [Step::Cgroup; STEPS.len()];
        let mut index = 0;
        while index < STEPS.len() {
            all[index] = STEPS[index].step;
            index += 1;
        }
        all
    };

    /// This step's row of the catalogue.
    pub const fn info(self) -> &'static StepInfo {
        &STEPS[self as usize]
    }

    /// The stable name used in logs, reports, `probe` and configuration.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The step with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.name() == name)
    }

    /// The failure kind a handler decides about, for the steps that may be tolerated; `None` for
    /// the steps that are fatal whatever a handler says (session, capabilities, ids, NNP).
    pub const fn kind(self) -> Option<SandboxFailureKind> {
        self.info().kind
    }

    /// The step of a failure kind.
    pub fn of_kind(kind: SandboxFailureKind) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.kind() == Some(kind))
    }

    /// What the step protects, in a few words (the report's `protection`).
    pub const fn protection(self) -> &'static str {
        self.info().protection
    }

    /// What the step does, as a verb phrase for "failed to ..." lines.
    pub const fn action(self) -> &'static str {
        self.info().action
    }

    /// One sentence for a refusal of this step.
    pub const fn refused_sentence(self) -> &'static str {
        self.info().refused
    }

    /// The steps that require this one (directly or through another), in boot order: leaving
    /// this step out leaves them out too.
    pub fn dependents(self) -> Vec<Step> {
        dependents_in(&STEPS, self)
    }
}

/// The steps of `catalogue` that require `step`, directly or through another, in catalogue order.
fn dependents_in(catalogue: &[StepInfo], step: Step) -> Vec<Step> {
    let mut lost = vec![step];
    // The catalogue is in boot order and a step requires only earlier ones: one pass finds the
    // whole chain.
    for row in catalogue {
        if row.requires.iter().any(|required| lost.contains(required)) && !lost.contains(&row.step)
        {
            lost.push(row.step);
        }
    }
    lost.remove(0);
    lost
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
    /// Masking one of Docker's masked `/proc` and `/sys` paths without a filesystem view.
    MountMask,
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
    View(ViewCall),
    /// A Landlock call.
    Landlock(LandlockCall),
    /// `setrlimit` of one resource.
    Setrlimit(crate::steps::rlimits::Resource),
    /// No cgroup hierarchy the supervisor is in offers a controller the limits need.
    CgroupController,
    /// `mkdir` of the sandbox's group in a cgroup hierarchy.
    CgroupCreate,
    /// Writing a limit (`pids.max`, `memory.max`, ...) or enabling a controller.
    CgroupLimit,
    /// The init writing itself into the group's `cgroup.procs`.
    CgroupJoin,
    /// The init opening a pty of the sandbox's own: `open(/dev/ptmx)`, `TIOCSPTLCK`, `TIOCGPTN`.
    OpenPty,
    /// The init opening that pty's slave from its master (`TIOCGPTPEER`).
    PtyPeer,
    /// The workload giving the slave to its ids (`fchown`), making it its standard descriptors
    /// (`dup2`) and its controlling terminal (`TIOCSCTTY`).
    ControllingTerminal,
}

/// How a call's failure reads: a refused call, or a check that found a call without effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallRole {
    /// A call the kernel may refuse.
    Call,
    /// A check the child makes after a call (its errno says nothing about a refusal: the call
    /// before it returned success without effect).
    Check,
}

impl Call {
    /// Every call, one row each (every stage of the privilege drop included). The wire code a
    /// child sends for a call is its position here ([`code`](Self::code)), so both ends read
    /// the same table and no code is written by hand.
    pub const ALL: [Call; 73] = [
        Call::UnshareNet,
        Call::LoopbackSocket,
        Call::LoopbackGetFlags,
        Call::LoopbackSetFlags,
        Call::UnshareUser,
        Call::WriteIdMap,
        Call::ClonePid,
        Call::VerifyClone,
        Call::UnshareMount,
        Call::VerifyMountNamespace,
        Call::MountPrivate,
        Call::VerifyMountsPrivate,
        Call::MountProc,
        Call::MountProcReadOnly,
        Call::MountShm,
        Call::MountSys,
        Call::MountMask,
        Call::Setsid,
        Call::CapbsetDrop,
        Call::AmbientClear,
        Call::Capset,
        Call::VerifyCapabilities,
        Call::Drop(DropStage::Setgroups),
        Call::Drop(DropStage::Setresgid),
        Call::Drop(DropStage::Setresuid),
        Call::Drop(DropStage::VerifyIds),
        Call::Drop(DropStage::VerifyGroups),
        Call::Drop(DropStage::RegainedRoot),
        Call::NoNewPrivs,
        Call::VerifyNoNewPrivs,
        Call::Seccomp,
        Call::View(ViewCall::Staging),
        Call::View(ViewCall::PivotRoot),
        Call::View(ViewCall::Create),
        Call::View(ViewCall::Open),
        Call::View(ViewCall::OpenTree),
        Call::View(ViewCall::SetAttr),
        Call::View(ViewCall::MoveMount),
        Call::View(ViewCall::Tmpfs),
        Call::View(ViewCall::Devpts),
        Call::View(ViewCall::Mqueue),
        Call::View(ViewCall::Sysfs),
        Call::View(ViewCall::Mask),
        Call::View(ViewCall::Detach),
        Call::View(ViewCall::VerifySource),
        Call::View(ViewCall::VerifyPivot),
        Call::View(ViewCall::VerifyStaging),
        Call::Landlock(LandlockCall::CreateRuleset),
        Call::Landlock(LandlockCall::AddRule),
        Call::Landlock(LandlockCall::RestrictSelf),
        Call::Setrlimit(crate::steps::rlimits::Resource::As),
        Call::Setrlimit(crate::steps::rlimits::Resource::Core),
        Call::Setrlimit(crate::steps::rlimits::Resource::Cpu),
        Call::Setrlimit(crate::steps::rlimits::Resource::Data),
        Call::Setrlimit(crate::steps::rlimits::Resource::Fsize),
        Call::Setrlimit(crate::steps::rlimits::Resource::Locks),
        Call::Setrlimit(crate::steps::rlimits::Resource::Memlock),
        Call::Setrlimit(crate::steps::rlimits::Resource::Msgqueue),
        Call::Setrlimit(crate::steps::rlimits::Resource::Nice),
        Call::Setrlimit(crate::steps::rlimits::Resource::Nofile),
        Call::Setrlimit(crate::steps::rlimits::Resource::Nproc),
        Call::Setrlimit(crate::steps::rlimits::Resource::Rss),
        Call::Setrlimit(crate::steps::rlimits::Resource::Rtprio),
        Call::Setrlimit(crate::steps::rlimits::Resource::Rttime),
        Call::Setrlimit(crate::steps::rlimits::Resource::Sigpending),
        Call::Setrlimit(crate::steps::rlimits::Resource::Stack),
        Call::CgroupController,
        Call::CgroupCreate,
        Call::CgroupLimit,
        Call::CgroupJoin,
        Call::OpenPty,
        Call::PtyPeer,
        Call::ControllingTerminal,
    ];

    /// The call's row: how it is written in messages and reports, and its role.
    fn row(self) -> (&'static str, CallRole) {
        use CallRole::{Call as Refusable, Check};
        match self {
            Call::UnshareNet => ("unshare(CLONE_NEWNET)", Refusable),
            Call::LoopbackSocket => ("socket(AF_INET, SOCK_DGRAM)", Refusable),
            Call::LoopbackGetFlags => ("ioctl(SIOCGIFFLAGS, lo)", Refusable),
            Call::LoopbackSetFlags => ("ioctl(SIOCSIFFLAGS, lo, IFF_UP)", Refusable),
            Call::UnshareUser => ("unshare(CLONE_NEWUSER)", Refusable),
            Call::WriteIdMap => ("write(/proc/self/uid_map)", Refusable),
            Call::ClonePid => ("clone(CLONE_NEWPID|CLONE_NEWIPC)", Refusable),
            Call::UnshareMount => ("unshare(CLONE_NEWNS)", Refusable),
            Call::MountPrivate => ("mount(/, MS_REC|MS_PRIVATE)", Refusable),
            Call::MountProc => ("mount(proc, /proc)", Refusable),
            Call::MountProcReadOnly => ("mount(/proc/sys, MS_BIND|MS_RDONLY)", Refusable),
            Call::MountShm => (
                "mount(tmpfs, /dev/shm) or mount(mqueue, /dev/mqueue)",
                Refusable,
            ),
            Call::MountSys => ("mount(sysfs, /sys, MS_RDONLY)", Refusable),
            Call::MountMask => ("mount(tmpfs or /dev/null, a masked path)", Refusable),
            Call::VerifyMountNamespace => ("stat(/proc/self/ns/mnt) (verification)", Check),
            Call::VerifyMountsPrivate => ("read(/proc/self/mountinfo) (verification)", Check),
            Call::VerifyClone => ("clone's child tid (verification)", Check),
            Call::VerifyNoNewPrivs => ("prctl(PR_GET_NO_NEW_PRIVS) (verification)", Check),
            Call::Setsid => ("setsid", Refusable),
            Call::CapbsetDrop => ("prctl(PR_CAPBSET_DROP)", Refusable),
            Call::AmbientClear => ("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", Refusable),
            Call::Capset => ("capset", Refusable),
            Call::VerifyCapabilities => ("capget (verification)", Check),
            Call::Drop(stage) => (
                stage.syscall(),
                match stage {
                    DropStage::VerifyIds | DropStage::VerifyGroups | DropStage::RegainedRoot => {
                        Check
                    }
                    DropStage::Setgroups | DropStage::Setresgid | DropStage::Setresuid => Refusable,
                },
            ),
            Call::NoNewPrivs => ("prctl(PR_SET_NO_NEW_PRIVS)", Refusable),
            Call::Seccomp => ("seccomp(SECCOMP_SET_MODE_FILTER)", Refusable),
            Call::View(call) => (
                call.name(),
                match call {
                    ViewCall::VerifySource | ViewCall::VerifyPivot | ViewCall::VerifyStaging => {
                        Check
                    }
                    _ => Refusable,
                },
            ),
            Call::Landlock(call) => (call.name(), Refusable),
            Call::Setrlimit(resource) => (resource.setrlimit_call(), Refusable),
            Call::CgroupController => (
                "open(/proc/self/cgroup): no hierarchy with the controller",
                Refusable,
            ),
            Call::CgroupCreate => ("mkdir(cgroup)", Refusable),
            Call::CgroupLimit => ("write(cgroup limit)", Refusable),
            Call::CgroupJoin => ("write(cgroup.procs)", Refusable),
            Call::OpenPty => ("open(/dev/ptmx)", Refusable),
            Call::PtyPeer => ("ioctl(TIOCGPTPEER)", Refusable),
            Call::ControllingTerminal => ("fchown, dup2 or ioctl(TIOCSCTTY) of the pty", Refusable),
        }
    }

    /// The call as written in messages and reports.
    pub fn name(self) -> &'static str {
        self.row().0
    }

    /// Whether this is a check the child makes after a call (its errno says nothing about a
    /// refusal: the call before it returned success without effect).
    pub fn is_verification(self) -> bool {
        self.row().1 == CallRole::Check
    }

    /// The call's wire code: its position in [`ALL`](Self::ALL), plus one (0 is no call).
    /// Async-signal-safe: a loop over a constant table.
    pub fn code(self) -> u8 {
        let mut index = 0;
        while index < Call::ALL.len() {
            if Call::ALL[index] == self {
                return index as u8 + 1;
            }
            index += 1;
        }
        0
    }

    /// The call with this wire code.
    pub fn from_code(code: u8) -> Option<Call> {
        Call::ALL.get(usize::from(code).checked_sub(1)?).copied()
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
    fn the_catalogue_is_in_boot_order_and_requires_only_earlier_steps() {
        for (index, row) in STEPS.iter().enumerate() {
            assert_eq!(row.step as usize, index, "{}", row.name);
            for required in row.requires {
                assert!(
                    (*required as usize) < index,
                    "{} requires a later step",
                    row.name
                );
            }
            assert!(Call::ALL.contains(&row.first_call), "{}", row.name);
        }
    }

    #[test]
    fn leaving_a_step_out_leaves_out_what_requires_it() {
        const A: Step = Step::NetworkNamespace;
        const B: Step = Step::PidNamespace;
        const C: Step = Step::MountNamespace;
        let row = |step: Step, requires: &'static [Step]| StepInfo {
            step,
            requires,
            ..STEPS[step as usize]
        };
        // C requires B, which requires A: leaving A out loses both.
        let catalogue = [row(A, &[]), row(B, &[A]), row(C, &[B])];
        assert_eq!(dependents_in(&catalogue, A), [B, C]);
        assert_eq!(dependents_in(&catalogue, B), [C]);
        assert!(dependents_in(&catalogue, C).is_empty());
        // The filesystem view is built in the mount namespace; nothing else depends on another.
        assert_eq!(Step::MountNamespace.dependents(), [Step::FilesystemView]);
        for step in Step::ALL {
            if step != Step::MountNamespace {
                assert!(step.dependents().is_empty(), "{step}");
            }
        }
    }

    #[test]
    fn every_call_has_one_code_and_one_name() {
        let mut codes: Vec<u8> = Call::ALL.iter().map(|call| call.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Call::ALL.len());
        assert!(!codes.contains(&0));
        for call in Call::ALL {
            assert_eq!(Call::from_code(call.code()), Some(call));
        }
        for stage in DropStage::ALL {
            assert!(Call::ALL.contains(&Call::Drop(stage)), "{stage:?}");
        }
        for call in ViewCall::ALL {
            assert!(Call::ALL.contains(&Call::View(call)), "{call:?}");
        }
        for call in LandlockCall::ALL {
            assert!(Call::ALL.contains(&Call::Landlock(call)), "{call:?}");
        }
        for (_, resource) in crate::steps::rlimits::NAMES {
            assert!(
                Call::ALL.contains(&Call::Setrlimit(resource)),
                "{resource:?}"
            );
        }
        assert_eq!(Call::from_code(0), None);
        assert_eq!(Call::from_code(Call::ALL.len() as u8 + 1), None);
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
                "cgroup",
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
