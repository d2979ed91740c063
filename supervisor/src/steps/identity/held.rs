//! The uids and gids the host's tasks hold (real, effective, saved, filesystem), for the uid
//! allocation: every task of every process, read at the cost of one `status` file per process.
//!
//! Each process's `/proc/PID/status` is opened below one descriptor of `/proc` and read with one
//! `read` into a buffer reused for the whole scan (three calls: `openat`, `read`, `close`). It
//! shows the thread-group leader's credentials and the process's thread count. Credentials are
//! per task (a thread may change its own with a raw `setresuid`, which glibc would otherwise
//! broadcast), so a process with more than one thread, or whose count is not shown, has each other
//! task's `/proc/PID/task/TID/status` read the same way. A single-threaded process, nearly every
//! process of a host, costs no listing of its `task` directory.
//!
//! The scan is as complete as reading every task's `status` was: the leader's ids come from its
//! own file, and every other task's from its own. A task that changes its ids after its file was
//! read is not seen, as before: root may give any uid to any process at any time, and the
//! guarantee is about the host at allocation time.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
fn read_status<'a>(dir: RawFd, path: &str, buffer: &'a mut [u8]) -> Option<&'a [u8]> {
    let path = CString::new(path).ok()?;
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
fn numeric(name: &std::ffi::OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

/// The uids and gids every task of the host holds.
pub(super) fn ids_in_use() -> (HashSet<u32>, HashSet<u32>) {
    let mut uids = HashSet::new();
    let mut gids = HashSet::new();
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: the literal is a NUL-terminated path.
    let fd = unsafe { libc::open(c"/proc".as_ptr(), flags) };
    if fd < 0 {
        return (uids, gids);
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let proc_dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return (uids, gids);
    };
    let dir = proc_dir.as_raw_fd();
    let mut buffer = vec![0u8; BUFFER];
    let mut add = |ids: &Ids| {
        uids.extend(ids.uids.iter().copied());
        gids.extend(ids.gids.iter().copied());
    };
    for process in processes.flatten() {
        let name = process.file_name();
        if !numeric(&name) {
            continue;
        }
        let pid = name.to_string_lossy();
        let Some(status) = read_status(dir, &format!("{pid}/status"), &mut buffer) else {
            continue;
        };
        // A text that fills the buffer may be cut anywhere, even inside the count ("Threads:\t1"
        // of "Threads:\t12"): its count is not trusted.
        let whole = status.len() < BUFFER;
        let leader = parse(status);
        add(&leader);
        if whole && leader.threads == Some(1) {
            continue;
        }
        // Several threads, or a count not shown: every other task's own credentials.
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let tid = task.file_name();
            if !numeric(&tid) || tid == name {
                continue;
            }
            let path = format!("{pid}/task/{}/status", tid.to_string_lossy());
            if let Some(status) = read_status(dir, &path, &mut buffer) {
                add(&parse(status));
            }
        }
    }
    (uids, gids)
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
        let (uids, gids) = ids_in_use();
        // SAFETY: getuid and getgid take nothing.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert!(uids.contains(&uid) && gids.contains(&gid));
    }
}
