//! The machine-readable hardening report (`--report FILE`, `--report-fd N`).
//!
//! Written once: after every step has been decided and verified and before the workload's `execve`
//! (the child waits for it), or when the boot stops. The schema is documented in
//! `docs/report.md`; `version` changes only when a field changes meaning or disappears.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

use crate::context::FailureContext;
use crate::failure::{FailureReport, Refused, Tolerated};

/// The report's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// Where the report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSink {
    /// `--report FILE`: created (mode 0600) or truncated.
    File(PathBuf),
    /// `--report-fd N`: an open descriptor inherited from the caller, closed after writing.
    Fd(RawFd),
}

impl std::fmt::Display for ReportSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportSink::File(path) => write!(f, "{}", path.display()),
            ReportSink::Fd(fd) => write!(f, "on descriptor {fd}"),
        }
    }
}

impl ReportSink {
    /// Opens the sink at boot, before any step, so that a bad path is a usage error and not a
    /// failure after hardening.
    pub fn open(&self) -> std::io::Result<ReportWriter> {
        match self {
            ReportSink::File(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(path)
                    .map(ReportWriter)
            }
            ReportSink::Fd(fd) => {
                // SAFETY: the operator handed this descriptor to the supervisor with --report-fd
                // (checked open when the flag was parsed) for exactly this report; the writer owns
                // it from here and closes it after writing.
                Ok(ReportWriter(unsafe { File::from_raw_fd(*fd) }))
            }
        }
    }
}

/// An open report destination; written once.
#[derive(Debug)]
pub struct ReportWriter(File);

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
    /// The operator did not ask for it (privilege drop without `--user`).
    NotRequested,
    /// The boot stopped before this step.
    NotReached,
}

/// One step's record.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// `network-namespace`, `supervisor-seccomp`, `workload-seccomp`, `privilege-drop`.
    pub step: &'static str,
    /// Whether the operator asked for it (all but the privilege drop always are).
    pub requested: bool,
    /// What the step does, in a few words.
    pub protection: &'static str,
    /// The outcome.
    pub decision: Decision,
    /// The call that failed, when one did.
    pub syscall: Option<String>,
    /// Its raw errno.
    pub errno: Option<i32>,
    /// The errno's name.
    pub errno_name: Option<String>,
    /// Who decided about a refusal: `strict` or `plugin:NAME@VERSION`.
    pub decider: Option<String>,
    /// What is missing because of a tolerated refusal.
    pub missing_protection: Option<&'static str>,
    /// What was re-read after the step (an object; empty when nothing could be).
    pub verified: Value,
}

impl StepRecord {
    fn new(step: &'static str, protection: &'static str) -> Self {
        StepRecord {
            step,
            requested: true,
            protection,
            decision: Decision::NotReached,
            syscall: None,
            errno: None,
            errno_name: None,
            decider: None,
            missing_protection: None,
            verified: json!({}),
        }
    }

    fn refusal(&mut self, report: &FailureReport, decider: &str, decision: Decision) {
        self.decision = decision;
        self.syscall = Some(report.syscall.clone());
        self.errno = Some(report.errno);
        self.errno_name = Some(report.errno_name.clone());
        self.decider = Some(decider.to_owned());
        if decision == Decision::Tolerated {
            self.missing_protection = Some(report.kind.lost_protection());
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct HardeningReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// This supervisor's version.
    pub supervisor_version: &'static str,
    /// `running` (the workload is about to exec) or `aborted`.
    pub outcome: &'static str,
    /// The error line when aborted.
    pub error: Option<String>,
    /// The handler: its decider and declared tolerances.
    pub handler: Value,
    /// Environment clues (see [`FailureContext`]).
    pub environment: FailureContext,
    /// The four steps in boot order.
    pub steps: Vec<StepRecord>,
    /// The workload: its argv and, once forked, its pid.
    pub workload: Value,
}

impl HardeningReport {
    /// A report with every step not reached yet.
    pub fn new(environment: FailureContext, argv: &[std::ffi::OsString]) -> Self {
        HardeningReport {
            version: SCHEMA_VERSION,
            supervisor_version: env!("CARGO_PKG_VERSION"),
            outcome: "aborted",
            error: None,
            handler: json!({"decider": "strict", "declared": []}),
            environment,
            steps: vec![
                StepRecord::new("network-namespace", "a network namespace with only lo"),
                StepRecord::new("supervisor-seccomp", "the supervisor's own seccomp prelude"),
                StepRecord::new(
                    "workload-seccomp",
                    "the workload seccomp filter and no_new_privs",
                ),
                StepRecord::new("privilege-drop", "the workload's uid, gid and groups"),
            ],
            workload: json!({
                "argv": argv.iter().map(|arg| arg.to_string_lossy()).collect::<Vec<_>>(),
                "pid": null,
            }),
        }
    }

    /// The record of `step` (by name).
    pub fn step(&mut self, step: &str) -> &mut StepRecord {
        self.steps
            .iter_mut()
            .find(|record| record.step == step)
            .expect("known step name")
    }

    /// Records an enforced step and what was verified.
    pub fn enforced(&mut self, step: &str, verified: Value) {
        let record = self.step(step);
        record.decision = Decision::Enforced;
        record.verified = verified;
    }

    /// Records a tolerated refusal.
    pub fn tolerated(&mut self, tolerated: &Tolerated) {
        self.step(tolerated.report.kind.name()).refusal(
            &tolerated.report,
            &tolerated.decider,
            Decision::Tolerated,
        );
    }

    /// Records a refusal that stopped the boot.
    pub fn refused(&mut self, refused: &Refused) {
        let (report, decider) = match refused {
            Refused::Aborted {
                report, decider, ..
            }
            | Refused::Undeclared { report, decider } => (report, decider.clone()),
            Refused::HandlerFailed { report, failure } => (report, failure.decider.clone()),
        };
        self.step(report.kind.name())
            .refusal(report, &decider, Decision::Aborted);
    }

    /// Writes the report as one JSON document followed by a newline, and closes the writer.
    pub fn write(&self, writer: ReportWriter) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let mut file = writer.0;
        file.write_all(&text)
    }
}
