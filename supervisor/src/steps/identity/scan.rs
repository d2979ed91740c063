//! The allocated uid's proof ([`super::alloc`]): the scan of the host's tasks
//! ([`super::held::ids_in_use`]) and the user database's lookup of the reserved uid, and when
//! either has it the next free uid taken, on a thread of its own while the boot goes on.

use std::os::fd::{OwnedFd, RawFd};

use nix::errno::Errno;

use super::alloc::{in_user_database, take, AllocError, Busy, UidRange};

/// The scan of the host's tasks ([`super::held::ids_in_use`]) and the user database's lookup of
/// the reserved uid ([`in_user_database`]), and when either has it the next free uid taken
/// ([`take`]), on a thread of its own while the boot goes on, or already done where no thread
/// could be started. The thread reads `/proc` and asks NSS, which reads the environment: nothing
/// changes the environment before it is settled (the supervisor clears its own only when it
/// spawns). The thread never leaves the namespaces the supervisor started in: the main thread's
/// `unshare(CLONE_NEWNET)` is its own, so every lookup reaches the host's network (a source of
/// the database may be a directory server).
#[derive(Debug)]
pub(super) enum Scan {
    /// The thread (joined with `pthread_join`), and where it leaves its answer.
    Running(
        libc::pthread_t,
        std::sync::Arc<std::sync::Mutex<Option<Decided>>>,
    ),
    Done(Decided),
}

/// The scan's answer, and whether it saw every task of the machine
/// ([`super::held::proc_lists_every_task`]).
pub(super) type Decided = (Answer, bool);

/// What the scan decided for the reserved uid.
#[derive(Debug)]
pub(super) enum Answer {
    /// No task holds it and the database does not name it.
    Kept,
    /// It was held or named: `uid` is the next free one, locked by `file`; the reserved uid is
    /// still locked, until [`super::alloc::Lease::settle`]. `dirs`: the lock directory, made
    /// and opened again because the lease's was removed meanwhile; `None`: the lease's.
    Swapped {
        uid: u32,
        file: OwnedFd,
        dirs: Option<OwnedFd>,
    },
    /// It was held or named and no other uid could be taken.
    GaveUp(AllocError),
    /// The host's tasks could not all be read: nothing is proved.
    Failed(AllocError),
}

/// The scan thread's stack: the main thread's usual 8 MiB, for the NSS modules that run on it
/// (a module of the host's may need more than the scan; the pages are only reserved until used).
const SCAN_STACK: usize = 8 * 1024 * 1024;

impl Scan {
    pub(super) fn start(uid: u32, range: UidRange, dir: RawFd) -> Scan {
        let scan = move || {
            let answer = decide(uid, range, dir);
            (answer, super::held::proc_lists_every_task())
        };
        if !clone3_is_real() {
            return Scan::Done(scan());
        }
        use std::os::unix::thread::JoinHandleExt;
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let answer = std::sync::Arc::clone(&slot);
        let thread = std::thread::Builder::new()
            .name("uid-scan".to_owned())
            .stack_size(SCAN_STACK)
            .spawn(move || {
                let decided = scan();
                if let Ok(mut slot) = answer.lock() {
                    *slot = Some(decided);
                }
            });
        match thread {
            Ok(thread) => Scan::Running(thread.into_pthread_t(), slot),
            Err(_) => Scan::Done(scan()),
        }
    }

    /// Waits for the thread to end and takes its answer. A thread that ended without one (an
    /// outer filter's `SECCOMP_RET_KILL_THREAD` on a call only it makes, a panic) proved nothing:
    /// the allocation fails with its line, never a panic of the supervisor.
    pub(super) fn join(
        thread: libc::pthread_t,
        slot: &std::sync::Mutex<Option<Decided>>,
    ) -> Option<Decided> {
        // SAFETY: `thread` was started by `start`, is joinable, and is joined once: its handle
        // was turned into this id, which nothing else joins or detaches.
        unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
        // `pthread_join` returns when the thread's last act wakes it; the kernel takes the task
        // off this process's list a moment later. The spawn that follows requires a
        // single-threaded process: wait for it (bounded; a thread of someone else's is the
        // spawn's error to report).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while crate::procfs::thread_count() > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let answer = slot.lock().ok()?.take();
        if answer.is_none() {
            // Killed: it may hold a lock of the loader (an NSS module's `dlopen`) or of the C
            // library, which the process's exit must not wait for.
            crate::exit::THREAD_LOST.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        answer
    }

    pub(super) fn answer(self) -> Decided {
        match self {
            Scan::Running(thread, slot) => {
                Scan::join(thread, &slot).unwrap_or((Answer::Failed(AllocError::ScanThread), false))
            }
            Scan::Done(answered) => answered,
        }
    }
}

/// The scan's work: the host's tasks read, the database asked about `uid`, and, when either has
/// it, the next free uid of `range` taken (its database lookups here too, on the scan's thread).
fn decide(uid: u32, range: UidRange, dir: RawFd) -> Answer {
    let (uids, gids) = match super::held::ids_in_use() {
        Ok(held) => held,
        Err(errno) => return Answer::Failed(AllocError::Scan(errno)),
    };
    let busy = Busy { uids, gids };
    if !busy.holds(uid) && !in_user_database(uid) {
        return Answer::Kept;
    }
    // The lease's lock directory, borrowed: the lease keeps it open until this answer is taken
    // (its drop and `settle` wait for the thread first).
    let mut dir = dir;
    let mut reopened = None;
    let start = u64::from(uid - range.first) + 1;
    match take(range, Some(&busy), start, &mut dir, &mut reopened) {
        Ok((taken, file)) => Answer::Swapped {
            uid: taken,
            file,
            dirs: reopened,
        },
        Err(err) => Answer::GaveUp(err),
    }
}

/// Whether `clone3`, which the thread library starts a thread with, answers as the kernel does.
/// An outer seccomp filter that fakes its success (answers 0 without creating anything) would
/// make the thread library take the supervisor for the new thread, and the process would abort
/// with no line of ours. Asked with arguments the kernel refuses before it creates anything (no
/// argument structure: `EFAULT`): any other answer (0, `ENOSYS` under Docker's default profile
/// or gVisor, an errno of a filter) and the scan runs on the supervisor's own thread instead. A
/// filter cannot read `clone3`'s arguments, only the pointer and the size, which are the thread
/// library's own size here.
fn clone3_is_real() -> bool {
    /// `sizeof(struct clone_args)` with the cgroup field (`CLONE_ARGS_SIZE_VER2`), which the
    /// thread library passes.
    const CLONE_ARGS_SIZE: usize = 88;
    // SAFETY: no argument structure: the kernel's first act is to copy it, which fails with
    // EFAULT; nothing is created and no memory of this process is touched.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::null_mut::<libc::c_void>(),
            CLONE_ARGS_SIZE,
        )
    };
    rc == -1 && Errno::last() == Errno::EFAULT
}
