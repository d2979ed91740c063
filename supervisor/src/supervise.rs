//! Supervision: forward signals to the workload, reap children, pass on the exit status.
//!
//! Single-threaded and handler-free: the forwarded signals and `SIGCHLD` are blocked before the
//! workload is forked (so none is lost in between) and taken with `sigwait`.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals passed on to the workload.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The set of signals the supervisor takes synchronously.
pub fn supervised_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the supervised signals; returns the previous mask, which the workload gets back.
pub fn block_signals() -> Result<SigSet, Errno> {
    let mut previous = SigSet::empty();
    nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&supervised_signals()),
        Some(&mut previous),
    )?;
    Ok(previous)
}

/// How the workload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl Ended {
    /// The supervisor's own exit code: the workload's, or 128+N for signal N.
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Exited(code) => code,
            Ended::Signaled(signal) => 128 + signal as i32,
        }
    }
}

/// Waits for `workload` to end, forwarding signals and reaping any other child (orphans that are
/// re-parented to the supervisor when it runs as PID 1 or as a subreaper).
pub fn supervise(workload: Pid) -> Result<Ended, Errno> {
    let signals = supervised_signals();
    loop {
        if let Some(ended) = reap(workload)? {
            return Ok(ended);
        }
        match signals.wait()? {
            Signal::SIGCHLD => continue,
            signal => {
                tracing::debug!(%signal, pid = workload.as_raw(), "forwarding signal to the workload");
                // ESRCH: the workload is already gone; its status is collected next round.
                match kill(workload, signal) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(errno) => return Err(errno),
                }
            }
        }
    }
}

/// Reaps every child that has ended; returns the workload's status once it has.
fn reap(workload: Pid) -> Result<Option<Ended>, Errno> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(WaitStatus::Exited(pid, code)) if pid == workload => {
                return Ok(Some(Ended::Exited(code)))
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == workload => {
                return Ok(Some(Ended::Signaled(signal)))
            }
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return Err(Errno::ECHILD),
            Err(errno) => return Err(errno),
        }
    }
}
