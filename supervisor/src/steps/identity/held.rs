//! The uids and gids the host's tasks hold (real, effective, saved, filesystem), for the uid
//! allocation: every task of every process, each asked through a pidfd where the kernel answers
//! (Linux 6.13), else read at the cost of one `status` file per process that runs user code.
//!
//! `/proc` is listed with `getdents64` on one descriptor. Credentials are per task (a thread may
//! change its own with a raw `setresuid`, which glibc would otherwise broadcast), so every task of
//! a process with more than one is read, not only its leader.
//!
//! **Through pidfds.** `pidfd_open(PID, 0)` and the `PIDFD_GET_INFO` ioctl on it (then `close`)
//! give the task's credentials: `task->real_cred`, the objective credentials `status` shows,
//! mapped into the caller's user namespace as `status` maps them, for any task and without a
//! permission check, and without the kernel rendering any text. Kernel threads are asked like any
//! task (their credentials are the kernel's own, root's: no probe is needed), and so are zombies
//! (they hold their credentials until reaped). The answer must name the credentials in its mask,
//! and the task and process asked for in its `pid` and `tgid`. A `statx` of the process's `task`
//! directory then counts its tasks (the kernel gives it two links and one per task): a process of
//! more than one task has its directory listed and each other task asked through
//! `pidfd_open(TID, PIDFD_THREAD)` (Linux 6.9). A leader that exited while its other threads run is
//! a zombie still counted among them: its threads are listed and read. Four calls per
//! single-threaded process (`pidfd_open`, `ioctl`, `close`, `statx`), none of which renders text.
//!
//! `pidfd_open` takes numbers of the caller's PID namespace, `/proc` lists those of the namespace
//! it was mounted in (a supervisor started by `unshare --pid --fork` without a `/proc` of its
//! own): the pidfds are used only when the two are one namespace, told by the `fdinfo` of a pidfd
//! of this process ([`pidfds_number_as_proc`]); else the scan reads `status` files. What each
//! answer means ([`pidfd_ids`]):
//! - `ESRCH` from `pidfd_open`: no task has the number any more (reaped), which its `status`
//!   must say too (`ENOENT`): a filter faking the scan's own calls does not hide a task.
//! - `ENOENT` (Linux 6.15) or `EINVAL` from `pidfd_open`: the number is not a process's (a
//!   thread's, a process reaped and its number reused by a thread), or no `PIDFD_THREAD`: that
//!   task's `status` is read, as below.
//! - `ENOSYS`, `ENOTTY`, `EOPNOTSUPP`, `EPERM` or `EACCES` from either call, `EINVAL` from the
//!   ioctl (an older kernel, gVisor, a seccomp filter or a security module), or an answer without
//!   credentials: that task's `status` is read, and so is every later task's.
//! - `ESRCH` from the ioctl: that task's `status` decides (a task reaped since its pidfd was
//!   opened has none; the ioctl as Linux 6.13 shipped it also answers `ESRCH` for a live task
//!   whose parent has no number in the caller's PID namespace: kthreadd, a process that entered
//!   the namespace through `setns`).
//! - A `pid` or `tgid` other than asked (a number reused meanwhile): that task's `status`.
//! - Any other error (no descriptor left, a fault): the scan fails, as when a directory cannot be
//!   listed.
//!
//! **Through `status` files** (the kernel answers no pidfd; a task whose pidfd is refused). Each
//! process's `/proc/PID/status` is opened and read with one `read` into a buffer reused for the
//! whole scan (three calls: `openat`, `read`, `close`). It shows the thread-group leader's
//! credentials and the process's thread count: a process with more than one thread, or whose
//! count is not shown, has each other task's `/proc/PID/task/TID/status` read the same way. A
//! single-threaded process, nearly every process of a host, costs no listing of its `task`
//! directory.
//!
//! When the whole scan reads `status` files, a kernel thread's is not read
//! ([`runs_no_user_code`]): most of a quiet host's processes are kernel threads, whose credentials
//! are the kernel's own (root, `init_cred`), and the kernel renders a `status` at every read. Only
//! kthreadd and its children, listed by one file ([`kernel_thread_candidates`]), are probed, so a
//! user process costs no more than its `status`. Three calls that render nothing tell a kernel
//! thread apart: its `exe` link answers `ENOENT` (the kernel has no executable for a task without
//! memory of its own: a kernel thread, or a task that has exited or is exiting), its `cwd` link
//! resolves (an exited task, a zombie, has released its file-system context: its `status` is read,
//! for a zombie still holds its credentials until it is reaped and counts against its real uid's
//! `RLIMIT_NPROC`), and its `task` directory counts one task (a leader that exited while its other
//! threads run is read, with them). What passes is a kernel thread, or a single task past the
//! release of its memory and before the release of its file-system context: inside `exit`, it
//! never runs user code again and is a zombie (read at the next scan) or gone a moment later, like
//! a process that ended just before the scan, which no scan sees. Anything else (`EACCES` without
//! `CAP_SYS_PTRACE` over the task, a task gone meanwhile) has its `status` read, as before.
//!
//! The scan is as complete as reading every task's `status` was: the leader's ids come from its
//! own answer, and every other task's from its own. A task that changes its ids after it was read
//! is not seen, as before: root may give any uid to any process at any time, and the guarantee is
//! about the host at allocation time. So is a thread created after its process's tasks were
//! counted (after the `statx`, or the `Threads` line of its leader's `status`) or listed: it starts
//! with the credentials of the task that created it, which was read, unless that task changed its
//! ids after it was read, the same race.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::dirents;

/// Enough for a `status` with thousands of supplementary groups. The `Uid` and `Gid` lines come
/// before the `Groups` list, so a longer text still shows them whole; `Threads` comes after it, so
/// the count of a text that fills the buffer is not trusted (see [`Scan::process_by_status`]).
const BUFFER: usize = 16 * 1024;

/// What a `status` file says about a task's ids.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Ids {
    /// Real, effective, saved, filesystem uid.
    pub uids: Vec<u32>,
    /// The same four gids.
    pub gids: Vec<u32>,
    /// The process's thread count (`Threads:`), when shown.
    pub threads: Option<u32>,
}

/// Reads the ids of `status` (the text of a `/proc/.../status`).
pub(super) fn parse(status: &[u8]) -> Ids {
    let mut ids = Ids::default();
    for line in status.split(|byte| *byte == b'\n') {
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let (key, rest) = (&line[..colon], &line[colon + 1..]);
        let numbers = || {
            rest.split(|byte| byte.is_ascii_whitespace())
                .filter_map(|part| std::str::from_utf8(part).ok()?.parse::<u32>().ok())
        };
        match key {
            b"Uid" => ids.uids.extend(numbers()),
            b"Gid" => ids.gids.extend(numbers()),
            b"Threads" => ids.threads = numbers().next(),
            _ => continue,
        }
        // The rest of the file (signal masks, CPU lists) says nothing more.
        if !ids.uids.is_empty() && !ids.gids.is_empty() && ids.threads.is_some() {
            break;
        }
    }
    ids
}

/// The text of the `status` file at `path` below `dir`, read with one `read`; `Ok(None)` when the
/// task is gone (`ENOENT`, `ESRCH`). Any other failure (`EACCES` of a `/proc` mounted
/// `hidepid=noaccess`, `EMFILE`) is an error: a task not read proves nothing about its ids.
fn read_status<'a>(
    dir: RawFd,
    path: &CStr,
    buffer: &'a mut [u8],
) -> Result<Option<&'a [u8]>, Errno> {
    let gone = |errno: Errno| match errno {
        Errno::ENOENT | Errno::ESRCH => Ok(None),
        errno => Err(errno),
    };
    // SAFETY: `dir` is an open directory, `path` a NUL-terminated string.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return gone(Errno::last());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `buffer` is live and writable for `buffer.len()` bytes.
    let got = unsafe { libc::read(file.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    match usize::try_from(got) {
        Ok(got) => Ok(Some(&buffer[..got])),
        Err(_) => gone(Errno::last()),
    }
}

/// Whether `name` is a process's or a task's directory (all digits).
fn numeric(name: &CStr) -> bool {
    let bytes = name.to_bytes();
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

/// `PID/what` below `/proc`, as a C string.
fn below(pid: &CStr, what: &str) -> CString {
    let mut path = pid.to_bytes().to_vec();
    path.push(b'/');
    path.extend_from_slice(what.as_bytes());
    CString::new(path).expect("digits and a name have no NUL")
}

/// Whether the process `pid` (below the `/proc` open on `dir`) is a kernel thread, or a single task
/// inside `exit` that will never run user code again, told without rendering its `status`: its
/// `exe` link answers `ENOENT`, its `cwd` link resolves and its `task` directory counts one task
/// (see the module's documentation for why each). Any other answer (`EACCES`: no
/// `CAP_SYS_PTRACE` over the task; the task gone) says no, and its `status` is read.
pub(super) fn runs_no_user_code(dir: RawFd, pid: &CStr) -> bool {
    // A link's text is not needed: one byte takes what the kernel copies.
    let mut link = [0u8; 1];
    let exe = below(pid, "exe");
    // SAFETY: `dir` is an open directory, `exe` a NUL-terminated string, `link` writable for its
    // length.
    let rc = unsafe { libc::readlinkat(dir, exe.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    if rc >= 0 || Errno::last() != Errno::ENOENT {
        return false;
    }
    let cwd = below(pid, "cwd");
    // SAFETY: as above.
    let rc = unsafe { libc::readlinkat(dir, cwd.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    if rc < 0 {
        return false;
    }
    let task = below(pid, "task");
    // SAFETY: all-zero bytes are a valid `statx`.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is an open directory, `task` a NUL-terminated string, `stx` writable.
    let rc = unsafe { libc::statx(dir, task.as_ptr(), 0, libc::STATX_NLINK, &mut stx) };
    // The kernel counts a `task` directory's links as 2 and one per task of the thread group.
    rc == 0 && stx.stx_mask & libc::STATX_NLINK != 0 && stx.stx_nlink == 3
}

/// The processes that may be kernel threads, sorted: kthreadd (pid 2 in the host's PID namespace)
/// and its children, read from `/proc/2/task/2/children` (one file). Every kernel thread but the
/// idle and init tasks is started by kthreadd; the list only says which processes are worth
/// [`runs_no_user_code`]'s three calls (each is still proved a kernel thread by them), so a user
/// process costs no probe. A list that misses a kernel thread (the kernel's documentation warns
/// that children created or reaped meanwhile may be missed; a kernel without
/// `CONFIG_PROC_CHILDREN`; a PID namespace of a container, where pid 2 is no kernel thread) costs
/// that thread's `status`, as before.
fn kernel_thread_candidates() -> Vec<u32> {
    let text = crate::procfs::read_records(std::path::Path::new("/proc/2/task/2/children"))
        .unwrap_or_default();
    let mut candidates = vec![2];
    candidates.extend(
        text.split_ascii_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok()),
    );
    candidates.sort_unstable();
    candidates
}

/// Whether the `/proc` the scan reads lists every task of the machine: it is the initial PID
/// namespace's, where pid 2 is kthreadd, a kernel thread (`PF_KTHREAD` in the flags of its `stat`,
/// which no user process can set). In a container's PID namespace (or any nested one with a `/proc`
/// of its own) `/proc` lists only that namespace's tasks: a task of another container, or of the
/// host, may hold a uid the scan does not see. gVisor shows no kernel thread either: its sandbox
/// is one kernel for every container of the pod.
pub(crate) fn proc_lists_every_task() -> bool {
    /// `PF_KTHREAD`, `include/linux/sched.h`.
    const PF_KTHREAD: u64 = 0x0020_0000;
    // One read of a page (`std::fs::read` grows its buffer from 32 bytes: five reads).
    let Ok(stat) = crate::procfs::read_file(std::path::Path::new("/proc/2/stat")) else {
        return false;
    };
    let stat = stat.as_bytes();
    // The fields after the command's closing parenthesis: state, ppid, pgrp, session, tty_nr,
    // tpgid, flags.
    let Some(end) = stat.iter().rposition(|&byte| byte == b')') else {
        return false;
    };
    std::str::from_utf8(&stat[end + 1..])
        .ok()
        .and_then(|rest| rest.split_ascii_whitespace().nth(6))
        .and_then(|flags| flags.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// `struct pidfd_info` as its first version gave it (`PIDFD_INFO_SIZE_VER0`, Linux 6.13): a
/// newer kernel copies only the fields of the size asked.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

/// `pid` and `tgid` are set.
const PIDFD_INFO_PID: u64 = 1 << 0;
/// The eight ids are set.
const PIDFD_INFO_CREDS: u64 = 1 << 1;
/// `PIDFD_GET_INFO`: `_IOWR(0xFF, 11, struct pidfd_info)`, of the first version's size.
const PIDFD_GET_INFO: nix::sys::ioctl::ioctl_num_type =
    nix::request_code_readwrite!(0xFF, 11, std::mem::size_of::<PidfdInfo>());
/// `PIDFD_THREAD` (Linux 6.9): a pidfd of one thread rather than of a thread group.
const PIDFD_THREAD: libc::c_int = libc::O_EXCL;

/// What a pidfd says about one task.
#[derive(Debug)]
enum Answer {
    /// Real, effective, saved, filesystem uid, and the same four gids.
    Ids([u32; 4], [u32; 4]),
    /// Read the task's `status` instead; `every` when every other task would be refused alike (the
    /// kernel lacks the call or the request, a filter refuses it), so the rest of the scan reads
    /// `status` files.
    Status { every: bool },
}

/// `pidfd_open(id, flags)`.
fn pidfd_open(id: u32, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(fd).map_err(|_| Errno::EBADF)?;
    // A standard descriptor is open in any supervisor the scan runs in: an answer naming one is
    // an outer filter's fake (`SCMP_ACT_ERRNO(0)` returns 0), never closed here, and taken as a
    // refusal of the call.
    if fd <= 2 {
        return Err(Errno::EOPNOTSUPP);
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ids of task `id` of the process `tgid` (`id` itself for the process's leader, `thread`
/// false), asked through a pidfd: `pidfd_open`, `PIDFD_GET_INFO`, `close`. An error is an answer
/// that proves nothing either way (no descriptor left, a fault): the scan fails.
fn pidfd_ids(id: u32, thread: bool, tgid: u32) -> Result<Answer, Errno> {
    let pidfd = match pidfd_open(id, if thread { PIDFD_THREAD } else { 0 }) {
        Ok(pidfd) => pidfd,
        // A task reaped leaves its number free; its `status` says so too (`ENOENT`), which a
        // filter that fakes this answer for the scan's calls alone does not also fake.
        Err(Errno::ESRCH) => return Ok(Answer::Status { every: false }),
        // The number is not a process's (any more): a thread's, or a process's reaped and the
        // number given to a thread (ENOENT since 6.15, EINVAL before); a kernel without
        // `PIDFD_THREAD` (before 6.9).
        Err(Errno::ENOENT | Errno::EINVAL) => return Ok(Answer::Status { every: false }),
        // No `pidfd_open` (before 5.3, gVisor), or a filter or a security module refuses it.
        Err(Errno::ENOSYS | Errno::EPERM | Errno::EACCES | Errno::EOPNOTSUPP | Errno::ENOTTY) => {
            return Ok(Answer::Status { every: true })
        }
        Err(errno) => return Err(errno),
    };
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_PID | PIDFD_INFO_CREDS,
        ..PidfdInfo::default()
    };
    // SAFETY: `pidfd` is open; `info` is live and writable for the size the request encodes.
    let rc = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO, &mut info) };
    if rc < 0 {
        return match Errno::last() {
            // The task reaped since its pidfd was opened, or a kernel that answers ESRCH for a
            // live task (6.13 does for one whose parent has no number in the caller's PID
            // namespace): its `status` decides.
            Errno::ESRCH => Ok(Answer::Status { every: false }),
            // No `PIDFD_GET_INFO` (before 6.13), a size it does not take, a filter.
            Errno::ENOTTY
            | Errno::EINVAL
            | Errno::ENOSYS
            | Errno::EOPNOTSUPP
            | Errno::EPERM
            | Errno::EACCES => Ok(Answer::Status { every: true }),
            errno => Err(errno),
        };
    }
    let wanted = PIDFD_INFO_PID | PIDFD_INFO_CREDS;
    if info.mask & wanted != wanted {
        return Ok(Answer::Status { every: true });
    }
    // The task asked for, of the process asked for; anything else (a number reused meanwhile) is
    // left to its `status`.
    if info.pid != id || info.tgid != tgid {
        return Ok(Answer::Status { every: false });
    }
    Ok(Answer::Ids(
        [info.ruid, info.euid, info.suid, info.fsuid],
        [info.rgid, info.egid, info.sgid, info.fsgid],
    ))
}

/// Whether `/proc` (open on `dir`) numbers tasks as `pidfd_open` does, which takes numbers of the
/// caller's PID namespace while `/proc` lists those of the namespace it was mounted in: a
/// supervisor started by `unshare --pid --fork` without a `/proc` of its own would find most of
/// the host's processes "gone". A pidfd of this process shows, in its `fdinfo`, the process's
/// number in `/proc`'s namespace and in each namespace below it down to the process's own
/// (`NSpid`): one number, this process's, is the same namespace. Any failure says no (no
/// `pidfd_open`: the scan reads `status` files anyway).
fn pidfds_number_as_proc(dir: RawFd, buffer: &mut [u8]) -> bool {
    let pid = std::process::id();
    let Ok(pidfd) = pidfd_open(pid, 0) else {
        return false;
    };
    let path = CString::new(format!("self/fdinfo/{}", pidfd.as_raw_fd())).expect("no NUL");
    let Ok(Some(text)) = read_status(dir, &path, buffer) else {
        return false;
    };
    let numbers = |key: &[u8]| -> Option<Vec<u32>> {
        let line = text
            .split(|byte| *byte == b'\n')
            .find_map(|line| line.strip_prefix(key))?;
        Some(
            line.split(|byte| byte.is_ascii_whitespace())
                .filter(|part| !part.is_empty())
                .map(|part| {
                    std::str::from_utf8(part)
                        .ok()
                        .and_then(|part| part.parse().ok())
                        .unwrap_or(0)
                })
                .collect(),
        )
    };
    match numbers(b"NSpid:") {
        Some(nspid) => nspid == [pid],
        // A kernel without PID namespaces has one.
        None => numbers(b"Pid:").is_some_and(|own| own == [pid]),
    }
}

/// How the scan read each task, for the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Read {
    /// Tasks whose ids a pidfd gave.
    pidfd: usize,
    /// Tasks whose `status` was read.
    status: usize,
    /// Whether the scan ended reading through pidfds (it began so and no answer turned it).
    pidfds: bool,
}

/// The ids found so far, and how to read the next task.
struct Scan {
    /// `/proc`.
    dir: RawFd,
    /// A `status` file's text.
    buffer: Vec<u8>,
    /// A `task` directory's entries.
    tasks_listing: Vec<u8>,
    uids: HashSet<u32>,
    gids: HashSet<u32>,
    /// Tasks are read through pidfds; `status` files when false.
    pidfds: bool,
    /// [`kernel_thread_candidates`], read when the `status` path first needs it.
    candidates: Option<Vec<u32>>,
    /// The first error that left a task unread.
    failed: Option<Errno>,
    read: Read,
}

impl Scan {
    fn add(&mut self, uids: &[u32], gids: &[u32]) {
        self.uids.extend(uids.iter().copied());
        self.gids.extend(gids.iter().copied());
    }

    /// Every task of the process `pid` (a name of `/proc`).
    fn process(&mut self, pid: &CStr) {
        let Some(number) = std::str::from_utf8(pid.to_bytes())
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            return;
        };
        if self.pidfds {
            match pidfd_ids(number, false, number) {
                Ok(Answer::Ids(uids, gids)) => {
                    self.add(&uids, &gids);
                    self.read.pidfd += 1;
                    self.other_threads(pid, number);
                    return;
                }
                Ok(Answer::Status { every }) => self.pidfds &= !every,
                Err(errno) => {
                    self.failed.get_or_insert(errno);
                    return;
                }
            }
        }
        self.process_by_status(pid, number);
    }

    /// The process's tasks but its leader, read through pidfds: none when its `task` directory
    /// counts one task (two links and one per task).
    fn other_threads(&mut self, pid: &CStr, number: u32) {
        let task_dir = below(pid, "task");
        // SAFETY: all-zero bytes are a valid `statx`.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `dir` is an open directory, `task_dir` a NUL-terminated string, `stx` writable.
        let rc =
            unsafe { libc::statx(self.dir, task_dir.as_ptr(), 0, libc::STATX_NLINK, &mut stx) };
        if rc == 0 && stx.stx_mask & libc::STATX_NLINK != 0 && stx.stx_nlink == 3 {
            return;
        }
        // Several tasks, or a count not known (a process gone since its leader was read: the
        // listing says so, `ENOENT`, as a second answer).
        self.threads(pid, number, &task_dir);
    }

    /// The process's tasks, its `status` read (and its other tasks' when it shows more than one),
    /// but not a kernel thread's ([`runs_no_user_code`]) when the whole scan reads `status` files.
    fn process_by_status(&mut self, pid: &CStr, number: u32) {
        if !self.pidfds {
            let candidates = self.candidates.get_or_insert_with(kernel_thread_candidates);
            if candidates.binary_search(&number).is_ok() && runs_no_user_code(self.dir, pid) {
                return;
            }
        }
        let status = match read_status(self.dir, &below(pid, "status"), &mut self.buffer) {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(errno) => {
                self.failed.get_or_insert(errno);
                return;
            }
        };
        // A text that fills the buffer may be cut anywhere, even inside the count ("Threads:\t1"
        // of "Threads:\t12"): its count is not trusted.
        let whole = status.len() < BUFFER;
        let leader = parse(status);
        self.add(&leader.uids, &leader.gids);
        self.read.status += 1;
        if whole && leader.threads == Some(1) {
            return;
        }
        // Several threads, or a count not shown: every other task's own credentials.
        self.threads(pid, number, &below(pid, "task"));
    }

    /// Every task listed in `task_dir` (the process `pid`'s) but its leader, through a pidfd
    /// while the scan reads through pidfds, else (and when its pidfd is refused) its `status`.
    fn threads(&mut self, pid: &CStr, number: u32, task_dir: &CStr) {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open directory, `task_dir` a NUL-terminated string.
        let fd = unsafe { libc::openat(self.dir, task_dir.as_ptr(), flags) };
        if fd < 0 {
            // A process gone since the listing holds nothing any more.
            if Errno::last() != Errno::ENOENT {
                self.failed.get_or_insert(Errno::last());
            }
            return;
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let tasks = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut listing = std::mem::take(&mut self.tasks_listing);
        let listed = dirents::each(tasks.as_raw_fd(), &mut listing, |tid, _| {
            if !numeric(tid) || tid == pid {
                return;
            }
            if self.pidfds {
                let Some(id) = std::str::from_utf8(tid.to_bytes())
                    .ok()
                    .and_then(|tid| tid.parse::<u32>().ok())
                else {
                    return;
                };
                match pidfd_ids(id, true, number) {
                    Ok(Answer::Ids(uids, gids)) => {
                        self.add(&uids, &gids);
                        self.read.pidfd += 1;
                        return;
                    }
                    Ok(Answer::Status { every }) => self.pidfds &= !every,
                    Err(errno) => {
                        self.failed.get_or_insert(errno);
                        return;
                    }
                }
            }
            let mut path = task_dir.to_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(tid.to_bytes());
            path.extend_from_slice(b"/status");
            let path = CString::new(path).expect("digits have no NUL");
            match read_status(self.dir, &path, &mut self.buffer) {
                Ok(Some(status)) => {
                    let ids = parse(status);
                    self.add(&ids.uids, &ids.gids);
                    self.read.status += 1;
                }
                Ok(None) => {}
                Err(errno) => {
                    self.failed.get_or_insert(errno);
                }
            }
        });
        self.tasks_listing = listing;
        // A process reaped while its tasks were listed answers ENOENT: it holds nothing.
        match listed {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => {
                self.failed.get_or_insert(errno);
            }
        }
    }
}

/// How the scan reads the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Through pidfds where the kernel answers them, else `status` files.
    Pidfds,
    /// `status` files only.
    #[cfg_attr(not(test), allow(dead_code))]
    Status,
}

/// The uids and gids every task of the host holds, or why the host's tasks could not all be
/// read: `/proc` not opened or not listed to its end, a process's `task` directory not listed
/// for a reason other than the process being gone, or a pidfd that answered neither a task's
/// ids nor a refusal nor that the task is gone. A scan that cannot see every task proves no uid
/// free, so the allocation fails rather than trust a partial one.
pub(super) fn ids_in_use() -> Result<(HashSet<u32>, HashSet<u32>), Errno> {
    scan(Path::Pidfds).map(|(uids, gids, _)| (uids, gids))
}

/// The uids and gids the scan found, and how it read the tasks.
type Found = (HashSet<u32>, HashSet<u32>, Read);

/// [`ids_in_use`], read by `path`, with how the tasks were read.
fn scan(path: Path) -> Result<Found, Errno> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: the literal is a NUL-terminated path.
    let fd = unsafe { libc::open(c"/proc".as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let proc_dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let dir = proc_dir.as_raw_fd();
    let mut buffer = vec![0u8; BUFFER];
    let pidfds = path == Path::Pidfds && pidfds_number_as_proc(dir, &mut buffer);
    let mut scan = Scan {
        dir,
        buffer,
        tasks_listing: vec![0u8; 4096],
        uids: HashSet::new(),
        gids: HashSet::new(),
        pidfds,
        candidates: None,
        failed: None,
        read: Read::default(),
    };
    let mut listing = vec![0u8; dirents::BUFFER];
    dirents::each(dir, &mut listing, |pid, _| {
        if numeric(pid) {
            scan.process(pid);
        }
    })?;
    scan.read.pidfds = scan.pidfds;
    match scan.failed {
        Some(errno) => Err(errno),
        None => Ok((scan.uids, scan.gids, scan.read)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_and_the_thread_count_are_read() {
        let status = b"Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nFDSize:\t64\nGroups:\t9 10 \nThreads:\t3\nSigQ:\t0/1\n";
        assert_eq!(
            parse(status),
            Ids {
                uids: vec![1, 2, 3, 4],
                gids: vec![5, 6, 7, 8],
                threads: Some(3)
            }
        );
        // A kernel thread's status has a count too; a cut-off text has none.
        assert_eq!(
            parse(b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThr").threads,
            None
        );
    }

    #[test]
    fn this_process_and_its_threads_are_seen() {
        // The test harness runs threads: the scan reads this process's tasks.
        let (uids, gids) = ids_in_use().unwrap();
        // SAFETY: getuid and getgid take nothing.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert!(uids.contains(&uid) && gids.contains(&gid));
    }

    #[test]
    fn a_kernel_thread_is_told_apart_from_processes_and_zombies() {
        let proc_dir = std::fs::File::open("/proc").unwrap();
        let dir = proc_dir.as_raw_fd();
        let pid = |pid: u32| CString::new(pid.to_string()).unwrap();
        // This process, and a zombie: a child that exited and is not yet reaped.
        assert!(!runs_no_user_code(dir, &pid(std::process::id())));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let zombie = format!("/proc/{}/stat", child.id());
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&zombie).is_ok_and(|stat| stat.contains(") Z ")) {
            assert!(start.elapsed().as_secs() < 10, "never a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!runs_no_user_code(dir, &pid(child.id())));
        child.wait().unwrap();
        // A task that is gone.
        assert!(!runs_no_user_code(dir, &pid(child.id())));
        // A process whose leader has exited (a zombie) while another of its threads runs.
        let script = "import ctypes, threading\n\
                      threading.Thread(target=threading.Event().wait, daemon=True).start()\n\
                      print('READY', flush=True)\n\
                      ctypes.CDLL(None).pthread_exit(None)\n";
        if let Ok(mut python) = std::process::Command::new("python3")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
        {
            let mut ready = [0u8; 6];
            let read = std::io::Read::read_exact(python.stdout.as_mut().unwrap(), &mut ready);
            let status = format!("/proc/{}/status", python.id());
            let start = std::time::Instant::now();
            while read.is_ok()
                && !std::fs::read_to_string(&status).is_ok_and(|s| s.contains("State:\tZ"))
            {
                assert!(start.elapsed().as_secs() < 10, "the leader never exited");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let probed = runs_no_user_code(dir, &pid(python.id()));
            let _ = python.kill();
            let _ = python.wait();
            assert!(read.is_ok() && !probed);
        }
        // kthreadd and its children, where this PID namespace shows them (the kernel's `Kthread`
        // line, Linux 6.0).
        if std::fs::read_to_string("/proc/2/status").is_ok_and(|s| s.contains("Kthread:\t1")) {
            assert!(runs_no_user_code(dir, &pid(2)));
            let candidates = kernel_thread_candidates();
            assert!(
                candidates.len() > 1 && candidates.contains(&2),
                "{candidates:?}"
            );
            assert!(!candidates.contains(&std::process::id()));
        }
    }

    /// System calls (number, three arguments), one list per thread.
    type Calls = Vec<Vec<(libc::c_long, [u32; 3])>>;

    /// Ids no host process holds (far above the allocation ranges, and apart from those of the
    /// integration tests), a block of 16 per test and per test process.
    fn unheld(block: u32) -> u32 {
        3_500_000_000 + (std::process::id() % 50_000) * 256 + block * 16
    }

    /// Whether this kernel has `PIDFD_GET_INFO` (Linux 6.13): the pidfd path must then be taken.
    fn pidfds_expected() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|part| part.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 13)
    }

    /// Whether the tests may give a process any ids (and make namespaces): they run as root.
    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// A process killed and reaped when the test ends.
    struct Holder(std::process::Child);

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Waits until the `status` of `pid` says `state` (`Z`: a zombie).
    fn wait_state(pid: u32, state: &str) {
        let path = format!("/proc/{pid}/status");
        let wanted = format!("State:\t{state}");
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&path).is_ok_and(|status| status.contains(&wanted)) {
            assert!(start.elapsed().as_secs() < 10, "{pid} never {state}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A python3 process with one thread per list of `calls` (system call number, three
    /// arguments), each made raw by that thread alone (glibc's wrappers would change every
    /// thread's ids), its leader root and waiting or, with `leader_exits`, exited (a zombie while
    /// its threads run). `None` without python3.
    fn threads_holding(calls: &Calls, leader_exits: bool) -> Option<Holder> {
        let calls = calls
            .iter()
            .map(|thread| {
                let calls: Vec<String> = thread
                    .iter()
                    .map(|(nr, [a, b, c])| format!("({nr}, {a}, {b}, {c})"))
                    .collect();
                format!("[{}]", calls.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let script = format!(
            "import ctypes, threading\n\
             libc = ctypes.CDLL(None)\n\
             libc.syscall.restype = ctypes.c_long\n\
             def run(calls, done):\n\
             \x20   for nr, a, b, c in calls:\n\
             \x20       libc.syscall(ctypes.c_long(nr), ctypes.c_ulong(a), ctypes.c_ulong(b), ctypes.c_ulong(c))\n\
             \x20   done.set()\n\
             \x20   threading.Event().wait()\n\
             for calls in [{calls}]:\n\
             \x20   done = threading.Event()\n\
             \x20   threading.Thread(target=run, args=(calls, done), daemon=True).start()\n\
             \x20   done.wait()\n\
             print('READY', flush=True)\n\
             if {exits}:\n\
             \x20   libc.pthread_exit(None)\n\
             threading.Event().wait()\n",
            exits = if leader_exits { "True" } else { "False" },
        );
        let mut python = Holder(
            std::process::Command::new("python3")
                .args(["-c", &script])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .ok()?,
        );
        let mut ready = [0u8; 6];
        std::io::Read::read_exact(python.0.stdout.as_mut().unwrap(), &mut ready).unwrap();
        assert_eq!(&ready, b"READY\n");
        if leader_exits {
            wait_state(python.0.id(), "Z");
        }
        Some(python)
    }

    /// Runs `run` in a forked child (one thread: the caller's), true when it returned true.
    fn in_child(run: impl FnOnce() -> bool) -> bool {
        // SAFETY: the child runs `run` and exits without returning into the test harness; glibc
        // makes the allocator usable in the child of a threaded process.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork: {}", Errno::last());
        if child == 0 {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or(false);
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: `child` is this process's child; `status` is writable.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }

    #[test]
    fn this_process_and_this_thread_are_read_through_pidfds() {
        if !pidfds_expected() {
            return;
        }
        let pid = std::process::id();
        let own = parse(&std::fs::read("/proc/thread-self/status").unwrap());
        match pidfd_ids(pid, false, pid).unwrap() {
            Answer::Ids(uids, gids) => assert_eq!(
                (uids.to_vec(), gids.to_vec()),
                (own.uids.clone(), own.gids.clone())
            ),
            other => panic!("{other:?}"),
        }
        // The harness runs each test on a thread of its own.
        // SAFETY: gettid takes nothing.
        let tid = u32::try_from(unsafe { libc::gettid() }).unwrap();
        assert_ne!(tid, pid);
        match pidfd_ids(tid, true, pid).unwrap() {
            Answer::Ids(uids, gids) => {
                assert_eq!((uids.to_vec(), gids.to_vec()), (own.uids, own.gids))
            }
            other => panic!("{other:?}"),
        }
        // Asked as another process's thread, or as a process: left to its `status`.
        assert!(matches!(
            pidfd_ids(tid, true, pid + 1),
            Ok(Answer::Status { every: false })
        ));
        let answer = pidfd_ids(tid, false, tid);
        assert!(
            matches!(answer, Ok(Answer::Status { every: false })),
            "{answer:?}"
        );
        // A reaped child's number: its `status` decides (it is gone: nothing held).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(matches!(
            pidfd_ids(gone, false, gone),
            Ok(Answer::Status { every: false })
        ));
    }

    #[test]
    fn a_zombie_is_read_through_its_pidfd() {
        if !root() {
            return;
        }
        use std::os::unix::process::CommandExt;
        let (uid, gid) = (unheld(2), unheld(2) + 1);
        let child = std::process::Command::new("true")
            .uid(uid)
            .gid(gid)
            .spawn()
            .unwrap();
        let mut child = Holder(child);
        wait_state(child.0.id(), "Z");
        let answer = pidfd_ids(child.0.id(), false, child.0.id()).unwrap();
        let (uids, gids, read) = scan(Path::Pidfds).unwrap();
        child.0.wait().unwrap();
        if pidfds_expected() {
            assert!(read.pidfds && read.pidfd > 0, "{read:?}");
            assert!(
                matches!(answer, Answer::Ids(uids, gids) if uids == [uid; 4] && gids == [gid; 4]),
                "{answer:?}"
            );
        }
        assert!(uids.contains(&uid) && gids.contains(&gid));
    }

    /// One thread's ids per field, each id held in that field alone: real, saved (one thread),
    /// effective (another, its filesystem uid set back to root's), filesystem (a third), and the
    /// four gids (a fourth).
    fn ids_per_field(block: u32) -> (Calls, [u32; 4], [u32; 4]) {
        let base = unheld(block);
        let keep = u32::MAX;
        let uids = [base, base + 1, base + 2, base + 3];
        let gids = [base + 4, base + 5, base + 6, base + 7];
        let calls = vec![
            // Real and saved (its effective and filesystem uid: base + 8).
            vec![(libc::SYS_setresuid, [uids[0], base + 8, uids[2]])],
            // Effective alone: the filesystem uid follows it, then goes back to the real (root).
            vec![
                (libc::SYS_setresuid, [keep, uids[1], keep]),
                (libc::SYS_setfsuid, [0, 0, 0]),
            ],
            // Filesystem alone.
            vec![(libc::SYS_setfsuid, [uids[3], 0, 0])],
            vec![
                (libc::SYS_setresgid, [gids[0], gids[1], gids[2]]),
                (libc::SYS_setfsgid, [gids[3], 0, 0]),
            ],
        ];
        (calls, uids, gids)
    }

    #[test]
    fn each_task_is_read_with_its_own_ids() {
        if !root() {
            return;
        }
        let (calls, want_uids, want_gids) = ids_per_field(3);
        for leader_exits in [false, true] {
            let Some(_python) = threads_holding(&calls, leader_exits) else {
                return;
            };
            for path in [Path::Pidfds, Path::Status] {
                let (uids, gids, read) = scan(path).unwrap();
                let what = format!("{path:?}, leader exited: {leader_exits}, {read:?}");
                for uid in want_uids {
                    assert!(uids.contains(&uid), "uid {uid}: {what}");
                }
                for gid in want_gids {
                    assert!(gids.contains(&gid), "gid {gid}: {what}");
                }
                if path == Path::Pidfds && pidfds_expected() {
                    assert!(read.pidfds && read.pidfd > 0, "{what}");
                }
            }
        }
    }

    #[test]
    fn the_pidfd_path_agrees_with_the_status_path() {
        // Processes come and go between scans (other tests hold ids for a moment, other
        // supervisors allocate uids): three scans that all agree, a pidfd scan framed by two
        // `status` scans. A difference that is the host's lasts; one that is the scan's does not.
        let mut last = String::new();
        for _ in 0..50 {
            let before = scan(Path::Status).unwrap();
            let through = scan(Path::Pidfds).unwrap();
            let after = scan(Path::Status).unwrap();
            let read = through.2;
            if pidfds_expected() {
                assert!(read.pidfds && read.pidfd > read.status, "{read:?}");
            }
            if (&through.0, &through.1) == (&before.0, &before.1)
                && (&after.0, &after.1) == (&before.0, &before.1)
            {
                return;
            }
            last = format!(
                "before {:?} {:?}, through pidfds {:?} {:?}, after {:?} {:?}",
                before.0, before.1, through.0, through.1, after.0, after.1
            );
        }
        panic!("no three scans agreed: {last}");
    }

    #[test]
    fn a_proc_of_another_pid_namespace_is_read_through_status_files() {
        if !root() {
            return;
        }
        use std::os::unix::process::CommandExt;
        let uid = unheld(4);
        let _holder = Holder(
            std::process::Command::new("sleep")
                .arg("60")
                .uid(uid)
                .gid(uid)
                .spawn()
                .unwrap(),
        );
        // A child in a PID namespace of its own, `/proc` still the host's: its numbers are not
        // the ones `pidfd_open` takes there.
        let seen = in_child(|| {
            // SAFETY: unshare takes a flag; the next child is the namespace's first process.
            if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
                return false;
            }
            in_child(|| {
                let Ok((uids, _, read)) = scan(Path::Pidfds) else {
                    return false;
                };
                !read.pidfds && read.status > 0 && uids.contains(&uid)
            })
        });
        assert!(seen);
    }

    /// `scan(Path::Pidfds)` in a child whose calls `nr` (with argument `arg` equal to, or with
    /// `mask` sharing a bit with, the value given) answer `errno`, its result judged by `check`.
    fn scan_refused(
        nr: libc::c_long,
        arg: Option<(usize, u32, bool)>,
        errno: i32,
        check: impl FnOnce(Result<Found, Errno>) -> bool,
    ) -> bool {
        let statement = |code: u32, k: u32| libc::sock_filter {
            code: u16::try_from(code).unwrap(),
            jt: 0,
            jf: 0,
            k,
        };
        let jump = |code: u32, k: u32, jf: u8| libc::sock_filter {
            code: u16::try_from(libc::BPF_JMP | code | libc::BPF_K).unwrap(),
            jt: 0,
            jf,
            k,
        };
        let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        let mut program = vec![statement(load, 0)];
        match arg {
            None => program.push(jump(libc::BPF_JEQ, u32::try_from(nr).unwrap(), 1)),
            Some((index, value, mask)) => {
                // The argument's low 32 bits.
                let offset = 16 + 8 * index + if cfg!(target_endian = "big") { 4 } else { 0 };
                program.push(jump(libc::BPF_JEQ, u32::try_from(nr).unwrap(), 3));
                program.push(statement(load, u32::try_from(offset).unwrap()));
                let test = if mask { libc::BPF_JSET } else { libc::BPF_JEQ };
                program.push(jump(test, value, 1));
            }
        }
        let errno = u32::try_from(errno).unwrap();
        program.push(statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | errno,
        ));
        program.push(statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ALLOW,
        ));
        in_child(|| {
            let filter = libc::sock_fprog {
                len: u16::try_from(program.len()).unwrap(),
                filter: program.as_ptr().cast_mut(),
            };
            // SAFETY: prctl with integer arguments, then a pointer to a live program.
            let installed = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                    && libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        std::ptr::from_ref(&filter),
                    ) == 0
            };
            installed && check(scan(Path::Pidfds))
        })
    }

    #[test]
    fn refused_pidfds_fall_back_to_status_files_and_other_errors_fail() {
        if !pidfds_expected() || !root() {
            return;
        }
        let uid = unheld(5);
        let calls = vec![vec![(libc::SYS_setresuid, [uid, uid, uid])]];
        let Some(python) = threads_holding(&calls, false) else {
            return;
        };
        let holder = python.0.id();
        let get_info = u32::try_from(PIDFD_GET_INFO).unwrap();
        let thread = u32::try_from(PIDFD_THREAD).unwrap();
        let seen = |every: bool| {
            move |result: Result<Found, Errno>| {
                result.is_ok_and(|(uids, _, read)| uids.contains(&uid) && read.pidfds != every)
            }
        };
        // Which calls answer the error: every pidfd_open, the ioctl, the holder's pidfd_open, a
        // thread's pidfd_open.
        type Rule = (libc::c_long, Option<(usize, u32, bool)>);
        let open: Rule = (libc::SYS_pidfd_open, None);
        let ioctl: Rule = (libc::SYS_ioctl, Some((1, get_info, false)));
        let open_holder: Rule = (libc::SYS_pidfd_open, Some((0, holder, false)));
        let open_thread: Rule = (libc::SYS_pidfd_open, Some((1, thread, true)));
        for (rule, errno, every) in [
            // No pidfd_open: the scan reads `status` files from the start.
            (open, libc::ENOSYS, true),
            // No PIDFD_GET_INFO: the first process's refusal turns the scan to `status` files.
            (ioctl, libc::ENOTTY, true),
            (ioctl, libc::EINVAL, true),
            // Each task's ESRCH from the ioctl: its `status` decides, the scan stays on pidfds.
            (ioctl, libc::ESRCH, false),
            // The holder's number is not a process's: its `status`.
            (open_holder, libc::ENOENT, false),
            (open_holder, libc::EINVAL, false),
            (open_holder, libc::EPERM, true),
            (open_holder, libc::EACCES, true),
            // A thread's pidfd refused: the thread's own `status`.
            (open_thread, libc::EINVAL, false),
        ] {
            let (nr, arg) = rule;
            let what = format!("{rule:?} {}", Errno::from_raw(errno));
            assert!(scan_refused(nr, arg, errno, seen(every)), "{what}");
        }
        // Any other answer proves nothing: the scan fails.
        for (rule, errno) in [(open_holder, libc::EMFILE), (ioctl, libc::EFAULT)] {
            let (nr, arg) = rule;
            let what = format!("{rule:?} {}", Errno::from_raw(errno));
            let failed = scan_refused(
                nr,
                arg,
                errno,
                |result| matches!(result, Err(got) if got as i32 == errno),
            );
            assert!(failed, "{what}");
        }
    }

    /// A `status` file that cannot be opened for a reason other than the task being gone (here no
    /// descriptor left once `/proc` is open) fails the scan: a task not read proves nothing.
    #[test]
    fn a_status_not_read_fails_the_scan() {
        assert!(in_child(|| {
            // The lowest free descriptor: `/proc` gets it, and nothing more can be opened.
            // SAFETY: dup and close take integers.
            let free = unsafe { libc::dup(0) };
            // SAFETY: as above.
            unsafe { libc::close(free) };
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `limit` is a live, writable rlimit.
            let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
            limit.rlim_cur = libc::rlim_t::try_from(free + 1).unwrap();
            // SAFETY: `limit` is a live rlimit.
            let set = got && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0;
            set && matches!(scan(Path::Status), Err(Errno::EMFILE))
        }));
    }

    /// The scan's CPU time through pidfds and through `status` files, the two interleaved:
    /// `cargo test --release -p sandbox-supervisor --lib -- --ignored --nocapture scan_cost`
    /// (`SCAN_ROUNDS`, 500 by default).
    #[test]
    #[ignore = "a measurement, not a test"]
    fn scan_cost() {
        let cpu = || {
            // SAFETY: all-zero bytes are a valid timespec, which clock_gettime fills.
            let mut now: libc::timespec = unsafe { std::mem::zeroed() };
            // SAFETY: `now` is writable.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
            now.tv_sec as f64 * 1e6 + now.tv_nsec as f64 / 1e3
        };
        let rounds: usize = std::env::var("SCAN_ROUNDS")
            .ok()
            .and_then(|rounds| rounds.parse().ok())
            .unwrap_or(500);
        let mut spent = [Vec::new(), Vec::new()];
        let mut read = [Read::default(); 2];
        for round in 0..rounds + 20 {
            for (at, path) in [Path::Pidfds, Path::Status].into_iter().enumerate() {
                let start = cpu();
                let (_, _, found) = scan(path).unwrap();
                let took = cpu() - start;
                // The first rounds warm the caches.
                if round >= 20 {
                    spent[at].push(took);
                    read[at] = found;
                }
            }
        }
        for (at, path) in [Path::Pidfds, Path::Status].into_iter().enumerate() {
            let times = &mut spent[at];
            times.sort_by(f64::total_cmp);
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            println!(
                "{path:?}: CPU per scan mean {mean:.1} us, median {:.1} us, {:?}",
                times[times.len() / 2],
                read[at]
            );
        }
    }
}
