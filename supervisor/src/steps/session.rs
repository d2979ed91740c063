//! The session: the workload starts a new one (`setsid`). Its only possible controlling terminal is
//! a pty of the sandbox's own ([`crate::sandbox::pty`]), given when a standard descriptor of the
//! supervisor is a terminal; otherwise it has none.

use nix::errno::Errno;
use serde::Serialize;

use crate::record::Evidence;
use crate::sandbox::pty::Planned;
use crate::steps::observed::{Expected, Observed, Verified};
use crate::steps::Call;

/// The session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The workload's session id (its own pid: it leads the session).
    pub session: i32,
    /// Its controlling terminal (`tty_nr`; 0 is none).
    pub tty_nr: i32,
    /// The pty of the sandbox's own it was given (`null`: none, no standard descriptor was a
    /// terminal).
    pub terminal: Option<Terminal>,
}

/// The pty the workload was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Terminal {
    /// Its slave as the workload sees it (`/dev/pts/0`).
    pub path: String,
    /// Its device number, `major:minor`.
    pub device: String,
    /// Whose devpts it comes from: `sandbox` (the view's own instance) or `host` (no view: a new
    /// pty of the host's devpts, still not the operator's).
    pub devpts: &'static str,
    /// The workload's standard descriptors that are this slave.
    pub fds: Vec<i32>,
}

/// A descriptor as `stat` of `/proc/PID/fd/N` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FdIdentity {
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
}

/// In the workload: `setsid`, and the pty's slave (given to `owner`, the ids the workload drops
/// to) as its standard descriptors and controlling terminal when it has one. Async-signal-safe.
pub(crate) fn apply(
    terminal: Option<&Planned>,
    owner: Option<(u32, u32)>,
) -> Result<(), (Call, Errno)> {
    nix::unistd::setsid()
        .map(drop)
        .map_err(|errno| (Call::Setsid, errno))?;
    match terminal {
        Some(terminal) => crate::sandbox::pty::attach(terminal, owner),
        None => Ok(()),
    }
}

/// `tty_nr` as `/proc/PID/stat` encodes the device `major:minor`.
fn tty_nr(major: u32, minor: u32) -> i32 {
    ((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as i32
}

/// The workload leads its own session; its controlling terminal is none, or, when it was given
/// one, the sandbox's pty, which is every standard descriptor the plan named and none of the
/// operator's terminals.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let (session, tty) = observed.session;
    let workload = observed.workload;
    let mut wrong = Vec::new();
    if session != workload {
        wrong.push(format!(
            "the workload's session is {session} (its pid is {workload})"
        ));
    }
    let terminal = match (expected.terminal, observed.pty) {
        (Some(planned), Some(number)) => {
            let (major, minor) = crate::sandbox::pty::slave_device(number);
            let rdev = libc::makedev(major, minor);
            let fds = planned.descriptors();
            if tty != tty_nr(major, minor) {
                wrong.push(format!(
                    "its controlling terminal is {tty}, not its pty {major}:{minor}"
                ));
            }
            for &fd in &fds {
                let seen = observed.std_fds[fd as usize];
                if !seen.is_some_and(|seen| seen.rdev == rdev) {
                    wrong.push(format!(
                        "its descriptor {fd} is not its pty {major}:{minor}"
                    ));
                }
            }
            let devpts = match observed.std_fds[fds[0] as usize] {
                Some(seen) if Some(seen.dev) == observed.host_devpts => "host",
                _ => "sandbox",
            };
            Some(Terminal {
                path: observed.pty_path.clone().unwrap_or_default(),
                device: format!("{major}:{minor}"),
                devpts,
                fds,
            })
        }
        (Some(_), None) => {
            wrong.push("the sandbox sent no pty".to_owned());
            None
        }
        (None, _) => {
            if tty != 0 {
                wrong.push(format!("it has the controlling terminal {tty}"));
            }
            None
        }
    };
    // Whatever was planned: no standard descriptor of the workload is the operator's terminal.
    for (fd, seen) in observed.std_fds.iter().enumerate() {
        let Some(seen) = seen else { continue };
        if observed.own_terminals.contains(&(seen.dev, seen.ino)) {
            wrong.push(format!("its descriptor {fd} is the operator's terminal"));
        }
    }
    Verified {
        evidence: Evidence::Session(Session {
            session,
            tty_nr: tty,
            terminal,
        }),
        unverified: (!wrong.is_empty())
            .then(|| format!("setsid returned success but {}", wrong.join(", and "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed {
            workload: 42,
            session: (42, 0),
            ..Default::default()
        }
    }

    #[test]
    fn a_session_without_terminal_is_verified_and_a_terminal_is_not() {
        let expected = Expected::default();
        assert_eq!(verify(&observed(), &expected).unverified, None);
        let mut with_tty = observed();
        with_tty.session.1 = tty_nr(136, 3);
        assert!(verify(&with_tty, &expected).unverified.is_some());
    }

    #[test]
    fn the_pty_must_be_the_controlling_terminal_and_never_the_operators() {
        let planned = Planned {
            fds: [true, true, false],
            slave: -1,
        };
        let expected = Expected {
            terminal: Some(&planned),
            ..Default::default()
        };
        let pty = FdIdentity {
            dev: 30,
            ino: 3,
            rdev: libc::makedev(136, 0),
        };
        let mut seen = observed();
        seen.pty = Some(0);
        seen.pty_path = Some("/dev/pts/0".into());
        seen.session.1 = tty_nr(136, 0);
        seen.std_fds = [Some(pty), Some(pty), None];
        seen.own_terminals = vec![(25, 3)];
        let verified = verify(&seen, &expected);
        assert_eq!(verified.unverified, None);
        let Evidence::Session(session) = verified.evidence else {
            panic!("not a session")
        };
        let terminal = session.terminal.expect("a terminal");
        assert_eq!(
            (terminal.device.as_str(), terminal.devpts),
            ("136:0", "sandbox")
        );
        assert_eq!(terminal.fds, vec![0, 1]);
        // The operator's terminal on a standard descriptor, or no controlling terminal.
        let mut leaked = seen.clone();
        leaked.std_fds[2] = Some(FdIdentity {
            dev: 25,
            ino: 3,
            rdev: libc::makedev(136, 0),
        });
        assert!(verify(&leaked, &expected).unverified.is_some());
        let mut detached = seen.clone();
        detached.session.1 = 0;
        assert!(verify(&detached, &expected).unverified.is_some());
        let mut unsent = seen;
        unsent.pty = None;
        assert!(verify(&unsent, &expected).unverified.is_some());
    }
}
