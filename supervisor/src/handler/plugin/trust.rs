//! Trust: the path walked from `/` without following a link, every directory and the file checked
//! on its descriptor (owner, mode, ELF magic, optional SHA-256).

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use sha2::{Digest, Sha256};

use super::*;

/// Opens the plugin file; returns its descriptor and its size when checked.
pub(crate) fn open_trusted(path: &Path) -> Result<(OwnedFd, u64), PluginLoadError> {
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
    let size = check_file(path, &fd, caller)?;
    Ok((fd, size))
}

/// The plugin file itself, checked on its descriptor: a regular file, owned by root or the
/// caller, not group- or world-writable. Returns its size.
fn check_file(path: &Path, fd: &OwnedFd, caller: u32) -> Result<u64, PluginLoadError> {
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
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
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

/// This process's ELF class, byte order and machine: the target it was compiled for, which is what
/// its own executable's header says (a unit test compares the two) and what the dynamic loader
/// will only load, known without opening `/proc/self/exe` at every load.
pub(crate) const HOST_ELF: (u8, u8, u16) = (
    if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    },
    if cfg!(target_endian = "big") { 2 } else { 1 },
    host_machine(),
);

/// The ELF machine number (`e_machine`) of the target this supervisor was compiled for.
const fn host_machine() -> u16 {
    if cfg!(target_arch = "x86_64") {
        62
    } else if cfg!(target_arch = "aarch64") {
        183
    } else if cfg!(target_arch = "x86") {
        3
    } else if cfg!(target_arch = "arm") {
        40
    } else if cfg!(target_arch = "riscv64") || cfg!(target_arch = "riscv32") {
        243
    } else if cfg!(target_arch = "s390x") {
        22
    } else if cfg!(target_arch = "powerpc64") {
        21
    } else if cfg!(target_arch = "powerpc") {
        20
    } else if cfg!(target_arch = "loongarch64") {
        258
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        8
    } else {
        // An architecture this table does not know: no plugin's machine is 0 (`EM_NONE`), so the
        // check would refuse every plugin; the build stops here instead.
        panic!("add this architecture's ELF machine number to host_machine")
    }
}

fn elf_identity(header: &[u8]) -> (u8, u8, u16) {
    let machine = [header[18], header[19]];
    let machine = if header[5] == 2 {
        u16::from_be_bytes(machine)
    } else {
        u16::from_le_bytes(machine)
    };
    (header[4], header[5], machine)
}

/// The ELF identity's length: magic, class, byte order, ..., `e_type` and `e_machine`.
const ELF_IDENTITY_LEN: usize = 20;

/// The file starts with the ELF magic, and its class, byte order and machine are this
/// process's: a plugin built for another architecture is named as such, not left to the loader's
/// "cannot open shared object file". `header` is the file's start, as far as it was read.
pub(crate) fn check_elf(path: &Path, header: &[u8]) -> Result<(), PluginLoadError> {
    if header.len() < ELF_IDENTITY_LEN || header[..4] != *b"\x7fELF" {
        return Err(PluginLoadError::NotElf(path.to_owned()));
    }
    let plugin = elf_identity(header);
    if plugin != HOST_ELF {
        return Err(PluginLoadError::WrongArchitecture {
            path: path.to_owned(),
            plugin: describe_elf(plugin.0, plugin.1, plugin.2),
            host: describe_elf(HOST_ELF.0, HOST_ELF.1, HOST_ELF.2),
        });
    }
    Ok(())
}

/// Reads the file open at `file` once, from its start, through that very descriptor: its ELF header
/// is checked from the first bytes, and, when `digest`, every byte is hashed and the SHA-256
/// returned. Without `digest` only the header is read (`pread`). `size` is the file's size when it
/// was checked. The loader hashes the very descriptor it loads, once, for the pin and the report
/// alike.
///
/// The digest is taken from `pread`s into one heap buffer of [`HASH_CHUNK`] bytes, to the file's
/// end (a file that grew since it was checked is hashed whole). Not from a mapping: a file truncated
/// while it is hashed would then end the supervisor with `SIGBUS`, without its error line; read, it
/// is a short file whose digest does not match the pin, or whose report names what was read.
pub(crate) fn check_and_hash(
    path: &Path,
    file: &File,
    size: u64,
    digest: bool,
) -> Result<Option<[u8; 32]>, PluginLoadError> {
    let read_error = |source| PluginLoadError::Read {
        path: path.to_owned(),
        source,
    };
    if !digest {
        let mut header = [0u8; ELF_IDENTITY_LEN];
        return match file.read_exact_at(&mut header, 0) {
            Ok(()) => check_elf(path, &header).map(|()| None),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(PluginLoadError::NotElf(path.to_owned()))
            }
            Err(source) => Err(read_error(source)),
        };
    }
    let capacity = usize::try_from(size)
        .unwrap_or(HASH_CHUNK)
        .clamp(ELF_IDENTITY_LEN, HASH_CHUNK);
    let mut buffer = vec![0u8; capacity];
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    // The first bytes are kept until the header is whole, then checked.
    let mut filled = 0;
    let mut checked = false;
    loop {
        let read = match file.read_at(&mut buffer[filled..], offset) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(read_error(source)),
        };
        offset += read as u64;
        filled += read;
        if !checked {
            if filled < ELF_IDENTITY_LEN {
                continue;
            }
            check_elf(path, &buffer[..ELF_IDENTITY_LEN])?;
            checked = true;
        }
        hasher.update(&buffer[..filled]);
        filled = 0;
    }
    if !checked {
        check_elf(path, &buffer[..filled])?;
    }
    Ok(Some(hasher.finalize().into()))
}

/// The hash's read size: below the allocator's mmap threshold (128 KiB), so the buffer comes from
/// the heap and not from fresh zeroed pages (a 256 KiB buffer cost 90 page faults more per load).
const HASH_CHUNK: usize = 64 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The compiled-in identity is the one the running executable's header carries.
    #[test]
    fn the_host_identity_is_the_executables() {
        let mut header = [0u8; ELF_IDENTITY_LEN];
        File::open("/proc/self/exe")
            .unwrap()
            .read_exact_at(&mut header, 0)
            .unwrap();
        assert_eq!(elf_identity(&header), HOST_ELF);
    }

    /// An anonymous file holding `bytes`.
    fn file_with(bytes: &[u8]) -> File {
        let fd = nix::sys::memfd::memfd_create(
            c"plugin.so",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .unwrap();
        let mut file = File::from(fd);
        file.write_all(bytes).unwrap();
        file
    }

    fn elf_like(len: usize) -> Vec<u8> {
        let mut header = [0u8; ELF_IDENTITY_LEN];
        File::open("/proc/self/exe")
            .unwrap()
            .read_exact_at(&mut header, 0)
            .unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        bytes[..ELF_IDENTITY_LEN].copy_from_slice(&header);
        bytes
    }

    /// The digest of one pass is the file's SHA-256, whatever the file's length against the
    /// buffer's; without a digest asked, none is returned.
    #[test]
    fn one_pass_hashes_the_whole_file() {
        let path = Path::new("/plugin.so");
        for len in [ELF_IDENTITY_LEN, 4096, 64 * 1024, 64 * 1024 + 1, 200_000] {
            let bytes = elf_like(len);
            let file = file_with(&bytes);
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(
                check_and_hash(path, &file, len as u64, true).unwrap(),
                Some(expected)
            );
            assert_eq!(
                check_and_hash(path, &file, len as u64, false).unwrap(),
                None
            );
            // A file that grew since its size was taken: the bytes past the mapping count too.
            let grew = (len / 2).max(ELF_IDENTITY_LEN) as u64;
            assert_eq!(
                check_and_hash(path, &file, grew, true).unwrap(),
                Some(expected)
            );
        }
    }

    /// The header checks still run on the first read: not ELF, too short, another machine.
    #[test]
    fn the_header_is_checked_from_the_first_read() {
        let path = Path::new("/plugin.so");
        for digest in [false, true] {
            let script = b"#!/bin/sh\necho not a library\n";
            let file = file_with(script);
            assert!(matches!(
                check_and_hash(path, &file, script.len() as u64, digest),
                Err(PluginLoadError::NotElf(_))
            ));
            let file = file_with(b"\x7fELF\x02\x01");
            assert!(matches!(
                check_and_hash(path, &file, 6, digest),
                Err(PluginLoadError::NotElf(_))
            ));
            let mut other = elf_like(100);
            let machine = if HOST_ELF.2 == 183 { 62u16 } else { 183u16 };
            other[18..20].copy_from_slice(&machine.to_le_bytes());
            other[5] = 1;
            let file = file_with(&other);
            assert!(matches!(
                check_and_hash(path, &file, 100, digest),
                Err(PluginLoadError::WrongArchitecture { .. })
            ));
        }
    }
}
