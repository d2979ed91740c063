//! Supervision: forward signals to the workload, reap children, pass on the exit status.
//!
//! Single-threaded and handler-free: the forwarded signals and `SIGCHLD` are blocked before the
//! workload is forked (so none is lost in between) and taken with `sigwait`.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::AsRawFd;

use crate::sandbox::Sandbox;

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

/// Job-control signals: a stop asked of the supervisor stops the whole sandbox, a continue
/// continues it (the workload runs in a session of its own, where the terminal cannot stop it).
pub const JOB_CONTROL: [Signal; 4] = [
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGCONT,
];

/// The set of signals the supervisor takes synchronously.
pub fn supervised_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED.into_iter().chain(JOB_CONTROL) {
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

/// Waits for the sandbox's init to end, forwarding signals to it (the init passes them on to the
/// workload), and returns how the workload ended, as the init reported it.
pub fn supervise(sandbox: Sandbox) -> Result<Ended, Errno> {
    let signals = supervised_signals();
    loop {
        match waitpid(sandbox.init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(WaitStatus::Exited(_, code)) => {
                return Ok(workload_status(&sandbox, Ended::Exited(code)))
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return Ok(workload_status(&sandbox, Ended::Signaled(signal)))
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
        match signals.wait()? {
            Signal::SIGCHLD => continue,
            stop @ (Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) => {
                // The init stops the sandbox, then the supervisor stops as the shell expects.
                tracing::debug!(signal = %stop, "stopping the sandbox and the supervisor");
                let _ = kill(sandbox.init, Signal::SIGTSTP);
                let _ = nix::sys::signal::raise(Signal::SIGSTOP);
            }
            signal => {
                tracing::debug!(%signal, init = sandbox.init.as_raw(), "forwarding signal to the sandbox");
                // ESRCH: the init is already gone; its status is collected next round.
                match kill(sandbox.init, signal) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(errno) => return Err(errno),
                }
            }
        }
    }
}

/// The workload's end as the init wrote it, or, when the init died without writing it (killed
/// from outside), the init's own end.
fn workload_status(sandbox: &Sandbox, init: Ended) -> Ended {
    let mut raw = [0u8; 4];
    match nix::unistd::read(sandbox.ended.as_raw_fd(), &mut raw) {
        Ok(4) => {
            let status = i32::from_ne_bytes(raw);
            if libc::WIFSIGNALED(status) {
                Signal::try_from(libc::WTERMSIG(status))
                    .map(Ended::Signaled)
                    .unwrap_or(Ended::Exited(128 + libc::WTERMSIG(status)))
            } else {
                Ended::Exited(libc::WEXITSTATUS(status))
            }
        }
        _ => init,
    }
}
