//! Why the supervisor stopped: one error type for the whole boot, and its exit code.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::exit::ExitCode;
use crate::handler::plugin::{PluginFailure, PluginSetupError};
use crate::handler::{HandlerAlreadySet, NotTolerated};
use crate::procfs::ProcError;
use crate::record::Decider;
use crate::sandbox::{CommandError, SpawnError};
use crate::steps::identity::IdentityError;
use crate::steps::seccomp::SeccompCompileError;
use crate::steps::{Refusal, Step};

/// Why the supervisor stopped before or while running the workload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// `--handler-config` could not be read or is not JSON.
    #[error("failed to read handler configuration {path}")]
    HandlerConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Loading or initialising the plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginSetupError),
    /// A handler was already registered (only possible when embedding).
    #[error(transparent)]
    HandlerAlreadySet(#[from] HandlerAlreadySet),
    /// `--user` could not be resolved.
    #[error("failed to resolve --user")]
    Identity(#[source] IdentityError),
    /// `--uid-range` is not a range of uids.
    #[error(transparent)]
    UidRange(crate::steps::identity::alloc::RangeError),
    /// No uid could be allocated for a root caller's workload (the range exhausted, the lock
    /// directory unsafe or failing): not a refusal, never asked of a handler.
    #[error(transparent)]
    Uid(crate::steps::identity::alloc::AllocError),
    /// The workload would run as uid 0 or gid 0 without `--allow-root`.
    #[error("the workload would run as uid 0 or gid 0; pass --allow-root to allow it (it still gets no capabilities)")]
    RootNotAllowed,
    /// The caller lacks a capability the sandbox needs (the init's `CAP_KILL`, to signal a
    /// workload of another uid): the environment's choice, named, never a verification failure.
    #[error("the caller lacks {capability}, which {why}; grant it ({grant}), or run the workload as the caller's uid (--user)")]
    MissingCapability {
        /// The capability (`CAP_KILL`).
        capability: &'static str,
        /// What needs it.
        why: String,
        /// How to grant it.
        grant: &'static str,
    },
    /// `--user` gives the workload a group with power over the host, not named by `--allow-group`.
    #[error("the workload would hold group {name} (gid {gid}), {why}; pass --allow-group {name} to allow it")]
    GroupNotAllowed {
        /// The group's name (its number when it has none).
        name: String,
        /// Its gid.
        gid: u32,
        /// Why it has power over the host.
        why: String,
    },
    /// uid 0 or a kept capability without an enforced filesystem view.
    #[error("the workload would run {what} without an enforced filesystem view ({why}): it could write the host's files; drop --allow-root/--cap-add or keep the view")]
    RootWithoutView {
        /// `as uid 0 or gid 0`, or `with kept capabilities`.
        what: &'static str,
        /// Why there is no view.
        why: String,
    },
    /// uid 0 or a kept capability without a mount namespace of the sandbox's own.
    #[error("the workload would run {what} without a mount namespace of its own ({why}), so without its filesystem view: its /proc and /sys would be the host's, where it could write kernel settings (/proc/sys/kernel/core_pattern), write /sys, and move itself out of its control group through a parent's cgroup.procs; drop --allow-root/--cap-add or keep the mount namespace")]
    RootWithoutMountNamespace {
        /// `as uid 0 or gid 0`, or `with kept capabilities`.
        what: &'static str,
        /// Why there is no mount namespace.
        why: String,
    },
    /// A path of the filesystem view cannot be used.
    #[error(transparent)]
    View(#[from] crate::steps::view::ViewError),
    /// A path of a Landlock rule cannot be opened.
    #[error(transparent)]
    Landlock(crate::steps::landlock::LandlockError),
    /// `--user` names another identity on the user-namespace route.
    #[error("failed to drop privileges: --user names another identity than the caller's (or fewer groups), but the namespaces took the user-namespace route, where the workload keeps the caller's uid, gid and groups; run as that user, or pass --no-userns")]
    UserOnUserNamespace,
    /// A seccomp program did not compile.
    #[error(transparent)]
    Seccomp(#[from] SeccompCompileError),
    /// `--seccomp-profile` could not be read.
    #[error("failed to read the seccomp profile")]
    SeccompProfile(#[source] crate::input::InputError),
    /// The command could not be found or prepared.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A refused step that was not tolerated.
    #[error("{0}")]
    NotTolerated(NotTolerated),
    /// A step that no handler may tolerate was refused (session, capabilities, ids, NNP).
    #[error("failed to {}: {} failed: {}", .0.step.action(), .0.call, crate::handler::errno_name(.0.errno as i32))]
    Fatal(Refusal),
    /// A step's call failed for want of memory, processes or descriptors: not a refusal, never
    /// asked of a handler.
    #[error("failed to {}: {} failed: {}", .0.step.action(), .0.call, crate::handler::errno_name(.0.errno as i32))]
    Exhausted(Refusal),
    /// A step reported success but what took effect disagrees: the one verification failure of
    /// every step (the supervisor's re-read of `/proc`, a step's own check in the supervisor or
    /// in the sandbox, a `clone` answered without a process).
    #[error("failed to verify {step}: {detail}")]
    Verify {
        /// The step.
        step: Step,
        /// What was seen.
        detail: String,
    },
    /// A `/proc` file the verification needs could not be read.
    #[error("failed to verify the sandbox")]
    Proc(#[from] ProcError),
    /// `--report` could not be opened.
    #[error("failed to open the hardening report {sink}")]
    ReportOpen {
        /// The sink, as given.
        sink: String,
        /// Why.
        #[source]
        source: crate::record::ReportOpenError,
    },
    /// The report could not be written.
    #[error("failed to write the hardening report")]
    Report(#[source] std::io::Error),
    /// `--findings` could not be opened.
    #[error("failed to open the findings destination {sink}")]
    FindingsOpen {
        /// The destination, as given.
        sink: String,
        /// Why.
        #[source]
        source: crate::record::ReportOpenError,
    },
    /// The findings could not be written.
    #[error("failed to write the findings")]
    Findings(#[source] std::io::Error),
    /// No random run id could be drawn.
    #[error("failed to draw a random run id (getrandom and /dev/urandom)")]
    RunId(#[source] std::io::Error),
    /// `execve` failed.
    #[error("failed to execute {program}")]
    Exec {
        /// The program.
        program: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Spawning the sandbox failed, or a signal stopped the boot.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// Waiting for the sandbox failed.
    #[error("failed to supervise the workload")]
    Supervise(#[source] Errno),
    /// A descriptor the caller left open could not be proved close-on-exec: it would reach the
    /// workload.
    #[error(
        "failed to mark the caller's descriptor {fd} close-on-exec (it would reach the workload)"
    )]
    InheritedDescriptor {
        /// The descriptor.
        fd: i32,
        /// The errno (`EPERM` when `fcntl` answered success but the flag is not set).
        #[source]
        source: Errno,
    },
    /// The caller's descriptors could not be listed to mark them close-on-exec (a listing of
    /// `/proc/self/fd` that failed, or did not show its own descriptor).
    #[error("failed to list the caller's descriptors to mark them close-on-exec (/proc/self/fd)")]
    InheritedDescriptorsUnlisted(#[source] Errno),
}

/// The refusal behind an error, as log fields: the step, the decision, the raw errno and who
/// decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalFields {
    /// The step's name.
    pub step: &'static str,
    /// Always `aborted`: a refusal that became an error stopped the boot.
    pub decision: &'static str,
    /// The raw errno, when a call was refused.
    pub errno: Option<i32>,
    /// `strict`, `plugin:NAME@VERSION`, `never tolerable` or `verification`.
    pub decider: Decider,
}

impl SupervisorError {
    /// The step, errno and decider of a refusal or failed verification that stopped the boot.
    pub fn refusal_fields(&self) -> Option<RefusalFields> {
        let aborted = |step: &'static str, errno, decider: Decider| RefusalFields {
            step,
            decision: "aborted",
            errno,
            decider,
        };
        match self {
            SupervisorError::NotTolerated(refused) => Some(aborted(
                refused.question().kind.name(),
                Some(refused.question().errno),
                refused.decider(),
            )),
            SupervisorError::Fatal(refusal) => Some(aborted(
                refusal.step.name(),
                Some(refusal.errno as i32),
                Decider::NeverTolerable,
            )),
            _ => self
                .unverified_step()
                .map(|step| aborted(step.name(), None, Decider::Verification)),
        }
    }

    /// The step a verification failure is about.
    pub fn unverified_step(&self) -> Option<Step> {
        match self {
            SupervisorError::Verify { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// The documented exit code for this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        // A path of the operator's, a report destination or a user that could not be opened or
        // looked up for want of memory or descriptors is the machine's state, not a usage error.
        let operators = matches!(
            self,
            SupervisorError::Identity(_)
                | SupervisorError::View(_)
                | SupervisorError::Landlock(_)
                | SupervisorError::ReportOpen { .. }
                | SupervisorError::FindingsOpen { .. }
        );
        if operators && caused_by_want_of_resources(self) {
            return ExitCode::Internal.code();
        }
        match self {
            SupervisorError::HandlerConfig { .. }
            | SupervisorError::Identity(_)
            | SupervisorError::UidRange(_)
            | SupervisorError::RootNotAllowed
            | SupervisorError::MissingCapability { .. }
            | SupervisorError::GroupNotAllowed { .. }
            | SupervisorError::RootWithoutView { .. }
            | SupervisorError::RootWithoutMountNamespace { .. }
            | SupervisorError::View(_)
            | SupervisorError::Landlock(_)
            | SupervisorError::ReportOpen { .. }
            | SupervisorError::FindingsOpen { .. } => ExitCode::Usage.code(),
            SupervisorError::Plugin(PluginSetupError::Load(_)) => ExitCode::PluginLoad.code(),
            SupervisorError::Plugin(PluginSetupError::Failure(_)) => ExitCode::PluginFailure.code(),
            SupervisorError::Seccomp(error) if error.is_operator_error() => ExitCode::Usage.code(),
            SupervisorError::Seccomp(_) => ExitCode::Internal.code(),
            SupervisorError::SeccompProfile(_) => ExitCode::Usage.code(),
            SupervisorError::Command(CommandError::NotFound(_)) => ExitCode::NotFound.code(),
            SupervisorError::Command(CommandError::NotExecutable(_)) => {
                ExitCode::NotExecutable.code()
            }
            SupervisorError::Command(_) => ExitCode::Usage.code(),
            SupervisorError::NotTolerated(refused) if refused.by_strict_default() => {
                ExitCode::RefusedStrict.code()
            }
            SupervisorError::NotTolerated(NotTolerated::Aborted { .. }) => {
                ExitCode::RefusedByPlugin.code()
            }
            SupervisorError::NotTolerated(_) => ExitCode::PluginFailure.code(),
            SupervisorError::Fatal(_) | SupervisorError::UserOnUserNamespace => {
                ExitCode::NeverTolerable.code()
            }
            SupervisorError::Verify { .. } => ExitCode::Verification.code(),
            SupervisorError::Exec { source, .. } => match source {
                Errno::ENOENT => ExitCode::NotFound.code(),
                _ => ExitCode::NotExecutable.code(),
            },
            SupervisorError::Spawn(SpawnError::Interrupted(signal)) => 128 + *signal as i32,
            SupervisorError::HandlerAlreadySet(_)
            | SupervisorError::Exhausted(_)
            | SupervisorError::Uid(_)
            | SupervisorError::Proc(_)
            | SupervisorError::Spawn(_)
            | SupervisorError::Supervise(_)
            | SupervisorError::InheritedDescriptor { .. }
            | SupervisorError::InheritedDescriptorsUnlisted(_)
            | SupervisorError::Report(_)
            | SupervisorError::RunId(_)
            | SupervisorError::Findings(_) => ExitCode::Internal.code(),
        }
    }
}

impl From<NotTolerated> for SupervisorError {
    fn from(refused: NotTolerated) -> Self {
        SupervisorError::NotTolerated(refused)
    }
}

impl From<PluginFailure> for SupervisorError {
    fn from(failure: PluginFailure) -> Self {
        SupervisorError::Plugin(PluginSetupError::Failure(failure))
    }
}

/// Whether `errno` says the machine is out of memory, processes or descriptors: never a refusal a
/// handler is asked about, never the operator's usage error (exit 125).
pub(crate) fn out_of_resources(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::ENOMEM | Errno::EAGAIN | Errno::EMFILE | Errno::ENFILE
    )
}

/// Whether an error among `err` and its sources is an errno of [`out_of_resources`].
fn caused_by_want_of_resources(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(err) = source {
        let errno = err.downcast_ref::<Errno>().copied().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::raw_os_error)
                .map(Errno::from_raw)
        });
        if errno.is_some_and(out_of_resources) {
            return true;
        }
        source = err.source();
    }
    false
}
