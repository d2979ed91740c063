//! An operator's terminal for the tests: a pseudo-terminal pair whose slave is what an operator's
//! shell gives the supervisor (its standard descriptors, and its controlling terminal), whose
//! master is the operator: what it shows, what is typed.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `RESULT` of the probe line `WHAT RESULT` (on a terminal, the echo of injected input may
/// precede `WHAT` on its line).
pub fn probe_result<'a>(stdout: &'a str, what: &str) -> Option<&'a str> {
    stdout.lines().find_map(|line| {
        let line = line.trim_end();
        let at = line.find(what)?;
        line[at + what.len()..].strip_prefix(' ')
    })
}

/// Whether `TIOCSTI` on one's own controlling terminal is still allowed
/// (`dev.tty.legacy_tiocsti`).
pub fn legacy_tiocsti() -> bool {
    std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map_or(true, |value| value.trim() == "1")
}

/// A pseudo-terminal pair: the operator's terminal.
pub struct Pty {
    /// The operator's side: what the terminal shows is read here, what is typed written here.
    pub master: OwnedFd,
    /// What the operator's shell hands the supervisor.
    pub slave: OwnedFd,
}

impl Pty {
    /// A new pair, the master non-blocking, the slave in non-canonical input mode with echo
    /// (`FIONREAD` then counts every queued byte, not only complete lines).
    pub fn open() -> Pty {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let flags =
            nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        let mut termios = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        termios
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ICANON);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &termios)
            .unwrap();
        Pty {
            master: pty.master,
            slave: pty.slave,
        }
    }

    /// Starts `program ARGS` as an operator's shell would: the slave as standard input, output and
    /// error and, with `controlling`, in a new session whose controlling terminal is the slave
    /// (without, the slave is no session's controlling terminal, as when a CI wrapper hands a pty
    /// slave to a child).
    pub fn start(&self, program: &Path, args: &[&str], controlling: bool) -> Child {
        let mut command = Command::new(program);
        command.args(args);
        command.stdin(Stdio::from(self.slave.try_clone().unwrap()));
        command.stdout(Stdio::from(self.slave.try_clone().unwrap()));
        command.stderr(Stdio::from(self.slave.try_clone().unwrap()));
        if controlling {
            // SAFETY: the closure runs in the forked child before exec and makes only
            // async-signal-safe calls (setsid, ioctl) on the child's own state.
            unsafe {
                command.pre_exec(|| {
                    nix::unistd::setsid()?;
                    // SAFETY: TIOCSCTTY takes an integer; descriptor 0 is the slave.
                    if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                })
            };
        }
        crate::spawn(&mut command)
    }

    /// [`start`](Self::start)s `program ARGS` on the terminal as its controlling terminal and
    /// waits for it. Returns the exit code and everything the terminal showed.
    pub fn run(&self, program: &Path, args: &[&str]) -> (Option<i32>, String) {
        self.run_with(program, args, true)
    }

    /// [`run`](Self::run), choosing whether the slave is the controlling terminal.
    pub fn run_with(
        &self,
        program: &Path,
        args: &[&str],
        controlling: bool,
    ) -> (Option<i32>, String) {
        let mut child = self.start(program, args, controlling);
        let mut shown = Vec::new();
        let code = self.wait(&mut child, &mut shown, Duration::from_secs(30));
        (code, String::from_utf8_lossy(&shown).into_owned())
    }

    /// Waits at most `limit` for `child`, collecting what the terminal shows into `shown`;
    /// returns its exit code.
    pub fn wait(&self, child: &mut Child, shown: &mut Vec<u8>, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        let status = loop {
            self.drain(shown);
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < limit,
                "the run did not end; the terminal showed:\n{}",
                String::from_utf8_lossy(shown)
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // What the run wrote before it ended reaches the master through the kernel's flush work,
        // which a loaded machine runs late: drained until nothing more comes for 250 ms.
        let mut quiet = 0;
        while quiet < 5 {
            let before = shown.len();
            std::thread::sleep(Duration::from_millis(50));
            self.drain(shown);
            quiet = if shown.len() == before { quiet + 1 } else { 0 };
        }
        status.code()
    }

    /// Collects what the terminal shows now into `into`.
    pub fn drain(&self, into: &mut Vec<u8>) {
        let mut file = std::fs::File::from(self.master.try_clone().unwrap());
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = file.read(&mut buffer) {
            into.extend_from_slice(&buffer[..n]);
        }
    }

    /// Collects what the terminal shows into `shown` until it shows `wanted` after what `shown`
    /// held before, for at most `limit`; returns whether it did.
    pub fn expect(&self, shown: &mut Vec<u8>, wanted: &str, limit: Duration) -> bool {
        let from = shown.len();
        let start = Instant::now();
        loop {
            self.drain(shown);
            if String::from_utf8_lossy(&shown[from..]).contains(wanted) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text` (as the operator does: into the master).
    pub fn type_in(&self, text: &[u8]) {
        nix::unistd::write(&self.master, text).expect("type into the terminal");
    }

    /// Sets the terminal's window size (the kernel signals its foreground process group).
    pub fn set_size(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize through the pointer, which points to `size`.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// The terminal's modes, as the operator's side has them.
    pub fn modes(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).expect("tcgetattr")
    }

    /// The slave's device and inode, and its device number.
    pub fn identity(&self) -> (u64, u64, u64) {
        let stat = nix::sys::stat::fstat(self.slave.as_raw_fd()).expect("fstat");
        (stat.st_dev, stat.st_ino, stat.st_rdev)
    }

    /// The terminal's line discipline (`N_TTY` is 0).
    pub fn line_discipline(&self) -> i32 {
        let mut ldisc: libc::c_int = -1;
        // SAFETY: TIOCGETD stores an int through the pointer, which points to `ldisc`.
        let rc = unsafe { libc::ioctl(self.slave.as_fd().as_raw_fd(), libc::TIOCGETD, &mut ldisc) };
        assert_eq!(rc, 0, "TIOCGETD: {}", std::io::Error::last_os_error());
        ldisc
    }

    /// How many bytes wait in the terminal's input queue: what the operator's shell would read
    /// and run next.
    pub fn queued_input(&self) -> i32 {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCINQ (FIONREAD) stores an int through the pointer, which points to `queued`.
        let rc =
            unsafe { libc::ioctl(self.slave.as_fd().as_raw_fd(), libc::FIONREAD, &mut queued) };
        assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
        queued
    }
}
