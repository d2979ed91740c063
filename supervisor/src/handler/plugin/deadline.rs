//! The load deadline (a `SIGALRM` timer) and the checks that a plugin left no thread or process
//! behind.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

/// The processes whose parent is `parent`, found by scanning `/proc/*/stat` (the kernel here may
/// lack `/proc/PID/task/TID/children`). A zombie is still listed.
pub fn children_of(parent: Pid) -> Vec<Pid> {
    // Scanning /proc costs about a millisecond per hundred processes on the host; the calling
    // process can ask the kernel first whether it has any child at all.
    if parent == nix::unistd::getpid() && !has_children() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "PID (COMM) STATE PPID ...": COMM may contain anything, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if ppid == Some(parent.as_raw()) {
            children.push(Pid::from_raw(pid));
        }
    }
    children
}

/// Whether the calling process has a child, in any state: `waitid(P_ALL, WNOHANG|WNOWAIT)` answers
/// `ECHILD` exactly when it has none, and reaps nothing.
pub(crate) fn has_children() -> bool {
    // SAFETY: all-zero bytes are a valid `siginfo_t`, which waitid fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for waitid to write; the flags only ask, they reap nothing.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED
                | libc::WSTOPPED
                | libc::WCONTINUED
                | libc::WNOHANG
                | libc::WNOWAIT
                | libc::__WALL,
        )
    };
    !(rc == -1 && Errno::last() == Errno::ECHILD)
}

/// Makes the supervisor a child subreaper while a plugin loads; restores the previous setting.
pub(crate) struct SubreaperGuard {
    pub(crate) previous: Option<bool>,
}

impl SubreaperGuard {
    pub(crate) fn enable() -> Self {
        let previous = nix::sys::prctl::get_child_subreaper().ok();
        if previous == Some(false) {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        SubreaperGuard { previous }
    }
}

impl Drop for SubreaperGuard {
    fn drop(&mut self) {
        if self.previous == Some(false) {
            let _ = nix::sys::prctl::set_child_subreaper(false);
        }
    }
}

/// The line the `SIGALRM` handler writes: a leaked buffer, replaced (never freed) as loading
/// moves from the constructors to `init` and `tolerates`.
pub(crate) static DEADLINE_LINE: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_load_deadline(_signal: libc::c_int) {
    let line = DEADLINE_LINE.load(Ordering::SeqCst);
    if !line.is_null() {
        // SAFETY: a non-null pointer here is a leaked `Box<Vec<u8>>` that is never freed or
        // changed after it was published; reading its pointer and length allocates nothing.
        let line = unsafe { &*line };
        // SAFETY: `write` is async-signal-safe; the buffer is valid for `line.len()` bytes.
        unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: `_exit` is async-signal-safe and ends the process without running plugin code.
    unsafe { libc::_exit(crate::exit::ExitCode::PluginFailure.code()) }
}

/// A `SIGALRM` timer that ends the process with one line and the plugin-failure code when
/// loading takes longer than the deadline. Dropping it disarms the timer and restores the previous
/// handler and signal mask.
pub(crate) struct LoadDeadline {
    pub(crate) previous: signal::SigAction,
    pub(crate) previous_mask: SigSet,
}

impl LoadDeadline {
    pub(crate) fn arm(timeout: Duration, line: String) -> Result<Self, Errno> {
        Self::publish(line);
        let action = signal::SigAction::new(
            SigHandler::Handler(on_load_deadline),
            signal::SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only reads a published, never-freed buffer and calls the
        // async-signal-safe `write` and `_exit`.
        let previous = unsafe { signal::sigaction(Signal::SIGALRM, &action) }?;
        let mut unblock = SigSet::empty();
        unblock.add(Signal::SIGALRM);
        let mut previous_mask = SigSet::empty();
        signal::sigprocmask(
            signal::SigmaskHow::SIG_UNBLOCK,
            Some(&unblock),
            Some(&mut previous_mask),
        )?;
        let guard = LoadDeadline {
            previous,
            previous_mask,
        };
        set_timer(timeout)?;
        Ok(guard)
    }

    pub(crate) fn publish(line: String) {
        let text = format!("sandbox-supervisor: error: {line}\n").into_bytes();
        // Leaked on purpose: the handler may be reading the previous line right now.
        DEADLINE_LINE.store(Box::into_raw(Box::new(text)), Ordering::SeqCst);
    }

    /// Changes the line the handler writes (the deadline stays the same).
    pub(crate) fn say(&self, line: String) {
        Self::publish(line);
    }
}

impl Drop for LoadDeadline {
    fn drop(&mut self) {
        let _ = set_timer(Duration::ZERO);
        // SAFETY: restores the disposition that was in place before `arm`.
        let _ = unsafe { signal::sigaction(Signal::SIGALRM, &self.previous) };
        let _ = signal::sigprocmask(
            signal::SigmaskHow::SIG_SETMASK,
            Some(&self.previous_mask),
            None,
        );
        DEADLINE_LINE.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Arms (or, with zero, disarms) the real-time interval timer once.
pub(crate) fn set_timer(timeout: Duration) -> Result<(), Errno> {
    let value = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
        },
    };
    // SAFETY: `value` is a valid itimerval and the old value is not asked for (null).
    let result = unsafe { libc::setitimer(libc::ITIMER_REAL, &value, std::ptr::null_mut()) };
    Errno::result(result).map(drop)
}
