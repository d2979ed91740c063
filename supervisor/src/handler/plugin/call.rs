//! Calling the plugin: each decision in a forked child, under a deadline, its answer read back
//! through a pipe and checked against the host's floor.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use abi_stable::std_types::RResult;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use sandbox_plugin_api::ffi::{with_report_ffi, HandlerExtV1Ref, HandlerModRef};

use crate::handler::{
    FailureReport, HandlerFailure, Ruling, SandboxFailureHandler, SandboxFailureKind, Verdict,
};

use super::*;

/// A loaded, initialised plugin, usable as the process's failure handler.
pub struct PluginHandler {
    pub(crate) module: HandlerModRef,
    pub(crate) extension_v1: Option<HandlerExtV1Ref>,
    pub(crate) api_version: String,
    pub(crate) decider: String,
    pub(crate) declared: Vec<SandboxFailureKind>,
    pub(crate) timeout: Duration,
    /// The SHA-256 of the file loaded, when the request pinned it or asked for it.
    pub(crate) sha256: Option<[u8; 32]>,
}

impl std::fmt::Debug for PluginHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandler")
            .field("decider", &self.decider)
            .field("declared", &self.declared)
            .field("api_version", &self.api_version)
            .field("extension_v1", &self.extension_v1.is_some())
            .finish_non_exhaustive()
    }
}

impl SandboxFailureHandler for PluginHandler {
    fn decider(&self) -> String {
        self.decider.clone()
    }

    fn declared(&self) -> Vec<SandboxFailureKind> {
        self.declared.clone()
    }

    fn handle(&self, report: &FailureReport) -> Result<Verdict, HandlerFailure> {
        self.decide(report).map(|ruling| ruling.verdict)
    }

    fn decide(&self, report: &FailureReport) -> Result<Ruling, HandlerFailure> {
        let mut report = report.clone();
        report.context.supervisor_version = Some(env!("CARGO_PKG_VERSION").to_owned());
        report.context.plugin_api_version = Some(sandbox_plugin_api::VERSION.to_owned());
        let mut ruling = self.call_in_child(&report)?;
        // A plugin built before this kind existed was never asked: its glue answered abort.
        if ruling.reason.is_none() && !self.knows(report.kind) {
            ruling.reason = Some(format!(
                "built against sandbox-plugin-api {}, which has no {} kind (added in {})",
                self.api_version,
                report.kind,
                report.kind.since()
            ));
        }
        Ok(ruling)
    }
}

/// What the `handle` child writes to its pipe.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChildAnswer {
    /// The verdict code, when the plugin answered one.
    pub(crate) verdict: Option<u32>,
    /// `(panicked, message)` when the plugin returned an error.
    pub(crate) error: Option<(bool, String)>,
    /// The plugin's reason (extension v1 only).
    pub(crate) reason: Option<String>,
    /// Threads in the child after the call.
    pub(crate) threads: usize,
    /// A process the plugin started during the call (killed by the child), if any.
    pub(crate) process: Option<i32>,
}

/// The most a `handle` child may write; a longer answer is a plugin failure.
pub(crate) const ANSWER_CAP: usize = 64 * 1024;

impl PluginHandler {
    /// The SHA-256 of the file that was loaded, hashed once from the descriptor the loader
    /// mapped, when the request pinned it or asked for it ([`PluginRequest::digest`]).
    pub fn sha256(&self) -> Option<[u8; 32]> {
        self.sha256
    }

    pub(crate) fn failure(&self, reason: String) -> HandlerFailure {
        HandlerFailure {
            decider: self.decider.clone(),
            reason,
        }
    }

    /// The plugin function a decision calls: extension v1's `decide`, or the base `handle`. A
    /// failure line names the one that was called.
    pub(crate) fn function(&self) -> &'static str {
        if self.extension_v1.is_some() {
            "decide"
        } else {
            "handle"
        }
    }

    /// Calls the plugin's `handle` (or extension v1's `decide`) in a forked child, waits for its answer until the deadline and
    /// kills the child's process group afterwards.
    pub(crate) fn call_in_child(&self, report: &FailureReport) -> Result<Ruling, HandlerFailure> {
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|errno| self.failure(format!("could not be called: pipe2 failed: {errno}")))?;
        // SAFETY: the supervisor is single-threaded (checked after loading; plugin calls run only
        // in children like this one), so the child may allocate and run the plugin; it never
        // returns from `answer_in_child`, which ends with `_exit`.
        match unsafe { nix::unistd::fork() } {
            Err(errno) => Err(self.failure(format!("could not be called: fork failed: {errno}"))),
            Ok(ForkResult::Child) => {
                drop(reader);
                self.answer_in_child(report, writer)
            }
            Ok(ForkResult::Parent { child }) => {
                drop(writer);
                // Also set in the child: whichever runs first, the child leads its own group
                // before the parent may kill that group.
                let _ = nix::unistd::setpgid(child, child);
                let answer = read_until(reader, Instant::now() + self.timeout);
                // Everything the call started dies with it. Kill the group only when the child
                // really leads it: never the supervisor's own group. The child is not reaped yet,
                // so its pid (and group id) cannot have been reused.
                if nix::unistd::getpgid(Some(child)) == Ok(child) {
                    let _ = signal::killpg(child, Signal::SIGKILL);
                } else {
                    let _ = signal::kill(child, Signal::SIGKILL);
                }
                let status = reap(child);
                let bytes = match answer {
                    Ok(bytes) => bytes,
                    Err(ReadFailure::Timeout) => {
                        return Err(self.failure(format!(
                        "did not answer {} within {:?} (--handler-timeout); the call was killed",
                        self.function(),
                        self.timeout
                    )))
                    }
                    Err(ReadFailure::TooLong) => {
                        return Err(self.failure(format!(
                            "answered {} with more than 64 KiB",
                            self.function()
                        )))
                    }
                    Err(ReadFailure::Io(errno)) => {
                        return Err(self.failure(format!(
                            "could not be called: reading its answer failed: {errno}"
                        )))
                    }
                };
                let answer: ChildAnswer = serde_json::from_slice(&bytes).map_err(|_| {
                    self.failure(format!(
                        "ended {} without answering ({})",
                        self.function(),
                        describe_status(status)
                    ))
                })?;
                self.ruling_of(answer)
            }
        }
    }

    /// Whether the plugin's API release knows `kind` (an older plugin's glue aborts without
    /// asking its policy).
    pub(crate) fn knows(&self, kind: SandboxFailureKind) -> bool {
        let parse = |text: &str| -> Option<(u64, u64, u64)> {
            let mut parts = text
                .split(['.', '-', '+'])
                .map(|part| part.parse::<u64>().ok());
            Some((parts.next()??, parts.next()??, parts.next()??))
        };
        match (parse(&self.api_version), parse(kind.since())) {
            (Some(plugin), Some(since)) => plugin >= since,
            _ => true,
        }
    }

    pub(crate) fn ruling_of(&self, answer: ChildAnswer) -> Result<Ruling, HandlerFailure> {
        if let Some((panicked, message)) = answer.error {
            return Err(self.failure(if panicked {
                format!("panicked in {}: {message}", self.function())
            } else {
                format!("returned an error from {}: {message}", self.function())
            }));
        }
        if answer.threads != 1 {
            return Err(self.failure(format!(
                "started threads in {} (the supervisor now has {})",
                self.function(),
                answer.threads
            )));
        }
        if let Some(pid) = answer.process {
            return Err(self.failure(format!(
                "started a process (pid {pid}) in {}; plugins must not start processes",
                self.function()
            )));
        }
        let code = answer.verdict.unwrap_or(u32::MAX);
        let verdict = Verdict::from_code(code).ok_or_else(|| {
            self.failure(format!(
                "returned verdict {code}, which is neither abort (0) nor tolerate (1)"
            ))
        })?;
        Ok(Ruling {
            verdict,
            reason: answer.reason.as_deref().map(clean_reason),
        })
    }

    /// The `handle` child: calls the plugin, writes the answer, `_exit`s.
    pub(crate) fn answer_in_child(&self, report: &FailureReport, writer: OwnedFd) -> ! {
        let body = || {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            // A double fork in the plugin leaves its orphan with this child, where it is seen.
            let _ = nix::sys::prctl::set_child_subreaper(true);
            let mut answer = ChildAnswer::default();
            let result = match self.extension_v1 {
                Some(extension) => with_report_ffi(report, |ffi| (extension.decide())(ffi))
                    .map(|ruling| (ruling.verdict, ruling.reason.into_option())),
                // The documented default for a plugin without extension v1: no reason.
                None => with_report_ffi(report, |ffi| (self.module.handle())(ffi))
                    .map(|code| (code, None)),
            };
            match result {
                RResult::ROk((code, reason)) => {
                    answer.verdict = Some(code);
                    answer.reason = reason.map(|reason| reason.into_string());
                }
                RResult::RErr(err) => {
                    answer.error = Some((err.panicked, err.message.into_string()));
                }
            }
            answer.threads = crate::procfs::thread_count();
            let started = children_of(nix::unistd::getpid());
            answer.process = started.first().map(|pid| pid.as_raw());
            for pid in started {
                let _ = signal::kill(pid, Signal::SIGKILL);
            }
            serde_json::to_vec(&answer).unwrap_or_default()
        };
        let bytes =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_default();
        let mut pipe = File::from(writer);
        let _ = pipe.write_all(&bytes);
        drop(pipe);
        // SAFETY: `_exit` ends this forked child at once: it must not return into the
        // supervisor's code, run its exit handlers or flush buffers it shares with the parent.
        unsafe { libc::_exit(0) }
    }
}

/// A plugin's reason as the supervisor shows it: one line (control characters become spaces), at
/// most [`Ruling::REASON_MAX`] characters.
pub fn clean_reason(reason: &str) -> String {
    let mut clean: String = reason
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(Ruling::REASON_MAX)
        .collect();
    if reason.trim().chars().count() > Ruling::REASON_MAX {
        clean.push('…');
    }
    clean
}

#[derive(Debug)]
pub(crate) enum ReadFailure {
    Timeout,
    TooLong,
    Io(Errno),
}

/// Reads `reader` to its end, or fails at `deadline`.
pub(crate) fn read_until(reader: OwnedFd, deadline: Instant) -> Result<Vec<u8>, ReadFailure> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFailure::Timeout);
        }
        let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => return Err(ReadFailure::Io(errno)),
        }
        match nix::unistd::read(reader.as_raw_fd(), &mut buffer) {
            Ok(0) => return Ok(bytes),
            Ok(read) => {
                bytes.extend_from_slice(&buffer[..read]);
                if bytes.len() > ANSWER_CAP {
                    return Err(ReadFailure::TooLong);
                }
            }
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(errno) => return Err(ReadFailure::Io(errno)),
        }
    }
}

/// Waits for `child` (any kind of child: `__WALL`).
pub(crate) fn reap(child: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(child, Some(WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(status) => return Some(status),
            Err(_) => return None,
        }
    }
}

pub(crate) fn describe_status(status: Option<WaitStatus>) -> String {
    match status {
        Some(WaitStatus::Exited(_, code)) => format!("the call exited with code {code}"),
        Some(WaitStatus::Signaled(_, signal, _)) => format!("the call was killed by {signal}"),
        _ => "the call ended".to_owned(),
    }
}
