//! The machine-readable hardening report (`--report FILE`, `--report-fd N`).
//!
//! Written when the workload's `execve` has succeeded (outcome `running`, record `boot`) and again
//! when it ends (record `final`, with `ended_at` and `exit`), or once when the boot stops (outcome
//! `aborted`, record `final`, with the error line). A file is rewritten complete; a descriptor gets
//! one JSON line per record. Every field is serialized from the types below, keyed by [`Step`];
//! the schema is documented in `docs/report.md`; `version` changes only when a field changes
//! meaning or disappears.

mod clock;
mod evidence;
pub(crate) mod findings;
pub(crate) mod forgery;
mod ids;
mod sink;

pub use clock::Timestamp;
pub use evidence::Evidence;
pub(crate) use ids::{current_run, enter_run, CurrentRun};
pub use ids::{hostname, run_id};
pub use sink::{check_writable, ReportOpenError, ReportSink, ReportWriter};

use std::time::Duration;

use serde::Serialize;

use crate::handler::context::FailureContext;
use crate::steps::userns::Route;
use crate::steps::{Refusal, Step};

/// The report's schema version.
pub const SCHEMA_VERSION: u32 = 2;

/// Who decided a step's outcome. Serialized as the strings the report and the logs have always
/// carried: `strict`, `plugin:NAME@VERSION` (or an embedder's handler's own name), `operator`,
/// `verification`, `never tolerable`, `out of resources`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decider {
    /// The strict default handler: `strict`.
    Strict,
    /// A plugin (`plugin:NAME@VERSION`) or an embedder's handler, by the name it gives itself.
    Handler(String),
    /// The operator turned the step off (`--disable-step`): `operator`.
    Operator,
    /// The step reported success but did not take effect: `verification`.
    Verification,
    /// No handler may tolerate the step: `never tolerable`.
    NeverTolerable,
    /// A call failed for want of memory, processes or descriptors: `out of resources`.
    OutOfResources,
    /// The sandbox's group could not be made and no limit was asked for: `default limits` (a
    /// WARN; the supervisor's own group's limits apply).
    DefaultLimits,
}

impl Decider {
    /// The strict default's name.
    pub const STRICT: &'static str = "strict";

    /// The decider a handler names with [`crate::handler::SandboxFailureHandler::decider`].
    pub fn of_handler(name: String) -> Self {
        match name == Self::STRICT {
            true => Decider::Strict,
            false => Decider::Handler(name),
        }
    }

    /// The name written in reports and logs.
    pub fn as_str(&self) -> &str {
        match self {
            Decider::Strict => Self::STRICT,
            Decider::Handler(name) => name,
            Decider::Operator => "operator",
            Decider::Verification => "verification",
            Decider::NeverTolerable => "never tolerable",
            Decider::OutOfResources => "out of resources",
            Decider::DefaultLimits => "default limits",
        }
    }
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Decider {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The step took effect and was verified.
    Enforced,
    /// The kernel refused it and the handler tolerated the refusal.
    Tolerated,
    /// The kernel refused it (or it failed) and the boot stopped.
    Aborted,
    /// The operator did not ask for it (privilege drop of a caller that runs as itself).
    NotRequested,
    /// The operator turned the step off (`--disable-step`).
    DisabledByOperator,
    /// The boot stopped before this step.
    NotReached,
}

impl Decision {
    /// The name the report and the logs use.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Enforced => "enforced",
            Decision::Tolerated => "tolerated",
            Decision::Aborted => "aborted",
            Decision::NotRequested => "not-requested",
            Decision::DisabledByOperator => "disabled-by-operator",
            Decision::NotReached => "not-reached",
        }
    }
}

/// How the boot ended, as far as the report can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The workload's `execve` succeeded, and it runs (the boot record).
    Running,
    /// The workload ran and has ended (the final record of a run whose boot succeeded); `exit`
    /// says how.
    Ended,
    /// The boot stopped; `error` says why.
    Aborted,
}

/// Which record of a run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// The workload is running; a `final` record follows when it ends.
    Boot,
    /// Nothing more will be written: the workload ended, or the boot stopped.
    Final,
}

/// How the workload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitOutcome {
    /// It exited with a code.
    Exited,
    /// A signal killed it.
    Killed,
    /// It ran past `--timeout` and was stopped (the supervisor exits 124).
    TimedOut,
    /// The kernel's OOM killer struck in the sandbox at `--memory-max` (or, on cgroup v1, the
    /// supervisor killed the whole sandbox when its group ran out of memory).
    OomKilled,
}

/// The workload's end, in the final record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitRecord {
    /// `exited` or `killed`.
    pub outcome: ExitOutcome,
    /// Its exit code when it exited, else null.
    pub code: Option<i32>,
    /// The signal's name (`SIGKILL`, `SIGRTMIN+3`) when one killed it, else null.
    pub signal: Option<String>,
    /// The signal's raw number when one killed it, else null.
    pub signal_number: Option<i32>,
    /// The supervisor's own exit code: `code`, or 128+N for signal N.
    pub exit_code: i32,
    /// Milliseconds from `started_at` to `ended_at`.
    pub duration_ms: u64,
}

impl ExitRecord {
    /// The record of `ended`, `duration` after the start.
    pub fn new(ended: crate::sandbox::supervise::Ended, duration: Duration) -> Self {
        use crate::sandbox::supervise::Ended;
        let (outcome, code, signal) = match ended {
            Ended::Exited(code) => (ExitOutcome::Exited, Some(code), None),
            Ended::Signaled(signal) => (ExitOutcome::Killed, None, Some(signal)),
        };
        ExitRecord {
            outcome,
            code,
            signal: signal.map(crate::sandbox::supervise::signal_name),
            signal_number: signal,
            exit_code: ended.exit_code(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A refused call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The call.
    pub syscall: &'static str,
    /// Its raw errno.
    pub errno: i32,
    /// The errno's name.
    pub errno_name: String,
}

impl From<&Refusal> for CallRecord {
    fn from(refusal: &Refusal) -> Self {
        CallRecord {
            syscall: refusal.call.name(),
            errno: refusal.errno as i32,
            errno_name: crate::handler::errno_name(refusal.errno as i32),
        }
    }
}

/// One step's record.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// Whether the operator asked for it.
    pub requested: bool,
    /// What the step protects.
    pub protection: &'static str,
    /// The outcome.
    pub decision: Decision,
    /// For the namespace steps: `direct` or `user-namespace`.
    pub route: Option<Route>,
    /// The call that was refused or failed, when one was.
    pub syscall: Option<&'static str>,
    /// Its raw errno.
    pub errno: Option<i32>,
    /// The errno's name.
    pub errno_name: Option<String>,
    /// The user-namespace route's refused call, when that was tried too.
    pub fallback: Option<CallRecord>,
    /// Who decided: `strict`, `plugin:NAME@VERSION`, `never tolerable`, `operator`,
    /// `verification` or `out of resources`.
    pub decider: Option<Decider>,
    /// The reason the handler gave for its decision, when it gave one.
    pub reason: Option<String>,
    /// What is missing because the step did not take effect.
    pub missing_protection: Option<&'static str>,
    /// What was re-read after the step.
    pub verified: Evidence,
}

impl StepRecord {
    fn new(step: Step) -> Self {
        StepRecord {
            step,
            requested: true,
            protection: step.protection(),
            decision: Decision::NotReached,
            route: None,
            syscall: None,
            errno: None,
            errno_name: None,
            fallback: None,
            decider: None,
            reason: None,
            missing_protection: None,
            verified: Evidence::Nothing {},
        }
    }
}

/// The handler, as the report and `probe` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandlerRecord {
    /// `strict` or `plugin:NAME@VERSION`.
    pub decider: String,
    /// The kinds it may tolerate.
    pub declared: Vec<&'static str>,
    /// The plugin file, when the handler is a plugin loaded by `--handler-plugin`.
    pub plugin: Option<PluginFileRecord>,
    /// The `--handler-config` file the plugin decided with (path and SHA-256 of the text it got).
    pub config: Option<crate::options::FileDigest>,
}

/// The plugin's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginFileRecord {
    /// `--handler-plugin` as given (absolute).
    pub path: String,
    /// The SHA-256 of the loaded file, in lowercase hexadecimal.
    pub sha256: String,
}

/// The workload.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadRecord {
    /// Its argv with `--report-argv`; otherwise only `argv[0]` (arguments can hold secrets).
    pub argv: Vec<String>,
    /// Whether `argv` is complete (`--report-argv`).
    pub argv_complete: bool,
    /// The program that was exec'd, its path resolved (null when the boot stopped before).
    pub program: Option<String>,
    /// Its pid in the supervisor's PID namespace, once it exists.
    pub pid: Option<i32>,
    /// The names (never the values) of the environment variables it gets.
    pub env: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct HardeningReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// This supervisor's version.
    pub supervisor_version: &'static str,
    /// The sandbox-plugin-api version this supervisor was built with.
    pub plugin_api_version: &'static str,
    /// The plugin ABI line: the plugin API releases whose plugins it loads (`0.1.x`).
    pub plugin_abi: String,
    /// The executable's GNU build id (null when the linker wrote none).
    pub build_id: Option<String>,
    /// `boot` (the workload runs; a final record follows) or `final`.
    pub record: RecordKind,
    /// This run's random id (a version 4 UUID), the same in every record and finding of the run.
    pub run_id: String,
    /// The host's name (null when it cannot be read).
    pub hostname: Option<String>,
    /// The node this run is on, as the orchestrator names it (`--node-name`, else `$NODE_NAME`),
    /// or null.
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`: the orchestrator's ids for this run (a job, a tenant), in every record.
    pub labels: std::collections::BTreeMap<String, String>,
    /// When the supervisor started the run.
    pub started_at: Timestamp,
    /// When the final record was made: the workload ended or the boot stopped (null before).
    pub ended_at: Option<Timestamp>,
    /// How the workload ended (null until it has, and for a boot that stopped).
    pub exit: Option<ExitRecord>,
    /// `running` once the workload exec'd, else `aborted`.
    pub outcome: Outcome,
    /// The error line when aborted.
    pub error: Option<String>,
    /// The `--config` file the flags were merged from (path and SHA-256), or null.
    pub config: Option<crate::options::FileDigest>,
    /// The `--seccomp-profile` file (path and SHA-256 of the bytes compiled), or null.
    pub seccomp_profile: Option<crate::options::FileDigest>,
    /// The handler.
    pub handler: HandlerRecord,
    /// Environment clues (see [`FailureContext`]).
    pub environment: FailureContext,
    /// Every step, in boot order.
    pub steps: Vec<StepRecord>,
    /// The workload.
    pub workload: WorkloadRecord,
    /// What the sandbox used, read from its control group before it was removed (final record of
    /// a run that had a group; null otherwise).
    pub usage: Option<crate::steps::cgroup::Usage>,
}

impl HardeningReport {
    /// A report with every step not reached yet, started now, with the whole `argv`.
    pub fn new(environment: FailureContext, argv: &[std::ffi::OsString]) -> Self {
        HardeningReport {
            version: SCHEMA_VERSION,
            supervisor_version: env!("CARGO_PKG_VERSION"),
            plugin_api_version: crate::version::PLUGIN_API,
            plugin_abi: crate::version::plugin_abi_line(),
            build_id: crate::version::build_id(),
            record: RecordKind::Boot,
            // An id that could not be drawn is left empty here; `run` refuses to start without one.
            run_id: run_id().unwrap_or_default(),
            hostname: hostname(),
            node_name: None,
            labels: std::collections::BTreeMap::new(),
            started_at: Timestamp::now(),
            ended_at: None,
            exit: None,
            outcome: Outcome::Aborted,
            error: None,
            config: None,
            seccomp_profile: None,
            handler: HandlerRecord {
                decider: Decider::Strict.to_string(),
                declared: Vec::new(),
                plugin: None,
                config: None,
            },
            environment,
            steps: Step::ALL.into_iter().map(StepRecord::new).collect(),
            workload: WorkloadRecord {
                argv: argv
                    .iter()
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect(),
                argv_complete: true,
                program: None,
                pid: None,
                env: Vec::new(),
            },
            usage: None,
        }
    }

    /// The record of `step`.
    pub fn step(&mut self, step: Step) -> &mut StepRecord {
        &mut self.steps[step as usize]
    }

    /// Records an enforced step and what was verified, and logs it.
    pub fn enforced(&mut self, step: Step, verified: Evidence) {
        let record = self.step(step);
        let protection = record.protection;
        tracing::info!(step = %step, decision = "enforced", "{step} enforced: {protection}");
        tracing::debug!(step = %step, verified = ?verified, "{step} verified");
        record.decision = Decision::Enforced;
        record.verified = verified;
    }

    /// Records a refusal and its decision.
    pub fn refusal(
        &mut self,
        refusal: &Refusal,
        fallback: Option<&Refusal>,
        decider: &Decider,
        reason: Option<&str>,
        decision: Decision,
    ) {
        let call = CallRecord::from(refusal);
        let record = self.step(refusal.step);
        record.decision = decision;
        record.syscall = Some(call.syscall);
        record.errno = Some(call.errno);
        record.errno_name = Some(call.errno_name);
        record.fallback = fallback.map(CallRecord::from);
        record.decider = Some(decider.clone());
        record.reason = reason.map(str::to_owned);
        if decision == Decision::Tolerated {
            record.missing_protection = refusal.step.kind().map(|kind| kind.lost_protection());
        }
    }

    /// Records a step the operator turned off.
    pub fn disabled(&mut self, step: Step) {
        let record = self.step(step);
        record.requested = false;
        record.decision = Decision::DisabledByOperator;
        record.decider = Some(Decider::Operator);
        record.missing_protection = step.kind().map(|kind| kind.lost_protection());
    }

    /// Records `step` as lost with `cause`, a step it requires that was left out: the same
    /// decision and decider, and what is missing without it.
    pub fn lost_with(&mut self, step: Step, cause: Step) {
        let cause_record = self.step(cause).clone();
        let record = self.step(step);
        record.requested = cause_record.requested;
        record.decision = cause_record.decision;
        record.decider = cause_record.decider;
        // The refused call that took this step with it.
        record.syscall = cause_record.syscall;
        record.errno = cause_record.errno;
        record.errno_name = cause_record.errno_name;
        record.fallback = cause_record.fallback;
        record.reason = Some(format!("lost with {cause}, which it requires"));
        record.missing_protection = Some(
            step.kind()
                .map_or(step.protection(), |kind| kind.lost_protection()),
        );
    }

    /// Records a step the operator did not ask for.
    pub fn not_requested(&mut self, step: Step) {
        let record = self.step(step);
        record.requested = false;
        record.decision = Decision::NotRequested;
    }

    /// Keeps only `argv[0]` unless `complete` (`--report-argv`).
    pub fn redact_argv(&mut self, complete: bool) {
        if !complete {
            self.workload.argv.truncate(1);
        }
        self.workload.argv_complete = complete;
    }

    /// Makes this the final record: the boot stopped (`exit` None) or the workload ended.
    pub fn finish(&mut self, exit: Option<crate::sandbox::supervise::Ended>) {
        let now = Timestamp::now();
        let duration = now.0.duration_since(self.started_at.0).unwrap_or_default();
        self.record = RecordKind::Final;
        self.ended_at = Some(now);
        self.exit = exit.map(|ended| ExitRecord::new(ended, duration));
        if self.exit.is_some() {
            self.outcome = Outcome::Ended;
        }
    }

    /// Makes this the final record of a workload that ran: how supervision ended (a timeout or
    /// an OOM kill is the outcome; the exit code is the supervisor's).
    pub fn finish_supervised(&mut self, supervised: &crate::sandbox::supervise::Supervised) {
        self.finish(Some(supervised.ended));
        if let Some(exit) = &mut self.exit {
            if supervised.timed_out {
                exit.outcome = ExitOutcome::TimedOut;
            } else if supervised.oom_killed {
                exit.outcome = ExitOutcome::OomKilled;
            }
            exit.exit_code = supervised.exit_code();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_lost_with_another_is_recorded_with_its_decision() {
        use sandbox_plugin_api::SandboxFailureKind;
        let mut report = HardeningReport::new(FailureContext::default(), &[]);
        report.disabled(Step::MountNamespace);
        report.lost_with(Step::WorkloadSeccomp, Step::MountNamespace);
        let lost = &report.steps[Step::WorkloadSeccomp as usize];
        assert_eq!(lost.decision, Decision::DisabledByOperator);
        assert_eq!(lost.decider, Some(Decider::Operator));
        assert!(!lost.requested);
        assert_eq!(
            lost.reason.as_deref(),
            Some("lost with mount-namespace, which it requires")
        );
        assert_eq!(
            lost.missing_protection,
            Some(SandboxFailureKind::WorkloadSeccomp.lost_protection())
        );
    }

    #[test]
    fn exit_records_tell_exited_from_killed() {
        use crate::sandbox::supervise::Ended;
        use nix::sys::signal::Signal;
        let exited = ExitRecord::new(Ended::Exited(3), Duration::from_millis(1200));
        assert_eq!(
            (
                exited.outcome,
                exited.code,
                exited.signal,
                exited.exit_code,
                exited.duration_ms
            ),
            (ExitOutcome::Exited, Some(3), None, 3, 1200)
        );
        let killed = ExitRecord::new(Ended::Signaled(Signal::SIGKILL as i32), Duration::ZERO);
        assert_eq!(
            (
                killed.outcome,
                killed.code,
                killed.signal.as_deref(),
                killed.signal_number,
                killed.exit_code
            ),
            (ExitOutcome::Killed, None, Some("SIGKILL"), Some(9), 137)
        );
        // A real-time signal is a signal too, with its number and name (nix has no name for it).
        let rt = libc::SIGRTMIN() + 3;
        let killed = ExitRecord::new(Ended::Signaled(rt), Duration::ZERO);
        assert_eq!(
            (
                killed.outcome,
                killed.code,
                killed.signal.as_deref(),
                killed.signal_number,
                killed.exit_code
            ),
            (
                ExitOutcome::Killed,
                None,
                Some("SIGRTMIN+3"),
                Some(rt),
                128 + rt
            )
        );
    }
}
