//! no_new_privs: the workload sets `PR_SET_NO_NEW_PRIVS` (always, even when its filter is
//! tolerated away), and checks it took, since a faked success would make the filter's
//! installation fail with `EACCES`, which is no refusal of the filter.

use nix::errno::Errno;
use serde::Serialize;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};
use crate::steps::Call;

/// `no_new_privs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoNewPrivs {
    /// `NoNewPrivs` of the workload (`null` where the kernel does not say, as in gVisor).
    pub no_new_privs: Option<u64>,
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`. Async-signal-safe.
pub fn set() -> Result<(), Errno> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers and changes only the calling thread.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(rc).map(drop)
}

/// Whether `PR_GET_NO_NEW_PRIVS` says 1. Async-signal-safe.
pub(crate) fn is_set() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer and reads only this thread's state.
    unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
}

/// In the workload: set it, and check it took. Async-signal-safe.
pub(crate) fn apply() -> Result<(), (Call, Errno)> {
    set().map_err(|errno| (Call::NoNewPrivs, errno))?;
    match is_set() {
        true => Ok(()),
        false => Err((Call::VerifyNoNewPrivs, Errno::UnknownErrno)),
    }
}

/// `NoNewPrivs` is not 0 (gVisor does not say).
pub(crate) fn verify(observed: &Observed, _: &Expected<'_>) -> Verified {
    let no_new_privs = observed.status.no_new_privs;
    Verified {
        evidence: Evidence::NoNewPrivs(NoNewPrivs { no_new_privs }),
        unverified: (no_new_privs == Some(0))
            .then(|| "prctl(PR_SET_NO_NEW_PRIVS) returned success but NoNewPrivs is 0".to_owned()),
    }
}
