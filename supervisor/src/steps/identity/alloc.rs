//! A uid of its own for every run of a root caller that names no `--user`: allocated in the parent
//! during preparation from a range (`--uid-range`; by default systemd's `DynamicUser=` range,
//! 61184-65519), free of any owner on the host, and locked while the supervisor lives.
//!
//! A uid is free when the user database has no entry for it (`getpwuid`, and `getgrgid` for the
//! same number, the workload's gid: `/etc/passwd`, `/etc/group` and every NSS source) and no task
//! of the host has it as its real, effective, saved or filesystem uid or gid (read by
//! [`super::held`]: one `status` file per process that runs user code, each other task's only in a
//! process with several threads; a kernel thread, whose credentials are the kernel's, is told
//! apart without its `status`). It is taken with one lock file per uid, [`LOCK_DIR`]`/<uid>`,
//! locked with `flock(LOCK_EX | LOCK_NB)` on a descriptor the supervisor keeps open for its whole
//! life: a second supervisor's lock of the same file fails at once, whatever the timing, and the
//! kernel drops the lock when the supervisor dies, even by SIGKILL. At a normal exit the file is
//! removed while still locked, with every file no supervisor holds (a SIGKILLed one's, locked
//! first the same way). A lock taken on a file that another supervisor removed in the meantime is
//! noticed (the path no longer names the locked file) and taken again.
//!
//! The directories are made `0700` and owned by root by the first supervisor that needs them and
//! stay (as `/run/lock` does; `/run` is emptied at boot): making and removing them at every run
//! cost two `mkdir`, two `rmdir` and, where `/run` is on a disk mounted with `discard`, two
//! synchronous discards. One that is a symbolic link, not owned by root or writable by anyone
//! else is refused, whoever made it.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

use super::scan::{Answer, Scan};

/// The directory above the lock directory.
pub const LOCK_PARENT: &str = "/run/sandbox-supervisor";
/// The lock directory: one file per uid in use, named by its number.
pub const LOCK_DIR: &str = "/run/sandbox-supervisor/uids";

/// How many times a lock is taken again after the file or directory vanished under it.
const RETRIES: u32 = 16;

/// The uids a root caller's workload may be given (`--uid-range FIRST-LAST`), both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UidRange {
    /// The first uid.
    pub first: u32,
    /// The last uid.
    pub last: u32,
}

/// `--uid-range` is not a range of uids. A usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// Not `FIRST-LAST`.
    #[error("--uid-range {0:?}: expected FIRST-LAST, two uids from 1 to 4294967294")]
    Syntax(String),
    /// `FIRST` greater than `LAST`.
    #[error("--uid-range {0}-{1}: FIRST is greater than LAST")]
    Reversed(u32, u32),
    /// The range holds uid 0 (root's) or 4294967295 (no id: "leave unchanged").
    #[error("--uid-range {0}-{1}: uids are allocated from 1 to 4294967294 (0 is root's, 4294967295 is not an id)")]
    OutOfBounds(u32, u32),
}

impl UidRange {
    /// systemd's `DynamicUser=` range: 61184-65519.
    pub const DEFAULT: UidRange = UidRange {
        first: 61184,
        last: 65519,
    };

    /// A checked range: `1 <= first <= last <= 4294967294`.
    pub fn new(first: u32, last: u32) -> Result<UidRange, RangeError> {
        if first == 0 || last == u32::MAX {
            return Err(RangeError::OutOfBounds(first, last));
        }
        if first > last {
            return Err(RangeError::Reversed(first, last));
        }
        Ok(UidRange { first, last })
    }

    /// How many uids it holds.
    pub fn len(self) -> u64 {
        u64::from(self.last) - u64::from(self.first) + 1
    }

    /// Whether `uid` is in it.
    pub fn contains(self, uid: u32) -> bool {
        (self.first..=self.last).contains(&uid)
    }
}

impl std::str::FromStr for UidRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || RangeError::Syntax(text.to_owned());
        let (first, last) = text.split_once('-').ok_or_else(syntax)?;
        let number = |part: &str| {
            part.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| part.parse::<u32>().ok())
                .flatten()
                .ok_or_else(syntax)
        };
        UidRange::new(number(first)?, number(last)?)
    }
}

impl std::fmt::Display for UidRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// No uid could be allocated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// Every uid of the range is in use: owned on the host or locked by another supervisor.
    #[error("no free uid in --uid-range {range}: every one is in the user database, held by a process or locked by another sandbox (see {LOCK_DIR})")]
    Exhausted {
        /// The range.
        range: UidRange,
    },
    /// The scan's thread ended without an answer (killed by an outer filter, or a bug).
    #[error("the uid check's thread ended without an answer (killed by a seccomp filter?)")]
    ScanThread,
    /// The host's tasks could not all be read: no uid is proved free.
    #[error("failed to read the host's processes for the uid check")]
    Scan(#[source] Errno),
    /// The lock directory is not safe to use.
    #[error("refusing the uid lock directory {path}: {why}")]
    UnsafeDirectory {
        /// The directory.
        path: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// `openat` answered with a standard descriptor (0, 1 or 2), which this process holds open
    /// from its start: an outer filter faking the call's success.
    #[error("openat of {path} answered descriptor {fd}, which was already open (a faked success): refusing to use it for the uid lock")]
    Faked {
        /// What was opened.
        path: String,
        /// The descriptor answered.
        fd: RawFd,
    },
    /// `flock` answered success, but a second open of the file could take the same lock: an
    /// outer filter faking the call's success. The uid would not be this run's alone.
    #[error("flock of {path} answered success, but a second open of the file could lock it too (a faked success): refusing the uid")]
    FakedLock {
        /// The lock file.
        path: String,
    },
    /// A call on the lock directory or a lock file failed.
    #[error("failed to {what} for the uid lock")]
    Lock {
        /// What was done.
        what: String,
        /// The errno.
        #[source]
        source: Errno,
    },
}

/// A uid taken for this run: locked until dropped (or the process dies).
#[derive(Debug)]
pub struct Lease {
    uid: u32,
    /// The locked file (taken out to be closed before the directories are removed).
    file: Option<OwnedFd>,
    /// The lock directory.
    dir: OwnedFd,
    /// The process that took the lock: only it removes the file (a forked child that drops a
    /// copy must not remove a file its parent still holds).
    owner: libc::pid_t,
    /// The scan of the host's tasks and the user database's lookup of the uid, still running on
    /// their own thread: the uid is not proved free until [`Lease::settle`] has their answer.
    scan: Option<Scan>,
    /// Once settled: whether the scan saw every task of the machine (`/proc` of the initial PID
    /// namespace), or only those of the supervisor's (nested) one.
    every_task: bool,
}

impl Lease {
    /// The uid (and gid) taken: until [`Lease::settle`], the one reserved, not yet proved free.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Whether the uid is proved free of the host's tasks (the scan has answered).
    pub fn settled(&self) -> bool {
        self.scan.is_none()
    }

    /// Once settled: whether the scan saw every task of the machine, or only those of the
    /// nested PID namespace whose `/proc` the supervisor has (a container's).
    pub fn every_task_seen(&self) -> bool {
        self.every_task
    }

    /// Waits for the scan of the host's tasks and the user database's answer, and keeps the
    /// reserved uid if neither has it; otherwise the thread has taken the next free one of the
    /// range (the scan's answer stands for every uid; the database is asked for each, on the
    /// thread, in the network namespace the supervisor started in) and the reserved one is
    /// unlocked here. Returns the new uid when it changed. Must be called before the uid is given
    /// to anything, and before the process forks (the scan is a thread of this process).
    pub fn settle(&mut self) -> Result<Option<u32>, AllocError> {
        let Some(scan) = self.scan.take() else {
            return Ok(None);
        };
        let held = self.uid;
        let (answer, every_task) = scan.answer();
        self.every_task = every_task;
        let (uid, file, dirs) = match answer {
            Answer::Kept => return Ok(None),
            Answer::Failed(err) => return Err(err),
            Answer::GaveUp(err) => {
                self.unlock();
                return Err(err);
            }
            Answer::Swapped { uid, file, dirs } => (uid, file, dirs),
        };
        // The new uid is locked before the reserved one is let go: no moment without a lock.
        self.unlock();
        (self.uid, self.file) = (uid, Some(file));
        if let Some(dir) = dirs {
            self.dir = dir;
        }
        tracing::debug!(
            held,
            uid,
            "uid {held} is in the user database or held by a task of the host: uid {uid} \
             allocated instead"
        );
        Ok(Some(uid))
    }

    /// Removes the lock file while still locked, then closes it (a supervisor that opened it
    /// before sees that the path no longer names the file it locked, and takes a new one). Only
    /// while it is held: once let go (a swap that found no other uid), the path may name another
    /// supervisor's lock of the same uid, which must stay.
    fn unlock(&mut self) {
        if let Some(file) = self.file.take() {
            remove_locked(self.dir.as_raw_fd(), self.uid, file);
        }
    }
}

/// Takes ownership of the descriptor `openat` answered for `path`: `Ok(None)` for an error (in
/// `errno`), an error for a standard descriptor, which the process holds from its start (the
/// standard library opens `/dev/null` on any it was started without): only a faked success
/// answers one, and closing it would close the caller's standard input or output.
fn owned(fd: RawFd, path: impl FnOnce() -> String) -> Result<Option<OwnedFd>, AllocError> {
    if fd < 0 {
        return Ok(None);
    }
    if fd <= libc::STDERR_FILENO {
        return Err(AllocError::Faked { path: path(), fd });
    }
    // SAFETY: `fd` was just opened by this process and is owned by nothing else.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the `flock` just taken through `fd` (the file `name` in `dir`) is real: a second open
/// of the file, put at `fd`'s own number meanwhile, must be refused the same lock
/// (`EWOULDBLOCK`). An outer filter that answers `flock` with 0 without locking answers that
/// call (the same descriptor number, the same operation) with 0 again: no lock was taken. The
/// kernel's list in `/proc/self/fdinfo/FD` would say it too, but gVisor's lists no lock.
/// `None`: the name no longer names the locked file (removed and made again meanwhile).
fn lock_is_real(dir: RawFd, name: &std::ffi::CStr, fd: RawFd) -> Result<Option<bool>, AllocError> {
    let path = || format!("{LOCK_DIR}/{}", name.to_string_lossy());
    let failed = |what: &str, source| AllocError::Lock {
        what: format!("{what} {}", path()),
        source,
    };
    // The locked open file, kept at another number meanwhile.
    // SAFETY: fcntl takes a descriptor and integers.
    let kept = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    let Some(kept) = owned(kept, path)? else {
        return Err(failed("keep the lock of", Errno::last()));
    };
    let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is an open directory, `name` a NUL-terminated string.
    let second = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    let Some(second) = owned(second, path)? else {
        return match Errno::last() {
            Errno::ENOENT => Ok(None),
            errno => Err(failed("open again", errno)),
        };
    };
    let first = nix::sys::stat::fstat(fd).map_err(|e| failed("stat", e))?;
    let again = nix::sys::stat::fstat(second.as_raw_fd()).map_err(|e| failed("stat", e))?;
    if (first.st_ino, first.st_dev) != (again.st_ino, again.st_dev) {
        return Ok(None);
    }
    // SAFETY: dup3 takes descriptors and a flag; `fd` now names the second open file, and the
    // locked one stays open at `kept`.
    if unsafe { libc::dup3(second.as_raw_fd(), fd, libc::O_CLOEXEC) } != fd {
        return Err(failed("check the lock of", Errno::last()));
    }
    drop(second);
    // SAFETY: flock takes a descriptor and an integer.
    let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
    let errno = Errno::last();
    // SAFETY: as above: `fd` names the locked open file again, the second one closes.
    if unsafe { libc::dup3(kept.as_raw_fd(), fd, libc::O_CLOEXEC) } != fd {
        return Err(failed("check the lock of", Errno::last()));
    }
    drop(kept);
    match rc {
        0 => Ok(Some(false)),
        _ if errno == Errno::EWOULDBLOCK => Ok(Some(true)),
        _ => Err(failed("check the lock of", errno)),
    }
}

/// Removes the lock file of `uid` in `dir` while `file`, its lock, is held, then closes it.
pub(super) fn remove_locked(dir: RawFd, uid: u32, file: OwnedFd) {
    let name = CString::new(uid.to_string()).expect("digits");
    // SAFETY: `dir` is an open directory and `name` a NUL-terminated string.
    unsafe { libc::unlinkat(dir, name.as_ptr(), 0) };
    drop(file);
}

/// The ids the host's tasks hold, as [`super::held`] read them.
pub(super) struct Busy {
    pub(super) uids: HashSet<u32>,
    pub(super) gids: HashSet<u32>,
}

impl Busy {
    /// Whether a task holds `id` as a uid, or as a gid (the workload's gid is the same number).
    pub(super) fn holds(&self, id: u32) -> bool {
        self.uids.contains(&id) || self.gids.contains(&id)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // SAFETY: getpid takes nothing.
        if unsafe { libc::getpid() } != self.owner {
            return;
        }
        // A run that stops before the uid is settled still leaves a single-threaded process (an
        // embedder may run again): the scan's thread is waited for. A uid the scan took instead
        // (on its thread, or on this one where no thread could be started) is let go with its
        // answer: its file is removed while locked, as the lease's own is.
        let answer = match self.scan.take() {
            Some(Scan::Running(thread, slot)) => Scan::join(thread, &slot),
            Some(Scan::Done(answered)) => Some(answered),
            None => None,
        };
        if let Some((Answer::Swapped { uid, file, dirs }, _)) = answer {
            let dir = dirs
                .as_ref()
                .map_or(self.dir.as_raw_fd(), AsRawFd::as_raw_fd);
            remove_locked(dir, uid, file);
        }
        self.unlock();
        sweep(self.dir.as_raw_fd());
    }
}

/// Removes the lock files no supervisor holds (left by one that was SIGKILLed): each is locked
/// first, and removed only while locked, as a supervisor removes its own.
fn sweep(dir: RawFd) {
    let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{dir}")) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(name) = CString::new(entry.file_name().as_encoded_bytes()) else {
            continue;
        };
        let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open directory, `name` a NUL-terminated string.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
        let Ok(Some(file)) = owned(fd, String::new) else {
            continue;
        };
        // SAFETY: flock takes a descriptor and an integer.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0
            // A faked success would remove the file of a supervisor that holds it.
            && lock_is_real(dir, &name, file.as_raw_fd()).is_ok_and(|real| real == Some(true))
        {
            let locked = nix::sys::stat::fstat(file.as_raw_fd());
            let named = nix::sys::stat::fstatat(
                Some(dir),
                name.as_c_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            );
            if let (Ok(locked), Ok(named)) = (locked, named) {
                if locked.st_ino == named.st_ino && locked.st_dev == named.st_dev {
                    // SAFETY: as above.
                    unsafe { libc::unlinkat(dir, name.as_ptr(), 0) };
                }
            }
        }
    }
}

/// Whether the user database names `id` as a user or a group (a failed lookup counts as named).
pub(super) fn in_user_database(id: u32) -> bool {
    !matches!(nix::unistd::User::from_uid(Uid::from_raw(id)), Ok(None))
        || !matches!(nix::unistd::Group::from_gid(Gid::from_raw(id)), Ok(None))
}

/// A random offset into a range of `len` uids: concurrent supervisors start their search apart.
fn start_offset(len: u64) -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is a live, writable buffer of `bytes.len()` bytes.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let random = if got == bytes.len() as isize {
        u64::from_ne_bytes(bytes)
    } else {
        u64::from(std::process::id())
    };
    random % len
}

/// Reserves a uid of `range` for the run: takes the first uid from a random place that no other
/// supervisor holds, locked until the returned lease is dropped, and starts the scan of the
/// host's tasks and the user database's lookup of that uid on a thread of their own. The uid is
/// proved free by [`Lease::settle`], which takes another one if the database names it or a task
/// holds it: the scan and the lookup (a millisecond or more on a quiet host, the database's
/// modules loaded at the first lookup) run while the boot goes on.
pub fn reserve(range: UidRange) -> Result<Lease, AllocError> {
    let mut dir = open_dirs()?;
    let start = start_offset(range.len());
    let mut raw = dir.as_raw_fd();
    let mut reopened = None;
    let (uid, file) = take(range, None, start, &mut raw, &mut reopened)?;
    if let Some(opened) = reopened {
        dir = opened;
    }
    let scan = Scan::start(uid, range, dir.as_raw_fd());
    Ok(Lease {
        uid,
        file: Some(file),
        dir,
        // SAFETY: getpid takes nothing.
        owner: unsafe { libc::getpid() },
        scan: Some(scan),
        every_task: false,
    })
}

/// Takes and locks the first uid of `range`, from offset `start` on and wrapping around, that no
/// other supervisor holds and, once the scan has answered (`busy`), that no task holds and the
/// user database does not name. `dir` is the lock directory's descriptor, owned elsewhere and
/// never closed here; the directories are made and opened again when they vanished (an
/// operator's cleanup, or a supervisor of an earlier release, which removed them when it left
/// last): `dir` then names the new one, and `reopened` owns it.
pub(super) fn take(
    range: UidRange,
    busy: Option<&Busy>,
    start: u64,
    dir: &mut RawFd,
    reopened: &mut Option<OwnedFd>,
) -> Result<(u32, OwnedFd), AllocError> {
    for step in 0..range.len() {
        let uid = range.first + ((start + step) % range.len()) as u32;
        if busy.is_some_and(|busy| busy.holds(uid) || in_user_database(uid)) {
            continue;
        }
        // A lock file created in a removed directory is ENOENT, and the directories are made
        // again. The scan stays valid (it says which uids are held, not where the locks live),
        // so it is not repeated.
        let mut tries = 0;
        let file = loop {
            match try_lock(*dir, uid) {
                Err(AllocError::Lock {
                    source: Errno::ENOENT,
                    ..
                }) if tries < RETRIES => {
                    tries += 1;
                    let uids = open_dirs()?;
                    *dir = uids.as_raw_fd();
                    *reopened = Some(uids);
                }
                other => break other?,
            }
        };
        if let Some(file) = file {
            return Ok((uid, file));
        }
    }
    Err(AllocError::Exhausted { range })
}

/// Opens the lock directories, made first where they are not yet (again when one vanished
/// between its `mkdir` and its open: an operator's cleanup, or an older supervisor that removed
/// them when it left last).
fn open_dirs() -> Result<OwnedFd, AllocError> {
    let mut tries = 0;
    loop {
        let opened = open_dir(libc::AT_FDCWD, LOCK_PARENT, LOCK_PARENT)
            .and_then(|parent| open_dir(parent.as_raw_fd(), "uids", LOCK_DIR));
        match opened {
            Err(AllocError::Lock {
                source: Errno::ENOENT,
                ..
            }) if tries < RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Makes (0700) and opens the directory `name` below `at`, refusing a symbolic link, an owner other
/// than root, or a mode that lets anyone else in.
fn open_dir(at: RawFd, name: &str, path: &'static str) -> Result<OwnedFd, AllocError> {
    let c_name = CString::new(name).expect("no NUL");
    let lock = |what: &str, source| AllocError::Lock {
        what: format!("{what} {path}"),
        source,
    };
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `at` is AT_FDCWD or an open directory, `c_name` a NUL-terminated string.
    let mut fd = unsafe { libc::openat(at, c_name.as_ptr(), flags) };
    if fd < 0 && Errno::last() == Errno::ENOENT {
        // SAFETY: as above.
        if unsafe { libc::mkdirat(at, c_name.as_ptr(), 0o700) } != 0 {
            let errno = Errno::last();
            if errno != Errno::EEXIST {
                return Err(lock("create", errno));
            }
        }
        // SAFETY: as above.
        fd = unsafe { libc::openat(at, c_name.as_ptr(), flags) };
    }
    let opened = owned(fd, || path.to_owned())?;
    let Some(dir) = opened else {
        let errno = Errno::last();
        return Err(match errno {
            Errno::ELOOP | Errno::ENOTDIR => AllocError::UnsafeDirectory {
                path,
                why: "it is not a directory (a symbolic link?)".to_owned(),
            },
            errno => lock("open", errno),
        });
    };
    let stat = nix::sys::stat::fstat(dir.as_raw_fd()).map_err(|errno| lock("stat", errno))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(AllocError::UnsafeDirectory {
            path,
            why: "it is not a directory".to_owned(),
        });
    }
    if stat.st_uid != 0 {
        return Err(AllocError::UnsafeDirectory {
            path,
            why: format!("it is owned by uid {}, not by root", stat.st_uid),
        });
    }
    if stat.st_mode & 0o077 != 0 {
        return Err(AllocError::UnsafeDirectory {
            path,
            why: format!(
                "its mode {:04o} lets others in (0700 expected)",
                stat.st_mode & 0o7777
            ),
        });
    }
    Ok(dir)
}

/// Locks the file of `uid` in `dir`; `None` when another supervisor holds it.
fn try_lock(dir: RawFd, uid: u32) -> Result<Option<OwnedFd>, AllocError> {
    let name = CString::new(uid.to_string()).expect("digits");
    let failed = |what: &str, source| AllocError::Lock {
        what: format!("{what} {LOCK_DIR}/{uid}"),
        source,
    };
    for _ in 0..RETRIES {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open directory, `name` a NUL-terminated string.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600) };
        let Some(file) = owned(fd, || format!("{LOCK_DIR}/{uid}"))? else {
            return Err(failed("open", Errno::last()));
        };
        // SAFETY: flock takes a descriptor and an integer.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return match Errno::last() {
                Errno::EWOULDBLOCK => Ok(None),
                errno => Err(failed("lock", errno)),
            };
        }
        // The holder before may have removed the file between our open and our lock: the lock
        // counts only when the path still names the locked file, and only when it is real.
        match lock_is_real(dir, &name, file.as_raw_fd())? {
            Some(true) => return Ok(Some(file)),
            Some(false) => {
                return Err(AllocError::FakedLock {
                    path: format!("{LOCK_DIR}/{uid}"),
                })
            }
            None => continue,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_are_checked() {
        assert_eq!("61184-65519".parse(), Ok(UidRange::DEFAULT));
        assert_eq!(UidRange::DEFAULT.len(), 4336);
        assert_eq!("7-7".parse::<UidRange>().map(UidRange::len), Ok(1));
        assert_eq!(
            "1-4294967294".parse(),
            Ok(UidRange {
                first: 1,
                last: 4294967294
            })
        );
        assert_eq!("9-8".parse::<UidRange>(), Err(RangeError::Reversed(9, 8)));
        assert_eq!(
            "0-10".parse::<UidRange>(),
            Err(RangeError::OutOfBounds(0, 10))
        );
        assert_eq!(
            "1-4294967295".parse::<UidRange>(),
            Err(RangeError::OutOfBounds(1, 4294967295))
        );
        for bad in [
            "",
            "5",
            "-5",
            "5-",
            "a-b",
            "+1-2",
            "1-4294967296",
            "1--2",
            " 1-2",
        ] {
            assert_eq!(
                bad.parse::<UidRange>(),
                Err(RangeError::Syntax(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_named_id_is_in_the_user_database() {
        assert!(in_user_database(0));
        assert!(!in_user_database(4_000_000_001));
    }

    #[test]
    fn the_offset_stays_in_the_range() {
        assert_eq!(start_offset(1), 0);
        assert!(start_offset(4336) < 4336);
    }
}
