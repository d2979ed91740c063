//! Trusted, race-free loading of a failure-handler plugin, and calls into it with a deadline.
//!
//! # Loading
//!
//! The path is walked from `/` one component at a time: every directory is opened with
//! `openat(parent, name, O_DIRECTORY|O_NOFOLLOW)` and checked on its descriptor (owned by root or
//! the invoking user; not group- or world-writable unless it is sticky, like `/tmp`), then the file
//! itself is opened relative to the last directory (`O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK`).
//! No symbolic link is followed anywhere on the path, and no check can be raced by renaming a
//! component afterwards: every check is made on a descriptor that is then used. Every further check
//! (`fstat`, ELF magic, optional SHA-256) is made on the file's descriptor, and the dynamic loader
//! is handed the same descriptor through `/proc/self/fd/N`, so the file that was checked is the
//! file that is loaded. The library is never unloaded.
//!
//! After the constructors, `init` and `tolerates` ran, the supervisor must still be one thread with
//! no child process: a plugin that started a thread or a process (including a double fork, which
//! the supervisor catches by being a child subreaper while it loads) is refused and its processes
//! are killed.
//!
//! # Deadlines
//!
//! Loading (constructors, `init`, `tolerates`) runs under a `SIGALRM` timer: past the deadline the
//! signal handler writes one error line and ends the process with the plugin-failure code. Each
//! `handle` call runs in a forked child that writes its answer to a pipe and exits; the supervisor
//! waits for the answer until the deadline, then kills the child's process group. Nothing a plugin
//! does in `handle` (open descriptors, state, threads, processes) outlives the call.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use abi_stable::library::{
    AbiHeaderRef, LibraryError, RootModule, ROOT_MODULE_LOADER_NAME_WITH_NUL,
};
use abi_stable::std_types::RResult;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use sandbox_plugin_api::ffi::{
    check_extension_header, with_report_ffi, ExtensionHeader, HandlerExtV1Ref, HandlerModRef,
    PluginError, EXTENSION_V1_SYMBOL,
};
use sha2::{Digest, Sha256};

use crate::failure::{
    FailureReport, HandlerFailure, Ruling, SandboxFailureHandler, SandboxFailureKind, Verdict,
};

/// How long a plugin may take, by default, to load (constructors, `init`, `tolerates`) and to
/// answer one `handle` call: `--handler-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the operator asked for on the command line.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    /// `--handler-plugin`.
    pub path: PathBuf,
    /// `--handler-plugin-sha256`, already decoded.
    pub sha256: Option<[u8; 32]>,
    /// The contents of `--handler-config`, as JSON text (already checked to parse).
    pub config: Option<String>,
    /// `--handler-timeout`: the deadline for loading and for each `handle` call.
    pub timeout: Duration,
}

/// The plugin file could not be trusted or loaded. Exit code: plugin load or ABI error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginLoadError {
    /// The path was relative.
    #[error("plugin path {0} is relative; give an absolute path")]
    RelativePath(PathBuf),
    /// The path does not exist.
    #[error("plugin {0} does not exist")]
    Missing(PathBuf),
    /// The last path component is a symbolic link.
    #[error("plugin {0} is a symbolic link; name the file itself")]
    Symlink(PathBuf),
    /// The path has a `..` component.
    #[error("plugin path {0} contains '..'; give the path without it")]
    ParentComponent(PathBuf),
    /// A directory on the path is a symbolic link.
    #[error("plugin {path}: directory {dir} is a symbolic link; name the real directory")]
    SymlinkDirectory {
        /// The plugin path.
        path: PathBuf,
        /// The directory on the path that is a link.
        dir: PathBuf,
    },
    /// A directory on the path could not be opened.
    #[error("plugin {path}: failed to open directory {dir}")]
    OpenDirectory {
        /// The plugin path.
        path: PathBuf,
        /// The directory on the path.
        dir: PathBuf,
        /// The errno of `openat`.
        #[source]
        source: Errno,
    },
    /// A directory on the path is owned by another user.
    #[error("plugin {path}: directory {dir} is owned by uid {owner}; every directory on the path must be owned by root or by uid {caller}")]
    DirectoryOwner {
        /// The plugin path.
        path: PathBuf,
        /// The directory on the path.
        dir: PathBuf,
        /// The directory's owner.
        owner: u32,
        /// The invoking user.
        caller: u32,
    },
    /// A directory on the path is group- or world-writable and not sticky.
    #[error("plugin {path}: directory {dir} has mode {mode:04o}; a directory on the path must not be group- or world-writable unless it is sticky")]
    DirectoryWritable {
        /// The plugin path.
        path: PathBuf,
        /// The directory on the path.
        dir: PathBuf,
        /// The permission bits.
        mode: u32,
    },
    /// `open` failed for another reason.
    #[error("failed to open plugin {path}")]
    Open {
        /// The plugin path.
        path: PathBuf,
        /// The errno of `open`.
        #[source]
        source: Errno,
    },
    /// `fstat` failed.
    #[error("failed to fstat plugin {path}")]
    Stat {
        /// The plugin path.
        path: PathBuf,
        /// The errno of `fstat`.
        #[source]
        source: Errno,
    },
    /// Not a regular file.
    #[error("plugin {path} is {what}, not a regular file")]
    NotRegular {
        /// The plugin path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Owned by someone other than root or the invoking user.
    #[error("plugin {path} is owned by uid {owner}; it must be owned by root or by uid {caller}")]
    Owner {
        /// The plugin path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The invoking user.
        caller: u32,
    },
    /// Group- or world-writable.
    #[error("plugin {path} has mode {mode:04o}; it must not be group- or world-writable")]
    Writable {
        /// The plugin path.
        path: PathBuf,
        /// The permission bits.
        mode: u32,
    },
    /// Reading the descriptor failed.
    #[error("failed to read plugin {path}")]
    Read {
        /// The plugin path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not an ELF file.
    #[error("plugin {0} is not an ELF shared object")]
    NotElf(PathBuf),
    /// The SHA-256 pin did not match.
    #[error("plugin {path} has SHA-256 {actual}, but --handler-plugin-sha256 requires {expected}")]
    Checksum {
        /// The plugin path.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// The dynamic loader refused the file.
    #[error("failed to load plugin {path}: {message}")]
    Dlopen {
        /// The plugin path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// A shared object, but it exports no plugin root module.
    #[error("{0} is a shared object but not a sandbox-supervisor plugin (it exports no plugin root module)")]
    NotAPlugin(PathBuf),
    /// Built against another version of the plugin API.
    #[error("plugin {path} was built for sandbox-plugin-api {plugin}; this supervisor speaks sandbox-plugin-api {host} and loads plugins built for {line}")]
    IncompatibleVersion {
        /// The plugin path.
        path: PathBuf,
        /// The API version the plugin was built against.
        plugin: String,
        /// The API version this supervisor speaks.
        host: String,
        /// The releases this supervisor loads (`0.1.x`).
        line: String,
    },
    /// The version matched but the types did not.
    #[error("plugin {path} was built for sandbox-plugin-api {plugin} with an incompatible layout; this supervisor speaks sandbox-plugin-api {host} (the layout report is logged at debug level)")]
    IncompatibleLayout {
        /// The plugin path.
        path: PathBuf,
        /// The API version the plugin was built against.
        plugin: String,
        /// The API version this supervisor speaks.
        host: String,
    },
    /// An extension's layout is not the one this supervisor knows.
    #[error("plugin {path} exports {symbol} with an incompatible layout (the layout report is logged at debug level)")]
    IncompatibleExtension {
        /// The plugin path.
        path: PathBuf,
        /// The extension's symbol.
        symbol: &'static str,
    },
    /// The load deadline could not be armed.
    #[error("failed to arm the plugin's load deadline")]
    Deadline(#[source] Errno),
    /// Any other abi_stable loading error (incompatible abi_stable, C ABI, constructor failure).
    #[error("plugin {path} could not be initialised as a sandbox-supervisor plugin: {message}")]
    Abi {
        /// The plugin path.
        path: PathBuf,
        /// A one-line summary.
        message: String,
    },
}

/// The plugin loaded but misbehaved. Exit code: plugin failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginFailure {
    /// `init` refused the configuration.
    #[error("{decider} rejected its configuration: {message}")]
    InitRejected {
        /// `plugin:NAME@VERSION`.
        decider: String,
        /// The plugin's sentence.
        message: String,
    },
    /// A plugin entry point panicked.
    #[error("{decider} panicked in {entry}: {message}")]
    Panicked {
        /// `plugin:NAME@VERSION`.
        decider: String,
        /// `init`, `tolerates` or `handle`.
        entry: &'static str,
        /// The panic message.
        message: String,
    },
    /// `tolerates` returned an error.
    #[error("{decider} failed to declare its tolerances: {message}")]
    Declaration {
        /// `plugin:NAME@VERSION`.
        decider: String,
        /// The plugin's sentence.
        message: String,
    },
    /// The process is no longer single-threaded.
    #[error("{decider} started threads (the supervisor now has {threads}); plugins must not start threads")]
    Threads {
        /// `plugin:NAME@VERSION`.
        decider: String,
        /// Threads counted in `/proc/self/task`.
        threads: usize,
    },
    /// The supervisor has a child process after loading: the plugin forked (or cloned a process).
    #[error("{decider} started a process (pid {pid}) while loading; plugins must not start processes (it was killed)")]
    Processes {
        /// `plugin:NAME@VERSION`, or the path when the constructors did it.
        decider: String,
        /// One of the processes found.
        pid: i32,
    },
}

/// A loaded, initialised plugin, usable as the process's failure handler.
pub struct PluginHandler {
    module: HandlerModRef,
    extension_v1: Option<HandlerExtV1Ref>,
    api_version: String,
    decider: String,
    declared: Vec<SandboxFailureKind>,
    timeout: Duration,
}

impl std::fmt::Debug for PluginHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandler")
            .field("decider", &self.decider)
            .field("declared", &self.declared)
            .field("api_version", &self.api_version)
            .field("extension_v1", &self.extension_v1.is_some())
            .finish_non_exhaustive()
    }
}

impl SandboxFailureHandler for PluginHandler {
    fn decider(&self) -> String {
        self.decider.clone()
    }

    fn declared(&self) -> Vec<SandboxFailureKind> {
        self.declared.clone()
    }

    fn handle(&self, report: &FailureReport) -> Result<Verdict, HandlerFailure> {
        self.decide(report).map(|ruling| ruling.verdict)
    }

    fn decide(&self, report: &FailureReport) -> Result<Ruling, HandlerFailure> {
        let mut report = report.clone();
        report.context.supervisor_version = Some(env!("CARGO_PKG_VERSION").to_owned());
        report.context.plugin_api_version = Some(sandbox_plugin_api::VERSION.to_owned());
        let mut ruling = self.call_in_child(&report)?;
        // A plugin built before this kind existed was never asked: its glue answered abort.
        if ruling.reason.is_none() && !self.knows(report.kind) {
            ruling.reason = Some(format!(
                "built against sandbox-plugin-api {}, which has no {} kind (added in {})",
                self.api_version,
                report.kind,
                report.kind.since()
            ));
        }
        Ok(ruling)
    }
}

/// What the `handle` child writes to its pipe.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ChildAnswer {
    /// The verdict code, when the plugin answered one.
    verdict: Option<u32>,
    /// `(panicked, message)` when the plugin returned an error.
    error: Option<(bool, String)>,
    /// The plugin's reason (extension v1 only).
    reason: Option<String>,
    /// Threads in the child after the call.
    threads: usize,
    /// A process the plugin started during the call (killed by the child), if any.
    process: Option<i32>,
}

/// The most a `handle` child may write; a longer answer is a plugin failure.
const ANSWER_CAP: usize = 64 * 1024;

impl PluginHandler {
    /// The deadline for one `handle` call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn failure(&self, reason: String) -> HandlerFailure {
        HandlerFailure {
            decider: self.decider.clone(),
            reason,
        }
    }

    /// Calls the plugin's `handle` in a forked child, waits for its answer until the deadline and
    /// kills the child's process group afterwards.
    fn call_in_child(&self, report: &FailureReport) -> Result<Ruling, HandlerFailure> {
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|errno| self.failure(format!("could not be called: pipe2 failed: {errno}")))?;
        // SAFETY: the supervisor is single-threaded (checked after loading; plugin calls run only
        // in children like this one), so the child may allocate and run the plugin; it never
        // returns from `answer_in_child`, which ends with `_exit`.
        match unsafe { nix::unistd::fork() } {
            Err(errno) => Err(self.failure(format!("could not be called: fork failed: {errno}"))),
            Ok(ForkResult::Child) => {
                drop(reader);
                self.answer_in_child(report, writer)
            }
            Ok(ForkResult::Parent { child }) => {
                drop(writer);
                // Also set in the child: whichever runs first, the child leads its own group
                // before the parent may kill that group.
                let _ = nix::unistd::setpgid(child, child);
                let answer = read_until(reader, Instant::now() + self.timeout);
                // Everything the call started dies with it. Kill the group only when the child
                // really leads it: never the supervisor's own group. The child is not reaped yet,
                // so its pid (and group id) cannot have been reused.
                if nix::unistd::getpgid(Some(child)) == Ok(child) {
                    let _ = signal::killpg(child, Signal::SIGKILL);
                } else {
                    let _ = signal::kill(child, Signal::SIGKILL);
                }
                let status = reap(child);
                let bytes = match answer {
                    Ok(bytes) => bytes,
                    Err(ReadFailure::Timeout) => {
                        return Err(self.failure(format!(
                            "did not answer handle within {:?} (--handler-timeout); the call was killed",
                            self.timeout
                        )))
                    }
                    Err(ReadFailure::TooLong) => {
                        return Err(self.failure("answered handle with more than 64 KiB".to_owned()))
                    }
                    Err(ReadFailure::Io(errno)) => {
                        return Err(self.failure(format!(
                            "could not be called: reading its answer failed: {errno}"
                        )))
                    }
                };
                let answer: ChildAnswer = serde_json::from_slice(&bytes).map_err(|_| {
                    self.failure(format!(
                        "ended handle without answering ({})",
                        describe_status(status)
                    ))
                })?;
                self.ruling_of(answer)
            }
        }
    }

    /// Whether the plugin's API release knows `kind` (an older plugin's glue aborts without
    /// asking its policy).
    fn knows(&self, kind: SandboxFailureKind) -> bool {
        let parse = |text: &str| -> Option<(u64, u64, u64)> {
            let mut parts = text
                .split(['.', '-', '+'])
                .map(|part| part.parse::<u64>().ok());
            Some((parts.next()??, parts.next()??, parts.next()??))
        };
        match (parse(&self.api_version), parse(kind.since())) {
            (Some(plugin), Some(since)) => plugin >= since,
            _ => true,
        }
    }

    fn ruling_of(&self, answer: ChildAnswer) -> Result<Ruling, HandlerFailure> {
        if let Some((panicked, message)) = answer.error {
            return Err(self.failure(if panicked {
                format!("panicked in handle: {message}")
            } else {
                format!("returned an error from handle: {message}")
            }));
        }
        if answer.threads != 1 {
            return Err(self.failure(format!(
                "started threads in handle (the supervisor now has {})",
                answer.threads
            )));
        }
        if let Some(pid) = answer.process {
            return Err(self.failure(format!(
                "started a process (pid {pid}) in handle; plugins must not start processes"
            )));
        }
        let code = answer.verdict.unwrap_or(u32::MAX);
        let verdict = Verdict::from_code(code).ok_or_else(|| {
            self.failure(format!(
                "returned verdict {code}, which is neither abort (0) nor tolerate (1)"
            ))
        })?;
        Ok(Ruling {
            verdict,
            reason: answer.reason.as_deref().map(clean_reason),
        })
    }

    /// The `handle` child: calls the plugin, writes the answer, `_exit`s.
    fn answer_in_child(&self, report: &FailureReport, writer: OwnedFd) -> ! {
        let body = || {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            // A double fork in the plugin leaves its orphan with this child, where it is seen.
            let _ = nix::sys::prctl::set_child_subreaper(true);
            let mut answer = ChildAnswer::default();
            let result = match self.extension_v1 {
                Some(extension) => with_report_ffi(report, |ffi| (extension.decide())(ffi))
                    .map(|ruling| (ruling.verdict, ruling.reason.into_option())),
                // The documented default for a plugin without extension v1: no reason.
                None => with_report_ffi(report, |ffi| (self.module.handle())(ffi))
                    .map(|code| (code, None)),
            };
            match result {
                RResult::ROk((code, reason)) => {
                    answer.verdict = Some(code);
                    answer.reason = reason.map(|reason| reason.into_string());
                }
                RResult::RErr(err) => {
                    answer.error = Some((err.panicked, err.message.into_string()));
                }
            }
            answer.threads = crate::procfs::thread_count();
            let started = children_of(nix::unistd::getpid());
            answer.process = started.first().map(|pid| pid.as_raw());
            for pid in started {
                let _ = signal::kill(pid, Signal::SIGKILL);
            }
            serde_json::to_vec(&answer).unwrap_or_default()
        };
        let bytes =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_default();
        let mut pipe = File::from(writer);
        let _ = pipe.write_all(&bytes);
        drop(pipe);
        // SAFETY: `_exit` ends this forked child at once: it must not return into the
        // supervisor's code, run its exit handlers or flush buffers it shares with the parent.
        unsafe { libc::_exit(0) }
    }
}

/// A plugin's reason as the supervisor shows it: one line (control characters become spaces), at
/// most [`Ruling::REASON_MAX`] characters.
pub fn clean_reason(reason: &str) -> String {
    let mut clean: String = reason
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(Ruling::REASON_MAX)
        .collect();
    if reason.trim().chars().count() > Ruling::REASON_MAX {
        clean.push('…');
    }
    clean
}

#[derive(Debug)]
enum ReadFailure {
    Timeout,
    TooLong,
    Io(Errno),
}

/// Reads `reader` to its end, or fails at `deadline`.
fn read_until(reader: OwnedFd, deadline: Instant) -> Result<Vec<u8>, ReadFailure> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFailure::Timeout);
        }
        let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => return Err(ReadFailure::Io(errno)),
        }
        match nix::unistd::read(reader.as_raw_fd(), &mut buffer) {
            Ok(0) => return Ok(bytes),
            Ok(read) => {
                bytes.extend_from_slice(&buffer[..read]);
                if bytes.len() > ANSWER_CAP {
                    return Err(ReadFailure::TooLong);
                }
            }
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(errno) => return Err(ReadFailure::Io(errno)),
        }
    }
}

/// Waits for `child` (any kind of child: `__WALL`).
fn reap(child: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(child, Some(WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(status) => return Some(status),
            Err(_) => return None,
        }
    }
}

fn describe_status(status: Option<WaitStatus>) -> String {
    match status {
        Some(WaitStatus::Exited(_, code)) => format!("the call exited with code {code}"),
        Some(WaitStatus::Signaled(_, signal, _)) => format!("the call was killed by {signal}"),
        _ => "the call ended".to_owned(),
    }
}

/// The processes whose parent is `parent`, found by scanning `/proc/*/stat` (the kernel here may
/// lack `/proc/PID/task/TID/children`). A zombie is still listed.
pub fn children_of(parent: Pid) -> Vec<Pid> {
    // Scanning /proc costs about a millisecond per hundred processes on the host; the calling
    // process can ask the kernel first whether it has any child at all.
    if parent == nix::unistd::getpid() && !has_children() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "PID (COMM) STATE PPID ...": COMM may contain anything, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if ppid == Some(parent.as_raw()) {
            children.push(Pid::from_raw(pid));
        }
    }
    children
}

/// Whether the calling process has a child, in any state: `waitid(P_ALL, WNOHANG|WNOWAIT)` answers
/// `ECHILD` exactly when it has none, and reaps nothing.
fn has_children() -> bool {
    // SAFETY: all-zero bytes are a valid `siginfo_t`, which waitid fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for waitid to write; the flags only ask, they reap nothing.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED
                | libc::WSTOPPED
                | libc::WCONTINUED
                | libc::WNOHANG
                | libc::WNOWAIT
                | libc::__WALL,
        )
    };
    !(rc == -1 && Errno::last() == Errno::ECHILD)
}

/// Either a load error or a plugin failure; they have different exit codes.
#[derive(Debug, thiserror::Error)]
pub enum PluginSetupError {
    /// See [`PluginLoadError`].
    #[error(transparent)]
    Load(#[from] PluginLoadError),
    /// See [`PluginFailure`].
    #[error(transparent)]
    Failure(#[from] PluginFailure),
}

/// Opens, checks, loads and initialises the plugin named in `request`.
///
/// Call it from a single-threaded process with no child process: afterwards, a thread or a child
/// process means the plugin started it, and the plugin is refused.
pub fn load(request: &PluginRequest) -> Result<PluginHandler, PluginSetupError> {
    let path = &request.path;
    let fd = open_trusted(path)?;
    let file = File::from(fd);
    check_elf(path, &file)?;
    if let Some(expected) = &request.sha256 {
        check_sha256(path, &file, expected)?;
    }

    let own = nix::unistd::getpid();
    let children_before = children_of(own);
    // A plugin that double-forks leaves its grandchild with the nearest subreaper: while loading,
    // that is the supervisor, where the check below sees it.
    let subreaper = SubreaperGuard::enable();
    let deadline = LoadDeadline::arm(
        request.timeout,
        format!(
            "plugin {} did not finish loading (its constructors) within {:?} (--handler-timeout)",
            path.display(),
            request.timeout
        ),
    )
    .map_err(PluginLoadError::Deadline)?;
    let mut decider = None;
    let loaded = open_and_initialise(request, file, &deadline, &mut decider);
    drop(deadline);
    // Whatever happened, a process the plugin started (in its constructors, init or tolerates)
    // does not survive, and it is the error that is reported.
    let started: Vec<Pid> = children_of(own)
        .into_iter()
        .filter(|pid| !children_before.contains(pid))
        .collect();
    for pid in &started {
        let _ = signal::kill(*pid, Signal::SIGKILL);
        reap(*pid);
    }
    drop(subreaper);
    let decider = decider.unwrap_or_else(|| format!("plugin {}", path.display()));
    if let Some(first) = started.first() {
        return Err(PluginFailure::Processes {
            decider,
            pid: first.as_raw(),
        }
        .into());
    }
    let (loaded, declared) = loaded?;
    let threads = crate::procfs::thread_count();
    if threads != 1 {
        return Err(PluginFailure::Threads { decider, threads }.into());
    }
    let mut declared: Vec<SandboxFailureKind> = declared
        .into_iter()
        // Codes this supervisor does not know are dropped: it will never ask about them.
        .filter_map(SandboxFailureKind::from_code)
        .collect();
    declared.sort();
    declared.dedup();
    Ok(PluginHandler {
        module: loaded.module,
        extension_v1: loaded.extension_v1,
        api_version: loaded.api_version,
        decider,
        declared,
        timeout: request.timeout,
    })
}

/// Loads the checked file and calls `init` and `tolerates`; sets `decider` as soon as it is known.
fn open_and_initialise(
    request: &PluginRequest,
    file: File,
    deadline: &LoadDeadline,
    decider: &mut Option<String>,
) -> Result<(Loaded, Vec<u32>), PluginSetupError> {
    let loaded = dlopen_module(&request.path, &file)?;
    // The descriptor is no longer needed: the loader holds its own mapping.
    drop(file);
    let module = loaded.module;
    let name = format!("plugin:{}@{}", module.name(), module.version());
    *decider = Some(name.clone());
    let config = request.config.as_deref().unwrap_or("");
    deadline.say(format!(
        "{name} did not answer init within {:?} (--handler-timeout)",
        request.timeout
    ));
    if let RResult::RErr(err) = (module.init())(config.into()) {
        return Err(plugin_failure(&name, "init", err).into());
    }
    deadline.say(format!(
        "{name} did not answer tolerates within {:?} (--handler-timeout)",
        request.timeout
    ));
    match (module.tolerates())() {
        RResult::ROk(codes) => Ok((loaded, codes.into_iter().collect())),
        RResult::RErr(err) => Err(plugin_failure(&name, "tolerates", err).into()),
    }
}

/// Makes the supervisor a child subreaper while a plugin loads; restores the previous setting.
struct SubreaperGuard {
    previous: Option<bool>,
}

impl SubreaperGuard {
    fn enable() -> Self {
        let previous = nix::sys::prctl::get_child_subreaper().ok();
        if previous == Some(false) {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        SubreaperGuard { previous }
    }
}

impl Drop for SubreaperGuard {
    fn drop(&mut self) {
        if self.previous == Some(false) {
            let _ = nix::sys::prctl::set_child_subreaper(false);
        }
    }
}

/// The line the `SIGALRM` handler writes: a leaked buffer, replaced (never freed) as loading
/// moves from the constructors to `init` and `tolerates`.
static DEADLINE_LINE: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_load_deadline(_signal: libc::c_int) {
    let line = DEADLINE_LINE.load(Ordering::SeqCst);
    if !line.is_null() {
        // SAFETY: a non-null pointer here is a leaked `Box<Vec<u8>>` that is never freed or
        // changed after it was published; reading its pointer and length allocates nothing.
        let line = unsafe { &*line };
        // SAFETY: `write` is async-signal-safe; the buffer is valid for `line.len()` bytes.
        unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: `_exit` is async-signal-safe and ends the process without running plugin code.
    unsafe { libc::_exit(crate::exit::PLUGIN_FAILURE) }
}

/// A `SIGALRM` timer that ends the process with one line and the plugin-failure code when
/// loading takes longer than the deadline. Dropping it disarms the timer and restores the previous
/// handler and signal mask.
struct LoadDeadline {
    previous: signal::SigAction,
    previous_mask: SigSet,
}

impl LoadDeadline {
    fn arm(timeout: Duration, line: String) -> Result<Self, Errno> {
        Self::publish(line);
        let action = signal::SigAction::new(
            SigHandler::Handler(on_load_deadline),
            signal::SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only reads a published, never-freed buffer and calls the
        // async-signal-safe `write` and `_exit`.
        let previous = unsafe { signal::sigaction(Signal::SIGALRM, &action) }?;
        let mut unblock = SigSet::empty();
        unblock.add(Signal::SIGALRM);
        let mut previous_mask = SigSet::empty();
        signal::sigprocmask(
            signal::SigmaskHow::SIG_UNBLOCK,
            Some(&unblock),
            Some(&mut previous_mask),
        )?;
        let guard = LoadDeadline {
            previous,
            previous_mask,
        };
        set_timer(timeout)?;
        Ok(guard)
    }

    fn publish(line: String) {
        let text = format!("sandbox-supervisor: error: {line}\n").into_bytes();
        // Leaked on purpose: the handler may be reading the previous line right now.
        DEADLINE_LINE.store(Box::into_raw(Box::new(text)), Ordering::SeqCst);
    }

    /// Changes the line the handler writes (the deadline stays the same).
    fn say(&self, line: String) {
        Self::publish(line);
    }
}

impl Drop for LoadDeadline {
    fn drop(&mut self) {
        let _ = set_timer(Duration::ZERO);
        // SAFETY: restores the disposition that was in place before `arm`.
        let _ = unsafe { signal::sigaction(Signal::SIGALRM, &self.previous) };
        let _ = signal::sigprocmask(
            signal::SigmaskHow::SIG_SETMASK,
            Some(&self.previous_mask),
            None,
        );
        DEADLINE_LINE.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Arms (or, with zero, disarms) the real-time interval timer once.
fn set_timer(timeout: Duration) -> Result<(), Errno> {
    let value = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
        },
    };
    // SAFETY: `value` is a valid itimerval and the old value is not asked for (null).
    let result = unsafe { libc::setitimer(libc::ITIMER_REAL, &value, std::ptr::null_mut()) };
    Errno::result(result).map(drop)
}

fn plugin_failure(decider: &str, entry: &'static str, err: PluginError) -> PluginFailure {
    let decider = decider.to_owned();
    let message = err.message.into_string();
    match (err.panicked, entry) {
        (true, _) => PluginFailure::Panicked {
            decider,
            entry,
            message,
        },
        (false, "init") => PluginFailure::InitRejected { decider, message },
        (false, _) => PluginFailure::Declaration { decider, message },
    }
}

fn open_trusted(path: &Path) -> Result<OwnedFd, PluginLoadError> {
    if !path.is_absolute() {
        return Err(PluginLoadError::RelativePath(path.to_owned()));
    }
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::ParentDir => return Err(PluginLoadError::ParentComponent(path.to_owned())),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let Some((file_name, directories)) = names.split_last() else {
        return Err(PluginLoadError::NotRegular {
            path: path.to_owned(),
            what: "a directory",
        });
    };
    let caller = nix::unistd::getuid().as_raw();

    // Walk from `/`, one directory at a time, never following a link, checking each directory on
    // the descriptor that the next step opens relative to.
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut walked = PathBuf::from("/");
    let mut dir = open_at(None, Path::new("/"), dir_flags).map_err(|source| {
        PluginLoadError::OpenDirectory {
            path: path.to_owned(),
            dir: walked.clone(),
            source,
        }
    })?;
    check_directory(path, &walked, &dir, caller)?;
    for name in directories {
        walked.push(name);
        let next =
            open_at(Some(&dir), Path::new(name), dir_flags).map_err(|errno| match errno {
                Errno::ENOENT => PluginLoadError::Missing(path.to_owned()),
                // O_NOFOLLOW on a link: ELOOP (or ENOTDIR with O_DIRECTORY on some kernels).
                Errno::ELOOP => PluginLoadError::SymlinkDirectory {
                    path: path.to_owned(),
                    dir: walked.clone(),
                },
                Errno::ENOTDIR if is_symlink_at(&dir, name) => PluginLoadError::SymlinkDirectory {
                    path: path.to_owned(),
                    dir: walked.clone(),
                },
                source => PluginLoadError::OpenDirectory {
                    path: path.to_owned(),
                    dir: walked.clone(),
                    source,
                },
            })?;
        check_directory(path, &walked, &next, caller)?;
        dir = next;
    }

    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = open_at(Some(&dir), Path::new(file_name), flags).map_err(|errno| match errno {
        Errno::ENOENT => PluginLoadError::Missing(path.to_owned()),
        Errno::ELOOP => PluginLoadError::Symlink(path.to_owned()),
        source => PluginLoadError::Open {
            path: path.to_owned(),
            source,
        },
    })?;
    let stat = fstat(fd.as_raw_fd()).map_err(|source| PluginLoadError::Stat {
        path: path.to_owned(),
        source,
    })?;
    let file_type = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    let what = match file_type {
        SFlag::S_IFREG => None,
        SFlag::S_IFDIR => Some("a directory"),
        SFlag::S_IFIFO => Some("a FIFO"),
        SFlag::S_IFSOCK => Some("a socket"),
        SFlag::S_IFCHR => Some("a character device"),
        SFlag::S_IFBLK => Some("a block device"),
        _ => Some("not a regular file"),
    };
    if let Some(what) = what {
        return Err(PluginLoadError::NotRegular {
            path: path.to_owned(),
            what,
        });
    }
    if stat.st_uid != 0 && stat.st_uid != caller {
        return Err(PluginLoadError::Owner {
            path: path.to_owned(),
            owner: stat.st_uid,
            caller,
        });
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(PluginLoadError::Writable {
            path: path.to_owned(),
            mode: stat.st_mode & 0o7777,
        });
    }
    Ok(fd)
}

/// `openat(dir, name, flags)` (`open` without `dir`), as an owned descriptor.
fn open_at(dir: Option<&OwnedFd>, name: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(dir.map(AsRawFd::as_raw_fd), name, flags, Mode::empty())?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_symlink_at(dir: &OwnedFd, name: &std::ffi::OsStr) -> bool {
    nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map(|stat| stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits())
    .unwrap_or(false)
}

/// OpenSSH's StrictModes rule for a directory on the plugin's path: owned by root or the caller,
/// and not group- or world-writable unless sticky (in a sticky directory such as `/tmp`, nobody
/// but an entry's owner, the directory's owner and root can rename or remove the entry, and the
/// next component's owner is checked in turn).
fn check_directory(
    path: &Path,
    dir: &Path,
    fd: &OwnedFd,
    caller: u32,
) -> Result<(), PluginLoadError> {
    let stat: FileStat = fstat(fd.as_raw_fd()).map_err(|source| PluginLoadError::Stat {
        path: dir.to_owned(),
        source,
    })?;
    if stat.st_uid != 0 && stat.st_uid != caller {
        return Err(PluginLoadError::DirectoryOwner {
            path: path.to_owned(),
            dir: dir.to_owned(),
            owner: stat.st_uid,
            caller,
        });
    }
    let sticky = stat.st_mode & libc::S_ISVTX != 0;
    if stat.st_mode & 0o022 != 0 && !sticky {
        return Err(PluginLoadError::DirectoryWritable {
            path: path.to_owned(),
            dir: dir.to_owned(),
            mode: stat.st_mode & 0o7777,
        });
    }
    Ok(())
}

fn check_elf(path: &Path, file: &File) -> Result<(), PluginLoadError> {
    let mut magic = [0u8; 4];
    match file.read_exact_at(&mut magic, 0) {
        Ok(()) if magic == *b"\x7fELF" => Ok(()),
        Ok(()) => Err(PluginLoadError::NotElf(path.to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(PluginLoadError::NotElf(path.to_owned()))
        }
        Err(source) => Err(PluginLoadError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn check_sha256(path: &Path, file: &File, expected: &[u8; 32]) -> Result<(), PluginLoadError> {
    let mut hasher = Sha256::new();
    let mut reader = file.try_clone().map_err(|source| PluginLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|source| PluginLoadError::Read {
                path: path.to_owned(),
                source,
            })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let actual: [u8; 32] = hasher.finalize().into();
    if &actual != expected {
        return Err(PluginLoadError::Checksum {
            path: path.to_owned(),
            expected: hex::encode(expected),
            actual: hex::encode(actual),
        });
    }
    Ok(())
}

/// The root module, the optional extension v1, and the sandbox-plugin-api version the plugin says
/// it was built with.
struct Loaded {
    module: HandlerModRef,
    extension_v1: Option<HandlerExtV1Ref>,
    api_version: String,
}

fn dlopen_module(path: &Path, file: &File) -> Result<Loaded, PluginLoadError> {
    let proc_path = OsString::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
    // SAFETY: loading a shared object runs its constructors. The file was checked above (owner,
    // mode, ELF magic, optional digest) on this very descriptor, which is the trust the operator
    // gives by naming it; nothing else can be done to make foreign constructors safe.
    let library =
        unsafe { libloading::os::unix::Library::open(Some(proc_path), flags) }.map_err(|err| {
            PluginLoadError::Dlopen {
                path: path.to_owned(),
                message: dlopen_message(&err),
            }
        })?;
    // SAFETY: the symbol, when present, is the `LibHeader` static written by `export_plugin!`
    // (or abi_stable's `export_root_module`), which starts with an `AbiHeader`; its address is
    // therefore an `AbiHeaderRef`, exactly as abi_stable itself reads this symbol. The library is
    // never unloaded, so the `'static` reference stays valid.
    let symbol =
        unsafe { library.get::<AbiHeaderRef>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) }
            .map_err(|_| PluginLoadError::NotAPlugin(path.to_owned()))?;
    let header: AbiHeaderRef = *symbol;
    let loaded = check_module(path, header, &library);
    // Never dlclose, not even after a refusal: the plugin's constructors ran, and its code and
    // statics must stay mapped for the process lifetime.
    std::mem::forget(library);
    loaded
}

/// Checks the root module's ABI line first (so that a plugin of another line gets the line that
/// names both versions, whatever it exports besides), then looks up the extensions, then lets
/// abi_stable check the root module's layout.
fn check_module(
    path: &Path,
    header: AbiHeaderRef,
    library: &libloading::os::unix::Library,
) -> Result<Loaded, PluginLoadError> {
    let host = format!(
        "{} (plugin ABI {})",
        sandbox_plugin_api::VERSION,
        HandlerModRef::VERSION_STRINGS.version.as_str()
    );
    let abi_error = |err: LibraryError| PluginLoadError::Abi {
        path: path.to_owned(),
        message: first_line(&err.to_string()),
    };
    let lib_header = header.upgrade().map_err(abi_error)?;
    let plugin = lib_header.version_strings().version.as_str().to_owned();
    // The promise in sandbox-plugin-api's documentation: same major version, and for 0.x the same
    // minor version. abi_stable alone would accept a newer minor and then fail on the layout.
    let incompatible = || PluginLoadError::IncompatibleVersion {
        path: path.to_owned(),
        plugin: plugin.clone(),
        host: host.clone(),
        line: crate::version::plugin_abi_line(),
    };
    let plugin_number = lib_header
        .version_strings()
        .parsed()
        .map_err(|_| incompatible())?;
    let host_number = HandlerModRef::VERSION_STRINGS
        .parsed()
        .map_err(|_| incompatible())?;
    if plugin_number.major != host_number.major
        || (host_number.major == 0 && plugin_number.minor != host_number.minor)
    {
        return Err(incompatible());
    }
    // Only now, with the plugin on this supervisor's ABI line, are its extensions looked up.
    let extension_v1 = find_extension_v1(path, library)?;
    let module = lib_header
        .init_root_module::<HandlerModRef>()
        .map_err(|err| match err {
            LibraryError::IncompatibleVersionNumber { .. } | LibraryError::ParseVersionError(_) => {
                incompatible()
            }
            LibraryError::AbiInstability(report) => {
                tracing::debug!(plugin = %path.display(), "layout report:\n{report}");
                PluginLoadError::IncompatibleLayout {
                    path: path.to_owned(),
                    plugin: plugin.clone(),
                    host: host.clone(),
                }
            }
            other => abi_error(other),
        })?;
    // A plugin built before extension v1 reports its crate version as the root module's version.
    let api_version = match extension_v1 {
        Some(extension) => extension.api_version().as_str().to_owned(),
        None => plugin,
    };
    Ok(Loaded {
        module,
        extension_v1,
        api_version,
    })
}

/// Looks up extension v1; `None` for a plugin built before it existed (0.1.0).
fn find_extension_v1(
    path: &Path,
    library: &libloading::os::unix::Library,
) -> Result<Option<HandlerExtV1Ref>, PluginLoadError> {
    let name = format!("{EXTENSION_V1_SYMBOL}\0");
    // SAFETY: a symbol with this name is, by the plugin API's contract, the `ExtensionHeader`
    // static written by `export_plugin!`; its address is read as a pointer to it. The library is
    // never unloaded, so the pointer stays valid.
    let Ok(symbol) =
        (unsafe { library.get::<*const ExtensionHeader<HandlerExtV1Ref>>(name.as_bytes()) })
    else {
        return Ok(None);
    };
    let pointer: *const ExtensionHeader<HandlerExtV1Ref> = *symbol;
    if pointer.is_null() {
        return Ok(None);
    }
    // The header's own layout first: the exported object must be exactly the frozen header (its
    // ELF symbol's size), aligned, start with abi_stable's header and hold a valid layout pointer;
    // only then is that pointer followed.
    let symbol_size = exported_size(pointer.cast()).unwrap_or(0);
    // SAFETY: the address of an exported object of `symbol_size` bytes in a library that is never
    // unloaded; `check_extension_header` reads nothing beyond it.
    let header = unsafe { check_extension_header(pointer, symbol_size) }.map_err(|problem| {
        PluginLoadError::Abi {
            path: path.to_owned(),
            message: format!("its extension {EXTENSION_V1_SYMBOL}: {problem}"),
        }
    })?;
    if let Err(report) = abi_stable::abi_stability::abi_checking::check_layout_compatibility(
        <HandlerExtV1Ref as abi_stable::StableAbi>::LAYOUT,
        header.layout,
    ) {
        tracing::debug!(plugin = %path.display(), "extension layout report:\n{report}");
        return Err(PluginLoadError::IncompatibleExtension {
            path: path.to_owned(),
            symbol: EXTENSION_V1_SYMBOL,
        });
    }
    Ok(Some(header.module))
}

/// The size of the exported object at `address`, from the dynamic symbol the loader finds for it
/// (`dladdr1` with `RTLD_DL_SYMENT`); `None` when no symbol covers the address.
fn exported_size(address: *const libc::c_void) -> Option<usize> {
    /// glibc's `RTLD_DL_SYMENT`: `dladdr1` returns the matching `ElfW(Sym)`.
    const RTLD_DL_SYMENT: libc::c_int = 1;
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let mut symbol: *mut libc::c_void = std::ptr::null_mut();
    // SAFETY: `info` and `symbol` are valid for writes; glibc only reads the dynamic symbol tables
    // of loaded objects to answer.
    let found = unsafe {
        libc::dladdr1(
            address,
            info.as_mut_ptr(),
            &mut symbol as *mut *mut libc::c_void,
            RTLD_DL_SYMENT,
        )
    };
    if found == 0 || symbol.is_null() {
        return None;
    }
    // SAFETY: `dladdr1` succeeded, so it filled `info`.
    let info = unsafe { info.assume_init() };
    // Only the symbol that starts at this address, not one that merely covers it.
    if info.dli_saddr.cast_const() != address {
        return None;
    }
    // SAFETY: with `RTLD_DL_SYMENT`, a non-null `symbol` points to the object's `Elf64_Sym` in
    // the loaded object's dynamic symbol table, mapped while the object is.
    let symbol = unsafe { &*symbol.cast::<libc::Elf64_Sym>() };
    usize::try_from(symbol.st_size).ok()
}

/// The loader's message without the `/proc/self/fd/N: ` prefix, which names no file a user knows.
fn dlopen_message(err: &libloading::Error) -> String {
    let text = match err {
        libloading::Error::DlOpen { desc } => format!("{desc:?}"),
        other => other.to_string(),
    };
    let text = text.trim_matches('"');
    let text = match text.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("/proc/self/fd/") => rest,
        _ => text,
    };
    first_line(text)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// Parses a `--handler-timeout` value: seconds, fractions allowed, above zero and at most a day.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "{text} is out of range: give a number of seconds above 0 and at most 86400"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a `--handler-plugin-sha256` value (64 hex digits).
pub fn parse_sha256(text: &str) -> Result<[u8; 32], hex::FromHexError> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest)?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_parsing() {
        let text = "00".repeat(31) + "ff";
        assert_eq!(parse_sha256(&text).unwrap()[31], 0xff);
        assert!(parse_sha256("abc").is_err());
        assert!(parse_sha256(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn relative_path_is_refused_before_any_open() {
        let request = PluginRequest {
            path: PathBuf::from("libplugin.so"),
            sha256: None,
            config: None,
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(matches!(
            load(&request),
            Err(PluginSetupError::Load(PluginLoadError::RelativePath(_)))
        ));
    }
}
