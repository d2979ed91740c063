//! Where the report goes: a file opened without following links, or an inherited descriptor.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::record::HardeningReport;

pub use crate::options::ReportSink;

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
    /// The workload could rewrite or replace the file at the path.
    #[error(transparent)]
    Forgeable(crate::record::forgery::Forgeable),
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
    ///
    /// Before it is opened, a path is refused when one of `writers` (the identities the workload
    /// may have) could rewrite the file or write or rename in a directory on its path
    /// (`record::forgery::check`).
    pub fn open(
        self,
        writers: &[crate::record::forgery::Writer],
    ) -> Result<ReportWriter, ReportOpenError> {
        match self {
            ReportSink::File(path) => {
                let euid = nix::unistd::geteuid().as_raw();
                crate::record::forgery::check(&path, euid, writers)
                    .map_err(ReportOpenError::Forgeable)?;
                let file = open_file(&path)?;
                let opened = opened(&path, &file).map_err(|source| ReportOpenError::Prepare {
                    call: "fstat",
                    source,
                })?;
                Ok(ReportWriter {
                    file,
                    lines: false,
                    opened: Some(opened),
                    written: 0,
                })
            }
            ReportSink::Fd(fd) => {
                check_writable(fd.as_fd())?;
                Ok(ReportWriter {
                    file: File::from(fd),
                    lines: true,
                    opened: None,
                    written: 0,
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

/// The device and inode of the file opened at `path`.
fn opened(path: &std::path::Path, file: &File) -> std::io::Result<crate::record::forgery::Opened> {
    use std::os::unix::fs::MetadataExt;
    let metadata = file.metadata()?;
    Ok(crate::record::forgery::Opened {
        path: path.to_owned(),
        dev: metadata.dev(),
        ino: metadata.ino(),
    })
}

/// An open report destination: a file is rewritten complete on every write, a descriptor gets one
/// JSON line per write.
#[derive(Debug)]
pub struct ReportWriter {
    pub(crate) file: File,
    pub(crate) lines: bool,
    /// For a file: the path and the file opened at boot, checked before every write.
    pub(crate) opened: Option<crate::record::forgery::Opened>,
    /// How many bytes were appended (findings).
    pub(crate) written: u64,
}

impl ReportWriter {
    /// Writes `bytes` at the current position, after checking that a file's path still names the
    /// file opened at boot.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        self.file.flush()
    }

    /// For a file: an error unless its path still names the file opened at boot (`fstat` of the
    /// descriptor against `lstat` of the path) and it still holds exactly what was appended.
    pub fn check(&self) -> std::io::Result<()> {
        let Some(opened) = &self.opened else {
            return Ok(());
        };
        opened.check(&self.file)?;
        let length = self.file.metadata()?.len();
        if self.lines || self.written == 0 || length == self.written {
            return Ok(());
        }
        Err(std::io::Error::other(format!(
            "{} holds {length} bytes where the supervisor wrote {}: it was truncated or rewritten",
            opened.path.display(),
            self.written
        )))
    }
}

impl HardeningReport {
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
        if let Some(opened) = &writer.opened {
            opened.check(&writer.file)?;
        }
        if !writer.lines {
            writer.file.rewind()?;
            writer.file.set_len(0)?;
        }
        writer.file.write_all(&text)?;
        writer.file.flush()
    }
}
