//! The machine-readable hardening report (`--report FILE`, `--report-fd N`).
//!
//! Written when the workload's `execve` has succeeded (outcome `running`, record `boot`) and again
//! when it ends (record `final`, with `ended_at` and `exit`), or once when the boot stops (outcome
//! `aborted`, record `final`, with the error line). A file is rewritten complete; a descriptor gets
//! one JSON line per record. Every field is serialized from the types below, keyed by [`Step`];
//! the schema is documented in `docs/report.md`; `version` changes only when a field changes
//! meaning or disappears.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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
    /// `--report-fd N`: a descriptor inherited from the caller, open for writing; one JSON line
    /// per record, closed after the final one.
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
            ReportSink::File(path) => {
                open_file(&path).map(|file| ReportWriter { file, lines: false })
            }
            ReportSink::Fd(fd) => {
                check_writable(fd.as_fd())?;
                Ok(ReportWriter {
                    file: File::from(fd),
                    lines: true,
                })
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

/// An open report destination: a file is rewritten complete on every write, a descriptor gets one
/// JSON line per write.
#[derive(Debug)]
pub struct ReportWriter {
    file: File,
    lines: bool,
}

impl ReportWriter {
    /// Writes `bytes` at the current position.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.flush()
    }
}

/// Who decided a step's outcome. Serialized as the strings the report and the logs have always
/// carried: `strict`, `plugin:NAME@VERSION` (or an embedder's handler's own name), `operator`,
/// `verification`, `never tolerable`, `out of resources`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decider {
    /// The strict default handler: `strict`.
    Strict,
    /// A plugin (`plugin:NAME@VERSION`) or an embedder's handler, by the name it gives itself.
    Handler(String),
    /// The operator turned the step off (`--disable-step`): `operator`.
    Operator,
    /// The step reported success but did not take effect: `verification`.
    Verification,
    /// No handler may tolerate the step: `never tolerable`.
    NeverTolerable,
    /// A call failed for want of memory, processes or descriptors: `out of resources`.
    OutOfResources,
}

impl Decider {
    /// The strict default's name.
    pub const STRICT: &'static str = "strict";

    /// The decider a handler names with [`crate::failure::SandboxFailureHandler::decider`].
    pub fn of_handler(name: String) -> Self {
        match name == Self::STRICT {
            true => Decider::Strict,
            false => Decider::Handler(name),
        }
    }

    /// The name written in reports and logs.
    pub fn as_str(&self) -> &str {
        match self {
            Decider::Strict => Self::STRICT,
            Decider::Handler(name) => name,
            Decider::Operator => "operator",
            Decider::Verification => "verification",
            Decider::NeverTolerable => "never tolerable",
            Decider::OutOfResources => "out of resources",
        }
    }
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Decider {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

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

impl Decision {
    /// The name the report and the logs use.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Enforced => "enforced",
            Decision::Tolerated => "tolerated",
            Decision::Aborted => "aborted",
            Decision::NotRequested => "not-requested",
            Decision::DisabledByOperator => "disabled-by-operator",
            Decision::NotReached => "not-reached",
        }
    }
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

/// Which record of a run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// The workload is running; a `final` record follows when it ends.
    Boot,
    /// Nothing more will be written: the workload ended, or the boot stopped.
    Final,
}

/// How the workload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitOutcome {
    /// It exited with a code.
    Exited,
    /// A signal killed it.
    Killed,
}

/// The workload's end, in the final record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitRecord {
    /// `exited` or `killed`.
    pub outcome: ExitOutcome,
    /// Its exit code when it exited, else null.
    pub code: Option<i32>,
    /// The signal's name (`SIGKILL`) when one killed it, else null.
    pub signal: Option<&'static str>,
    /// The supervisor's own exit code: `code`, or 128+N for signal N.
    pub exit_code: i32,
    /// Milliseconds from `started_at` to `ended_at`.
    pub duration_ms: u64,
}

impl ExitRecord {
    /// The record of `ended`, `duration` after the start.
    pub fn new(ended: crate::supervise::Ended, duration: Duration) -> Self {
        use crate::supervise::Ended;
        let (outcome, code, signal) = match ended {
            Ended::Exited(code) => (ExitOutcome::Exited, Some(code), None),
            Ended::Signaled(signal) => (ExitOutcome::Killed, None, Some(signal.as_str())),
        };
        ExitRecord {
            outcome,
            code,
            signal,
            exit_code: ended.exit_code(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A point in time, serialized as RFC 3339 in UTC with microseconds
/// (`2026-11-28T17:25:21.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch (OCSF's `time`).
    pub fn unix_millis(self) -> i64 {
        match self.0.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            since.subsec_micros()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A random run id: a version 4 UUID from `getrandom(2)` (or `/dev/urandom` where that call is
/// refused), so that a SIEM can join the boot record, the final record and the findings.
pub fn run_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    // SAFETY: `bytes` is a live, writable buffer of exactly `bytes.len()` bytes for the duration
    // of the call, which writes at most that many.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if usize::try_from(got).ok() != Some(bytes.len()) {
        use std::io::Read;
        File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// The host's name (`uname`'s nodename, as `gethostname(2)` gives it), or `null` when it cannot be
/// read.
pub fn hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: `buffer` is live and writable for `buffer.len()` bytes; gethostname writes at most
    // that many (and the last byte stays 0 below, so the name is terminated).
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    Some(String::from_utf8_lossy(&buffer[..end]).into_owned()).filter(|name| !name.is_empty())
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
    /// The filesystem view, re-read from the workload's mountinfo and root.
    FilesystemView(crate::view::ViewEvidence),
    /// The Landlock domain, as the crate's `restrict_self` reported it.
    Landlock {
        /// The crate's `RulesetStatus`: `fully-enforced`, `partially-enforced` or `not-enforced`.
        status: &'static str,
        /// The running kernel's Landlock ABI.
        kernel_abi: i32,
        /// The ABI the supervisor asks for (the crate's newest).
        requested_abi: i32,
        /// The filesystem access rights the kernel handles.
        handled: Vec<String>,
        /// Rights of the requested ABI the kernel does not handle (why a status is partial).
        not_handled: Vec<String>,
        /// The scopes handled (`abstract-unix-socket`, `signal`).
        scopes: Vec<&'static str>,
        /// Rules added from the host's paths by the supervisor.
        host_rules: usize,
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
    /// Who decided: `strict`, `plugin:NAME@VERSION`, `never tolerable`, `operator`,
    /// `verification` or `out of resources`.
    pub decider: Option<Decider>,
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
    /// The plugin file, when the handler is a plugin loaded by `--handler-plugin`.
    pub plugin: Option<PluginFileRecord>,
}

/// The plugin's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginFileRecord {
    /// `--handler-plugin` as given (absolute).
    pub path: String,
    /// The SHA-256 of the loaded file, in lowercase hexadecimal.
    pub sha256: String,
}

/// The workload.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadRecord {
    /// Its argv with `--report-argv`; otherwise only `argv[0]` (arguments can hold secrets).
    pub argv: Vec<String>,
    /// Whether `argv` is complete (`--report-argv`).
    pub argv_complete: bool,
    /// The program that was exec'd, its path resolved (null when the boot stopped before).
    pub program: Option<String>,
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
    /// The sandbox-plugin-api version this supervisor was built with.
    pub plugin_api_version: &'static str,
    /// The plugin ABI line: the plugin API releases whose plugins it loads (`0.1.x`).
    pub plugin_abi: String,
    /// The executable's GNU build id (null when the linker wrote none).
    pub build_id: Option<String>,
    /// `boot` (the workload runs; a final record follows) or `final`.
    pub record: RecordKind,
    /// This run's random id (a version 4 UUID), the same in every record and finding of the run.
    pub run_id: String,
    /// The host's name (null when it cannot be read).
    pub hostname: Option<String>,
    /// When the supervisor started the run.
    pub started_at: Timestamp,
    /// When the final record was made: the workload ended or the boot stopped (null before).
    pub ended_at: Option<Timestamp>,
    /// How the workload ended (null until it has, and for a boot that stopped).
    pub exit: Option<ExitRecord>,
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
    /// A report with every step not reached yet, started now, with the whole `argv`.
    pub fn new(environment: FailureContext, argv: &[std::ffi::OsString]) -> Self {
        HardeningReport {
            version: SCHEMA_VERSION,
            supervisor_version: env!("CARGO_PKG_VERSION"),
            plugin_api_version: crate::version::PLUGIN_API,
            plugin_abi: crate::version::plugin_abi_line(),
            build_id: crate::version::build_id(),
            record: RecordKind::Boot,
            // An id that could not be drawn is left empty here; `run` refuses to start without one.
            run_id: run_id().unwrap_or_default(),
            hostname: hostname(),
            started_at: Timestamp::now(),
            ended_at: None,
            exit: None,
            outcome: Outcome::Aborted,
            error: None,
            handler: HandlerRecord {
                decider: Decider::Strict.to_string(),
                declared: Vec::new(),
                plugin: None,
            },
            environment,
            steps: Step::ALL.into_iter().map(StepRecord::new).collect(),
            workload: WorkloadRecord {
                argv: argv
                    .iter()
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect(),
                argv_complete: true,
                program: None,
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
        decider: &Decider,
        reason: Option<&str>,
        decision: Decision,
    ) {
        let call = CallRecord::from(refusal);
        let record = self.step(refusal.step);
        record.decision = decision;
        record.syscall = Some(call.syscall);
        record.errno = Some(call.errno);
        record.errno_name = Some(call.errno_name);
        record.fallback = fallback.map(CallRecord::from);
        record.decider = Some(decider.clone());
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
        record.decider = Some(Decider::Operator);
        record.missing_protection = step.kind().map(|kind| kind.lost_protection());
    }

    /// Records a step the operator did not ask for.
    pub fn not_requested(&mut self, step: Step) {
        let record = self.step(step);
        record.requested = false;
        record.decision = Decision::NotRequested;
    }

    /// Keeps only `argv[0]` unless `complete` (`--report-argv`).
    pub fn redact_argv(&mut self, complete: bool) {
        if !complete {
            self.workload.argv.truncate(1);
        }
        self.workload.argv_complete = complete;
    }

    /// Makes this the final record: the boot stopped (`exit` None) or the workload ended.
    pub fn finish(&mut self, exit: Option<crate::supervise::Ended>) {
        let now = Timestamp::now();
        let duration = now.0.duration_since(self.started_at.0).unwrap_or_default();
        self.record = RecordKind::Final;
        self.ended_at = Some(now);
        self.exit = exit.map(|ended| ExitRecord::new(ended, duration));
    }

    /// Writes the report: a file is rewritten from the start as one pretty-printed JSON document
    /// and truncated to it; a descriptor gets one compact JSON line.
    pub fn write(&self, writer: &mut ReportWriter) -> std::io::Result<()> {
        let mut text = if writer.lines {
            serde_json::to_vec(self)
        } else {
            serde_json::to_vec_pretty(self)
        }
        .map_err(std::io::Error::other)?;
        text.push(b'\n');
        if !writer.lines {
            writer.file.rewind()?;
            writer.file.set_len(0)?;
        }
        writer.file.write_all(&text)?;
        writer.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> String {
        Timestamp(SystemTime::UNIX_EPOCH + Duration::new(secs, micros * 1000)).to_string()
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day of a century divisible by 400) and the day after.
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000000Z");
        // 2100 is not a leap year: 2100-02-28 is followed by 2100-03-01.
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(1_795_886_721, 123_456), "2026-11-28T17:25:21.123456Z");
        assert_eq!(
            Timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(1500)).unix_millis(),
            1500
        );
    }

    #[test]
    fn run_ids_are_random_version_4_uuids() {
        let first = run_id().unwrap();
        let second = run_id().unwrap();
        assert_ne!(first, second);
        let groups: Vec<&str> = first.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{first}");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{first}");
    }

    #[test]
    fn exit_records_tell_exited_from_killed() {
        use crate::supervise::Ended;
        use nix::sys::signal::Signal;
        let exited = ExitRecord::new(Ended::Exited(3), Duration::from_millis(1200));
        assert_eq!(
            (
                exited.outcome,
                exited.code,
                exited.signal,
                exited.exit_code,
                exited.duration_ms
            ),
            (ExitOutcome::Exited, Some(3), None, 3, 1200)
        );
        let killed = ExitRecord::new(Ended::Signaled(Signal::SIGKILL), Duration::ZERO);
        assert_eq!(
            (killed.outcome, killed.code, killed.signal, killed.exit_code),
            (ExitOutcome::Killed, None, Some("SIGKILL"), 137)
        );
    }
}
