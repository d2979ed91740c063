//! `sandbox-supervisor`: run a workload behind Linux hardening steps, with a pluggable decision
//! about what happens when the kernel (or an outer sandbox) refuses one of them.
//!
//! # The model
//!
//! [`run::run`] performs the boot in this order (see its source for the reasons):
//!
//! 1. load and register the failure handler ([`plugin`], [`failure`]);
//! 2. resolve the workload's identity and compile both seccomp programs ([`identity`], [`seccomp`]);
//! 3. enter a new network namespace ([`netns`]);
//! 4. install the supervisor's own seccomp prelude ([`seccomp`]);
//! 5. fork and exec the workload: drop privileges, `PR_SET_NO_NEW_PRIVS`, workload filter ([`spawn`]);
//! 6. supervise it until it exits ([`supervise`]).
//!
//! Steps 3, 4 and the workload filter of step 5 may be refused. Each refusal becomes a
//! [`failure::FailureReport`] and goes to [`failure::decide`], which asks the registered
//! [`failure::SandboxFailureHandler`]: [`failure::StrictHandler`] (the default) aborts on every
//! refusal; a plugin may tolerate the kinds it declared. A privilege-drop failure is always fatal.
//!
//! # Embedding
//!
//! A program that links this crate registers its own handler once, at start, with
//! [`failure::set_failure_handler`], then calls [`run::run`].

#![deny(missing_docs)]

pub mod cli;
pub mod context;
pub mod exit;
pub mod failure;
pub mod identity;
pub mod netns;
pub mod plugin;
pub mod probe;
pub mod report;
pub mod run;
pub mod seccomp;
pub mod simulate;
pub mod spawn;
pub mod supervise;

pub use failure::{
    failure_handler, set_failure_handler, FailureReport, SandboxFailureHandler, SandboxFailureKind,
    StrictHandler, Verdict,
};
