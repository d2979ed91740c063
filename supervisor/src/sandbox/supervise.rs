//! Supervision: forward signals to the workload, reap children, pass on the exit status.
//!
//! Single-threaded and handler-free: the forwarded signals and `SIGCHLD` are blocked before the
//! workload is forked (so none is lost in between) and taken with `sigwait`.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

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
///
/// `SIGCHLD` also gets its default disposition back: a parent may have exec'd the supervisor with
/// it ignored (or `SA_NOCLDWAIT`), and then the kernel reaps the supervisor's children (and the
/// init's) itself and sends no `SIGCHLD` at all, so that nothing would ever say that the sandbox
/// ended, nor how.
pub fn block_signals() -> Result<SigSet, Errno> {
    let mut previous = SigSet::empty();
    nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&supervised_signals()),
        Some(&mut previous),
    )?;
    let default = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::SigDfl,
        nix::sys::signal::SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the default disposition runs no code of this process.
    unsafe { nix::sys::signal::sigaction(Signal::SIGCHLD, &default) }?;
    Ok(previous)
}

/// How the workload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it: its raw number, real-time signals included (nix's `Signal` has none).
    Signaled(i32),
}

impl Ended {
    /// The supervisor's own exit code: the workload's, or 128+N for signal N.
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Exited(code) => code,
            Ended::Signaled(signal) => 128 + signal,
        }
    }
}

/// A signal's name: `SIGKILL`, `SIGRTMIN+3` for a real-time one (counted from the C library's
/// `SIGRTMIN`, as `kill -s RTMIN+3` names it), `SIG32` for a number with neither.
pub fn signal_name(number: i32) -> String {
    if let Ok(signal) = Signal::try_from(number) {
        return signal.as_str().to_owned();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&number) {
        match number - min {
            0 => "SIGRTMIN".to_owned(),
            offset => format!("SIGRTMIN+{offset}"),
        }
    } else {
        format!("SIG{number}")
    }
}

/// The default `--kill-after`: how long a SIGTERM'd sandbox has before it is SIGKILLed.
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(5);

/// How long the supervisor still waits for the init once it was SIGKILLed, before it gives up
/// and exits anyway (an init stuck in the kernel): nothing waits forever.
pub const REAP_GRACE: Duration = Duration::from_secs(5);

/// How often the supervisor checks a v1 memory group for an OOM kill (v1 kills only one process;
/// the supervisor kills the rest of the sandbox with it).
const OOM_POLL: Duration = Duration::from_millis(100);

/// Parses a duration: a number of seconds (`1.5`), or a number with `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (500ms, 30s, 5m, 1h, or seconds)"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit {unit:?} (ms, s, m or h)"
            ))
        }
    };
    // A number that rounds to no time at all (0.0000000001) is not positive either.
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() && seconds <= 1e9 => Ok(duration),
        _ => Err(format!("{text:?} is not a positive duration")),
    }
}

/// What bounds the sandbox while it runs.
#[derive(Debug, Default)]
pub struct Bounds<'a> {
    /// `--timeout`, from the release.
    pub timeout: Option<Duration>,
    /// `--kill-after` ([`DEFAULT_KILL_AFTER`] when `None`).
    pub kill_after: Option<Duration>,
    /// The sandbox's control group, when it has one: a stop reaches every process in it.
    pub group: Option<&'a crate::steps::cgroup::SandboxGroup>,
}

/// How supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervised {
    /// How the workload ended.
    pub ended: Ended,
    /// `--timeout` expired.
    pub timed_out: bool,
    /// The kernel's OOM killer killed a process of the sandbox (the rest was killed with it).
    pub oom_killed: bool,
    /// The sandbox was SIGKILLed after `--kill-after`.
    pub escalated: bool,
}

impl Supervised {
    /// The supervisor's exit code: 124 after a timeout, else the workload's.
    pub fn exit_code(&self) -> i32 {
        if self.timed_out {
            crate::exit::ExitCode::TimedOut.code()
        } else {
            self.ended.exit_code()
        }
    }
}

/// Sends `signal` to the whole sandbox: the init (which passes it on to the workload) and, with a
/// group, every other process in it. A SIGKILL takes the init, whose PID namespace then ends.
fn signal_sandbox(sandbox: &Sandbox, bounds: &Bounds<'_>, signal: Signal) {
    let _ = kill(sandbox.init, signal);
    if let Some(group) = bounds.group {
        for path in group.groups.iter().map(|g| &g.path) {
            match signal {
                Signal::SIGKILL => crate::steps::cgroup::kill_all(path),
                _ => crate::steps::cgroup::signal_all(path, signal, Some(sandbox.init)),
            }
        }
    }
}

/// The supervision of the running sandbox, with a deadline (`--timeout`), stop escalation
/// (`--kill-after`) and, for a v1 memory group, the whole sandbox killed on an OOM kill.
///
/// A TERM, INT or HUP to the supervisor is forwarded as always, and starts the `--kill-after`
/// clock: when the sandbox has not ended by then, it is SIGKILLed. After a SIGKILL the supervisor
/// waits at most [`REAP_GRACE`] for the init, then returns anyway.
pub fn supervise_bounded(
    sandbox: Sandbox,
    bounds: &Bounds<'_>,
    output: &mut crate::sandbox::output::Output,
) -> Result<Supervised, Errno> {
    let signals = supervised_signals();
    let mut signal_fd = None;
    let kill_after = bounds.kill_after.unwrap_or(DEFAULT_KILL_AFTER);
    let started = Instant::now();
    let deadline = bounds.timeout.map(|timeout| started + timeout);
    let mut kill_at: Option<Instant> = None;
    let mut killed_at: Option<Instant> = None;
    let mut supervised = Supervised {
        ended: Ended::Exited(0),
        timed_out: false,
        oom_killed: false,
        escalated: false,
    };
    let v1_memory = bounds.group.filter(|group| {
        group.groups.iter().any(|g| {
            g.version == crate::steps::cgroup::Version::V1 && g.controllers.contains(&"memory")
        })
    });
    loop {
        if let Some(ended) = reaped(&sandbox, output)? {
            supervised.ended = ended;
            return Ok(finish(supervised, bounds));
        }
        let now = Instant::now();
        if let Some(group) = v1_memory {
            if killed_at.is_none() && group.under_oom() {
                tracing::debug!(
                    "the sandbox's memory group is out of memory: killing the whole sandbox"
                );
                supervised.oom_killed = true;
                group.record_oom_kill();
                signal_sandbox(&sandbox, bounds, Signal::SIGKILL);
                killed_at = Some(now);
            }
        }
        if deadline.is_some_and(|deadline| now >= deadline) && !supervised.timed_out {
            supervised.timed_out = true;
            tracing::warn!(timeout_ms = bounds.timeout.map_or(0, |t| t.as_millis() as u64), "the workload ran past --timeout: SIGTERM to the whole sandbox, SIGKILL in {kill_after:?}");
            signal_sandbox(&sandbox, bounds, Signal::SIGTERM);
            kill_at.get_or_insert(now + kill_after);
        }
        if kill_at.is_some_and(|at| now >= at) && killed_at.is_none() {
            tracing::warn!("the sandbox did not end within --kill-after of its SIGTERM: SIGKILL to the whole sandbox");
            supervised.escalated = true;
            signal_sandbox(&sandbox, bounds, Signal::SIGKILL);
            killed_at = Some(now);
        }
        if killed_at.is_some_and(|at| now >= at + REAP_GRACE) {
            tracing::error!(init = sandbox.init.as_raw(), "the sandbox's init did not end within {REAP_GRACE:?} of its SIGKILL; the supervisor exits without it");
            supervised.ended = Ended::Signaled(libc::SIGKILL);
            return Ok(finish(supervised, bounds));
        }
        // Sleep until a signal, or the next moment something is due.
        let wake = [
            deadline.filter(|_| !supervised.timed_out),
            kill_at.filter(|_| killed_at.is_none()),
            killed_at.map(|at| at + REAP_GRACE),
            (v1_memory.is_some() && killed_at.is_none()).then(|| now + OOM_POLL),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = wake.map(|at| at.saturating_duration_since(now));
        let waited = if output.relays() {
            output.wait(&signals, timeout, &mut signal_fd)?
        } else {
            wait_signal(&signals, timeout)?
        };
        let signal = match waited {
            Some(signal) => signal,
            None => continue,
        };
        if on_signal(signal, &sandbox, output)? {
            kill_at.get_or_insert(Instant::now() + kill_after);
        }
    }
}

/// Passes `signal` on to the sandbox; returns whether it asks the sandbox to stop (it then has
/// `--kill-after` to end). A stop stops the sandbox, then the supervisor (the operator's
/// terminal gets its modes back meanwhile); a resize of the operator's terminal goes to the
/// workload's pty when it has one.
fn on_signal(
    signal: Signal,
    sandbox: &Sandbox,
    output: &mut crate::sandbox::output::Output,
) -> Result<bool, Errno> {
    match signal {
        Signal::SIGCHLD => return Ok(false),
        stop @ (Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) => {
            // The init stops the sandbox, then the supervisor stops as the shell expects.
            tracing::debug!(signal = %stop, "stopping the sandbox and the supervisor");
            let _ = kill(sandbox.init, Signal::SIGTSTP);
            if let Some(terminal) = output.terminal() {
                terminal.restore();
            }
            let _ = nix::sys::signal::raise(Signal::SIGSTOP);
            if let Some(terminal) = output.terminal() {
                terminal.resume();
            }
            return Ok(false);
        }
        Signal::SIGWINCH if output.terminal().is_some() => {
            output.terminal().expect("checked").resize();
            return Ok(false);
        }
        Signal::SIGCONT => {
            if let Some(terminal) = output.terminal() {
                terminal.resume();
            }
        }
        _ => {}
    }
    tracing::debug!(%signal, init = sandbox.init.as_raw(), "forwarding signal to the sandbox");
    // ESRCH: the init is already gone; its status is collected next round.
    match kill(sandbox.init, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => return Err(errno),
    }
    // A request to stop: the sandbox has --kill-after to end.
    Ok(matches!(
        signal,
        Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP
    ))
}

/// The workload's end once the init has ended, after what the sandbox wrote is relayed; `None`
/// while it runs.
fn reaped(
    sandbox: &Sandbox,
    output: &mut crate::sandbox::output::Output,
) -> Result<Option<Ended>, Errno> {
    let init = match waitpid(sandbox.init, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ended::Exited(code),
        Ok(WaitStatus::Signaled(_, signal, _)) => Ended::Signaled(signal as i32),
        Ok(_) | Err(Errno::EINTR) => return Ok(None),
        Err(errno) => return Err(errno),
    };
    output.drain();
    Ok(Some(workload_status(sandbox, init)))
}

/// Notes an OOM kill the kernel counted (v2 kills the whole group itself, `memory.oom.group`).
fn finish(mut supervised: Supervised, bounds: &Bounds<'_>) -> Supervised {
    if let Some(kills) = bounds.group.and_then(|group| group.oom_kills()) {
        supervised.oom_killed |= kills > 0;
    }
    supervised
}

/// Waits for one of `signals` (blocked) for at most `timeout` (forever with `None`); `None` when
/// the time ran out or the wait was interrupted.
fn wait_signal(signals: &SigSet, timeout: Option<Duration>) -> Result<Option<Signal>, Errno> {
    let Some(timeout) = timeout else {
        return signals.wait().map(Some);
    };
    let spec = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the set is a valid sigset_t, the info pointer may be null, and `spec` is a valid
    // timespec; sigtimedwait only reads them.
    let number = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &spec) };
    match Errno::result(number) {
        Ok(number) => Ok(Signal::try_from(number).ok()),
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(None),
        Err(errno) => Err(errno),
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
                Ended::Signaled(libc::WTERMSIG(status))
            } else {
                Ended::Exited(libc::WEXITSTATUS(status))
            }
        }
        _ => init,
    }
}
