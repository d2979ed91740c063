//! The session: the workload starts a new one (`setsid`), without a controlling terminal.

use nix::errno::Errno;
use serde::Serialize;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};
use crate::steps::Call;

/// The session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The workload's session id (its own pid: it leads the session).
    pub session: i32,
    /// Its controlling terminal (`tty_nr`; 0 is none).
    pub tty_nr: i32,
}

/// In the workload: `setsid`. Async-signal-safe.
pub(crate) fn apply() -> Result<(), (Call, Errno)> {
    nix::unistd::setsid()
        .map(drop)
        .map_err(|errno| (Call::Setsid, errno))
}

/// The workload leads its own session and has no controlling terminal.
pub(crate) fn verify(observed: &Observed, _: &Expected<'_>) -> Verified {
    let (session, tty_nr) = observed.session;
    let workload = observed.workload;
    Verified {
        evidence: Evidence::Session(Session { session, tty_nr }),
        unverified: (session != workload || tty_nr != 0).then(|| {
            format!("setsid returned success but the workload's session is {session} (its pid is {workload}) with terminal {tty_nr}")
        }),
    }
}
