//! Trust: the path walked from `/` without following a link, every directory and the file checked
//! on its descriptor (owner, mode, ELF magic, optional SHA-256).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
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

/// An ELF machine number's name (`e_machine`).
fn machine_name(machine: u16) -> String {
    match machine {
        3 => "i386".to_owned(),
        8 => "mips".to_owned(),
        20 => "powerpc".to_owned(),
        21 => "powerpc64".to_owned(),
        22 => "s390x".to_owned(),
        40 => "arm".to_owned(),
        62 => "x86_64".to_owned(),
        183 => "aarch64".to_owned(),
        243 => "riscv".to_owned(),
        258 => "loongarch".to_owned(),
        other => format!("ELF machine {other}"),
    }
}

/// `(class, data, machine)` of an ELF header's first 20 bytes, described: `aarch64, 64-bit
/// little-endian`.
fn describe_elf(class: u8, data: u8, machine: u16) -> String {
    let bits = match class {
        1 => "32-bit",
        2 => "64-bit",
        _ => "unknown class",
    };
    let order = match data {
        1 => "little-endian",
        2 => "big-endian",
        _ => "unknown byte order",
    };
    format!("{}, {bits} {order}", machine_name(machine))
}

/// This process's ELF class, byte order and machine, read from its own executable's header.
fn host_elf() -> Option<(u8, u8, u16)> {
    let mut header = [0u8; 20];
    File::open("/proc/self/exe")
        .ok()?
        .read_exact_at(&mut header, 0)
        .ok()?;
    Some(elf_identity(&header))
}

fn elf_identity(header: &[u8; 20]) -> (u8, u8, u16) {
    let machine = [header[18], header[19]];
    let machine = if header[5] == 2 {
        u16::from_be_bytes(machine)
    } else {
        u16::from_le_bytes(machine)
    };
    (header[4], header[5], machine)
}

/// The file starts with the ELF magic, and its class, byte order and machine are this
/// process's: a plugin built for another architecture is named as such, not left to the loader's
/// "cannot open shared object file".
pub(crate) fn check_elf(path: &Path, file: &File) -> Result<(), PluginLoadError> {
    let mut header = [0u8; 20];
    match file.read_exact_at(&mut header, 0) {
        Ok(()) if header[..4] == *b"\x7fELF" => {
            let plugin = elf_identity(&header);
            match host_elf() {
                Some(host) if host != plugin => Err(PluginLoadError::WrongArchitecture {
                    path: path.to_owned(),
                    plugin: describe_elf(plugin.0, plugin.1, plugin.2),
                    host: describe_elf(host.0, host.1, host.2),
                }),
                _ => Ok(()),
            }
        }
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

/// The SHA-256 of the file open at `file` (read through a second descriptor from its start): the
/// loader hashes the very descriptor it loads, once, for the pin and the report alike.
pub(crate) fn sha256_of(path: &Path, file: &File) -> Result<[u8; 32], PluginLoadError> {
    let read_error = |source| PluginLoadError::Read {
        path: path.to_owned(),
        source,
    };
    let mut hasher = Sha256::new();
    let mut reader = file.try_clone().map_err(read_error)?;
    reader.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer).map_err(read_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

/// Compares the file's digest with the operator's pin.
pub(crate) fn check_sha256(
    path: &Path,
    actual: &[u8; 32],
    expected: &[u8; 32],
) -> Result<(), PluginLoadError> {
    if actual != expected {
        return Err(PluginLoadError::Checksum {
            path: path.to_owned(),
            expected: hex::encode(expected),
            actual: hex::encode(actual),
        });
    }
    Ok(())
}
