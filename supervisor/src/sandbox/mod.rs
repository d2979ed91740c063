//! The sandbox's processes: an init and the workload, and the protocol that starts them.
//!
//! Everything both need is prepared in the parent ([`Plan`]). The supervisor creates the init with
//! a raw `clone` (with `CLONE_NEWPID` unless that step was tolerated away): it becomes PID 1 of the
//! sandbox. The init dies with the supervisor (`PR_SET_PDEATHSIG`), enters a new mount namespace
//! with private mounts and a fresh `/proc`, and forks the workload. The workload starts a new
//! session, drops every capability and its ids, sets `PR_SET_NO_NEW_PRIVS`, marks every descriptor
//! above 2 close-on-exec, installs its seccomp programs, says it is ready and waits, before
//! `execve`, until the supervisor has verified it.
//!
//! After `clone` both children make only async-signal-safe system calls: no allocation, no
//! logging, no plugin calls. A step that fails sends `(step, call, errno)` on a `SOCK_SEQPACKET`
//! socket and ends the child with `_exit`; the supervisor turns it into a [`Refusal`]. The "ready"
//! message carries the workload's credentials (`SCM_CREDENTIALS`), so the supervisor learns the
//! workload's pid in its own PID namespace. The socket is close-on-exec: end of file after the
//! release means the `execve` succeeded.
//!
//! The init stays PID 1 until the workload ends: it forwards the signals the supervisor passes on
//! (a PID 1 ignores a signal it has no handler for, so the workload itself must not be PID 1),
//! reaps orphans, and sends the workload's wait status to the supervisor before it exits, which
//! kills whatever is left in the PID namespace.

mod command;
mod init;
pub(crate) mod output;
mod plan;
mod protocol;
pub(crate) mod pty;
mod signals;
pub(crate) mod supervise;
mod workload;

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

pub use command::{resolve_command, CommandError};
pub(crate) use init::INIT_CAPABILITY;
pub use plan::{Plan, Skip};
use protocol::{receive, Message};
pub use signals::{signal_fd, take_stop_signal};

use crate::steps::{Call, Refusal, Step};

/// How long the supervisor waits for the workload to get ready, and then to `execve`.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// A system call the supervisor needs for spawning failed, or the sandbox did not get ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// A parent-side call failed.
    #[error("failed to {what}")]
    Call {
        /// What the parent was doing.
        what: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The supervisor has more than one thread: `clone` would copy only the calling one.
    #[error("the supervisor has {0} threads; it must be single-threaded to spawn the sandbox")]
    Threads(usize),
    /// The sandbox did not answer within [`HANDSHAKE_DEADLINE`].
    #[error("the sandbox did not {0} within {HANDSHAKE_DEADLINE:?}; it was killed")]
    Deadline(&'static str),
    /// The sandbox ended before it was ready, without saying why.
    #[error("the sandbox ended before the workload was ready ({0}); a seccomp profile that denies write, read or close_range breaks the handshake")]
    Died(String),
    /// A signal asked the supervisor to stop during the boot.
    #[error("the boot was interrupted by {0}")]
    Interrupted(Signal),
}

impl SpawnError {
    fn call(what: &'static str) -> impl FnOnce(Errno) -> SpawnError {
        move |source| SpawnError::Call { what, source }
    }
}

/// The result of one spawn.
#[derive(Debug)]
pub enum Spawned {
    /// Every step up to `execve` succeeded; the workload waits for [`Paused::release`].
    Ready(Paused),
    /// A step was refused; the sandbox has been killed and reaped.
    Refused(Refusal),
    /// A call returned success without effect, seen by the supervisor's side of the spawn
    /// (`clone` answered with 0 and no process): a verification failure of `step`.
    Unverified {
        /// The step.
        step: Step,
        /// What was seen.
        detail: &'static str,
    },
}

/// A sandbox whose workload has taken every planned step and now waits, before `execve`, for
/// the supervisor to verify it. Dropping it without [`release`](Self::release) kills the sandbox.
#[derive(Debug)]
pub struct Paused {
    init: Pid,
    workload: Pid,
    own_pid: Pid,
    landlock: u8,
    channel: OwnedFd,
    go: Option<OwnedFd>,
    ended: Option<OwnedFd>,
    /// The master of the workload's pty and its number, when it has one.
    terminal: Option<(OwnedFd, u32)>,
}

/// What happened after [`Paused::release`].
#[derive(Debug)]
pub enum Released {
    /// `execve` succeeded; the workload runs. Supervise the init.
    Running(Sandbox),
    /// `execve` failed with this errno; the sandbox has been reaped.
    ExecFailed(Errno),
}

/// A running sandbox: its init, and the pipe on which the init sends the workload's wait status.
#[derive(Debug)]
pub struct Sandbox {
    /// The init's pid (the supervisor's child).
    pub init: Pid,
    /// The workload's pid in the supervisor's PID namespace.
    pub workload: Pid,
    /// The read end of the init's status pipe.
    pub ended: OwnedFd,
    /// The master of the workload's pty, when it has one (the supervisor relays it).
    pub terminal: Option<OwnedFd>,
}

impl Paused {
    /// The workload's pid in the supervisor's PID namespace (its `/proc/PID` shows what took
    /// effect).
    pub fn workload(&self) -> Pid {
        self.workload
    }

    /// The workload's pid as it sees itself (`getpid` in its own PID namespace: 2, after its
    /// init, when it has one).
    pub fn own_pid(&self) -> Pid {
        self.own_pid
    }

    /// The Landlock status the workload's `restrict_self` returned, as a code
    /// ([`crate::steps::landlock::status_name`]).
    pub fn landlock_status(&self) -> u8 {
        self.landlock
    }

    /// The number of the workload's pty, when it has one.
    pub fn terminal_number(&self) -> Option<u32> {
        self.terminal.as_ref().map(|(_, number)| *number)
    }

    /// The init's pid.
    pub fn init(&self) -> Pid {
        self.init
    }

    /// Lets the workload exec and waits until it has (the channel closes) or failed to.
    pub fn release(mut self) -> Result<Released, SpawnError> {
        let go = self.go.take().expect("released once");
        loop {
            match nix::unistd::write(&go, &[1]) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(SpawnError::Call {
                        what: "release the workload",
                        source,
                    })
                }
            }
        }
        drop(go);
        // The workload may be running already: every signal now is the workload's, and stays
        // pending for supervision to forward.
        let message = match receive(&self.channel, None, "execve the workload") {
            Ok(message) => message,
            Err(err) => {
                kill_and_reap(self.init);
                return Err(err);
            }
        };
        match message {
            None => Ok(Released::Running(Sandbox {
                init: self.init,
                workload: self.workload,
                ended: self.ended.take().expect("released once"),
                terminal: self.terminal.take().map(|(master, _)| master),
            })),
            Some(Message::ExecFailed { errno }) => {
                kill_and_reap(self.init);
                self.init = Pid::from_raw(0);
                Ok(Released::ExecFailed(errno))
            }
            Some(other) => Err(SpawnError::Died(format!("an unexpected message {other:?}"))),
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.init.as_raw() > 0 && self.go.is_some() {
            kill_and_reap(self.init);
        }
    }
}

fn kill_and_reap(init: Pid) {
    let _ = nix::sys::signal::kill(init, Signal::SIGKILL);
    while let Err(Errno::EINTR) = nix::sys::wait::waitpid(init, None) {}
}

/// The workload's pid, from the init's `/proc/PID/task/PID/children` (when the credentials did
/// not travel with the ready message).
fn only_child(init: Pid) -> Option<Pid> {
    let text = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).ok()?;
    let mut children = text.split_whitespace();
    let pid = children.next()?.parse().ok()?;
    children.next().is_none().then(|| Pid::from_raw(pid))
}

/// Creates the sandbox according to `plan` and runs every planned step up to `execve`.
/// `signals` is a descriptor for the supervised signals (blocked in the supervisor): a request to
/// stop during the handshake kills the sandbox.
pub fn spawn(plan: &mut Plan, signals: &SignalFd) -> Result<Spawned, SpawnError> {
    // clone copies only the calling thread: a second thread's locks would stay taken in the
    // children, and the namespace steps the supervisor took affect only the calling thread.
    let threads = crate::procfs::thread_count();
    if threads != 1 {
        return Err(SpawnError::Threads(threads));
    }
    // The uid scan's thread is done (`Plan::settle_uid`), and the uid given is proved free.
    debug_assert!(
        plan.uid_settled(),
        "spawn before the allocated uid was settled"
    );
    use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};
    let (channel, child_channel) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(SpawnError::call("create the status socket"))?;
    setsockopt(&channel, sockopt::PassCred, &true)
        .map_err(SpawnError::call("set SO_PASSCRED on the status socket"))?;
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(SpawnError::call("create the release pipe"))?;
    let (ended_read, ended_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(SpawnError::call("create the init's status pipe"))?;

    let mut flags = libc::SIGCHLD as libc::c_ulong;
    if plan.performs(Step::PidNamespace) {
        // The IPC namespace goes with the PID namespace: System V and POSIX message queues of the
        // host are as much the host's processes' as their memory.
        flags |= crate::steps::pid::CLONE_FLAGS;
    }
    // The init never shares the supervisor's memory (no CLONE_VM, no vfork): both keep running
    // side by side for the sandbox's whole life, and would share every page, the allocator's
    // state and errno included.
    // SAFETY: a raw clone without CLONE_VM and without a new stack behaves like fork: the child
    // gets a copy of this (single-threaded, checked above) process and runs `init_main`, which
    // makes only async-signal-safe system calls and ends in `_exit`; it never returns here.
    // Born in its v2 group where the kernel lets it be (the supervisor is not filtered yet).
    let into = plan.cgroup_into.filter(|_| plan.performs(Step::Cgroup));
    let (rc, faked, born_in) = clone_init(flags, into);
    // An outer filter can answer clone with 0 without creating anything: this process would take
    // itself for the child.
    if faked {
        return Ok(Spawned::Unverified {
            step: Step::PidNamespace,
            detail: "clone returned 0 in the supervisor itself (an outer filter answered it without creating a process)",
        });
    }
    match Errno::result(rc) {
        Err(errno) if plan.performs(Step::PidNamespace) => {
            return Ok(Spawned::Refused(Refusal {
                step: Step::PidNamespace,
                call: Call::ClonePid,
                errno,
            }))
        }
        Err(source) => {
            return Err(SpawnError::Call {
                what: "clone the sandbox's init",
                source,
            })
        }
        Ok(0) => {
            drop(channel);
            drop(go_write);
            drop(ended_read);
            plan.cgroup_born_in = born_in;
            init::init_main(plan, child_channel, go_read, ended_write)
        }
        Ok(_) => {}
    }
    let init = Pid::from_raw(rc as libc::pid_t);
    drop(child_channel);
    drop(go_read);
    drop(ended_write);
    let handshake = Handshake {
        init,
        channel,
        go_write,
        ended_read,
    };
    await_ready(handshake, signals, plan.terminal.as_ref())
}

/// The supervisor's ends of the handshake with a new sandbox.
struct Handshake {
    init: Pid,
    channel: OwnedFd,
    go_write: OwnedFd,
    ended_read: OwnedFd,
}

/// The supervisor's side of the handshake: waits for the sandbox's first message (after the
/// init's pty, when `terminal` asks for one).
fn await_ready(
    handshake: Handshake,
    signals: &SignalFd,
    terminal: Option<&pty::Planned>,
) -> Result<Spawned, SpawnError> {
    let Handshake {
        init,
        channel,
        go_write,
        ended_read,
    } = handshake;
    let mut pty = None;
    let message = loop {
        match receive(&channel, Some(signals), "get ready") {
            Ok(Some(Message::Terminal { number, master })) if terminal.is_some() => {
                // SAFETY: the descriptor was received with this message and is owned by nothing else.
                let master = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(master) };
                if let Some(planned) = terminal {
                    pty::copy_window_size(pty::operator_terminal(planned), master.as_raw_fd());
                }
                pty = Some((master, number));
            }
            Ok(message) => break message,
            Err(err) => {
                kill_and_reap(init);
                return Err(err);
            }
        }
    };
    match message {
        Some(Message::Ready {
            pid,
            own_pid,
            landlock,
        }) => {
            let Some(workload) = pid
                .filter(|pid| pid.as_raw() > 0)
                .or_else(|| only_child(init))
            else {
                kill_and_reap(init);
                return Err(SpawnError::Died("the workload's pid is unknown".into()));
            };
            Ok(Spawned::Ready(Paused {
                init,
                workload,
                own_pid: Pid::from_raw(own_pid),
                landlock,
                channel,
                go: Some(go_write),
                ended: Some(ended_read),
                terminal: pty,
            }))
        }
        Some(Message::Failed { step, call, errno }) => {
            kill_and_reap(init);
            Ok(Spawned::Refused(Refusal { step, call, errno }))
        }
        Some(Message::ExecFailed { .. }) => {
            kill_and_reap(init);
            Err(SpawnError::Died("execve before the release".into()))
        }
        Some(Message::Terminal { master, .. }) => {
            // SAFETY: the descriptor was received with this message and is owned by nothing else.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(master) });
            kill_and_reap(init);
            Err(SpawnError::Died("a pty nobody asked for".into()))
        }
        None => {
            let status = loop {
                match nix::sys::wait::waitpid(init, None) {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            };
            Err(SpawnError::Died(match status {
                Ok(WaitStatus::Exited(_, code)) => format!("its init exited with {code}"),
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    format!("its init was killed by {signal}")
                }
                other => format!("{other:?}"),
            }))
        }
    }
}

/// A raw `clone(flags)` that behaves like fork (no `CLONE_VM`, no new stack); returns its result
/// and whether it was faked: an outer filter can answer clone with 0 without creating anything.
/// The kernel writes the new thread id into the child's memory (`CLONE_CHILD_SETTID`); a
/// "child" that finds no id there was never created. (Comparing pids cannot tell: the init of a
/// new PID namespace is pid 1, and so may be a supervisor that runs as PID 1 of its own.)
/// Async-signal-safe.
pub(crate) fn raw_clone(flags: libc::c_ulong) -> (libc::c_long, bool) {
    let mut tid: libc::pid_t = 0;
    let tid_ptr = &mut tid as *mut libc::pid_t;
    let flags = flags | (libc::CLONE_CHILD_SETTID | libc::CLONE_PARENT_SETTID) as libc::c_ulong;
    // The argument order after the stack differs: x86_64 passes the child's tid pointer before
    // tls, the generic order (aarch64) after it.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: without CLONE_VM and without a new stack this is a fork: the child runs on a copy
    // of this stack, where the kernel writes its tid into `tid`. The caller is single-threaded
    // and its child makes only async-signal-safe calls.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0, tid_ptr, tid_ptr, 0) };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0, tid_ptr, 0, tid_ptr) };
    // SAFETY: `tid` is a live local the kernel may have written through `tid_ptr`.
    let tid = unsafe { std::ptr::read_volatile(tid_ptr) };
    (rc, rc == 0 && tid == 0)
}

/// Clones the init as [`raw_clone`] does, into the v2 group `into` (its directory, its join
/// descriptor) with `clone3(CLONE_INTO_CGROUP)` where the kernel allows it: a write to
/// `cgroup.procs` takes the kernel's thread-group lock for writing (an RCU grace period, tens of
/// milliseconds under load), a fork into a group only for reading. Where `clone3` fails (an outer
/// filter answers it `ENOSYS`, as container runtimes do; a kernel before 5.7 does not know the
/// field), the plain clone, and the init writes `cgroup.procs` as before. Returns the clone's
/// result, whether it was faked, and the join descriptor the init then skips.
fn clone_init(flags: libc::c_ulong, into: Option<(i32, i32)>) -> (libc::c_long, bool, Option<i32>) {
    if let Some((dir, procs)) = into {
        let (rc, faked) = raw_clone3_into(flags, dir);
        if rc >= 0 {
            return (rc, faked, Some(procs));
        }
    }
    let (rc, faked) = raw_clone(flags);
    (rc, faked, None)
}

/// `clone3` with `flags` (their exit signal moved to its own field) and `CLONE_INTO_CGROUP` of
/// the group directory `cgroup`; otherwise as [`raw_clone`]. Async-signal-safe.
fn raw_clone3_into(flags: libc::c_ulong, cgroup: i32) -> (libc::c_long, bool) {
    /// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut tid: libc::pid_t = 0;
    let tid_ptr = &mut tid as *mut libc::pid_t;
    let settid = (libc::CLONE_CHILD_SETTID | libc::CLONE_PARENT_SETTID) as u64;
    let args = CloneArgs {
        flags: (flags & !(libc::CSIGNAL as libc::c_ulong)) | settid | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: tid_ptr as u64,
        parent_tid: tid_ptr as u64,
        exit_signal: flags & libc::CSIGNAL as libc::c_ulong,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: without CLONE_VM and without a stack this is a fork, as in `raw_clone`; `args` is a
    // live `clone_args` of the size passed, read by the kernel during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    // SAFETY: `tid` is a live local the kernel may have written through `tid_ptr`.
    let tid = unsafe { std::ptr::read_volatile(tid_ptr) };
    (rc, rc == 0 && tid == 0)
}

/// One past the highest descriptor number a descriptor loop must reach when `close_range` is
/// refused: the soft `RLIMIT_NOFILE` (no descriptor of the supervisor's can pass it), at most
/// 2^20. Async-signal-safe.
pub(crate) fn descriptor_top() -> i32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur.min(1 << 20) as i32
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the calling process dies with its parent.
pub(crate) fn die_with_parent() -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes integers and changes only the calling process.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Errno::result(rc).map(drop)
}
