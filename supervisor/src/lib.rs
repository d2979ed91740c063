//! `sandbox-supervisor`: run a workload behind Linux hardening steps, with a pluggable decision
//! about what happens when the kernel (or an outer sandbox) refuses one of them.
//!
//! # Glossary
//!
//! One word per concept, in the code, the plugin API and the docs:
//!
//! - **step**: one hardening step (`steps::Step`), one file under `steps/`, described by one row
//!   of the step catalogue (`steps::STEPS`: name, failure kind, phase, `requires`, protection,
//!   texts, its verification and teardown).
//! - **phase**: where a step runs (`steps::Phase`): the supervisor, the init, the workload, after
//!   the spawn, or at teardown.
//! - **call**: a system call a step makes (`steps::Call`), one row each in `Call::ALL`, whose
//!   position is its wire code between the sandbox and the supervisor.
//! - **refusal**: the kernel or an outer runtime answered a call with an errno
//!   (`steps::Refusal`). Only refusals of tolerable steps reach a handler; a request the
//!   supervisor or the operator got wrong is an **error** ([`SupervisorError`]).
//! - **kind**: the failure kind of a tolerable step ([`SandboxFailureKind`], a table in the plugin
//!   API: code, name, since, lost protection).
//! - **question**: what a handler is asked about one refusal ([`FailureReport`]; the name is the
//!   plugin API's, frozen since 0.1.0).
//! - **handler**: decides about a question ([`SandboxFailureHandler`]); the strict default aborts
//!   on everything; a **plugin** is a handler loaded from a shared object.
//! - **declaration**: the kinds a handler may ever tolerate (`declared`; a plugin's `tolerates`,
//!   the plugin API's frozen name). A `Tolerate` for an undeclared kind aborts.
//! - **verdict**: a handler's answer, `Abort` or `Tolerate` ([`Verdict`]); a **ruling** is a
//!   verdict with its reason ([`handler::Ruling`]).
//! - **ask**: putting a question to a handler with the host's floor applied ([`handler::ask`]);
//!   the answer is [`handler::Tolerated`] or [`handler::NotTolerated`].
//! - **decision**: how a step ended, as recorded (`record::Decision`: enforced, tolerated,
//!   aborted, not-requested, disabled-by-operator, not-reached); the **decider** is who decided
//!   (`record::Decider`: `strict`, `plugin:NAME@VERSION`, `operator`, `verification`,
//!   `never tolerable`, `out of resources`).
//! - **evidence**: what was re-read from `/proc` after a step (`record::Evidence`, one type per
//!   step); **verification** compares it with what the step promised, from one **observed** read
//!   of the paused sandbox (`steps::observed::Observed`).
//! - **left out**: a step not performed in the next spawn (`Plan::skip`, the one way): its
//!   protection lost (`Skip::Lost`: tolerated, disabled by the operator), or already held without
//!   its calls (`Skip::Holds`: still verified).
//! - **lost with**: a step left out because a step it requires was (`Skip::Lost`).
//! - **verification failure**: a step that reported success without effect, however it was seen
//!   (`SupervisorError::Verify`: `failed to verify STEP: DETAIL`, exit 123).
//! - **report**: the machine-readable hardening report (`--report`, `record::HardeningReport`),
//!   one **record** per write (`boot`, `final`); **findings** are its OCSF form (`--findings`).
//! - **exit code**: what the binary exits with ([`exit::ExitCode`]).
//!
//! # The model
//!
//! [`run`] prepares every input (the handler, the identity, the BPF programs), then drives the one
//! boot sequence (`boot/`), in this order (docs/architecture.md gives the reason for each
//! position): the network namespace, entered by the supervisor (or the user-namespace route);
//! the sandbox (`sandbox/`): an init as PID 1 of new PID and IPC namespaces in a private mount
//! namespace with a fresh `/proc`, then the workload: a new session, no capabilities, its ids,
//! no_new_privs and the workload filter; verification of every step from the paused workload's
//! `/proc`; the supervisor's own seccomp prelude; release, the report once the workload has
//! exec'd, supervision; teardown.
//!
//! A refused call becomes one refusal; for the tolerable steps the boot turns it into a question
//! and asks the registered handler: [`StrictHandler`] (the default) aborts on every refusal; a
//! plugin may tolerate the kinds it declared. The session, the capability drop, the privilege
//! drop and no_new_privs are fatal whatever a handler says. [`probe`] drives the same sequence,
//! recording each decision and going on.
//!
//! # Embedding
//!
//! A program that links this crate registers its own handler once, at start, with
//! [`set_failure_handler`], then calls [`run`].

#![deny(missing_docs)]

// The bottom: options, errors, exit codes, and what every layer reads.
pub(crate) mod config;
pub(crate) mod dirents;
pub mod error;
pub mod exit;
pub(crate) mod input;
pub mod options;
pub(crate) mod procfs;
pub mod version;

// The layers, from the steps up to the boot that drives them.
pub(crate) mod boot;
pub mod handler;
pub(crate) mod record;
pub(crate) mod sandbox;
pub(crate) mod steps;

// The binary's front end.
pub mod cli;
pub(crate) mod fixed;

/// The seccomp programs: built-in filters, the prelude, operator profiles (for the tests and the
/// benchmarks, which check the programs this crate installs).
pub mod seccomp {
    pub use crate::steps::seccomp::*;
}

/// The workload's filesystem view: its options (`--fs`, `--workspace`, `--bind`, `--ro-bind`,
/// `--mask`, `--tmpfs-size`).
pub mod view {
    pub use crate::steps::view::{parse_size, BindSpec, FsMode, ViewOptions, DEFAULT_TMPFS_SIZE};
}

pub use boot::probe::{probe, ProbeAnswer};
pub use boot::run::{register_plugin, run};
pub use error::SupervisorError;
pub use handler::simulate::{simulate, SimulateError, SimulateOptions, Simulation};
pub use handler::{
    failure_handler, set_failure_handler, FailureReport, HandlerFailure, SandboxFailureHandler,
    SandboxFailureKind, StrictHandler, Verdict,
};
pub use options::RunOptions;
