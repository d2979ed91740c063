//! The workload's side: every workload step in boot order, the wait for the release, `execve`.
//! Async-signal-safe throughout.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::SigmaskHow;

use crate::sandbox::die_with_parent;
use crate::sandbox::plan::Plan;
use crate::sandbox::protocol::{encode_kind, fail, send, EXEC_FAILED_MESSAGE, READY};
use crate::steps::{capabilities, identity, no_new_privs, seccomp, session};
use crate::steps::{Call, Step};

/// The workload's side. Never returns.
pub(crate) fn workload_main(plan: &mut Plan, channel: OwnedFd, go: OwnedFd) -> ! {
    match workload_steps(plan, &channel, &go) {
        Ok(never) => match never {},
        Err(Failure::Step(step, call, errno)) => fail(&channel, step, call, errno),
        Err(Failure::Exec(errno)) => {
            let _ = send(&channel, &encode_kind(EXEC_FAILED_MESSAGE, errno as i32));
            // SAFETY: `_exit` ends the workload process; the supervisor reports the exec failure.
            unsafe { libc::_exit(EXEC_FAILED) }
        }
        // The supervisor closed the release pipe without releasing: leave quietly.
        // SAFETY: `_exit` ends the child without running the parent's cleanup.
        Err(Failure::NotReleased) => unsafe { libc::_exit(125) },
    }
}

/// Why the workload process stopped before `execve` succeeded.
enum Failure {
    /// A step failed.
    Step(Step, Call, Errno),
    /// `execve` failed.
    Exec(Errno),
    /// The supervisor did not release the workload.
    NotReleased,
}

impl From<(Step, Call, Errno)> for Failure {
    fn from((step, call, errno): (Step, Call, Errno)) -> Self {
        Failure::Step(step, call, errno)
    }
}

/// Exit code of the workload process when its `execve` failed (the supervisor reports the errno).
const EXEC_FAILED: i32 = 127;

enum Never {}

/// Takes `step` with `apply` when the plan performs it; a failure names the step.
fn take(
    plan: &Plan,
    step: Step,
    apply: impl FnOnce() -> Result<(), (Call, Errno)>,
) -> Result<(), Failure> {
    match plan.performs(step) {
        true => apply().map_err(|(call, errno)| Failure::Step(step, call, errno)),
        false => Ok(()),
    }
}

fn workload_steps(plan: &mut Plan, channel: &OwnedFd, go: &OwnedFd) -> Result<Never, Failure> {
    let _ = die_with_parent();
    // The workload's steps, in boot order: one line each.
    // The workload's pty, if it has one, belongs to the ids it drops to.
    let owner = (plan.identity.as_ref())
        .filter(|_| plan.performs(Step::PrivilegeDrop))
        .map(|(identity, _)| (identity.uid.as_raw(), identity.gid.as_raw()));
    take(plan, Step::Session, || {
        session::apply(plan.terminal.as_ref(), owner)
    })?;
    take(plan, Step::Rlimits, || {
        crate::steps::rlimits::apply_step(&plan.rlimits)
    })?;
    take(plan, Step::Capabilities, || {
        capabilities::apply_before_ids(plan.last_cap, plan.keep_caps)
    })?;
    let drop_planned = plan.performs(Step::PrivilegeDrop);
    if let Some((identity, scratch)) = plan.identity.as_mut().filter(|_| drop_planned) {
        identity::apply(identity, scratch)
            .map_err(|(call, errno)| Failure::Step(Step::PrivilegeDrop, call, errno))?;
    }
    take(plan, Step::Capabilities, || {
        capabilities::apply_after_ids(plan.keep_caps)
    })?;
    // A change of ids clears the parent-death signal: set it again.
    let _ = die_with_parent();
    // Every descriptor above 2 is close-on-exec before any filter could deny the calls needed.
    mark_close_on_exec();
    take(plan, Step::NoNewPrivs, no_new_privs::apply)?;
    // Landlock needs no_new_privs, and goes before the filter (which denies its calls).
    let mut landlock_status = 0;
    if plan.performs(Step::Landlock) {
        if let Some(landlock) = plan.landlock.as_mut() {
            use crate::steps::landlock::LandlockCall;
            landlock_status = landlock.restrict_self().map_err(|errno| {
                Failure::Step(
                    Step::Landlock,
                    Call::Landlock(LandlockCall::RestrictSelf),
                    errno,
                )
            })?;
        }
    }
    if let Some(filter) = &plan.filter {
        take(plan, Step::WorkloadSeccomp, || seccomp::apply(filter))?;
    }
    // Ready: wait, before exec, until the supervisor has verified this process.
    // The workload's pid as it sees it: the supervisor compares it with the pid it sees.
    // The crate's Landlock status rides in the ready message's second byte.
    let mut ready = encode_kind(READY, nix::unistd::getpid().as_raw());
    ready[1] = landlock_status;
    if !send(channel, &ready) {
        return Err(Failure::NotReleased);
    }
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(go.as_raw_fd(), &mut byte) {
            Ok(1) => break,
            Err(Errno::EINTR) => continue,
            _ => return Err(Failure::NotReleased),
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&plan.mask), None);
    // SAFETY: `program`, `argv` and `envp` are NUL-terminated strings owned by `plan`, with
    // NULL-terminated pointer arrays into them, prepared before the clone.
    unsafe {
        libc::execve(
            plan.program.as_ptr(),
            plan.argv.pointers.as_ptr(),
            plan.envp.pointers.as_ptr(),
        )
    };
    Err(Failure::Exec(Errno::last()))
}

/// Marks every descriptor above 2 close-on-exec: `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`, or
/// one `fcntl` per possible descriptor on kernels without it. Async-signal-safe.
fn mark_close_on_exec() {
    // SAFETY: close_range takes integers and changes only this process's descriptor table.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    let top = crate::sandbox::descriptor_top();
    for fd in 3..top {
        // SAFETY: F_SETFD on a descriptor number; EBADF for numbers not open is expected.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
