//! `sandbox-supervisor`: run a workload behind Linux hardening steps, with a pluggable decision
//! about what happens when the kernel (or an outer sandbox) refuses one of them.
//!
//! # The model
//!
//! [`run::run`] prepares every input (the handler, the identity, the BPF programs), then drives
//! the boot sequence of [`boot`], in this order (see its module documentation for the reasons):
//!
//! 1. the network namespace, entered by the supervisor ([`netns`]; an unprivileged caller takes
//!    the user-namespace route, [`userns`]);
//! 2. the sandbox ([`spawn`]): an init as PID 1 of new PID and IPC namespaces, a private mount namespace
//!    with a fresh `/proc`, then the workload: a new session, no capabilities ([`caps`]), its ids
//!    ([`identity`]), no_new_privs and the workload filter ([`seccomp`]);
//! 3. verification of every step from the paused workload's `/proc` entries ([`procfs`]);
//! 4. the supervisor's own seccomp prelude;
//! 5. release, the report ([`report`]) once the workload has exec'd, and supervision
//!    ([`supervise`]).
//!
//! The steps are data ([`step::Step`]). A refused call becomes one [`step::Refusal`]; for the
//! tolerable steps the orchestrator turns it into a [`failure::FailureReport`] and asks the
//! registered [`failure::SandboxFailureHandler`]: [`failure::StrictHandler`] (the default) aborts on
//! every refusal; a plugin may tolerate the kinds it declared. The session, the capability drop,
//! the privilege drop and no_new_privs are fatal whatever a handler says. [`probe::probe`] drives
//! the same sequence, recording each decision and going on.
//!
//! # Embedding
//!
//! A program that links this crate registers its own handler once, at start, with
//! [`failure::set_failure_handler`], then calls [`run::run`].

#![deny(missing_docs)]

pub mod boot;
pub mod caps;
pub mod cli;
pub mod context;
pub mod exit;
pub mod failure;
pub mod findings;
pub mod identity;
pub mod input;
pub mod landlock;
pub mod netns;
pub mod plugin;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod run;
pub mod seccomp;
pub mod simulate;
pub mod spawn;
pub mod step;
pub mod supervise;
pub mod userns;
pub mod view;

pub use failure::{
    failure_handler, set_failure_handler, FailureReport, SandboxFailureHandler, SandboxFailureKind,
    StrictHandler, Verdict,
};
