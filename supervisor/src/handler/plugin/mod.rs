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

mod abi;
mod call;
mod deadline;
mod trust;

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use abi_stable::std_types::RResult;
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use sandbox_plugin_api::ffi::PluginError;

use crate::handler::SandboxFailureKind;
use abi::*;
use call::*;
use deadline::*;
use trust::*;

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
    /// Whether the caller needs the file's SHA-256 (for a report) even without a pin: the loader
    /// then hashes the descriptor it loads and returns the digest ([`PluginHandler::sha256`]), so
    /// the file is read and hashed once.
    pub digest: bool,
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
    /// An ELF file built for another architecture (its class, byte order or machine).
    #[error("plugin {path} is built for {plugin}, but this supervisor runs on {host}; build the plugin for {host}")]
    WrongArchitecture {
        /// The file.
        path: PathBuf,
        /// What its ELF header says (`aarch64, 64-bit little-endian`).
        plugin: String,
        /// This supervisor's architecture.
        host: String,
    },
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
    let (fd, size) = open_trusted(path)?;
    let file = File::from(fd);
    let digest = request.sha256.is_some() || request.digest;
    let sha256 = check_and_hash(path, &file, size, digest)?;
    if let (Some(expected), Some(actual)) = (&request.sha256, &sha256) {
        check_sha256(path, actual, expected)?;
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
        sha256,
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
            digest: false,
            config: None,
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(matches!(
            load(&request),
            Err(PluginSetupError::Load(PluginLoadError::RelativePath(_)))
        ));
    }
}
