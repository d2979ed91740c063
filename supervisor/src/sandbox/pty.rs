//! A terminal of the sandbox's own. When a standard descriptor of the supervisor is a terminal,
//! the workload never gets it: the init opens a new pseudo-terminal inside the sandbox's mount
//! namespace (`/dev/ptmx`, which the filesystem view links to the sandbox's own devpts; without
//! a view it is the host's, still a new pty and never the operator's), passes the master to the
//! supervisor over the handshake socket (`SCM_RIGHTS`), and the workload makes the slave its
//! standard descriptors and its controlling terminal (`setsid`, `TIOCSCTTY`) before its filter
//! denies `TIOCSCTTY` and before `execve`.
//!
//! The supervisor relays, in its single-threaded supervision loop, the master to the operator's
//! terminal and what the operator types to the master. The operator's side is in raw mode (as
//! `cfmakeraw`: the sandbox's own line discipline does every processing, once) while the sandbox
//! runs, restored on every exit path the supervisor survives. Ctrl-C, Ctrl-Z and
//! Ctrl-D are bytes for the sandbox's line discipline, which turns them into signals for its
//! foreground process group and an end of input; a resize of the operator's terminal
//! (`SIGWINCH`) is set on the master, which signals the sandbox's foreground group.
//!
//! A supervisor killed with SIGKILL cannot restore anything: the operator's terminal stays raw
//! (`stty sane` or `reset` fixes it); the sandbox dies with it.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};

use crate::steps::Call;

/// The device major of the first pty slaves (`UNIX98_PTY_SLAVE_MAJOR`); slave `n` is
/// `136 + n / 256 : n % 256`.
pub(crate) const SLAVE_MAJOR: u32 = 136;

/// The slave device number of pty `number`, as `(major, minor)`.
pub(crate) fn slave_device(number: u32) -> (u32, u32) {
    (SLAVE_MAJOR + number / 256, number % 256)
}

/// Which standard descriptors of the supervisor are terminals: the workload gets the pty's slave
/// on exactly those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Descriptors 0, 1 and 2: a terminal or not.
    pub(crate) fds: [bool; 3],
    /// The slave, once the init opened it (`-1` before).
    pub(crate) slave: RawFd,
}

impl Planned {
    /// The supervisor's standard descriptors that are terminals; `None` when none is (then
    /// nothing changes: no pty, no relay).
    pub fn detect() -> Option<Planned> {
        let fds = [0, 1, 2].map(|fd| nix::unistd::isatty(fd).unwrap_or(false));
        fds.contains(&true).then_some(Planned { fds, slave: -1 })
    }

    /// The standard descriptors that get the slave.
    pub fn descriptors(&self) -> Vec<i32> {
        (0..3).filter(|&fd| self.fds[fd as usize]).collect()
    }
}

/// In the init, inside the sandbox's mount namespace: a new pty. Returns its master, its slave
/// (opened from the master with `TIOCGPTPEER`, so it is the slave of this very master, whatever
/// the devpts mounted where) and its number. Every descriptor is close-on-exec.
/// Async-signal-safe.
pub(crate) fn open() -> Result<(OwnedFd, RawFd, u32), (Call, Errno)> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: the path is a NUL-terminated literal.
    let master = unsafe { libc::open(c"/dev/ptmx".as_ptr(), flags) };
    let master = Errno::result(master).map_err(|errno| (Call::OpenPty, errno))?;
    // SAFETY: `master` was just opened and is owned by nothing else.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, TIOCGPTN writes one; both point to
    // live locals.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(rc).map_err(|errno| (Call::OpenPty, errno))?;
    // SAFETY: as above.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    Errno::result(rc).map_err(|errno| (Call::OpenPty, errno))?;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer and returns a new descriptor.
    let slave = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let slave = Errno::result(slave).map_err(|errno| (Call::PtyPeer, errno))?;
    Ok((master, slave, number))
}

/// In the workload, after `setsid`: the slave belongs to `owner` (the uid and gid the workload
/// drops to, as a login terminal belongs to its user, so that it may open it again by name),
/// becomes every standard descriptor that was a terminal, and the controlling terminal of the new
/// session. Async-signal-safe.
pub(crate) fn attach(planned: &Planned, owner: Option<(u32, u32)>) -> Result<(), (Call, Errno)> {
    if let Some((uid, gid)) = owner {
        // SAFETY: fchown takes a descriptor number and two ids.
        let rc = unsafe { libc::fchown(planned.slave, uid, gid) };
        Errno::result(rc).map_err(|errno| (Call::ControllingTerminal, errno))?;
    }
    for fd in 0..3 {
        if planned.fds[fd as usize] {
            // SAFETY: dup2 takes two descriptor numbers; the target is a standard descriptor.
            let rc = unsafe { libc::dup2(planned.slave, fd) };
            Errno::result(rc).map_err(|errno| (Call::ControllingTerminal, errno))?;
        }
    }
    // SAFETY: TIOCSCTTY takes an integer (0: never steal a terminal another session holds).
    let rc = unsafe { libc::ioctl(planned.slave, libc::TIOCSCTTY, 0) };
    Errno::result(rc).map_err(|errno| (Call::ControllingTerminal, errno))?;
    Ok(())
}

/// In the init once the workload is forked: it keeps no terminal, neither the operator's nor the
/// sandbox's. Async-signal-safe.
pub(crate) fn release_in_init(planned: &Planned) {
    for fd in (0..3).filter(|&fd| planned.fds[fd as usize]) {
        // SAFETY: close takes a descriptor number; these are the init's own.
        unsafe { libc::close(fd) };
    }
    // SAFETY: as above.
    unsafe { libc::close(planned.slave) };
}

/// The operator's window size (of the terminal `from`) set on the master.
pub(crate) fn copy_window_size(from: RawFd, master: RawFd) {
    // SAFETY: a zeroed winsize is a valid value for TIOCGWINSZ to fill in.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer, which points to `size`.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut size) } == 0 {
        // SAFETY: TIOCSWINSZ reads a winsize through the pointer, which points to `size`.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
    }
}

/// How much read from the master may wait for the operator's terminal before the master is no
/// longer read (the sandbox's writes then block on its own terminal, never the supervisor).
const OUTPUT_BUFFER: usize = 65536;

/// One `read` of `fd` into the free room of `buffer`, which never grows past [`OUTPUT_BUFFER`]
/// (read in place: no zeroed scratch buffer, no copy); `EAGAIN` when it is full.
fn read_into(fd: RawFd, buffer: &mut Vec<u8>) -> Result<usize, Errno> {
    let room = OUTPUT_BUFFER.saturating_sub(buffer.len());
    if room == 0 {
        return Err(Errno::EAGAIN);
    }
    buffer.reserve_exact(room);
    let spare = buffer.spare_capacity_mut();
    // SAFETY: `spare` is valid for `spare.len()` bytes of writes, and `room <= spare.len()`.
    let read = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), room.min(spare.len())) };
    let read = Errno::result(read)? as usize;
    // SAFETY: `read` bytes past the length were just written by the kernel.
    unsafe { buffer.set_len(buffer.len() + read) };
    Ok(read)
}

/// How long the end of the run waits for an operator's terminal that takes nothing.
const DRAIN_PATIENCE_MS: u16 = 1000;

/// `fd` opened again as a description of its own, non-blocking (the operator's shell shares the
/// original description: its flags are left alone).
fn reopen_non_blocking(fd: RawFd) -> Option<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");
    let flags = libc::O_WRONLY | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is a NUL-terminated string.
    let reopened = unsafe { libc::open(path.as_ptr(), flags) };
    // SAFETY: a descriptor just opened, owned by nothing else.
    (reopened >= 0).then(|| unsafe { OwnedFd::from_raw_fd(reopened) })
}

/// The operator's terminal: the first standard descriptor that is one.
pub(crate) fn operator_terminal(planned: &Planned) -> RawFd {
    (0..3).find(|&fd| planned.fds[fd as usize]).unwrap_or(0)
}

/// The supervisor's relay between the master and the operator's terminal.
#[derive(Debug)]
pub struct Relay {
    master: Option<OwnedFd>,
    /// Descriptor 0, when it is the operator's terminal and the supervisor reads it.
    input: Option<RawFd>,
    /// Where the sandbox's terminal shows: descriptor 1 or 2 if a terminal, else 0, opened again
    /// as a non-blocking description of its own (a terminal that is not drained, a stalled
    /// connection, must not block the supervisor: its timers and signals still run).
    output: RawFd,
    /// That description (`None`: it could not be opened again, `output` is used as it is).
    reopened: Option<OwnedFd>,
    /// Read from the master, not yet shown.
    shown: Vec<u8>,
    /// The operator's terminal (window size).
    terminal: RawFd,
    /// The operator's modes before raw mode, while raw.
    saved: Option<libc::termios>,
    /// Typed, not yet taken by the master.
    pending: Vec<u8>,
    /// End of input, not yet passed on.
    eof: bool,
    /// The operator's input ended: it is not read again.
    input_ended: bool,
}

impl Relay {
    /// The relay of `master` for the descriptors `planned`. The operator's side becomes raw only
    /// when descriptor 0 is a terminal and the supervisor is its foreground process group (a
    /// background supervisor leaves the terminal to the operator's shell and reads nothing).
    pub fn new(master: OwnedFd, planned: &Planned) -> Relay {
        let _ = nix::fcntl::fcntl(
            master.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let output = [1, 2]
            .into_iter()
            .find(|&fd| planned.fds[fd as usize])
            .unwrap_or(0);
        let reopened = reopen_non_blocking(output);
        let mut relay = Relay {
            master: Some(master),
            input: None,
            output: reopened.as_ref().map_or(output, |fd| fd.as_raw_fd()),
            reopened,
            shown: Vec::with_capacity(OUTPUT_BUFFER),
            terminal: operator_terminal(planned),
            saved: None,
            pending: Vec::new(),
            eof: false,
            input_ended: false,
        };
        if planned.fds[0] {
            relay.resume();
        }
        relay
    }

    /// Puts the operator's terminal in raw mode (again) and reads it, when the supervisor is in
    /// its foreground.
    pub fn resume(&mut self) {
        if self.saved.is_some() || self.input_ended {
            return;
        }
        // SAFETY: getpgrp and tcgetpgrp take no pointer.
        let foreground = unsafe { libc::tcgetpgrp(0) == libc::getpgrp() };
        if !foreground || !nix::unistd::isatty(0).unwrap_or(false) {
            return;
        }
        // SAFETY: a zeroed termios is a valid value for tcgetattr to fill in.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes through the pointer, which points to `saved`.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return;
        }
        let mut raw = saved;
        raw.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON);
        raw.c_oflag &= !libc::OPOST;
        raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        raw.c_cflag &= !(libc::CSIZE | libc::PARENB);
        raw.c_cflag |= libc::CS8;
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: tcsetattr reads through the pointer, which points to `raw`.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) } == 0 {
            self.saved = Some(saved);
            self.input = Some(0);
        }
    }

    /// Gives the operator's terminal its modes back and stops reading it (before the supervisor
    /// stops, and at the end).
    pub fn restore(&mut self) {
        self.input = None;
        if let Some(saved) = self.saved.take() {
            // SAFETY: tcsetattr reads through the pointer, which points to `saved`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
        }
    }

    /// A resize of the operator's terminal: set on the master (the sandbox's foreground group
    /// gets its `SIGWINCH` from the kernel).
    pub fn resize(&self) {
        if let Some(master) = &self.master {
            copy_window_size(self.terminal, master.as_raw_fd());
        }
    }

    /// The descriptors to poll, and for what.
    pub(crate) fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut fds = Vec::new();
        if let Some(master) = &self.master {
            let mut events = PollFlags::empty();
            if self.shown.len() < OUTPUT_BUFFER {
                events |= PollFlags::POLLIN;
            }
            if !self.pending.is_empty() || self.eof {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(master.as_fd(), events));
        }
        if let Some(input) = self.input.filter(|_| self.pending.len() < 65536) {
            // SAFETY: descriptor 0 stays open for the supervisor's whole life.
            let input = unsafe { std::os::fd::BorrowedFd::borrow_raw(input) };
            fds.push(PollFd::new(input, PollFlags::POLLIN));
        }
        if !self.shown.is_empty() {
            // SAFETY: `output` stays open as long as the relay.
            let output = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.output) };
            fds.push(PollFd::new(output, PollFlags::POLLOUT));
        }
        fds
    }

    /// Relays what the poll found ready (`ready`, in the order of [`poll_fds`](Self::poll_fds)).
    pub(crate) fn relay(&mut self, ready: &[PollFlags]) {
        // Whether the master was polled for input: decided before the output is written below,
        // as `poll_fds` decided it.
        let polled_input = self.shown.len() < OUTPUT_BUFFER;
        let mut ready = ready.iter();
        let master_ready = self.master.as_ref().and_then(|_| ready.next()).copied();
        let input_ready = self
            .input
            .filter(|_| self.pending.len() < 65536)
            .and_then(|_| ready.next())
            .copied();
        let output_ready = (!self.shown.is_empty()).then(|| ready.next()).flatten();
        if output_ready.is_some_and(|flags| !flags.is_empty()) {
            self.write_output();
        }
        if input_ready.is_some_and(|flags| !flags.is_empty()) {
            self.read_input();
        }
        if let Some(flags) = master_ready {
            if flags.contains(PollFlags::POLLIN) {
                self.read_master();
            } else if flags.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) && polled_input {
                // No slave is open any more and nothing is left: nothing will come. (Not when
                // the master was not polled for input, its buffer full: the hang-up is reported
                // anyway, and what the workload wrote last still waits in the master. Judged by
                // the output written above, that was dropped: the end of a large output lost.)
                self.master = None;
            }
        }
        self.write_master();
    }

    fn read_input(&mut self) {
        let mut buffer = [0u8; 4096];
        match nix::unistd::read(0, &mut buffer) {
            Ok(0) | Err(Errno::EIO) => {
                // End of input (or a hung-up terminal): passed on as the sandbox's end-of-file
                // character, once.
                self.eof = true;
                self.input_ended = true;
                self.input = None;
            }
            Ok(n) => self.pending.extend_from_slice(&buffer[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => self.input = None,
        }
    }

    /// One read of the master, shown at once. (Reading again until `EAGAIN` relays no faster:
    /// a read that finds the master empty waits for the kernel's pending flush of the slave's
    /// output, `docs/performance.md` section 6.)
    fn read_master(&mut self) {
        let Some(master) = &self.master else { return };
        match read_into(master.as_raw_fd(), &mut self.shown) {
            Ok(0) | Err(Errno::EIO) => self.master = None,
            Ok(_) => self.write_output(),
            Err(_) => {}
        }
    }

    /// Shows what it can without blocking; the rest waits for the terminal to take it.
    fn write_output(&mut self) {
        while !self.shown.is_empty() {
            // SAFETY: `shown` is valid for `shown.len()` bytes of reads.
            let written =
                unsafe { libc::write(self.output, self.shown.as_ptr().cast(), self.shown.len()) };
            match Errno::result(written) {
                Ok(n) => {
                    self.shown.drain(..n as usize);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.shown.clear();
                    return;
                }
            }
        }
    }

    fn write_master(&mut self) {
        let Some(master) = &self.master else { return };
        if self.eof && self.pending.is_empty() {
            // SAFETY: a zeroed termios is a valid value for tcgetattr to fill in.
            let mut modes: libc::termios = unsafe { std::mem::zeroed() };
            // The master reads the slave's modes.
            // SAFETY: tcgetattr writes through the pointer, which points to `modes`.
            if unsafe { libc::tcgetattr(master.as_raw_fd(), &mut modes) } == 0 {
                self.pending.push(modes.c_cc[libc::VEOF]);
            }
            self.eof = false;
        }
        while !self.pending.is_empty() {
            match nix::unistd::write(master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// Once the sandbox has ended: what its terminal still holds, without waiting for a
    /// straggler that keeps the slave open.
    /// A terminal that takes nothing for [`DRAIN_PATIENCE_MS`] gets no more: the supervisor ends.
    pub(crate) fn drain(&mut self) {
        loop {
            self.write_output();
            if !self.shown.is_empty() {
                // SAFETY: `output` stays open as long as the relay.
                let output = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.output) };
                let mut fds = [PollFd::new(output, PollFlags::POLLOUT)];
                match nix::poll::poll(&mut fds, DRAIN_PATIENCE_MS) {
                    Ok(1..) | Err(Errno::EINTR) => continue,
                    _ => return,
                }
            }
            let Some(master) = &self.master else { return };
            match read_into(master.as_raw_fd(), &mut self.shown) {
                Ok(1..) | Err(Errno::EINTR) => {}
                _ => self.master = None,
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.restore();
        drop(self.reopened.take());
    }
}
