//! Trust: the path walked from `/` without following a link, every directory and the file checked
//! on its descriptor (owner, mode, ELF magic, optional SHA-256).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use sha2::{Digest, Sha256};

use super::*;

pub(crate) fn open_trusted(path: &Path) -> Result<OwnedFd, PluginLoadError> {
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
    check_file(path, &fd, caller)?;
    Ok(fd)
}

/// The plugin file itself, checked on its descriptor: a regular file, owned by root or the
/// caller, not group- or world-writable.
fn check_file(path: &Path, fd: &OwnedFd, caller: u32) -> Result<(), PluginLoadError> {
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
    Ok(())
}

/// `openat(dir, name, flags)` (`open` without `dir`), as an owned descriptor.
pub(crate) fn open_at(dir: Option<&OwnedFd>, name: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(dir.map(AsRawFd::as_raw_fd), name, flags, Mode::empty())?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn is_symlink_at(dir: &OwnedFd, name: &std::ffi::OsStr) -> bool {
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
pub(crate) fn check_directory(
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

pub(crate) fn check_elf(path: &Path, file: &File) -> Result<(), PluginLoadError> {
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

pub(crate) fn check_sha256(
    path: &Path,
    file: &File,
    expected: &[u8; 32],
) -> Result<(), PluginLoadError> {
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
