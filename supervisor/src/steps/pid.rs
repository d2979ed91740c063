//! The PID namespace (and the IPC namespace with it): the supervisor creates the sandbox's init
//! with `clone(CLONE_NEWPID|CLONE_NEWIPC)` ([`crate::sandbox`]), so the init is PID 1 of the
//! sandbox and the workload, its child, sees itself as pid 2.

use serde::Serialize;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};

/// The PID namespace, seen from the paused workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pid {
    /// Inode of the workload's PID namespace (`null` where unknown).
    pub pid_namespace_inode: Option<u64>,
    /// Inode of the supervisor's.
    pub parent_pid_namespace_inode: Option<u64>,
    /// The workload's pid in each namespace, outermost first (`NSpid`; empty where unknown).
    pub nspid: Vec<u32>,
    /// The workload's pid as it sees itself (2 in its own namespace, after its init).
    pub pid_inside: i32,
}

/// The `clone` flags of the init when the step is performed.
pub(crate) const CLONE_FLAGS: libc::c_ulong = (libc::CLONE_NEWPID | libc::CLONE_NEWIPC) as _;

/// The workload sees itself as pid 2 (its init is 1) where the supervisor sees another pid, one
/// PID namespace below the supervisor's.
pub(crate) fn verify(observed: &Observed, _: &Expected<'_>) -> Verified {
    let (inode, parent) = observed.pid_namespaces;
    let evidence = Pid {
        pid_namespace_inode: inode,
        parent_pid_namespace_inode: parent,
        nspid: observed.status.nspid.clone(),
        pid_inside: observed.pid_inside,
    };
    let nested = observed.status.nspid.is_empty()
        || observed.status.nspid.len() == observed.own.nspid.len() + 1;
    let inside = observed.pid_inside == 2 && observed.workload != 2;
    let unverified = ((inode.is_some() && inode == parent) || !nested || !inside).then(|| {
        format!("clone(CLONE_NEWPID|CLONE_NEWIPC) returned success but the workload is in the supervisor's PID namespace ({evidence:?})")
    });
    Verified {
        evidence: Evidence::Pid(evidence),
        unverified,
    }
}
