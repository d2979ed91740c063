//! What was re-read after each step: typed per step (each step's module defines its own evidence),
//! serialized as a plain object.

use serde::Serialize;

use crate::steps::network::NetnsStatus;
use crate::steps::{
    capabilities, identity, landlock, mount, no_new_privs, pid, seccomp, session, view,
};

/// What was re-read after a step: typed per step, serialized as a plain object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    /// Nothing could be read (the step was not reached): `{}`.
    Nothing {},
    /// The network namespace.
    Network(NetnsStatus),
    /// The PID namespace, seen from the paused workload.
    Pid(pid::Pid),
    /// The mount namespace and its `/proc`.
    Mount(mount::Mount),
    /// The session.
    Session(session::Session),
    /// The capability sets, by name.
    Capabilities(capabilities::Capabilities),
    /// Ids and groups.
    Ids(identity::Ids),
    /// `no_new_privs`.
    NoNewPrivs(no_new_privs::NoNewPrivs),
    /// A seccomp filter.
    Seccomp(seccomp::Seccomp),
    /// The filesystem view, re-read from the workload's mountinfo and root.
    FilesystemView(view::ViewEvidence),
    /// The Landlock domain, as the crate's `restrict_self` reported it.
    Landlock(landlock::LandlockEvidence),
    /// The workload's resource limits, read back from `/proc/PID/limits` (`null`: unlimited).
    Rlimits(crate::steps::rlimits::Evidence),
    /// The sandbox's control group and its limits, read back.
    Cgroup(crate::steps::cgroup::Evidence),
}
