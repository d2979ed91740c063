//! The uids and gids the host's tasks hold (real, effective, saved, filesystem), for the uid
//! allocation: every task of every process, read at the cost of one `status` file per process
//! that runs user code.
//!
//! `/proc` is listed with `getdents64` on one descriptor, below which each process's
//! `/proc/PID/status` is opened and read with one `read` into a buffer reused for the whole scan
//! (three calls: `openat`, `read`, `close`). It shows the thread-group leader's credentials and
//! the process's thread count. Credentials are per task (a thread may change its own with a raw
//! `setresuid`, which glibc would otherwise broadcast), so a process with more than one thread, or
//! whose count is not shown, has each other task's `/proc/PID/task/TID/status` read the same way.
//! A single-threaded process, nearly every process of a host, costs no listing of its `task`
//! directory.
//!
//! A kernel thread's `status` is not read ([`runs_no_user_code`]): most of a quiet host's
//! processes are kernel threads, whose credentials are the kernel's own (root, `init_cred`), and
//! the kernel renders a `status` at every read. Only kthreadd and its children, listed by one
//! file ([`kernel_thread_candidates`]), are probed, so a user process costs no more than its
//! `status`. Three calls that render nothing tell a kernel thread apart: its `exe` link answers
//! `ENOENT` (the kernel has no executable for a task without memory of its own: a kernel thread,
//! or a task that has exited or is exiting), its `cwd` link resolves (an
//! exited task, a zombie, has released its file-system context: its `status` is read, for a
//! zombie still holds its credentials until it is reaped and counts against its real uid's
//! `RLIMIT_NPROC`), and its `task` directory counts one task (a leader that exited while its
//! other threads run is read, with them). What passes is a kernel thread, or a single task past
//! the release of its memory and before the release of its file-system context: inside `exit`,
//! it never runs user code again and is a zombie (read at the next scan) or gone a moment later,
//! like a process that ended just before the scan, which no scan sees. Anything else (`EACCES`
//! without `CAP_SYS_PTRACE` over the task, a task gone meanwhile) has its `status` read, as before.
//!
//! The scan is as complete as reading every task's `status` was: the leader's ids come from its
//! own file, and every other task's from its own. A task that changes its ids after its file was
//! read is not seen, as before: root may give any uid to any process at any time, and the
//! guarantee is about the host at allocation time.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::dirents;

/// Enough for a `status` with thousands of supplementary groups. The `Uid` and `Gid` lines come
/// before the `Groups` list, so a longer text still shows them whole; `Threads` comes after it, so
/// the count of a text that fills the buffer is not trusted (see [`ids_in_use`]).
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

/// The text of the `status` file at `path` below `dir`, read with one `read`; `None` when the
/// task is gone.
fn read_status<'a>(dir: RawFd, path: &CStr, buffer: &'a mut [u8]) -> Option<&'a [u8]> {
    // SAFETY: `dir` is an open directory, `path` a NUL-terminated string.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `buffer` is live and writable for `buffer.len()` bytes.
    let got = unsafe { libc::read(file.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    usize::try_from(got).ok().map(|got| &buffer[..got])
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

/// The uids and gids every task of the host holds, or why the host's tasks could not all be
/// read: `/proc` not opened or not listed to its end, or a process's `task` directory not listed
/// for a reason other than the process being gone. A scan that cannot see every task proves no
/// uid free, so the allocation fails rather than trust a partial one.
pub(super) fn ids_in_use() -> Result<(HashSet<u32>, HashSet<u32>), Errno> {
    let mut uids = HashSet::new();
    let mut gids = HashSet::new();
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
    let mut listing = vec![0u8; dirents::BUFFER];
    let mut tasks_listing = vec![0u8; 4096];
    let mut add = |ids: &Ids| {
        uids.extend(ids.uids.iter().copied());
        gids.extend(ids.gids.iter().copied());
    };
    let candidates = kernel_thread_candidates();
    let mut failed = None;
    dirents::each(dir, &mut listing, |pid, _| {
        if !numeric(pid) {
            return;
        }
        let candidate = std::str::from_utf8(pid.to_bytes())
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| candidates.binary_search(&pid).is_ok());
        if candidate && runs_no_user_code(dir, pid) {
            return;
        }
        let Some(status) = read_status(dir, &below(pid, "status"), &mut buffer) else {
            return;
        };
        // A text that fills the buffer may be cut anywhere, even inside the count ("Threads:\t1"
        // of "Threads:\t12"): its count is not trusted.
        let whole = status.len() < BUFFER;
        let leader = parse(status);
        add(&leader);
        if whole && leader.threads == Some(1) {
            return;
        }
        // Several threads, or a count not shown: every other task's own credentials.
        let task_dir = below(pid, "task");
        // SAFETY: `dir` is an open directory, `task_dir` a NUL-terminated string.
        let fd = unsafe { libc::openat(dir, task_dir.as_ptr(), flags) };
        if fd < 0 {
            // A process gone since the listing holds nothing any more.
            if Errno::last() != Errno::ENOENT {
                failed.get_or_insert(Errno::last());
            }
            return;
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let tasks = unsafe { OwnedFd::from_raw_fd(fd) };
        let listed = dirents::each(tasks.as_raw_fd(), &mut tasks_listing, |tid, _| {
            if !numeric(tid) || tid == pid {
                return;
            }
            let mut path = task_dir.as_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(tid.to_bytes());
            path.extend_from_slice(b"/status");
            let path = CString::new(path).expect("digits have no NUL");
            if let Some(status) = read_status(dir, &path, &mut buffer) {
                add(&parse(status));
            }
        });
        // A process reaped while its tasks were listed answers ENOENT: it holds nothing.
        match listed {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => {
                failed.get_or_insert(errno);
            }
        }
    })?;
    match failed {
        Some(errno) => Err(errno),
        None => Ok((uids, gids)),
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
}
