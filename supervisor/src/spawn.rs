//! The fork/exec protocol.
//!
//! Everything the child needs is prepared in the parent ([`Plan`]). After `fork` the child makes
//! only async-signal-safe system calls: drop privileges, set `PR_SET_NO_NEW_PRIVS`, install the
//! workload filter, restore the signal mask, `execve`. When a step fails it writes `(stage, errno)`
//! to a close-on-exec pipe and calls `_exit`; the parent reads that and names the exact step. An
//! empty read means the `execve` succeeded.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::{ForkResult, Pid};

use crate::identity::{DropScratch, DropStage, Identity};
use crate::seccomp::WorkloadFilter;

/// Where the child stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStage {
    /// A privilege-drop step.
    Drop(DropStage),
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// Installing the workload filter (program index).
    WorkloadSeccomp(u8),
    /// `sigprocmask` restoring the workload's signal mask.
    SignalMask,
    /// `execve`.
    Exec,
    /// Not a failure: every step before `execve` is done and the child waits for the parent.
    Ready,
}

impl ChildStage {
    fn encode(self) -> u32 {
        match self {
            ChildStage::Drop(stage) => 0x100 + stage as u32,
            ChildStage::NoNewPrivs => 0x200,
            ChildStage::WorkloadSeccomp(index) => 0x300 + index as u32,
            ChildStage::SignalMask => 0x400,
            ChildStage::Exec => 0x500,
            ChildStage::Ready => 0x600,
        }
    }

    fn decode(code: u32) -> Option<Self> {
        Some(match code {
            0x100..=0x1ff => ChildStage::Drop(*DropStage::ALL.get((code - 0x100) as usize)?),
            0x200 => ChildStage::NoNewPrivs,
            0x300..=0x3ff => ChildStage::WorkloadSeccomp((code - 0x300) as u8),
            0x400 => ChildStage::SignalMask,
            0x500 => ChildStage::Exec,
            0x600 => ChildStage::Ready,
            _ => return None,
        })
    }
}

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
    /// An argument contains a NUL byte.
    #[error("argument {0:?} contains a NUL byte")]
    Nul(OsString),
}

/// Everything the child needs, allocated before `fork`.
#[derive(Debug)]
pub struct Plan {
    program: CString,
    /// Owns the strings `argv_ptrs` points into; never read directly.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    identity: Option<(Identity, DropScratch)>,
    filter: Option<WorkloadFilter>,
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

impl Plan {
    /// Prepares a spawn of `program` with `args` (`args[0]` is the name the workload sees).
    pub fn new(
        program: &Path,
        args: &[OsString],
        identity: Option<Identity>,
        filter: Option<WorkloadFilter>,
    ) -> Result<Self, CommandError> {
        let program = cstring(program.as_os_str())?;
        let argv = args
            .iter()
            .map(|arg| cstring(arg))
            .collect::<Result<Vec<_>, _>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|arg| arg.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        Ok(Plan {
            program,
            _argv: argv,
            argv_ptrs,
            identity: identity.map(|identity| {
                let scratch = DropScratch::new(&identity);
                (identity, scratch)
            }),
            filter,
        })
    }

    /// Drops the workload filter (after its refusal was tolerated); everything else stays.
    pub fn without_filter(&mut self) {
        self.filter = None;
    }

    /// The workload filter still planned, if any.
    pub fn filter(&self) -> Option<&WorkloadFilter> {
        self.filter.as_ref()
    }
}

/// The result of one spawn attempt.
#[derive(Debug)]
pub enum Spawned {
    /// Every step up to `execve` succeeded; the child waits for [`Paused::release`].
    Ready(Paused),
    /// The child stopped at `stage` with `errno` and has been reaped.
    Failed {
        /// Where.
        stage: ChildStage,
        /// Why.
        errno: Errno,
    },
}

/// A child that has dropped privileges and installed its filter and now waits, before `execve`,
/// for the parent to verify it and write the report. Dropping it without [`release`](Self::release)
/// makes the child exit without running the workload.
#[derive(Debug)]
pub struct Paused {
    pid: Pid,
    status: OwnedFd,
    go: OwnedFd,
}

/// What happened after [`Paused::release`].
#[derive(Debug)]
pub enum Released {
    /// `execve` succeeded; the workload runs.
    Running(Pid),
    /// `execve` failed with this errno; the child has been reaped.
    ExecFailed(Errno),
}

impl Paused {
    /// The child's pid (its `/proc/PID/status` shows what took effect).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Lets the child exec the workload.
    pub fn release(self) -> Result<Released, SpawnError> {
        loop {
            match nix::unistd::write(&self.go, &[1]) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(SpawnError {
                        what: "release the workload",
                        source,
                    })
                }
            }
        }
        drop(self.go);
        match read_status(self.pid, &self.status)? {
            None => Ok(Released::Running(self.pid)),
            Some((_, errno)) => Ok(Released::ExecFailed(errno)),
        }
    }
}

/// A system call the parent needs for spawning failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to {what}")]
pub struct SpawnError {
    /// What the parent was doing.
    pub what: &'static str,
    /// The errno.
    #[source]
    pub source: Errno,
}

fn spawn_error(what: &'static str) -> impl FnOnce(Errno) -> SpawnError {
    move |source| SpawnError { what, source }
}

/// Marks every descriptor above 2 close-on-exec so none of the supervisor's leak into the workload.
pub fn close_on_exec_all() -> Result<(), SpawnError> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|err| SpawnError {
            what: "list /proc/self/fd",
            source: Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
        })?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // The directory stream's own descriptor is closed by now: EBADF is expected for it.
        match nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            Ok(_) | Err(Errno::EBADF) => {}
            Err(source) => {
                return Err(SpawnError {
                    what: "set FD_CLOEXEC",
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Forks the workload according to `plan` and runs every child step up to `execve`. `mask` is the
/// signal mask the workload gets.
pub fn spawn(plan: &mut Plan, mask: &SigSet) -> Result<Spawned, SpawnError> {
    let (status_read, status_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(spawn_error("create the status pipe"))?;
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(spawn_error("create the go pipe"))?;
    // SAFETY: the supervisor is single-threaded (checked at boot), so the child is a full copy in
    // which every lock is free; the child only runs `child_main`, which makes async-signal-safe
    // system calls and ends in `execve` or `_exit`, never returning into Rust code of the parent.
    match unsafe { nix::unistd::fork() }.map_err(spawn_error("fork"))? {
        ForkResult::Child => {
            drop(status_read);
            drop(go_write);
            child_main(plan, mask, &status_write, &go_read)
        }
        ForkResult::Parent { child } => {
            drop(status_write);
            drop(go_read);
            Ok(match read_status(child, &status_read)? {
                Some((ChildStage::Ready, _)) => Spawned::Ready(Paused {
                    pid: child,
                    status: status_read,
                    go: go_write,
                }),
                Some((stage, errno)) => Spawned::Failed { stage, errno },
                // The child died before saying anything (killed, or its write failed).
                None => {
                    while let Err(Errno::EINTR) = nix::sys::wait::waitpid(child, None) {}
                    Spawned::Failed {
                        stage: ChildStage::Exec,
                        errno: Errno::ECHILD,
                    }
                }
            })
        }
    }
}

/// Reads one `(stage, errno)` message; `None` on end of file (the child exec'd or died). A failed
/// child is reaped here so no zombie is left behind.
fn read_status(child: Pid, status: &OwnedFd) -> Result<Option<(ChildStage, Errno)>, SpawnError> {
    let mut buffer = [0u8; 8];
    let mut filled = 0;
    while filled < buffer.len() {
        match nix::unistd::read(status.as_raw_fd(), &mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(SpawnError {
                    what: "read the status pipe",
                    source,
                })
            }
        }
    }
    if filled < buffer.len() {
        return Ok(None);
    }
    let stage = u32::from_ne_bytes(buffer[..4].try_into().expect("4 bytes"));
    let errno = Errno::from_raw(i32::from_ne_bytes(buffer[4..].try_into().expect("4 bytes")));
    let stage = ChildStage::decode(stage).unwrap_or(ChildStage::Exec);
    if stage != ChildStage::Ready {
        while let Err(Errno::EINTR) = nix::sys::wait::waitpid(child, None) {}
    }
    Ok(Some((stage, errno)))
}

/// The child's side. Never returns.
fn child_main(plan: &mut Plan, mask: &SigSet, status: &OwnedFd, go: &OwnedFd) -> ! {
    let (stage, errno) = match child_steps(plan, mask, status, go) {
        Err(failure) => failure,
        Ok(never) => match never {},
    };
    // The parent closed the go pipe without releasing: leave quietly, the workload never ran.
    if stage != ChildStage::Ready {
        send(status, stage, errno);
    }
    // SAFETY: `_exit` ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(125) }
}

/// Writes one `(stage, errno)` message. A failed write cannot be reported anywhere; the parent
/// then sees end of file and a dead child.
fn send(status: &OwnedFd, stage: ChildStage, errno: Errno) {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&stage.encode().to_ne_bytes());
    message[4..].copy_from_slice(&(errno as i32).to_ne_bytes());
    // SAFETY: `message` is valid for 8 bytes of reads; `status` is the pipe's open write end.
    let _ = unsafe { libc::write(status.as_raw_fd(), message.as_ptr().cast(), message.len()) };
}

enum Never {}

fn child_steps(
    plan: &mut Plan,
    mask: &SigSet,
    status: &OwnedFd,
    go: &OwnedFd,
) -> Result<Never, (ChildStage, Errno)> {
    if let Some((identity, scratch)) = plan.identity.as_mut() {
        crate::identity::drop_to(identity, scratch)
            .map_err(|(stage, errno)| (ChildStage::Drop(stage), errno))?;
    }
    // Always, even when the workload filter was tolerated away: no setuid gains for the workload.
    crate::seccomp::set_no_new_privs().map_err(|errno| (ChildStage::NoNewPrivs, errno))?;
    if let Some(filter) = &plan.filter {
        for (index, program) in filter.programs.iter().enumerate() {
            crate::seccomp::install(program)
                .map_err(|errno| (ChildStage::WorkloadSeccomp(index as u8), errno))?;
        }
    }
    // Wait, before exec, until the parent has verified this process and written the report.
    send(status, ChildStage::Ready, Errno::UnknownErrno);
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(go.as_raw_fd(), &mut byte) {
            Ok(1) => break,
            Err(Errno::EINTR) => continue,
            _ => return Err((ChildStage::Ready, Errno::UnknownErrno)),
        }
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None)
        .map_err(|errno| (ChildStage::SignalMask, errno))?;
    // SAFETY: `program` and every `argv` entry are NUL-terminated strings owned by `plan`, and
    // `argv_ptrs` is a NULL-terminated array of pointers into them; `environ` is the process's own
    // environment, untouched since fork.
    unsafe { libc::execv(plan.program.as_ptr(), plan.argv_ptrs.as_ptr()) };
    Err((ChildStage::Exec, Errno::last()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_round_trip() {
        for stage in [
            ChildStage::Drop(DropStage::Setgroups),
            ChildStage::Drop(DropStage::RegainedRoot),
            ChildStage::NoNewPrivs,
            ChildStage::WorkloadSeccomp(1),
            ChildStage::SignalMask,
            ChildStage::Exec,
        ] {
            assert_eq!(ChildStage::decode(stage.encode()), Some(stage));
        }
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
