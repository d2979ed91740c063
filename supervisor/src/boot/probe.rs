//! `sandbox-supervisor probe`: the boot sequence of a run, driven with "record, decide, continue".
//!
//! The probe takes every flag a run takes that changes the boot, walks the same steps
//! ([`crate::boot`]) on this host, asks the configured handler about each refusal without the WARN
//! a run would log, goes on as if each refused step were tolerated, and kills the sandbox before
//! any workload runs. It predicts the run's exit code by construction: the first refusal a run
//! would stop at, or the first error. The probe process itself is thrown away afterwards (it
//! entered the namespaces and installed the prelude, as a run's supervisor would).

use serde::Serialize;

use crate::boot::RecordAndContinue;
use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::record::{Decision, HandlerRecord, HardeningReport, StepRecord};

/// The `$schema` of `probe --json`'s document.
pub const PROBE_SCHEMA: &str = "urn:sandbox-supervisor:probe:2";

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeAnswer {
    /// The JSON Schema of this document (docs/probe.schema.json).
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    /// Schema version of this document.
    pub version: u32,
    /// This supervisor's version.
    pub supervisor_version: &'static str,
    /// The executable's GNU build id (null when the linker wrote none).
    pub build_id: Option<String>,
    /// This probe's random id (a version 4 UUID), on every log line it wrote.
    pub run_id: String,
    /// The host's name (null when it cannot be read).
    pub hostname: Option<String>,
    /// `--node-name` (else `$NODE_NAME`), or null.
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// When the probe ran (RFC 3339, UTC).
    pub time: crate::record::Timestamp,
    /// The `--config` file the flags were merged from (the report's shape), or null.
    pub config: Option<crate::options::FileDigest>,
    /// The handler a run would use (the same shape as the report's).
    pub handler: HandlerRecord,
    /// Environment clues.
    pub environment: crate::handler::context::FailureContext,
    /// One record per step, in boot order, as the report writes them.
    pub steps: Vec<StepRecord>,
    /// The error that stopped the probe, if one did.
    pub error: Option<String>,
    /// Whether a real run would boot.
    pub boots: bool,
    /// The exit code a real run would stop with, when it would not boot.
    pub would_exit: Option<i32>,
    /// Which limits this host can enforce and how (cgroup v1, v2, or none; whether the
    /// supervisor may make a group there). The cgroup step's record says what a run got.
    pub limits: Vec<crate::steps::cgroup::Support>,
}

/// Runs the probe. `Err` only for what stops a run before the first step (a bad flag, a plugin
/// that does not load), with the run's code.
pub fn probe(options: RunOptions) -> Result<ProbeAnswer, SupervisorError> {
    let mask = crate::sandbox::supervise::block_signals().map_err(SupervisorError::Supervise)?;
    let signals = crate::sandbox::signal_fd()?;
    let mut plugin = None;
    let mut config = None;
    if let Some(path) = &options.handler_plugin {
        let (sha256, recorded_config) = crate::boot::run::register_plugin(
            path,
            options.handler_config.as_deref(),
            options.handler_plugin_sha256,
            options.handler_timeout,
            true,
        )?;
        config = recorded_config;
        plugin = sha256.map(|sha256| crate::boot::run::plugin_file_record(path, sha256));
    }
    let mut report = HardeningReport::new(
        crate::handler::context::detect(options.outer_boundary),
        &options.command,
    );
    report.config = options.config.clone();
    report.node_name = options.node_name.clone();
    report.labels = options.labels.iter().cloned().collect();
    let _span = crate::boot::run::enter_span(&report);
    report.handler = crate::boot::run::handler_record();
    report.handler.plugin = plugin;
    report.handler.config = config;
    // The probe runs no workload: its program is never exec'd.
    let mut identity = crate::steps::identity::prepare(&options)?;
    // The probe's handler may decide in a forked child during the boot: the uid scan's thread
    // is done before.
    identity.settle().map_err(SupervisorError::Uid)?;
    let mut prepared = crate::boot::prepare(&options, Some("/".into()), mask, identity)?;
    report.seccomp_profile = prepared.seccomp_profile.clone();
    let mut driver = RecordAndContinue {
        handler: crate::handler::failure_handler(),
        would_exit: None,
    };
    let error = match crate::boot::boot(
        &options,
        &mut prepared,
        &mut crate::boot::Linux,
        &mut driver,
        &mut report,
        &signals,
    ) {
        // Dropping the paused sandbox kills it: nothing runs.
        Ok(paused) => {
            drop(paused);
            None
        }
        Err(err) => {
            driver.would_exit.get_or_insert(err.exit_code());
            Some(crate::exit::one_line(&err))
        }
    };
    crate::boot::teardown(&prepared.plan, &mut report);
    Ok(ProbeAnswer {
        schema: PROBE_SCHEMA,
        version: 2,
        supervisor_version: report.supervisor_version,
        build_id: report.build_id.clone(),
        run_id: report.run_id.clone(),
        hostname: report.hostname.clone(),
        node_name: report.node_name.clone(),
        labels: report.labels.clone(),
        time: report.started_at,
        config: report.config.clone(),
        handler: report.handler.clone(),
        environment: report.environment.clone(),
        steps: report.steps,
        error,
        boots: driver.would_exit.is_none(),
        would_exit: driver.would_exit,
        limits: crate::steps::cgroup::support(),
    })
}

impl ProbeAnswer {
    /// The answer as a table for people.
    pub fn table(&self) -> String {
        let mut out = format!("handler: {}\n", self.handler.decider);
        out.push_str(&format!(
            "{:<20} {:<15} {:<33} {:<8} {:<21} {}\n",
            "STEP", "ROUTE", "REFUSED CALL", "ERRNO", "DECISION", "DECIDER"
        ));
        for row in &self.steps {
            let decision = match row.decision {
                Decision::Enforced => "enforced",
                Decision::Tolerated => "tolerated",
                Decision::Aborted => "aborted",
                Decision::NotRequested => "not-requested",
                Decision::DisabledByOperator => "disabled-by-operator",
                Decision::NotReached => "not-reached",
            };
            out.push_str(&format!(
                "{:<20} {:<15} {:<33} {:<8} {:<21} {}\n",
                row.step.name(),
                row.route.map_or("-", |route| route.name()),
                row.syscall.unwrap_or("-"),
                row.errno_name.as_deref().unwrap_or("-"),
                decision,
                row.decider.as_ref().map_or("-", |decider| decider.as_str()),
            ));
        }
        if let Some(error) = &self.error {
            out.push_str(&format!("stopped: {error}\n"));
        }
        match self.would_exit {
            None => out.push_str("result: a run would boot\n"),
            Some(code) => {
                out.push_str(&format!("result: a run would stop with exit code {code}\n"))
            }
        }
        for limit in &self.limits {
            match &limit.below {
                Some(below) => out.push_str(&format!(
                    "limit {}: cgroup {}, below {below} ({})\n",
                    limit.controller, limit.how, limit.access
                )),
                None => out.push_str(&format!(
                    "limit {}: none ({})\n",
                    limit.controller, limit.access
                )),
            }
        }
        out
    }

    /// The answer as a JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the answer serializes")
    }
}
