//! Output the workload cannot rewrite: when the supervisor's standard output or error is seekable
//! (a regular file as with `2>>run.log`, a block device; not `/dev/null`), the sandbox writes into a pipe that the supervisor appends to
//! it, so the workload never holds the file's description (no `ftruncate`, no `lseek` over the
//! supervisor's lines). Pipes, sockets and terminals pass through untouched.
//!
//! The supervisor stays single-threaded: the relay runs in its supervision loop, which polls the
//! pipes and a signalfd of the supervised signals together.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// One relayed pipe: the supervisor reads `read` and writes what it reads to its own `target`.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    target: RawFd,
}

/// The pipes of one run, prepared before the sandbox exists.
#[derive(Debug, Default)]
pub struct Output {
    /// The write end for descriptor 1 and 2 (`None`: passed through).
    write: [Option<OwnedFd>; 2],
    pipes: Vec<Pipe>,
    /// The relay of the workload's pty, once it runs (`None`: no terminal).
    pty: Option<crate::sandbox::pty::Relay>,
}

/// Whether descriptor `fd` is seekable (a regular file, a block device), which is what the
/// workload could rewrite if it shared its description; `/dev/null` (character device 1:3), seekable
/// but with nothing to rewrite, is passed through.
fn seekable(fd: RawFd) -> bool {
    let Ok(stat) = nix::sys::stat::fstat(fd) else {
        return false;
    };
    let null = libc::makedev(1, 3);
    if stat.st_mode & libc::S_IFMT == libc::S_IFCHR && stat.st_rdev == null {
        return false;
    }
    // SAFETY: lseek takes integers; SEEK_CUR with offset 0 changes nothing.
    unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) >= 0 }
}

fn identity(fd: RawFd) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|stat| (stat.st_dev, stat.st_ino))
}

impl Output {
    /// Decides, from the supervisor's own descriptors 1 and 2, which the sandbox gets as a pipe.
    /// When both are the same file, one pipe serves both (the workload's interleaving is kept).
    pub fn prepare() -> Result<Output, Errno> {
        let mut output = Output::default();
        for fd in [1, 2] {
            if identity(fd).is_none() || !seekable(fd) {
                continue;
            }
            let index = (fd - 1) as usize;
            if fd == 2 && output.write[0].is_some() && identity(1) == identity(2) {
                output.write[1] = Some(
                    output.write[0]
                        .as_ref()
                        .expect("set")
                        .try_clone()
                        .map_err(|err| Errno::from_raw(err.raw_os_error().unwrap_or(0)))?,
                );
                continue;
            }
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            nix::fcntl::fcntl(
                read.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )?;
            output.write[index] = Some(write);
            output.pipes.push(Pipe { read, target: fd });
        }
        Ok(output)
    }

    /// Whether anything is relayed.
    pub fn relays(&self) -> bool {
        !self.pipes.is_empty() || self.pty.is_some()
    }

    /// Relays the workload's pty (its master) to the operator's terminal from now on: the
    /// operator's side goes raw ([`crate::sandbox::pty::Relay::new`]).
    pub(crate) fn relay_terminal(
        &mut self,
        master: Option<OwnedFd>,
        planned: Option<&crate::sandbox::pty::Planned>,
    ) {
        if let (Some(master), Some(planned)) = (master, planned) {
            self.pty = Some(crate::sandbox::pty::Relay::new(master, planned));
        }
    }

    /// The relayed pty, if any.
    pub(crate) fn terminal(&mut self) -> Option<&mut crate::sandbox::pty::Relay> {
        self.pty.as_mut()
    }

    /// The descriptors the sandbox relays, for the log.
    pub fn relayed(&self) -> Vec<RawFd> {
        (1..=2)
            .filter(|fd| self.write[(fd - 1) as usize].is_some())
            .collect()
    }

    /// In the sandbox's init, before the workload is forked: descriptors 1 and 2 become the
    /// pipes. Async-signal-safe.
    pub(crate) fn apply(&self) {
        for (index, write) in self.write.iter().enumerate() {
            if let Some(write) = write {
                // SAFETY: dup2 takes two descriptor numbers; the target is 1 or 2.
                unsafe { libc::dup2(write.as_raw_fd(), index as RawFd + 1) };
            }
        }
    }

    /// In the supervisor once the sandbox is released: its copies of the write ends are closed,
    /// so that the pipes end when the sandbox does.
    pub(crate) fn released(&mut self) {
        self.write = [None, None];
    }

    /// Waits for one of `signals` (blocked) for at most `timeout`, relaying whatever the pipes
    /// carry meanwhile; `None` when the time ran out or only output arrived.
    pub(crate) fn wait(
        &mut self,
        signals: &SigSet,
        timeout: Option<Duration>,
        signal_fd: &mut Option<SignalFd>,
    ) -> Result<Option<Signal>, Errno> {
        if signal_fd.is_none() {
            *signal_fd = Some(SignalFd::with_flags(
                signals,
                SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
            )?);
        }
        let signal_fd = signal_fd.as_mut().expect("set");
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(timeout) => {
                PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            self.pipes
                .iter()
                .map(|pipe| PollFd::new(pipe.read.as_fd(), PollFlags::POLLIN)),
        );
        let pipes = fds.len();
        if let Some(pty) = &self.pty {
            fds.extend(pty.poll_fds());
        }
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
        let events: Vec<PollFlags> = fds
            .iter()
            .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        let ready: Vec<bool> = events[..pipes].iter().map(|e| !e.is_empty()).collect();
        if let Some(pty) = &mut self.pty {
            pty.relay(&events[pipes..]);
        }
        for (index, _) in ready.iter().enumerate().skip(1).filter(|(_, r)| **r).rev() {
            self.relay(index - 1);
        }
        if ready[0] {
            if let Some(info) = signal_fd.read_signal()? {
                return Ok(Signal::try_from(info.ssi_signo as i32).ok());
            }
        }
        Ok(None)
    }

    /// Relays one read of pipe `index` (and drops the pipe at its end).
    fn relay(&mut self, index: usize) {
        let mut buffer = [0u8; 65536];
        match nix::unistd::read(self.pipes[index].read.as_raw_fd(), &mut buffer) {
            Ok(0) => {
                self.pipes.remove(index);
            }
            Ok(n) => write_all(self.pipes[index].target, &buffer[..n]),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => {
                self.pipes.remove(index);
            }
        }
    }

    /// Once the sandbox has ended: what is left in the pipes (every writer is gone, or it is a
    /// straggler the supervisor does not wait for).
    pub(crate) fn drain(&mut self) {
        if let Some(pty) = &mut self.pty {
            pty.drain();
        }
        while !self.pipes.is_empty() {
            let mut buffer = [0u8; 65536];
            match nix::unistd::read(self.pipes[0].read.as_raw_fd(), &mut buffer) {
                Ok(n @ 1..) => write_all(self.pipes[0].target, &buffer[..n]),
                Err(Errno::EINTR) => {}
                _ => {
                    self.pipes.remove(0);
                }
            }
        }
    }
}

/// Writes all of `data` to the supervisor's descriptor `fd`; a failure (a full disk) loses the
/// rest of this chunk, never the run.
pub(crate) fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: `data` is valid for `data.len()` bytes of reads.
        let written = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        match Errno::result(written) {
            Ok(n) => data = &data[n as usize..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
