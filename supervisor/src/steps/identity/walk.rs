//! The named user's walk for host-power groups (issue 21 item 5): the groups that own a device
//! node or a socket under /dev or /run (a few levels deep) to which the group may do more than
//! others.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;

use crate::dirents;

/// How deep below /dev and /run the walk for devices and sockets goes: their entries and four
/// levels of directories below them.
const WALK_DEPTH: u32 = 4;

/// How many entries the walk looks at, at most.
const WALK_ENTRIES: usize = 100_000;

/// The groups owning a device node or a socket under /dev or /run (a few levels deep) to which
/// the group may do more than others (`/dev/null`, 0666, gives its group nothing), each with one
/// such path: a member could open the device or connect to the socket.
///
/// Each directory is opened below its parent's descriptor (`O_DIRECTORY | O_NOFOLLOW`) and listed
/// with `getdents64`, whose entry types say which entries are directories: a directory is walked
/// without a `stat`, every other entry is `stat`ed below the directory's descriptor. A regular
/// file, a symbolic link or a FIFO by its `d_type` is `stat`ed too: the type is its own inode's,
/// and a device or a socket bind-mounted over it (as container runtimes mount /dev's nodes over
/// empty files) is only seen by a `stat`, which crosses the mount. An entry whose type the file
/// system does not give (`DT_UNKNOWN`) is sorted by its mode the same way.
///
/// Only directories that root owns and no one else may write are listed: what lies in a
/// world-writable directory (/run/lock, /dev/shm) or in a user's own (/run/user/UID) anyone or
/// that user may have put there, so it says nothing of the host's groups, and a flood of entries
/// there would otherwise use up the walk's bound. The walk is bounded by [`WALK_ENTRIES`]; when a
/// tree holds more (only root or a group root trusts with a directory could make it so), the
/// walk says where it stopped ([`Walk::cut_at`]) and the caller refuses every group it could not
/// clear.
pub(super) fn device_and_socket_groups() -> Walk {
    walk(&[c"/run", c"/dev"])
}

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Each group owning a device or a socket it may use more than others, with one such path.
    pub(super) owners: BTreeMap<u32, PathBuf>,
    /// The directory being listed when the bound was reached, if it was.
    pub(super) cut_at: Option<PathBuf>,
}

/// A directory still to walk: its name below its parent's descriptor (a root's path when it has
/// no parent), its path, its depth.
struct Pending {
    parent: Option<Rc<OwnedFd>>,
    name: CString,
    path: PathBuf,
    depth: u32,
}

/// `lstat` of `name` below `dir`.
fn stat_below(dir: RawFd, name: &CStr) -> Option<libc::stat> {
    // SAFETY: all-zero bytes are a valid `stat`.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is an open directory, `name` a NUL-terminated string, `stat` writable.
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) };
    (rc == 0).then_some(stat)
}

/// Opens `next`: a root by its path, as given; every directory below one by its name below its
/// parent, never through a symbolic link.
fn open(next: &Pending) -> Option<Rc<OwnedFd>> {
    let (at, flags) = match &next.parent {
        Some(parent) => (parent.as_raw_fd(), libc::O_NOFOLLOW),
        None => (libc::AT_FDCWD, 0),
    };
    let flags = flags | libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `at` is AT_FDCWD or an open directory, `name` a NUL-terminated string.
    let fd = unsafe { libc::openat(at, next.name.as_ptr(), flags) };
    // SAFETY: `fd`, when not negative, was just opened and is owned by nothing else.
    (fd >= 0).then(|| Rc::new(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// What an entry of type `kind` (`d_type`) named `name` in `dir` is to the walk: a directory, a
/// node whose group counts (`Some(DT_CHR)` for any device or socket), or nothing (`None`).
fn sort(dir: RawFd, name: &CStr, kind: u8) -> Option<u8> {
    match kind {
        libc::DT_DIR | libc::DT_CHR | libc::DT_BLK | libc::DT_SOCK => Some(kind),
        // `d_type` is the type of the entry's own inode, not of what is mounted on it: a device
        // or a socket bind-mounted over a regular file, a FIFO or another non-directory (as
        // container runtimes do for /dev's nodes) is listed as the file below it. Only `stat`,
        // which crosses the mount, tells (a directory can only be covered by a directory,
        // which is walked through its mount anyway).
        _ => match stat_below(dir, name)?.st_mode & libc::S_IFMT {
            libc::S_IFDIR => Some(libc::DT_DIR),
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK => Some(libc::DT_CHR),
            _ => None,
        },
    }
}

/// The walk of [`device_and_socket_groups`] from `roots`.
fn walk(roots: &[&CStr]) -> Walk {
    let mut owners = BTreeMap::new();
    // Popped from the end: the last root first, then each directory's subdirectories last
    // listed first.
    let mut pending: Vec<Pending> = roots
        .iter()
        .map(|root| Pending {
            parent: None,
            name: (*root).to_owned(),
            path: PathBuf::from(OsStr::from_bytes(root.to_bytes())),
            depth: 0,
        })
        .collect();
    let mut listing = vec![0u8; dirents::BUFFER];
    let mut visited = 0usize;
    while let Some(next) = pending.pop() {
        let Some(dir) = open(&next) else {
            continue;
        };
        let raw = dir.as_raw_fd();
        match nix::sys::stat::fstat(raw) {
            Ok(stat) if stat.st_uid == 0 && stat.st_mode & 0o002 == 0 => {}
            _ => continue,
        }
        let _ = dirents::each(raw, &mut listing, |name, kind| {
            visited += 1;
            if visited > WALK_ENTRIES {
                return;
            }
            match sort(raw, name, kind) {
                Some(libc::DT_DIR) if next.depth < WALK_DEPTH => pending.push(Pending {
                    parent: Some(Rc::clone(&dir)),
                    name: name.to_owned(),
                    path: next.path.join(OsStr::from_bytes(name.to_bytes())),
                    depth: next.depth + 1,
                }),
                Some(libc::DT_DIR) | None => {}
                Some(_) => {
                    let Some(stat) = stat_below(raw, name) else {
                        return;
                    };
                    let mode = stat.st_mode;
                    let node = matches!(
                        mode & libc::S_IFMT,
                        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK
                    );
                    // The group may read or write what others may not.
                    if node && (mode >> 3) & 0o6 & !mode != 0 && stat.st_gid != 0 {
                        owners
                            .entry(stat.st_gid)
                            .or_insert_with(|| next.path.join(OsStr::from_bytes(name.to_bytes())));
                    }
                }
            }
        });
        if visited > WALK_ENTRIES {
            return Walk {
                owners,
                cut_at: Some(next.path),
            };
        }
    }
    Walk {
        owners,
        cut_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket the walk must find (at the deepest level it lists), and what it must not: a
    /// socket one level deeper, one behind a symbolic link, a regular file and a FIFO with the
    /// same group and mode, a socket its group may use no more than others, sockets in a
    /// world-writable directory and in a directory another user owns.
    #[test]
    fn the_walk_finds_the_sockets_a_group_may_use_and_only_them() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("walk-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        struct Removed(std::path::PathBuf);
        impl Drop for Removed {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _removed = Removed(base.clone());
        // SAFETY: getegid takes nothing.
        let own = unsafe { libc::getegid() };
        // Root may give any group; anyone else, its own (not 0).
        let group = if own == 0 { 4_000_321 } else { own };
        let deepest = root.join("a/b/c/d");
        std::fs::create_dir_all(deepest.join("e")).unwrap();
        // Outside the walked tree, reached only through a symbolic link.
        std::fs::create_dir_all(base.join("hidden")).unwrap();
        std::os::unix::fs::symlink(base.join("hidden"), root.join("a/link")).unwrap();
        let node = |path: &std::path::Path, gid: u32, mode: u32| {
            let _ = std::os::unix::net::UnixListener::bind(path).unwrap();
            std::os::unix::fs::chown(path, None, Some(gid)).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        node(&deepest.join("sock"), group, 0o660);
        node(&deepest.join("e/too-deep"), group + 10, 0o660);
        node(&base.join("hidden/behind-a-link"), group + 20, 0o660);
        node(&root.join("a/open-to-all"), group + 30, 0o666);
        // A world-writable directory and one another user owns are not listed.
        std::fs::create_dir_all(root.join("a/anyones")).unwrap();
        std::fs::set_permissions(
            root.join("a/anyones"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        node(&root.join("a/anyones/sock"), group + 50, 0o660);
        std::fs::create_dir_all(root.join("a/users")).unwrap();
        node(&root.join("a/users/sock"), group + 60, 0o660);
        if own == 0 {
            std::os::unix::fs::chown(root.join("a/users"), Some(4_000_999), None).unwrap();
        }
        let file = root.join("a/file");
        std::fs::write(&file, "").unwrap();
        std::os::unix::fs::chown(&file, None, Some(group + 40)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o660)).unwrap();
        let fifo =
            std::ffi::CString::new(root.join("a/fifo").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `fifo` is a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o660) }, 0);
        let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
        let owners = walk(&[&path]).owners;
        let mut expected = std::collections::BTreeMap::new();
        expected.insert(group, deepest.join("sock"));
        if own == 0 {
            assert_eq!(owners, expected);
        } else {
            // Without root no directory of the tree is root's: none is listed.
            assert!(owners.is_empty(), "{owners:?}");
        }
    }
}
