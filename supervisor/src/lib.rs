//! `sandbox-supervisor`: run a workload behind Linux hardening steps, with a pluggable decision
//! about what happens when the kernel (or an outer sandbox) refuses one of them.
//!
//! # Glossary
//!
//! One word per concept, in the code, the plugin API and the docs:
//!
//! - **step**: one hardening step ([`step::Step`]), described by one row of the step catalogue
//!   ([`step::STEPS`]: name, failure kind, phase, `requires`, protection, texts).
//! - **phase**: where a step runs ([`step::Phase`]): the supervisor, the init, the workload, after
//!   the spawn, or at teardown.
//! - **call**: a system call a step makes ([`step::Call`]), one row each in [`step::Call::ALL`],
//!   whose position is its wire code between the sandbox and the supervisor.
//! - **refusal**: the kernel or an outer runtime answered a call with an errno
//!   ([`step::Refusal`]). Only refusals of tolerable steps reach a handler; a request the
//!   supervisor or the operator got wrong is an **error** ([`run::SupervisorError`]).
//! - **kind**: the failure kind of a tolerable step ([`SandboxFailureKind`], a table in the plugin
//!   API: code, name, since, lost protection).
//! - **question**: what a handler is asked about one refusal ([`FailureReport`]; the name is the
//!   plugin API's, frozen since 0.1.0).
//! - **handler**: decides about a question ([`SandboxFailureHandler`]); the strict default aborts
//!   on everything; a **plugin** is a handler loaded from a shared object.
//! - **declaration**: the kinds a handler may ever tolerate (`declared`; a plugin's `tolerates`,
//!   the plugin API's frozen name). A `Tolerate` for an undeclared kind aborts.
//! - **verdict**: a handler's answer, `Abort` or `Tolerate` ([`Verdict`]); a **ruling** is a
//!   verdict with its reason ([`failure::Ruling`]).
//! - **ask**: putting a question to a handler with the host's floor applied ([`failure::ask`]);
//!   the answer is [`failure::Tolerated`] or [`failure::NotTolerated`].
//! - **decision**: how a step ended, as recorded ([`report::Decision`]: enforced, tolerated,
//!   aborted, not-requested, disabled-by-operator, not-reached); the **decider** is who decided
//!   ([`report::Decider`]: `strict`, `plugin:NAME@VERSION`, `operator`, `verification`,
//!   `never tolerable`, `out of resources`).
//! - **evidence**: what was re-read from `/proc` after a step ([`report::Evidence`]);
//!   **verification** compares it with what the step promised.
//! - **report**: the machine-readable hardening report (`--report`, [`report::HardeningReport`]),
//!   one **record** per write (`boot`, `final`); **findings** are its OCSF form (`--findings`).
//! - **exit code**: what the binary exits with ([`exit::ExitCode`]).
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
//! tolerable steps the boot turns it into a question ([`failure::FailureReport`]) and asks the
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
pub mod version;
pub mod view;

pub use failure::{
    failure_handler, set_failure_handler, FailureReport, SandboxFailureHandler, SandboxFailureKind,
    StrictHandler, Verdict,
};
