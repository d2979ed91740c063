//! Operator inputs read before the boot (`--handler-config`, `--seccomp-profile`): regular files
//! only, opened without blocking, and never more than [`MAX_INPUT_BYTES`].
//!
//! An input that is a device (`/dev/zero`), a FIFO, a directory or a file over the cap is the
//! operator's mistake: a usage error with one line naming the file, before any hardening step.
//! Nothing here waits for a writer or grows without bound.

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest input accepted, in bytes (1 MiB). A handler configuration or a seccomp profile is a
/// few kilobytes; Docker's default profile is about 20.
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// An operator input could not be read. A usage error.
#[derive(Debug, thiserror::Error)]
#[error("failed to read {what} {}", path.display())]
pub struct InputError {
    /// What the file is for (`handler configuration`, `seccomp profile`).
    pub what: &'static str,
    /// The file, as given.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub fault: InputFault,
}

impl InputError {
    /// Why, without the file's name (for an error that names the file itself).
    pub fn into_fault(self) -> InputFault {
        self.fault
    }
}

/// Why an input was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputFault {
    /// `open` failed.
    #[error(transparent)]
    Open(std::io::Error),
    /// `fstat` on the open descriptor failed.
    #[error("failed to fstat it")]
    Stat(#[source] std::io::Error),
    /// It is a device, FIFO, socket or directory.
    #[error("not a regular file (it is {0})")]
    NotRegular(&'static str),
    /// `fstat` gave a size over the cap.
    #[error("it has {size} bytes, more than the cap of {MAX_INPUT_BYTES}")]
    TooLarge {
        /// The size `fstat` gave.
        size: u64,
    },
    /// More than the cap could be read (the file grew after `fstat`).
    #[error("it grew past the cap of {MAX_INPUT_BYTES} bytes while being read")]
    Grew,
    /// `read` failed.
    #[error("failed to read it")]
    Read(#[source] std::io::Error),
}

/// What kind of file `file_type` is, for messages ("a FIFO").
pub fn describe(file_type: FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "of an unknown type"
    }
}

/// Reads the regular file at `path` whole, at most [`MAX_INPUT_BYTES`]; `what` names it in errors.
///
/// Opened with `O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY` (a FIFO opens at once instead of waiting
/// for a writer, a terminal never becomes the controlling one), then checked on the descriptor:
/// a regular file whose size is within the cap. At most one byte more than the cap is read, and
/// that byte refuses the file (it grew after `fstat`). Symbolic links are followed: what counts is
/// the file read, checked on the same descriptor.
pub fn read_capped(path: &Path, what: &'static str) -> Result<Vec<u8>, InputError> {
    read_file(path).map_err(|fault| InputError {
        what,
        path: path.to_owned(),
        fault,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, InputFault> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(InputFault::Open)?;
    let metadata = file.metadata().map_err(InputFault::Stat)?;
    if !metadata.file_type().is_file() {
        return Err(InputFault::NotRegular(describe(metadata.file_type())));
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(InputFault::TooLarge {
            size: metadata.len(),
        });
    }
    read_at_most(file, MAX_INPUT_BYTES)
}

/// Reads `file` to its end, refusing it when more than `cap` bytes come.
fn read_at_most(file: File, cap: u64) -> Result<Vec<u8>, InputFault> {
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(InputFault::Read)?;
    if bytes.len() as u64 > cap {
        return Err(InputFault::Grew);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> (tempfile_dir::Dir, PathBuf) {
        let dir = tempfile_dir::Dir::new();
        let path = dir.0.join("input");
        File::create(&path).unwrap().write_all(bytes).unwrap();
        (dir, path)
    }

    /// A private directory under the system temp dir, removed on drop (no dev-dependency needed).
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static COUNT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "sandbox-supervisor-input-{}-{}",
                    std::process::id(),
                    COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ));
                std::fs::create_dir(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn reads_a_small_regular_file_whole() {
        let (_dir, path) = temp_file(b"{\"a\": 1}");
        assert_eq!(read_capped(&path, "test input").unwrap(), b"{\"a\": 1}");
    }

    #[test]
    fn a_file_of_exactly_the_cap_is_read_and_one_byte_more_is_refused() {
        let (_dir, path) = temp_file(&vec![b' '; MAX_INPUT_BYTES as usize]);
        assert_eq!(
            read_capped(&path, "test input").unwrap().len() as u64,
            MAX_INPUT_BYTES
        );
        let (_dir, path) = temp_file(&vec![b' '; MAX_INPUT_BYTES as usize + 1]);
        let err = read_capped(&path, "test input").unwrap_err();
        assert!(
            matches!(err.fault, InputFault::TooLarge { size } if size == MAX_INPUT_BYTES + 1),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_that_grows_after_fstat_is_refused() {
        let (_dir, path) = temp_file(&[b' '; 11]);
        let file = File::open(&path).unwrap();
        assert!(matches!(read_at_most(file, 10), Err(InputFault::Grew)));
        let file = File::open(&path).unwrap();
        assert_eq!(read_at_most(file, 11).unwrap().len(), 11);
    }

    #[test]
    fn devices_and_directories_are_refused_with_their_type() {
        let err = read_capped(Path::new("/dev/zero"), "test input").unwrap_err();
        assert!(
            matches!(err.fault, InputFault::NotRegular("a character device")),
            "{err:?}"
        );
        let dir = tempfile_dir::Dir::new();
        let err = read_capped(&dir.0, "test input").unwrap_err();
        assert!(
            matches!(err.fault, InputFault::NotRegular("a directory")),
            "{err:?}"
        );
        assert_eq!(
            crate::exit::one_line(&err),
            format!(
                "failed to read test input {}: not a regular file (it is a directory)",
                dir.0.display()
            )
        );
    }
}
