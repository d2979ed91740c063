//! The machine-readable hardening report (`--report FILE`, `--report-fd N`).
//!
//! Written once: when the workload's `execve` has succeeded (outcome `running`), or when the boot
//! stops (outcome `aborted`, with the error line). Every field is serialized from the types below,
//! keyed by [`Step`]; the schema is documented in `docs/report.md`; `version` changes only when a
//! field changes meaning or disappears.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use serde::Serialize;

use crate::context::FailureContext;
use crate::netns::NetnsStatus;
use crate::procfs::Capabilities;
use crate::step::{Refusal, Step};
use crate::userns::Route;

/// The report's schema version.
pub const SCHEMA_VERSION: u32 = 2;

/// Where the report goes. Consumed by [`ReportSink::open`]: a descriptor is owned, and closed,
/// exactly once.
#[derive(Debug)]
pub enum ReportSink {
    /// `--report FILE`: created mode 0600, or an existing regular file of the caller's, truncated
    /// and set to 0600. Never through a symbolic link.
    File(PathBuf),
    /// `--report-fd N`: a descriptor inherited from the caller, open for writing; closed after
    /// writing.
    Fd(OwnedFd),
}

impl std::fmt::Display for ReportSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportSink::File(path) => write!(f, "{}", path.display()),
            ReportSink::Fd(fd) => write!(f, "on descriptor {}", fd.as_raw_fd()),
        }
    }
}

/// The report destination is unusable. A usage error, found before any hardening step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportOpenError {
    /// `open` failed.
    #[error(transparent)]
    Open(std::io::Error),
    /// The path's last component is a symbolic link (`open` with `O_NOFOLLOW` gave `ELOOP`).
    #[error("it is a symbolic link, and the report never follows one")]
    SymbolicLink,
    /// The path is not a regular file; `ENXIO` from a non-blocking open for writing means a FIFO
    /// without a reader or a socket.
    #[error("not a regular file (it is {0})")]
    NotRegular(&'static str),
    /// The file belongs to another user.
    #[error("it is owned by uid {owner}, not by the caller (euid {euid})")]
    NotOwned {
        /// The file's owner.
        owner: u32,
        /// The supervisor's effective uid.
        euid: u32,
    },
    /// The file has other names: truncating it would truncate them too.
    #[error("it has {0} hard links; a report file has one")]
    HardLinks(u64),
    /// `fstat`, `fchmod` or `ftruncate` failed on the open file.
    #[error("failed to {call} it")]
    Prepare {
        /// The call.
        call: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--report-fd` names a descriptor that is not open for writing.
    #[error("descriptor {0} is not open for writing")]
    NotWritable(RawFd),
    /// `fcntl(F_GETFL)` failed on `--report-fd`.
    #[error("failed to query descriptor {fd} (fcntl F_GETFL)")]
    Query {
        /// The descriptor.
        fd: RawFd,
        /// Why.
        #[source]
        source: nix::errno::Errno,
    },
}

/// Checks that `fd` is open and its access mode allows writing (`O_WRONLY` or `O_RDWR`).
pub fn check_writable(fd: BorrowedFd<'_>) -> Result<(), ReportOpenError> {
    let raw = fd.as_raw_fd();
    let flags = nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFL)
        .map_err(|source| ReportOpenError::Query { fd: raw, source })?;
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY | libc::O_RDWR => Ok(()),
        _ => Err(ReportOpenError::NotWritable(raw)),
    }
}

impl ReportSink {
    /// Opens the sink at boot, before any step, so that a bad destination is a usage error and not
    /// a failure after hardening.
    ///
    /// A file is opened with `O_WRONLY|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK`, mode 0600 and
    /// without `O_TRUNC`, following no symbolic link in any component where the kernel has
    /// `openat2`; the descriptor must then be a regular file with one link, owned by the
    /// effective uid, and only then is it set to 0600 and truncated. So a symbolic link, a FIFO, a
    /// device, another user's file or a hard link to one is refused and left as it was. A
    /// descriptor must be open for writing.
    pub fn open(self) -> Result<ReportWriter, ReportOpenError> {
        match self {
            ReportSink::File(path) => open_file(&path).map(ReportWriter),
            ReportSink::Fd(fd) => {
                check_writable(fd.as_fd())?;
                Ok(ReportWriter(File::from(fd)))
            }
        }
    }
}

/// Opens `path` for the report without following a symbolic link in any component
/// (`openat2(RESOLVE_NO_SYMLINKS)`); on kernels without `openat2` (before 5.6, some runtimes),
/// without following one in the last component (`O_NOFOLLOW`).
fn open_no_symlinks(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let flags =
        libc::O_WRONLY | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `open_how` is a plain C struct for which all-zero bytes are a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.mode = 0o600;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `name` is a NUL-terminated path and `how` a valid open_how of the size passed; the
    // kernel only reads both.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        return Ok(unsafe { File::from_raw_fd(fd as i32) });
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
        return Err(err);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

fn open_file(path: &std::path::Path) -> Result<File, ReportOpenError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = open_no_symlinks(path).map_err(|err| match err.raw_os_error() {
        Some(libc::ELOOP) => ReportOpenError::SymbolicLink,
        Some(libc::ENXIO) => ReportOpenError::NotRegular("a FIFO without a reader or a socket"),
        _ => ReportOpenError::Open(err),
    })?;
    let prepare = |call| move |source| ReportOpenError::Prepare { call, source };
    let metadata = file.metadata().map_err(prepare("fstat"))?;
    if !metadata.file_type().is_file() {
        return Err(ReportOpenError::NotRegular(crate::input::describe(
            metadata.file_type(),
        )));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if metadata.uid() != euid {
        return Err(ReportOpenError::NotOwned {
            owner: metadata.uid(),
            euid,
        });
    }
    if metadata.nlink() != 1 {
        return Err(ReportOpenError::HardLinks(metadata.nlink()));
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(prepare("fchmod"))?;
    file.set_len(0).map_err(prepare("ftruncate"))?;
    Ok(file)
}

/// An open report destination; written once.
#[derive(Debug)]
pub struct ReportWriter(File);

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The step took effect and was verified.
    Enforced,
    /// The kernel refused it and the handler tolerated the refusal.
    Tolerated,
    /// The kernel refused it (or it failed) and the boot stopped.
    Aborted,
    /// The operator did not ask for it (privilege drop of a caller that runs as itself).
    NotRequested,
    /// The operator turned the step off (`--disable-step`).
    DisabledByOperator,
    /// The boot stopped before this step.
    NotReached,
}

/// How the boot ended, as far as the report can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The workload's `execve` succeeded.
    Running,
    /// The boot stopped; `error` says why.
    Aborted,
}

/// A refused call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The call.
    pub syscall: &'static str,
    /// Its raw errno.
    pub errno: i32,
    /// The errno's name.
    pub errno_name: String,
}

impl From<&Refusal> for CallRecord {
    fn from(refusal: &Refusal) -> Self {
        CallRecord {
            syscall: refusal.call.name(),
            errno: refusal.errno as i32,
            errno_name: crate::failure::errno_name(refusal.errno as i32),
        }
    }
}

/// What was re-read after a step: typed per step, serialized as a plain object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    /// Nothing could be read (the step was not reached): `{}`.
    Nothing {},
    /// The network namespace.
    Network(NetnsStatus),
    /// The PID namespace, seen from the paused workload.
    Pid {
        /// Inode of the workload's PID namespace (`null` where unknown).
        pid_namespace_inode: Option<u64>,
        /// Inode of the supervisor's.
        parent_pid_namespace_inode: Option<u64>,
        /// The workload's pid in each namespace, outermost first (`NSpid`; empty where unknown).
        nspid: Vec<u32>,
        /// The workload's pid as it sees itself (2 in its own namespace, after its init).
        pid_inside: i32,
    },
    /// The mount namespace and its `/proc`.
    Mount {
        /// Inode of the workload's mount namespace (`null` where unknown).
        mount_namespace_inode: Option<u64>,
        /// Inode of the supervisor's.
        parent_mount_namespace_inode: Option<u64>,
        /// Mount id of the fresh `/proc` (absent from the supervisor's mounts).
        proc_mount_id: Option<u64>,
    },
    /// The session.
    Session {
        /// The workload's session id (its own pid: it leads the session).
        session: i32,
        /// Its controlling terminal (`tty_nr`; 0 is none).
        tty_nr: i32,
    },
    /// The capability sets, by name.
    Capabilities {
        /// Each set's capabilities by name (empty lists when dropped).
        sets: CapabilityNames,
        /// `cleared`, or why the bounding set was kept.
        bounding: &'static str,
    },
    /// Ids and groups.
    Ids {
        /// Real, effective, saved, filesystem uid.
        uid: Vec<u32>,
        /// Real, effective, saved, filesystem gid.
        gid: Vec<u32>,
        /// Supplementary groups.
        groups: Vec<u32>,
    },
    /// `no_new_privs`.
    NoNewPrivs {
        /// `NoNewPrivs` of the workload (`null` where the kernel does not say, as in gVisor).
        no_new_privs: Option<u64>,
    },
    /// A seccomp filter.
    Seccomp {
        /// Where the programs come from.
        source: String,
        /// How many programs this step installed.
        programs: usize,
        /// `Seccomp` (2 is filter mode; `null` where unknown).
        seccomp: Option<u64>,
        /// `Seccomp_filters` after the step (`null` where unknown).
        seccomp_filters: Option<u64>,
        /// `Seccomp_filters` before the step.
        seccomp_filters_before: Option<u64>,
    },
}

/// Capability sets by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityNames {
    /// `CapInh`.
    pub inheritable: Option<Vec<String>>,
    /// `CapPrm`.
    pub permitted: Option<Vec<String>>,
    /// `CapEff`.
    pub effective: Option<Vec<String>>,
    /// `CapBnd`.
    pub bounding: Option<Vec<String>>,
    /// `CapAmb`.
    pub ambient: Option<Vec<String>>,
}

impl From<Capabilities> for CapabilityNames {
    fn from(caps: Capabilities) -> Self {
        let names = |mask: Option<u64>| mask.map(crate::caps::names);
        CapabilityNames {
            inheritable: names(caps.inheritable),
            permitted: names(caps.permitted),
            effective: names(caps.effective),
            bounding: names(caps.bounding),
            ambient: names(caps.ambient),
        }
    }
}

/// One step's record.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// Whether the operator asked for it.
    pub requested: bool,
    /// What the step protects.
    pub protection: &'static str,
    /// The outcome.
    pub decision: Decision,
    /// For the namespace steps: `direct` or `user-namespace`.
    pub route: Option<Route>,
    /// The call that was refused or failed, when one was.
    pub syscall: Option<&'static str>,
    /// Its raw errno.
    pub errno: Option<i32>,
    /// The errno's name.
    pub errno_name: Option<String>,
    /// The user-namespace route's refused call, when that was tried too.
    pub fallback: Option<CallRecord>,
    /// Who decided about a refusal: `strict` or `plugin:NAME@VERSION`.
    pub decider: Option<String>,
    /// The reason the handler gave for its decision, when it gave one.
    pub reason: Option<String>,
    /// What is missing because the step did not take effect.
    pub missing_protection: Option<&'static str>,
    /// What was re-read after the step.
    pub verified: Evidence,
}

impl StepRecord {
    fn new(step: Step) -> Self {
        StepRecord {
            step,
            requested: true,
            protection: step.protection(),
            decision: Decision::NotReached,
            route: None,
            syscall: None,
            errno: None,
            errno_name: None,
            fallback: None,
            decider: None,
            reason: None,
            missing_protection: None,
            verified: Evidence::Nothing {},
        }
    }
}

/// The handler, as the report and `probe` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandlerRecord {
    /// `strict` or `plugin:NAME@VERSION`.
    pub decider: String,
    /// The kinds it may tolerate.
    pub declared: Vec<&'static str>,
}

/// The workload.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadRecord {
    /// Its argv.
    pub argv: Vec<String>,
    /// Its pid in the supervisor's PID namespace, once it exists.
    pub pid: Option<i32>,
    /// The names (never the values) of the environment variables it gets.
    pub env: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct HardeningReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// This supervisor's version.
    pub supervisor_version: &'static str,
    /// `running` once the workload exec'd, else `aborted`.
    pub outcome: Outcome,
    /// The error line when aborted.
    pub error: Option<String>,
    /// The handler.
    pub handler: HandlerRecord,
    /// Environment clues (see [`FailureContext`]).
    pub environment: FailureContext,
    /// Every step, in boot order.
    pub steps: Vec<StepRecord>,
    /// The workload.
    pub workload: WorkloadRecord,
}

impl HardeningReport {
    /// A report with every step not reached yet.
    pub fn new(environment: FailureContext, argv: &[std::ffi::OsString]) -> Self {
        HardeningReport {
            version: SCHEMA_VERSION,
            supervisor_version: env!("CARGO_PKG_VERSION"),
            outcome: Outcome::Aborted,
            error: None,
            handler: HandlerRecord {
                decider: "strict".to_owned(),
                declared: Vec::new(),
            },
            environment,
            steps: Step::ALL.into_iter().map(StepRecord::new).collect(),
            workload: WorkloadRecord {
                argv: argv
                    .iter()
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect(),
                pid: None,
                env: Vec::new(),
            },
        }
    }

    /// The record of `step`.
    pub fn step(&mut self, step: Step) -> &mut StepRecord {
        &mut self.steps[step as usize]
    }

    /// The record of `step`, read-only.
    pub fn get(&self, step: Step) -> &StepRecord {
        &self.steps[step as usize]
    }

    /// Records an enforced step and what was verified, and logs it.
    pub fn enforced(&mut self, step: Step, verified: Evidence) {
        tracing::info!(step = %step, decision = "enforced", "{step} enforced: {}", step.protection());
        tracing::debug!(step = %step, verified = ?verified, "{step} verified");
        let record = self.step(step);
        record.decision = Decision::Enforced;
        record.verified = verified;
    }

    /// Records a refusal and its decision.
    pub fn refusal(
        &mut self,
        refusal: &Refusal,
        fallback: Option<&Refusal>,
        decider: &str,
        reason: Option<&str>,
        decision: Decision,
    ) {
        let record = self.step(refusal.step);
        let call = CallRecord::from(refusal);
        record.decision = decision;
        record.syscall = Some(call.syscall);
        record.errno = Some(call.errno);
        record.errno_name = Some(call.errno_name);
        record.fallback = fallback.map(CallRecord::from);
        record.decider = Some(decider.to_owned());
        record.reason = reason.map(str::to_owned);
        if decision == Decision::Tolerated {
            record.missing_protection = refusal.step.kind().map(|kind| kind.lost_protection());
        }
    }

    /// Records a step the operator turned off.
    pub fn disabled(&mut self, step: Step) {
        let record = self.step(step);
        record.requested = false;
        record.decision = Decision::DisabledByOperator;
        record.decider = Some("operator".to_owned());
        record.missing_protection = step.kind().map(|kind| kind.lost_protection());
    }

    /// Records a step the operator did not ask for.
    pub fn not_requested(&mut self, step: Step) {
        let record = self.step(step);
        record.requested = false;
        record.decision = Decision::NotRequested;
    }

    /// Writes the report as one JSON document followed by a newline, and closes the writer.
    pub fn write(&self, writer: ReportWriter) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let mut file = writer.0;
        file.write_all(&text)
    }
}
