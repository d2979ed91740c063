//! What the parent reads of the host for the view: its bound path sockets (`/proc/net/unix`), which
//! the view masks where it would show them, and its pseudo-filesystems (`/proc/self/mountinfo`,
//! `fstatfs`), which no bind may carry into the view.

use std::os::fd::RawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The kernel's pseudo-filesystems a bind would hand to the workload as the host's: their
/// `statfs` magic (0 where they share another's, like devtmpfs's tmpfs) and their mountinfo type.
pub(super) const PSEUDO: [(i64, &str); 19] = [
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0, "devtmpfs"),
    (0x1cd1, "devpts"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6265_6570, "configfs"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0x6e73_6673, "nsfs"),
    (0x1980_0202, "mqueue"),
];

/// One mount of the supervisor's namespace: its id, where it is, its filesystem type.
#[derive(Debug)]
pub(super) struct HostMount {
    pub id: u64,
    pub point: PathBuf,
    pub fstype: String,
    /// Its per-mount flags as `mount(2)` flags: `ro`, `nosuid`, `nodev`, `noexec` and the atime
    /// mode (what a remount must keep where the kernel locked it).
    pub flags: libc::c_ulong,
}

/// Per-mount options of mountinfo as `mount(2)` flags.
fn mount_flags(options: &str) -> libc::c_ulong {
    let mut flags = 0;
    let mut atime = libc::MS_STRICTATIME;
    for option in options.split(',') {
        match option {
            "ro" => flags |= libc::MS_RDONLY,
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "nodiratime" => flags |= libc::MS_NODIRATIME,
            "noatime" => atime = libc::MS_NOATIME,
            "relatime" => atime = libc::MS_RELATIME,
            _ => {}
        }
    }
    flags | atime
}

/// The supervisor's mounts (`/proc/self/mountinfo`), empty when it cannot be read.
pub(super) fn mounts() -> Vec<HostMount> {
    let Ok(text) = crate::procfs::read_records(Path::new("/proc/self/mountinfo")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut fields = before.split_whitespace();
            let id = fields.next()?.parse().ok()?;
            let point = super::verify::unescape(fields.nth(3)?);
            let flags = mount_flags(fields.next()?);
            let fstype = after.split_whitespace().next()?.to_owned();
            Some(HostMount {
                id,
                point: point.into(),
                fstype,
                flags,
            })
        })
        .collect()
}

/// The kernel has `mount_setattr` (Linux 5.12): asked with a descriptor that cannot be valid, it
/// answers `EBADF` (or `EINVAL`), never `ENOSYS`.
pub(super) fn has_mount_setattr() -> bool {
    // SAFETY: a negative descriptor, a NULL path and attribute of size 0: the kernel reads nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0u32,
            std::ptr::null::<u8>(),
            0usize,
        )
    };
    !(rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}

/// The mount `path` is on: the last of the longest mount points above it.
pub(super) fn mount_of<'a>(path: &Path, mounts: &'a [HostMount]) -> Option<&'a HostMount> {
    mounts
        .iter()
        .filter(|mount| path.starts_with(&mount.point))
        .max_by_key(|mount| mount.point.components().count())
}

/// The pseudo-filesystem the descriptor `fd` is on, by its `statfs` magic or, for those that share
/// another's magic (devtmpfs), by the type of its mount (`statx(STATX_MNT_ID)`).
pub(super) fn pseudo_of(fd: RawFd, mounts: &[HostMount]) -> Option<&'static str> {
    // SAFETY: all-zero bytes are a valid `statfs`.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `fs` is valid for the kernel to fill.
    if unsafe { libc::fstatfs(fd, &mut fs) } == 0 {
        let magic = fs.f_type as i64;
        if let Some((_, name)) = PSEUDO.iter().find(|(m, _)| *m != 0 && *m == magic) {
            return Some(name);
        }
    }
    // SAFETY: all-zero bytes are a valid `statx`.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open, the path is an empty C string, `stx` is valid for the kernel to fill.
    let rc = unsafe {
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 || stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return None;
    }
    let mount = mounts.iter().find(|mount| mount.id == stx.stx_mnt_id)?;
    pseudo_name(&mount.fstype)
}

/// `fstype` as one of [`PSEUDO`]'s names.
pub(super) fn pseudo_name(fstype: &str) -> Option<&'static str> {
    PSEUDO
        .iter()
        .map(|(_, name)| *name)
        .find(|name| *name == fstype)
}

/// A pseudo-filesystem mounted strictly beneath `dir` (a recursive bind would carry it).
pub(super) fn pseudo_beneath<'a>(
    dir: &Path,
    mounts: &'a [HostMount],
) -> Option<(&'a Path, &'static str)> {
    mounts.iter().find_map(|mount| {
        let beneath = mount.point != dir && mount.point.starts_with(dir);
        beneath
            .then(|| pseudo_name(&mount.fstype))
            .flatten()
            .map(|name| (mount.point.as_path(), name))
    })
}

/// `dir` with its symbolic links resolved (canonical), resolved once per directory for all the
/// sockets in it (`dirs` keeps what was resolved): a socket's own name, which `bind` created, is
/// no link.
fn real_dir(dir: &Path, dirs: &mut Vec<(PathBuf, Option<PathBuf>)>) -> Option<PathBuf> {
    if let Some((_, real)) = dirs.iter().find(|(seen, _)| seen == dir) {
        return real.clone();
    }
    let real = std::fs::canonicalize(dir).ok();
    dirs.push((dir.to_path_buf(), real.clone()));
    real
}

/// The host's bound path sockets, from `/proc/net/unix` (the supervisor's network namespace):
/// every absolute path the table names that is a socket now, with symbolic links resolved
/// (canonical), once each; and how many paths could not be resolved (relative ones, or gone).
pub(super) fn path_sockets() -> (Vec<PathBuf>, usize) {
    let Ok(text) = crate::procfs::read_records(Path::new("/proc/net/unix")) else {
        return (Vec::new(), 0);
    };
    let mut sockets: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut unresolved = 0;
    let mut dirs: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    for line in text.lines().skip(1) {
        // Num RefCount Protocol Flags Type St Inode Path: the path is the rest of the line.
        let mut rest = line;
        for _ in 0..7 {
            rest = rest.trim_start();
            rest = rest.find(' ').map_or("", |end| &rest[end..]);
        }
        let path = rest.trim_start();
        // An accepted connection repeats its listener's path: resolved once.
        if path.is_empty() || path.starts_with('@') || seen.contains(&path) {
            continue;
        }
        seen.push(path);
        let path = Path::new(path);
        let socket = match (path.is_absolute(), path.parent(), path.file_name()) {
            (true, Some(parent), Some(name)) => {
                real_dir(parent, &mut dirs).map(|dir| dir.join(name))
            }
            _ => None,
        }
        .filter(|real| {
            std::fs::symlink_metadata(real).is_ok_and(|meta| meta.file_type().is_socket())
        });
        match socket {
            Some(real) if !sockets.contains(&real) => sockets.push(real),
            Some(_) => {}
            None => unresolved += 1,
        }
    }
    (sockets, unresolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_outside_the_scratch_space_is_found() {
        let dir = std::env::temp_dir().join(format!("view-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("listening sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (sockets, _) = path_sockets();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            sockets.iter().any(|s| s.ends_with("listening sock")),
            "{sockets:?}"
        );
    }

    #[test]
    fn proc_is_a_pseudo_filesystem() {
        let proc = std::fs::File::open("/proc/self/status").unwrap();
        let mounts = mounts();
        assert_eq!(
            pseudo_of(std::os::fd::AsRawFd::as_raw_fd(&proc), &mounts),
            Some("proc")
        );
        let root = std::fs::File::open("/").unwrap();
        assert_eq!(
            pseudo_of(std::os::fd::AsRawFd::as_raw_fd(&root), &mounts),
            None
        );
        assert!(pseudo_beneath(Path::new("/"), &mounts).is_some());
    }
}
