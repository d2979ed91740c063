//! The sandbox's init: PID 1 of the sandbox's PID namespace. It dies with the supervisor, takes
//! the init's steps (the mount namespace), forks the workload, then hardens itself and stays
//! PID 1 until the workload ends. Async-signal-safe throughout.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sandbox::plan::Plan;
use crate::sandbox::protocol::fail;
use crate::sandbox::workload::workload_main;
use crate::sandbox::{die_with_parent, raw_clone};
use crate::steps::capabilities as caps;
use crate::steps::mount;
use crate::steps::{Call, Step};

/// Takes `step` with `apply` when the plan performs it; a failure is sent, naming the step, and
/// ends the init.
fn take(
    plan: &Plan,
    channel: &OwnedFd,
    step: Step,
    apply: impl FnOnce() -> Result<(), (Call, Errno)>,
) {
    if plan.performs(step) {
        if let Err((call, errno)) = apply() {
            fail(channel, step, call, errno);
        }
    }
}

/// The sandbox's init. Never returns.
pub(crate) fn init_main(plan: &mut Plan, channel: OwnedFd, go: OwnedFd, ended: OwnedFd) -> ! {
    if let Err(errno) = die_with_parent() {
        fail(&channel, Step::PidNamespace, Call::ClonePid, errno);
    }
    // Seekable output reaches the sandbox only through the supervisor's relay.
    plan.output.apply();
    if !plan.performs(Step::PidNamespace) {
        // Without a PID namespace of its own the init still reaps the workload's orphans.
        // SAFETY: PR_SET_CHILD_SUBREAPER takes integers and changes only the calling process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // The init's steps, in boot order: one line each.
    // It joins the control group first: it is counted there, and the workload is born inside.
    take(plan, &channel, Step::Cgroup, || {
        crate::steps::cgroup::apply(&plan.cgroup_fds, plan.cgroup_born_in)
    });
    // PID and IPC namespaces come together: without them the IPC namespace is the host's.
    let own_ipc = plan.performs(Step::PidNamespace);
    if plan.performs(Step::FilesystemView) {
        // The view builds its own /proc, /dev and scratch space in the private namespace.
        take(plan, &channel, Step::MountNamespace, mount::private);
        view(plan, &channel, own_ipc);
    } else {
        take(plan, &channel, Step::MountNamespace, || {
            mount::apply(plan.fresh_sys, own_ipc)
        });
    }
    // Landlock's rules for the mounts the view just made (inode-based: only now do they exist).
    if let Some(landlock) = plan.landlock.as_ref() {
        let view_built = plan.performs(Step::FilesystemView);
        take(plan, &channel, Step::Landlock, || {
            landlock
                .add_init_rules(view_built)
                .map_err(|(call, errno)| (Call::Landlock(call), errno))
        });
    }
    // The working directory was resolved in the supervisor's mount tree: a directory under the
    // host's /proc would stay the host's /proc after the fresh one is mounted. Resolve it again
    // (or fall back to /).
    let cwd = plan.cwd.as_deref().unwrap_or(c"/");
    // SAFETY: `cwd` and the literal are NUL-terminated strings.
    if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
        // SAFETY: as above.
        unsafe { libc::chdir(c"/".as_ptr()) };
    }
    open_terminal(plan, &channel);
    // SAFETY: as for the init's own clone: this process is single-threaded, and the child runs
    // `workload_main`, which ends in `execve` or `_exit`.
    let (rc, faked) = raw_clone(libc::SIGCHLD as libc::c_ulong);
    if faked {
        fail(
            &channel,
            Step::PidNamespace,
            Call::VerifyClone,
            Errno::UnknownErrno,
        );
    }
    let workload = match Errno::result(rc) {
        Ok(0) => {
            drop(ended);
            workload_main(plan, channel, go)
        }
        Ok(pid) => Pid::from_raw(pid as libc::pid_t),
        // SAFETY: `_exit` ends the init; the supervisor sees end of file and a dead sandbox.
        Err(_) => unsafe { libc::_exit(125) },
    };
    // The init keeps no end of the handshake: end of file then means the workload exec'd or died.
    drop(channel);
    // Nor a terminal: the operator's never reaches past it, the sandbox's is the workload's.
    if let Some(terminal) = plan.terminal.as_ref() {
        crate::sandbox::pty::release_in_init(terminal);
    }
    drop(go);
    harden_init(plan.last_cap, ended.as_raw_fd());
    let status = init_loop(workload, plan.performs(Step::PidNamespace));
    // SAFETY: `status` is valid for 4 bytes of reads; `ended` is the pipe's open write end.
    let _ = unsafe { libc::write(ended.as_raw_fd(), (&status as *const i32).cast(), 4) };
    // SAFETY: `_exit` ends the init; as PID 1 of the namespace it takes every process left in it.
    unsafe { libc::_exit(0) }
}

/// A pty of the sandbox's own when a standard descriptor is the operator's terminal: opened here,
/// in the sandbox's mount namespace (its own devpts when the view mounted one), its master sent to
/// the supervisor, its slave kept for the workload. A failure is charged to the session.
fn open_terminal(plan: &mut Plan, channel: &OwnedFd) {
    use crate::sandbox::protocol::{encode_kind, send_with_fd, TERMINAL_MESSAGE};
    let Some(terminal) = plan.terminal.as_mut() else {
        return;
    };
    match crate::sandbox::pty::open() {
        Ok((master, slave, number)) => {
            terminal.slave = slave;
            let message = encode_kind(TERMINAL_MESSAGE, number as i32);
            if !send_with_fd(channel, &message, master.as_raw_fd()) {
                fail(channel, Step::Session, Call::OpenPty, Errno::last());
            }
        }
        Err((call, errno)) => fail(channel, Step::Session, call, errno),
    }
}

/// Builds the filesystem view; a failure is charged to the view, or to the mount namespace for
/// its `/proc`, and ends the init.
fn view(plan: &Plan, channel: &OwnedFd, own_ipc: bool) {
    use crate::steps::view::{Charge, ViewCall};
    let Some(view) = plan.view.as_ref() else {
        return;
    };
    if let Err((charge, call, errno)) = view.apply(own_ipc) {
        match (charge, call) {
            (Charge::View, call) => fail(channel, Step::FilesystemView, Call::View(call), errno),
            (Charge::Proc, ViewCall::Open | ViewCall::OpenTree)
            | (Charge::Proc, ViewCall::SetAttr | ViewCall::MoveMount) => fail(
                channel,
                Step::MountNamespace,
                Call::MountProcReadOnly,
                errno,
            ),
            (Charge::Proc, _) => fail(channel, Step::MountNamespace, Call::MountProc, errno),
        }
    }
}

/// The only capability the init keeps once the workload exists: it signals the workload (and, for
/// job control, every process of the namespace), which may run as another uid.
pub(crate) const INIT_CAPABILITY: u32 = 5; // CAP_KILL

/// Once the workload exists, the init keeps nothing it does not need: no descriptor but its status
/// pipe, no capability but `CAP_KILL`, no way to gain one (no_new_privs), and it is not dumpable
/// (its `/proc/1` entries belong to root, and no same-uid workload may open its memory). The
/// workload could otherwise reach a root process with every capability as its PID 1.
/// Async-signal-safe; best effort: the supervisor verifies the result from `/proc` before it
/// releases the workload.
fn harden_init(last_cap: u32, keep_fd: i32) {
    // SAFETY: PR_SET_DUMPABLE takes integers and changes only the calling process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    for (first, last) in [(3, keep_fd - 1), (keep_fd + 1, i32::MAX)] {
        if first <= last {
            // SAFETY: close_range takes integers and closes only this process's descriptors.
            let rc = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0) };
            if rc != 0 {
                close_one_by_one(first, last);
            }
        }
    }
    // CAP_KILL only if the caller passed it on: a capability the init never held cannot be kept,
    // and asking for it would make capset refuse the whole call, leaving every inherited
    // inheritable or ambient capability in place. (The parent refused a caller without it whose
    // workload runs as another uid.)
    let keep = (1u64 << INIT_CAPABILITY) & caps::permitted().unwrap_or(0);
    let _ = caps::drop_bounding_and_ambient(last_cap, keep);
    let _ = caps::clear_sets(keep);
    let _ = crate::steps::no_new_privs::set();
}

/// Closes the descriptors from `first` to `last` one at a time, where `close_range` is refused (a
/// kernel before 5.9, an outer filter): those `/proc/self/fd` lists, or, where it cannot be read,
/// every number below the soft descriptor limit (the supervisor's, which no descriptor it opened
/// can pass). Listing first keeps the time bounded by the descriptors held, not by the limit: a
/// soft limit of 1048576 (Docker's default) took ~200 ms of closes, longer than the supervisor
/// waits for the init to drop its capabilities, and every boot was refused. Async-signal-safe.
/// What is left open (a caller's descriptor above that limit, a `close` or `getdents64` that only
/// answered success) the supervisor's verification finds (`/proc/INIT/fd`).
fn close_one_by_one(first: i32, last: i32) {
    if close_listed(first, last) {
        return;
    }
    let top = crate::sandbox::descriptor_top();
    for fd in first..=last.min(top - 1) {
        // SAFETY: close of a descriptor number; EBADF for numbers not open is expected.
        unsafe { libc::close(fd) };
    }
}

/// Closes the descriptors from `first` to `last` that `/proc/self/fd` lists (`crate::dirents`:
/// `getdents64` into a buffer on the stack, async-signal-safe); false when the directory cannot
/// be opened or read, or lists nothing.
fn close_listed(first: i32, last: i32) -> bool {
    // SAFETY: the literal is NUL-terminated; open takes it and integers.
    let dir = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return false;
    }
    let mut buffer = [0u8; 4096];
    let mut listed_any = false;
    let read = crate::dirents::each(dir, &mut buffer, |name, _| {
        listed_any = true;
        let fd = name.to_str().ok().and_then(|name| name.parse::<i32>().ok());
        if let Some(fd) = fd.filter(|&fd| fd != dir && (first..=last).contains(&fd)) {
            // SAFETY: close of a descriptor number this process lists.
            unsafe { libc::close(fd) };
        }
    });
    // SAFETY: `dir` is open and this function's own.
    unsafe { libc::close(dir) };
    // A listing without even its own descriptor is a `getdents64` that only answered success.
    read.is_ok() && listed_any
}

/// The init's work once the workload exists: forward the supervised signals to it, reap every
/// child, and return the workload's raw wait status once it has ended.
fn init_loop(workload: Pid, own_pid_namespace: bool) -> i32 {
    let signals = crate::sandbox::supervise::supervised_signals();
    // Job control: the workload runs in a session of its own, out of the terminal's reach, so a
    // stop asked of the supervisor (Ctrl-Z, a background read or write) stops the whole sandbox,
    // and a continue continues it. In its own PID namespace that is every process but the init
    // (`kill(-1)`); otherwise the workload's process group.
    let everyone = if own_pid_namespace {
        Pid::from_raw(-1)
    } else {
        Pid::from_raw(-workload.as_raw())
    };
    loop {
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid place for waitpid to store the wait status.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid == workload.as_raw() {
                return status;
            }
            if pid <= 0 {
                break;
            }
        }
        match signals.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => continue,
            Ok(Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) => {
                let _ = nix::sys::signal::kill(everyone, Signal::SIGSTOP);
            }
            Ok(Signal::SIGCONT) => {
                let _ = nix::sys::signal::kill(everyone, Signal::SIGCONT);
            }
            Ok(signal) => {
                let _ = nix::sys::signal::kill(workload, signal);
            }
        }
    }
}
