//! The calls through which the boot's decisions reach the kernel, behind one narrow trait (youki's
//! `Syscall` is the model): [`Linux`] makes them; a unit test passes a recording fake instead, and
//! so checks the boot's decisions (the user-namespace route, a tolerated step left out of the next
//! spawn, a check that found a call without effect) without root and without a kernel that
//! refuses. The implementation is always passed explicitly, never chosen by `cfg(test)`.

use nix::sys::signalfd::SignalFd;

use crate::sandbox::{Plan, SpawnError, Spawned};
use crate::steps::network::{NetnsError, NetnsStatus};
use crate::steps::userns::UsernsError;

/// What the boot asks of the kernel, step by step.
pub(crate) trait Syscalls {
    /// `unshare(CLONE_NEWNET)`, loopback up, verified ([`crate::steps::network::enter`]).
    fn enter_network_namespace(&mut self) -> Result<NetnsStatus, NetnsError>;
    /// The user-namespace route ([`crate::steps::userns::enter`]).
    fn enter_user_namespace(&mut self) -> Result<(), UsernsError>;
    /// Whether the supervisor runs as root (effective uid 0).
    fn is_root(&self) -> bool;
    /// One spawn of the sandbox ([`crate::sandbox::spawn`]).
    fn spawn(&mut self, plan: &mut Plan, signals: &SignalFd) -> Result<Spawned, SpawnError>;
    /// Clears the supervisor's own environment ([`super::environ::clear`]); returns how many
    /// variables there were.
    fn clear_environment(&mut self) -> usize;
}

/// The real calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Linux;

impl Syscalls for Linux {
    fn enter_network_namespace(&mut self) -> Result<NetnsStatus, NetnsError> {
        crate::steps::network::enter()
    }

    fn enter_user_namespace(&mut self) -> Result<(), UsernsError> {
        crate::steps::userns::enter()
    }

    fn is_root(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn spawn(&mut self, plan: &mut Plan, signals: &SignalFd) -> Result<Spawned, SpawnError> {
        crate::sandbox::spawn(plan, signals)
    }

    fn clear_environment(&mut self) -> usize {
        super::environ::clear()
    }
}
