//! Trusted, race-free loading of a failure-handler plugin.
//!
//! The file is opened once (`O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK`), every check is made on that
//! descriptor (`fstat`, ELF magic, optional SHA-256), and the dynamic loader is handed the same
//! descriptor through `/proc/self/fd/N`, so the file that was checked is the file that is loaded.
//! The library is never unloaded.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use abi_stable::library::{
    AbiHeaderRef, LibraryError, RootModule, ROOT_MODULE_LOADER_NAME_WITH_NUL,
};
use abi_stable::std_types::RResult;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};
use sandbox_plugin_api::ffi::{with_report_ffi, HandlerModRef, PluginError};
use sha2::{Digest, Sha256};

use crate::failure::{
    FailureReport, HandlerFailure, SandboxFailureHandler, SandboxFailureKind, Verdict,
};

/// What the operator asked for on the command line.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    /// `--handler-plugin`.
    pub path: PathBuf,
    /// `--handler-plugin-sha256`, already decoded.
    pub sha256: Option<[u8; 32]>,
    /// The contents of `--handler-config`, as JSON text (already checked to parse).
    pub config: Option<String>,
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
    #[error("plugin {path} was built for sandbox-plugin-api {plugin}; this supervisor speaks sandbox-plugin-api {host}")]
    IncompatibleVersion {
        /// The plugin path.
        path: PathBuf,
        /// The API version the plugin was built against.
        plugin: String,
        /// The API version this supervisor speaks.
        host: String,
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
}

/// A loaded, initialised plugin, usable as the process's failure handler.
pub struct PluginHandler {
    module: HandlerModRef,
    decider: String,
    declared: Vec<SandboxFailureKind>,
}

impl std::fmt::Debug for PluginHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandler")
            .field("decider", &self.decider)
            .field("declared", &self.declared)
            .finish_non_exhaustive()
    }
}

impl SandboxFailureHandler for PluginHandler {
    fn decider(&self) -> String {
        self.decider.clone()
    }

    fn declared_tolerances(&self) -> Vec<SandboxFailureKind> {
        self.declared.clone()
    }

    fn handle(&self, report: &FailureReport) -> Result<Verdict, HandlerFailure> {
        let answer = with_report_ffi(report, |ffi| (self.module.handle())(ffi));
        let failure = |reason: String| HandlerFailure {
            decider: self.decider.clone(),
            reason,
        };
        let code = match answer {
            RResult::ROk(code) => code,
            RResult::RErr(PluginError {
                panicked: true,
                message,
            }) => return Err(failure(format!("panicked in handle: {message}"))),
            RResult::RErr(PluginError { message, .. }) => {
                return Err(failure(format!("returned an error from handle: {message}")))
            }
        };
        let threads = thread_count();
        if threads != 1 {
            return Err(failure(format!(
                "started threads in handle (the supervisor now has {threads})"
            )));
        }
        Verdict::from_code(code).ok_or_else(|| {
            failure(format!(
                "returned verdict {code}, which is neither abort (0) nor tolerate (1)"
            ))
        })
    }
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
pub fn load(request: &PluginRequest) -> Result<PluginHandler, PluginSetupError> {
    let path = &request.path;
    let fd = open_trusted(path)?;
    let file = File::from(fd);
    check_elf(path, &file)?;
    if let Some(expected) = &request.sha256 {
        check_sha256(path, &file, expected)?;
    }
    let module = dlopen_module(path, &file)?;
    // The descriptor is no longer needed: the loader holds its own mapping.
    drop(file);

    let decider = format!("plugin:{}@{}", module.name(), module.version());
    let config = request.config.as_deref().unwrap_or("");
    if let RResult::RErr(err) = (module.init())(config.into()) {
        return Err(plugin_failure(&decider, "init", err).into());
    }
    // Codes this supervisor does not know are dropped: it will never ask about them.
    let mut declared = match (module.tolerates())() {
        RResult::ROk(codes) => codes
            .into_iter()
            .filter_map(SandboxFailureKind::from_code)
            .collect::<Vec<_>>(),
        RResult::RErr(err) => return Err(plugin_failure(&decider, "tolerates", err).into()),
    };
    let threads = thread_count();
    if threads != 1 {
        return Err(PluginFailure::Threads { decider, threads }.into());
    }
    declared.sort();
    declared.dedup();
    Ok(PluginHandler {
        module,
        decider,
        declared,
    })
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
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(|errno| match errno {
        Errno::ENOENT => PluginLoadError::Missing(path.to_owned()),
        Errno::ELOOP => PluginLoadError::Symlink(path.to_owned()),
        source => PluginLoadError::Open {
            path: path.to_owned(),
            source,
        },
    })?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
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
    let caller = nix::unistd::getuid().as_raw();
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

fn dlopen_module(path: &Path, file: &File) -> Result<HandlerModRef, PluginLoadError> {
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
    // Never dlclose: the plugin's code and statics must stay mapped for the process lifetime.
    std::mem::forget(library);

    let host = HandlerModRef::VERSION_STRINGS.version.as_str().to_owned();
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
    lib_header
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
        })
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

/// The number of threads in this process, from `/proc/self/task`.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|entries| entries.count())
        .unwrap_or(0)
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
        };
        assert!(matches!(
            load(&request),
            Err(PluginSetupError::Load(PluginLoadError::RelativePath(_)))
        ));
    }
}
