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

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::caps::{self, Bounding, CapsCall};
use crate::identity::{DropScratch, Identity};
use crate::seccomp::WorkloadFilter;
use crate::step::{Call, Refusal, Step};

/// How long the supervisor waits for the workload to get ready, and then to `execve`.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// The command could not be found or run before forking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not found (exit 127).
    #[error("command {0:?} not found")]
    NotFound(OsString),
    /// Found but not executable (exit 126).
    #[error("command {0} is not executable")]
    NotExecutable(PathBuf),
    /// No command was given (only possible when embedding).
    #[error("no command to run")]
    Empty,
    /// An argument or environment entry contains a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(OsString),
}

/// Finds `command` like `execvp` does: a name with a `/` is used as is, otherwise `PATH` is searched.
pub fn resolve_command(command: &OsStr) -> Result<PathBuf, CommandError> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if command.as_bytes().contains(&b'/') {
        vec![PathBuf::from(command)]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .collect()
    };
    let mut not_executable = None;
    for candidate in candidates {
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate)
            }
            Ok(_) => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    match not_executable {
        Some(path) => Err(CommandError::NotExecutable(path)),
        None => Err(CommandError::NotFound(command.to_owned())),
    }
}

fn cstring(text: &OsStr) -> Result<CString, CommandError> {
    CString::new(text.as_bytes()).map_err(|_| CommandError::Nul(text.to_owned()))
}

/// NUL-terminated strings and the NULL-terminated pointer array `execve` takes.
#[derive(Debug)]
struct CStrings {
    /// Owns the strings `pointers` points into; never read directly.
    _strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl CStrings {
    fn new(items: impl IntoIterator<Item = OsString>) -> Result<Self, CommandError> {
        let strings = items
            .into_iter()
            .map(|item| cstring(&item))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pointers: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(CStrings {
            _strings: strings,
            pointers,
        })
    }
}

/// Everything the sandbox's processes need, allocated before `clone`.
#[derive(Debug)]
pub struct Plan {
    program: CString,
    argv: CStrings,
    envp: CStrings,
    identity: Option<(Identity, DropScratch)>,
    filter: Option<WorkloadFilter>,
    skipped: [bool; Step::ALL.len()],
    identity_in_place: bool,
    last_cap: u32,
    keep_caps: u64,
    cwd: Option<CString>,
    fresh_sys: bool,
    mask: SigSet,
    view: Option<crate::view::View>,
    landlock: Option<crate::landlock::Prepared>,
}

impl Plan {
    /// Prepares a spawn of `program` with `args` (`args[0]` is the name the workload sees), the
    /// environment `env` (`KEY=VALUE` entries), the identity to drop to, the workload filter, and
    /// `mask`, the signal mask the workload gets back before `execve`.
    pub fn new(
        program: &Path,
        args: &[OsString],
        env: Vec<OsString>,
        identity: Option<Identity>,
        filter: WorkloadFilter,
        mask: SigSet,
    ) -> Result<Self, CommandError> {
        Ok(Plan {
            program: cstring(program.as_os_str())?,
            argv: CStrings::new(args.iter().cloned())?,
            envp: CStrings::new(env)?,
            identity: identity.map(|identity| {
                let scratch = DropScratch::new(&identity);
                (identity, scratch)
            }),
            filter: Some(filter),
            skipped: [false; Step::ALL.len()],
            identity_in_place: false,
            last_cap: caps::last_cap(),
            keep_caps: 0,
            cwd: std::env::current_dir()
                .ok()
                .and_then(|dir| CString::new(dir.into_os_string().into_vec()).ok()),
            fresh_sys: false,
            mask,
            view: None,
            landlock: None,
        })
    }

    /// Leaves `step` out of the next spawn: after a tolerated refusal (the workload has not run
    /// yet, so nothing is lost), or in `probe`, to see the steps after a fatal one.
    pub fn skip(&mut self, step: Step) {
        self.skipped[step as usize] = true;
        if step == Step::WorkloadSeccomp {
            self.filter = None;
        }
    }

    /// The process already has the identity (the user-namespace route, where the drop calls are
    /// not allowed): the drop is skipped, and its verification still done.
    pub fn identity_in_place(&mut self) {
        self.skipped[Step::PrivilegeDrop as usize] = true;
        self.identity_in_place = true;
    }

    /// Whether the workload's ids are verified against the identity.
    pub fn verifies_identity(&self) -> bool {
        self.identity.is_some() && (self.performs(Step::PrivilegeDrop) || self.identity_in_place)
    }

    /// Whether the next spawn performs `step`.
    pub fn performs(&self, step: Step) -> bool {
        !self.skipped[step as usize]
            && match step {
                Step::PrivilegeDrop => self.identity.is_some(),
                Step::WorkloadSeccomp => self.filter.is_some(),
                // The view is built in the mount namespace: it is lost with it.
                Step::FilesystemView => {
                    self.view.is_some() && !self.skipped[Step::MountNamespace as usize]
                }
                Step::Landlock => self.landlock.is_some(),
                _ => true,
            }
    }

    /// Mounts a fresh read-only sysfs over `/sys` in the sandbox: for a workload that may write
    /// root-owned files (uid or gid 0, or a kept capability), since `/sys` and the cgroup file
    /// systems below it are the host's.
    pub fn fresh_sys(&mut self, needed: bool) {
        self.fresh_sys = needed;
    }

    /// The filesystem view the init builds (`None`: no view, `--fs host-rw`).
    pub fn set_view(&mut self, view: Option<crate::view::View>) {
        self.view = view;
    }

    /// The filesystem view, if one is planned.
    pub fn view(&self) -> Option<&crate::view::View> {
        self.view.as_ref()
    }

    /// The Landlock ruleset the workload restricts itself with.
    pub fn set_landlock(&mut self, landlock: Option<crate::landlock::Prepared>) {
        self.landlock = landlock;
    }

    /// The Landlock ruleset, if one is planned.
    pub fn landlock(&self) -> Option<&crate::landlock::Prepared> {
        self.landlock.as_ref()
    }

    /// Capabilities the workload keeps (`--cap-add`), as a mask.
    pub fn keep_capabilities(&mut self, mask: u64) {
        self.keep_caps = mask;
    }

    /// The capabilities the workload keeps.
    pub fn kept_capabilities(&self) -> u64 {
        self.keep_caps
    }

    /// The workload filter still planned, if any.
    pub fn filter(&self) -> Option<&WorkloadFilter> {
        self.filter.as_ref()
    }

    /// The identity the workload drops to, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref().map(|(identity, _)| identity)
    }
}

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
    /// `clone` returned 0 in the calling process: an outer filter answered it without creating a
    /// process.
    #[error("failed to verify the sandbox: clone returned 0 in the supervisor itself (an outer filter answered it without creating a process)")]
    FakedClone,
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
    /// ([`crate::landlock::status_name`]).
    pub fn landlock_status(&self) -> u8 {
        self.landlock
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

/// One message from the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Failed {
        step: Step,
        call: Call,
        errno: Errno,
    },
    Ready {
        pid: Option<Pid>,
        own_pid: i32,
        landlock: u8,
    },
    ExecFailed {
        errno: Errno,
    },
}

const MESSAGE_LEN: usize = 8;
const READY: u8 = 0xff;
const EXEC_FAILED_MESSAGE: u8 = 0xfe;

fn encode(step: Step, call: Call, errno: Errno) -> [u8; MESSAGE_LEN] {
    let mut message = encode_kind(step as u8, errno as i32);
    message[1] = call.code();
    message
}

/// A message of `kind` (a step's index, [`READY`] or [`EXEC_FAILED_MESSAGE`]) carrying `value`
/// (an errno, or the workload's own pid for [`READY`]).
fn encode_kind(kind: u8, value: i32) -> [u8; MESSAGE_LEN] {
    let mut message = [0u8; MESSAGE_LEN];
    message[0] = kind;
    message[4..].copy_from_slice(&value.to_ne_bytes());
    message
}

fn decode(message: &[u8; MESSAGE_LEN], pid: Option<Pid>) -> Option<Message> {
    let errno = Errno::from_raw(i32::from_ne_bytes(message[4..].try_into().ok()?));
    match message[0] {
        READY => {
            return Some(Message::Ready {
                pid,
                own_pid: errno as i32,
                landlock: message[1],
            })
        }
        EXEC_FAILED_MESSAGE => return Some(Message::ExecFailed { errno }),
        _ => {}
    }
    let step = *Step::ALL.get(message[0] as usize)?;
    let call = Call::from_code(message[1])?;
    Some(Message::Failed { step, call, errno })
}

/// Receives one message, or `None` at end of file, within [`HANDSHAKE_DEADLINE`], watching
/// `signals` for a request to stop.
///
/// With `signals` (the descriptor of the stop signals only) a request to stop ends the wait; the
/// other supervised signals stay pending for supervision. Without it (after the release, when the
/// workload may already run) no signal is taken here: supervision forwards them.
fn receive(
    channel: &OwnedFd,
    signals: Option<&SignalFd>,
    waiting_for: &'static str,
) -> Result<Option<Message>, SpawnError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + HANDSHAKE_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SpawnError::Deadline(waiting_for));
        }
        let mut fds = vec![PollFd::new(channel.as_fd(), PollFlags::POLLIN)];
        if let Some(signals) = signals {
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32 + 1)
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "poll the sandbox",
                    source,
                })
            }
        }
        let channel_ready = fds[0].any().unwrap_or(false);
        let signal_ready = fds.get(1).and_then(|fd| fd.any()).unwrap_or(false);
        if let Some(signals) = signals.filter(|_| signal_ready) {
            if let Some(signal) = take_stop_signal(signals)? {
                return Err(SpawnError::Interrupted(signal));
            }
        }
        if channel_ready {
            return read_message(channel);
        }
    }
}

/// Takes a pending stop signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) from the descriptor made by
/// [`signal_fd`], if one is pending.
pub fn take_stop_signal(signals: &SignalFd) -> Result<Option<Signal>, SpawnError> {
    loop {
        match signals.read_signal() {
            Ok(Some(info)) => {
                let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                if STOP_SIGNALS.contains(&signal) {
                    return Ok(Some(signal));
                }
            }
            Ok(None) | Err(Errno::EAGAIN) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "read the signal descriptor",
                    source,
                })
            }
        }
    }
}

fn read_message(channel: &OwnedFd) -> Result<Option<Message>, SpawnError> {
    let mut buffer = [0u8; MESSAGE_LEN];
    let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let (read, pid) = loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
        match nix::sys::socket::recvmsg::<()>(
            channel.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => {
                let pid = message.cmsgs().ok().and_then(|mut cmsgs| {
                    cmsgs.find_map(|cmsg| match cmsg {
                        ControlMessageOwned::ScmCredentials(creds) => {
                            Some(Pid::from_raw(creds.pid()))
                        }
                        _ => None,
                    })
                });
                break (message.bytes, pid);
            }
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "read the sandbox's status",
                    source,
                })
            }
        }
    };
    if read == 0 {
        return Ok(None);
    }
    if read != MESSAGE_LEN {
        return Err(SpawnError::Died(format!("a message of {read} bytes")));
    }
    decode(&buffer, pid)
        .map(Some)
        .ok_or_else(|| SpawnError::Died("an unknown message".into()))
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
        flags |= (libc::CLONE_NEWPID | libc::CLONE_NEWIPC) as libc::c_ulong;
    }
    // SAFETY: a raw clone without CLONE_VM and without a new stack behaves like fork: the child
    // gets a copy of this (single-threaded, checked above) process and runs `init_main`, which
    // makes only async-signal-safe system calls and ends in `_exit`; it never returns here.
    let (rc, faked) = raw_clone(flags);
    // An outer filter can answer clone with 0 without creating anything: this process would take
    // itself for the child.
    if faked {
        return Err(SpawnError::FakedClone);
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
            init_main(plan, child_channel, go_read, ended_write)
        }
        Ok(_) => {}
    }
    let init = Pid::from_raw(rc as libc::pid_t);
    drop(child_channel);
    drop(go_read);
    drop(ended_write);
    let message = match receive(&channel, Some(signals), "get ready") {
        Ok(message) => message,
        Err(err) => {
            kill_and_reap(init);
            return Err(err);
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
fn raw_clone(flags: libc::c_ulong) -> (libc::c_long, bool) {
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

/// Sends one message; `false` when it could not be sent (a filter that denies `write`). That
/// cannot be reported anywhere: the sender then ends, and the supervisor sees end of file.
fn send(channel: &OwnedFd, message: &[u8; MESSAGE_LEN]) -> bool {
    // SAFETY: `message` is valid for MESSAGE_LEN bytes of reads; `channel` is an open socket.
    let sent = unsafe { libc::write(channel.as_raw_fd(), message.as_ptr().cast(), MESSAGE_LEN) };
    sent == MESSAGE_LEN as isize
}

fn fail(channel: &OwnedFd, step: Step, call: Call, errno: Errno) -> ! {
    let _ = send(channel, &encode(step, call, errno));
    // SAFETY: `_exit` ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(125) }
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the calling process dies with its parent.
fn die_with_parent() -> Result<(), Errno> {
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

/// The sandbox's init. Never returns.
fn init_main(plan: &mut Plan, channel: OwnedFd, go: OwnedFd, ended: OwnedFd) -> ! {
    if let Err(errno) = die_with_parent() {
        fail(&channel, Step::PidNamespace, Call::ClonePid, errno);
    }
    if !plan.performs(Step::PidNamespace) {
        // Without a PID namespace of its own the init still reaps the workload's orphans.
        // SAFETY: PR_SET_CHILD_SUBREAPER takes integers and changes only the calling process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    if plan.performs(Step::FilesystemView) {
        if let Err((call, errno)) = private_mounts() {
            fail(&channel, Step::MountNamespace, call, errno);
        }
        let view = plan.view.as_ref().expect("performs checked it");
        if let Err((charge, call, errno)) = view.apply(plan.performs(Step::PidNamespace)) {
            use crate::view::{Charge, ViewCall};
            match (charge, call) {
                (Charge::View, call) => {
                    fail(&channel, Step::FilesystemView, Call::View(call), errno)
                }
                (Charge::Proc, ViewCall::Open)
                | (Charge::Proc, ViewCall::OpenTree | ViewCall::SetAttr | ViewCall::MoveMount) => {
                    fail(
                        &channel,
                        Step::MountNamespace,
                        Call::MountProcReadOnly,
                        errno,
                    )
                }
                (Charge::Proc, _) => fail(&channel, Step::MountNamespace, Call::MountProc, errno),
            }
        }
    } else if plan.performs(Step::MountNamespace) {
        // PID and IPC namespaces come together: without them the IPC namespace is the host's.
        let own_ipc = plan.performs(Step::PidNamespace);
        if let Err((call, errno)) = private_proc(plan.fresh_sys, own_ipc) {
            fail(&channel, Step::MountNamespace, call, errno);
        }
    }
    // Landlock rules for the mounts the view just made (inode-based: only now do they exist).
    if let Some(landlock) = plan
        .landlock
        .as_ref()
        .filter(|_| plan.performs(Step::Landlock))
    {
        if let Err((call, errno)) = landlock.add_init_rules() {
            fail(&channel, Step::Landlock, Call::Landlock(call), errno);
        }
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
    drop(go);
    harden_init(plan.last_cap, ended.as_raw_fd());
    let status = init_loop(workload, plan.performs(Step::PidNamespace));
    // SAFETY: `status` is valid for 4 bytes of reads; `ended` is the pipe's open write end.
    let _ = unsafe { libc::write(ended.as_raw_fd(), (&status as *const i32).cast(), 4) };
    // SAFETY: `_exit` ends the init; as PID 1 of the namespace it takes every process left in it.
    unsafe { libc::_exit(0) }
}

/// The only capability the init keeps once the workload exists: it signals the workload (and, for
/// job control, every process of the namespace), which may run as another uid.
pub const INIT_CAPABILITY: u32 = 5; // CAP_KILL

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
            unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0) };
        }
    }
    let keep = 1u64 << INIT_CAPABILITY;
    let _ = caps::drop_bounding_and_ambient(last_cap, keep);
    let _ = caps::clear_sets(keep);
    let _ = crate::seccomp::set_no_new_privs();
}

/// The inode of the calling process's mount namespace. Async-signal-safe.
fn mount_namespace_inode() -> Result<u64, Errno> {
    // SAFETY: all-zero bytes are a valid `stat`.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated literal and `stat` is valid for the kernel to fill.
    let rc = unsafe { libc::stat(c"/proc/self/ns/mnt".as_ptr(), &mut stat) };
    Errno::result(rc).map(|_| stat.st_ino)
}

/// Whether any mount of the calling process's mount namespace is still shared (a `shared:` tag in
/// its `mountinfo`). Async-signal-safe: reads in chunks into a stack buffer.
fn any_mount_shared() -> Result<bool, Errno> {
    const TAG: &[u8] = b" shared:";
    // SAFETY: the path is a NUL-terminated literal; the flags take no pointer.
    let fd = unsafe {
        libc::open(
            c"/proc/self/mountinfo".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    let mut buffer = [0u8; 4096];
    // Bytes kept from the previous chunk, so a tag split between two reads is still found.
    let mut kept = 0;
    let found = loop {
        // SAFETY: `buffer[kept..]` is valid for writes of its length.
        let read =
            unsafe { libc::read(fd, buffer[kept..].as_mut_ptr().cast(), buffer.len() - kept) };
        if read < 0 {
            let errno = Errno::last();
            if errno == Errno::EINTR {
                continue;
            }
            // SAFETY: `fd` was opened above and is closed once.
            unsafe { libc::close(fd) };
            return Err(errno);
        }
        let filled = kept + read as usize;
        if buffer[..filled]
            .windows(TAG.len())
            .any(|window| window == TAG)
        {
            break true;
        }
        if read == 0 {
            break false;
        }
        kept = (TAG.len() - 1).min(filled);
        buffer.copy_within(filled - kept..filled, 0);
    };
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    Ok(found)
}

/// A new mount namespace with every mount private. Each call is checked before the next, so that
/// a call answered with 0 without effect never lets a mount reach the parent's namespace.
fn private_mounts() -> Result<(), (Call, Errno)> {
    use nix::mount::{mount, MsFlags};
    // Where the kernel has no namespace link (gVisor), the check below the next mount still holds.
    let before = mount_namespace_inode().ok();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|errno| (Call::UnshareMount, errno))?;
    if before.is_some() && mount_namespace_inode().ok() == before {
        return Err((Call::VerifyMountNamespace, Errno::UnknownErrno));
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|errno| (Call::MountPrivate, errno))?;
    match any_mount_shared() {
        Ok(false) => {}
        Ok(true) => return Err((Call::VerifyMountsPrivate, Errno::UnknownErrno)),
        Err(errno) => return Err((Call::VerifyMountsPrivate, errno)),
    }
    Ok(())
}

/// A new mount namespace, every mount private, and a fresh `/proc` for the new PID namespace
/// (without a filesystem view). `own_ipc`: the sandbox has an IPC namespace of its own, whose
/// message queues get a `/dev/mqueue` of their own.
fn private_proc(fresh_sys: bool, own_ipc: bool) -> Result<(), (Call, Errno)> {
    use nix::mount::{mount, MsFlags};
    private_mounts()?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|errno| (Call::MountProc, errno))?;
    // Kernel settings are files whose writes check the uid, not a capability: a workload that runs
    // as uid 0 (--allow-root) could write /proc/sys/kernel/core_pattern. Read-only, as Docker does.
    for path in READ_ONLY_PROC {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        match mount(Some(path), path, None::<&str>, flags, None::<&str>) {
            Ok(()) => {}
            // A kernel (or runtime) without this file has nothing to protect there.
            Err(Errno::ENOENT) => continue,
            Err(errno) => return Err((Call::MountProcReadOnly, errno)),
        }
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
            .map_err(|errno| (Call::MountProcReadOnly, errno))?;
    }
    // Shared memory of its own: the host's /dev/shm holds other processes' segments.
    match mount(
        Some("tmpfs"),
        "/dev/shm",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    ) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err((Call::MountShm, errno)),
    }
    // POSIX message queues of the sandbox's own IPC namespace (the host's /dev/mqueue shows the
    // host's). In the host's IPC namespace there is nothing to hide: a new mount would show the
    // same queues, and the kernel refuses it (EBUSY) where the host already mounted them there,
    // as systemd does.
    match own_ipc.then(|| {
        mount(
            Some("mqueue"),
            "/dev/mqueue",
            Some("mqueue"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
    }) {
        None | Some(Ok(())) | Some(Err(Errno::ENOENT)) => {}
        Some(Err(errno)) => return Err((Call::MountShm, errno)),
    }
    if fresh_sys {
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("sysfs"), "/sys", Some("sysfs"), flags, None::<&str>)
            .map_err(|errno| (Call::MountSys, errno))?;
    }
    Ok(())
}

/// The parts of the fresh `/proc` the workload may read but never write.
pub const READ_ONLY_PROC: [&str; 5] = crate::view::READ_ONLY_PROC;

/// The init's work once the workload exists: forward the supervised signals to it, reap every
/// child, and return the workload's raw wait status once it has ended.
fn init_loop(workload: Pid, own_pid_namespace: bool) -> i32 {
    let signals = crate::supervise::supervised_signals();
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

/// The workload's side. Never returns.
fn workload_main(plan: &mut Plan, channel: OwnedFd, go: OwnedFd) -> ! {
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

fn workload_steps(plan: &mut Plan, channel: &OwnedFd, go: &OwnedFd) -> Result<Never, Failure> {
    let _ = die_with_parent();
    if plan.performs(Step::Session) {
        nix::unistd::setsid().map_err(|errno| (Step::Session, Call::Setsid, errno))?;
    }
    let caps_error = |(call, errno): (CapsCall, Errno)| {
        let call = match call {
            CapsCall::BoundingDrop => Call::CapbsetDrop,
            CapsCall::AmbientClear => Call::AmbientClear,
            CapsCall::Capset => Call::Capset,
            CapsCall::Verify => Call::VerifyCapabilities,
        };
        (Step::Capabilities, call, errno)
    };
    if plan.performs(Step::Capabilities) {
        let _: Bounding =
            caps::drop_bounding_and_ambient(plan.last_cap, plan.keep_caps).map_err(caps_error)?;
    }
    let drop_planned = plan.performs(Step::PrivilegeDrop);
    if let Some((identity, scratch)) = plan.identity.as_mut().filter(|_| drop_planned) {
        // The scratch buffers were allocated in the parent: drop_to does not allocate.
        crate::identity::drop_to(identity, scratch)
            .map_err(|(stage, errno)| (Step::PrivilegeDrop, Call::Drop(stage), errno))?;
    }
    if plan.performs(Step::Capabilities) {
        caps::clear_sets(plan.keep_caps).map_err(caps_error)?;
    }
    // A change of ids clears the parent-death signal: set it again.
    let _ = die_with_parent();
    // Every descriptor above 2 is close-on-exec before any filter could deny the calls needed.
    mark_close_on_exec();
    if plan.performs(Step::NoNewPrivs) {
        crate::seccomp::set_no_new_privs()
            .map_err(|errno| (Step::NoNewPrivs, Call::NoNewPrivs, errno))?;
        // A faked success would make the filter's installation fail with EACCES, which is no
        // refusal of the filter: check it here.
        // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer and reads only this thread's state.
        if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } != 1 {
            return Err(Failure::Step(
                Step::NoNewPrivs,
                Call::VerifyNoNewPrivs,
                Errno::UnknownErrno,
            ));
        }
    }
    // Landlock needs no_new_privs, and goes before the filter (which denies its calls).
    let mut landlock_status = 0;
    if plan.performs(Step::Landlock) {
        if let Some(landlock) = plan.landlock.as_mut() {
            use crate::landlock::LandlockCall;
            landlock_status = landlock.restrict_self().map_err(|errno| {
                (
                    Step::Landlock,
                    Call::Landlock(LandlockCall::RestrictSelf),
                    errno,
                )
            })?;
        }
    }
    if let Some(filter) = plan
        .filter
        .as_ref()
        .filter(|_| plan.performs(Step::WorkloadSeccomp))
    {
        for program in &filter.programs {
            crate::seccomp::install(program)
                .map_err(|errno| (Step::WorkloadSeccomp, Call::Seccomp, errno))?;
        }
    }
    // Ready: wait, before exec, until the supervisor has verified this process.
    // The workload's pid as it sees it: the supervisor compares it with the pid it sees.
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
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let top = limit.rlim_cur.min(1 << 20) as i32;
    for fd in 3..top {
        // SAFETY: F_SETFD on a descriptor number; EBADF for numbers not open is expected.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// The signals that stop the boot: the supervisor takes them during the boot, the workload gets
/// them once it runs.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Creates the descriptor on which the supervisor takes the [`STOP_SIGNALS`] during the boot
/// (they must be blocked already). The other supervised signals are not read from it: they stay
/// pending until supervision forwards them.
pub fn signal_fd() -> Result<SignalFd, SpawnError> {
    SignalFd::with_flags(
        &STOP_SIGNALS.into_iter().collect(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(SpawnError::call("create the signal descriptor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call of every step survives the wire: a code changed on one side only, or two
    /// calls sharing one, fails here.
    #[test]
    fn messages_round_trip() {
        let mut seen = Vec::new();
        for step in Step::ALL {
            for call in Call::ALL {
                for errno in [Errno::EPERM, Errno::ENOSYS, Errno::UnknownErrno] {
                    let message = encode(step, call, errno);
                    assert_eq!(
                        decode(&message, None),
                        Some(Message::Failed { step, call, errno }),
                        "{step} {call}"
                    );
                }
                let message = encode(step, call, Errno::EPERM);
                assert!(!seen.contains(&message), "{step} {call} shares a message");
                seen.push(message);
            }
        }
        assert_eq!(
            decode(&encode_kind(READY, 2), Some(Pid::from_raw(7))),
            Some(Message::Ready {
                pid: Some(Pid::from_raw(7)),
                own_pid: 2,
                landlock: 0
            })
        );
    }

    #[test]
    fn command_resolution() {
        assert!(resolve_command(OsStr::new("sh")).is_ok());
        assert!(matches!(
            resolve_command(OsStr::new("no-such-command-anywhere")),
            Err(CommandError::NotFound(_))
        ));
        assert!(matches!(
            resolve_command(OsStr::new("/etc/passwd")),
            Err(CommandError::NotExecutable(_))
        ));
    }
}
