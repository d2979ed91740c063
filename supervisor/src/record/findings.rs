//! OCSF findings (`--findings FILE|fd:N`): one OCSF 1.5.0 Detection Finding (class 2004) per
//! refusal that was tolerated or that aborted the boot, one JSON object per line, written once
//! when the boot has been decided (the workload runs, or the boot stopped), kept open and checked
//! again when the run ends (the path still names that file, holding what was written). When the
//! run ends at a bound (a timeout, an OOM kill) or the workload hit one (`pids.max`), one more
//! finding then carries the final record's `exit` and `usage` ([`end_findings`]).
//!
//! The standard attributes carry what a SIEM indexes (time, product, host, title, severity); what
//! OCSF has no attribute for (the step, the refused call, its errno, who decided, the run id) is
//! in `unmapped`, as OCSF prescribes for source-specific data. `docs/report.md` documents the
//! mapping.

use serde::Serialize;

use crate::record::{
    Decision, ExitOutcome, ExitRecord, HardeningReport, ReportWriter, StepRecord, Timestamp,
};

/// The OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.5.0";

/// Class `Detection Finding`.
const CLASS_UID: u32 = 2004;
/// Category `Findings`.
const CATEGORY_UID: u32 = 2;
/// Activity `Create`: a new finding.
const ACTIVITY_CREATE: u32 = 1;

/// One Detection Finding.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionFinding {
    /// `2004`.
    pub class_uid: u32,
    /// `Detection Finding`.
    pub class_name: &'static str,
    /// `2`.
    pub category_uid: u32,
    /// `Findings`.
    pub category_name: &'static str,
    /// `1` (Create).
    pub activity_id: u32,
    /// `Create`.
    pub activity_name: &'static str,
    /// `class_uid * 100 + activity_id`: 200401.
    pub type_uid: u32,
    /// `Detection Finding: Create`.
    pub type_name: &'static str,
    /// When the refusal was decided, milliseconds since the epoch.
    pub time: i64,
    /// 3 (Medium) for a tolerated refusal: the workload runs without a protection; 2 (Low) for
    /// one that aborted the boot: nothing ran.
    pub severity_id: u32,
    /// `Medium` or `Low`.
    pub severity: &'static str,
    /// 1 (New).
    pub status_id: u32,
    /// `New`.
    pub status: &'static str,
    /// One sentence.
    pub message: String,
    /// The product and the schema version.
    pub metadata: Metadata,
    /// What was found.
    pub finding_info: FindingInfo,
    /// The host.
    pub device: Device,
    /// The supervisor's own fields.
    pub unmapped: UnmappedFields,
}

/// `unmapped`, by what the finding is about.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UnmappedFields {
    /// A refused step.
    Refusal(Unmapped),
    /// The workload's end at a bound.
    End(EndUnmapped),
}

/// `unmapped` of the finding of a workload that ended at a bound or hit one: the final record's
/// `exit` and `usage`.
#[derive(Debug, Clone, Serialize)]
pub struct EndUnmapped {
    /// The run id.
    pub run_id: String,
    /// The final record's `exit`: its `outcome` (`timed-out`, `oom-killed`, ...), exit code,
    /// signal, duration.
    pub exit: ExitRecord,
    /// The final record's `usage`: memory peak, pids peak, OOM kills, pids-max hits, CPU time
    /// (null where the sandbox had no group).
    pub usage: Option<crate::steps::cgroup::Usage>,
    /// Which bounds were reached: `timeout`, `memory-max` (an OOM kill), `pids-max`.
    pub bounds: Vec<&'static str>,
}

/// `metadata`.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// [`OCSF_VERSION`].
    pub version: &'static str,
    /// This supervisor.
    pub product: Product,
    /// The run id: every finding and report record of one run share it.
    pub correlation_uid: String,
    /// `sandbox-supervisor findings`.
    pub log_name: &'static str,
}

/// `metadata.product`.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    /// `sandbox-supervisor`.
    pub name: &'static str,
    /// `sandbox-supervisor`.
    pub vendor_name: &'static str,
    /// The supervisor's version.
    pub version: &'static str,
}

/// `finding_info`.
#[derive(Debug, Clone, Serialize)]
pub struct FindingInfo {
    /// `RUN_ID/STEP`: unique per run and step (a step is decided once per run); `RUN_ID/exit` for
    /// the workload's end at a bound.
    pub uid: String,
    /// `hardening step tolerated: network-namespace` or `... aborted the boot: ...`.
    pub title: String,
    /// What the workload lacks (tolerated) or why nothing ran (aborted).
    pub desc: String,
    /// `["Hardening Refusal"]`, or `["Resource Bound"]` for the workload's end at a bound.
    pub types: Vec<&'static str>,
    /// Same as the finding's `time`.
    pub created_time: i64,
}

/// `device`.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// The host's name.
    pub hostname: Option<String>,
    /// 0 (Unknown): the supervisor does not classify its host.
    pub type_id: u32,
    /// `Unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `unmapped`: the refusal as the report records it.
#[derive(Debug, Clone, Serialize)]
pub struct Unmapped {
    /// The run id.
    pub run_id: String,
    /// The step.
    pub step: &'static str,
    /// `tolerated` or `aborted`.
    pub decision: &'static str,
    /// The refused call.
    pub syscall: Option<&'static str>,
    /// Its raw errno.
    pub errno: Option<i32>,
    /// The errno's name.
    pub errno_name: Option<String>,
    /// Who decided: `strict`, `plugin:NAME@VERSION`, `never tolerable`.
    pub decider: Option<String>,
    /// The reason the handler gave for its decision; without one, for an aborted refusal, the
    /// error line.
    pub reason: Option<String>,
    /// The error line that stopped the boot (aborted), else null.
    pub error: Option<String>,
    /// What the workload lacks, for a tolerated refusal.
    pub missing_protection: Option<&'static str>,
    /// The node (`--node-name`, `$NODE_NAME`), or null.
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The finding of a workload that ended at a bound (`exit.outcome` `timed-out` or `oom-killed`)
/// or hit one (an OOM kill, a fork refused at `pids.max`), from the final record: none for any
/// other end. Severity 3 (Medium) when a memory or process bound was reached, 2 (Low) for a
/// timeout alone.
pub fn end_findings(report: &HardeningReport, time: Timestamp) -> Vec<DetectionFinding> {
    let Some(exit) = &report.exit else {
        return Vec::new();
    };
    let usage = report.usage.clone().unwrap_or_default();
    let mut bounds = Vec::new();
    if exit.outcome == ExitOutcome::TimedOut {
        bounds.push("timeout");
    }
    if exit.outcome == ExitOutcome::OomKilled || usage.oom_kills.unwrap_or(0) > 0 {
        bounds.push("memory-max");
    }
    if usage.pids_max_hits.unwrap_or(0) > 0 {
        bounds.push("pids-max");
    }
    if bounds.is_empty() {
        return Vec::new();
    }
    let outcome = serde_json::to_value(exit.outcome)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let title = format!("workload bound reached: {}", bounds.join(", "));
    let show = |value: Option<u64>| value.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let desc = format!(
        "the workload ended {outcome} with exit code {} after {} ms; memory peak {} bytes, pids peak {}, OOM kills {}, pids-max hits {}, CPU time {} us",
        exit.exit_code,
        exit.duration_ms,
        show(usage.memory_peak_bytes),
        show(usage.pids_peak),
        show(usage.oom_kills),
        show(usage.pids_max_hits),
        show(usage.cpu_usage_usec),
    );
    let (severity_id, severity) = if bounds == ["timeout"] {
        (2, "Low")
    } else {
        (3, "Medium")
    };
    let unmapped = UnmappedFields::End(EndUnmapped {
        run_id: report.run_id.clone(),
        exit: exit.clone(),
        usage: report.usage.clone(),
        bounds,
    });
    vec![detection(
        report,
        time,
        format!("{}/exit", report.run_id),
        (title, desc),
        (severity_id, severity),
        "Resource Bound",
        unmapped,
    )]
}

/// The findings of a decided boot: one per step whose refusal was tolerated or aborted the boot.
/// Steps without a refused call (not reached, disabled by the operator, failed verification) have
/// none.
pub fn findings(report: &HardeningReport, time: Timestamp) -> Vec<DetectionFinding> {
    report
        .steps
        .iter()
        .filter(|record| {
            matches!(record.decision, Decision::Tolerated | Decision::Aborted)
                && record.errno.is_some()
        })
        .map(|record| finding(report, record, time))
        .collect()
}

fn finding(report: &HardeningReport, record: &StepRecord, time: Timestamp) -> DetectionFinding {
    let step = record.step.name();
    let tolerated = record.decision == Decision::Tolerated;
    let call = format!(
        "{} failed with {}",
        record.syscall.unwrap_or("?"),
        record.errno_name.as_deref().unwrap_or("?")
    );
    let (title, desc, severity_id, severity) = if tolerated {
        (
            format!("hardening step tolerated: {step}"),
            format!(
                "{call}; the workload runs without it: {}",
                record.missing_protection.unwrap_or(record.protection)
            ),
            3,
            "Medium",
        )
    } else {
        (
            format!("hardening step refused, boot aborted: {step}"),
            format!("{call}; the workload did not run"),
            2,
            "Low",
        )
    };
    let unmapped = UnmappedFields::Refusal(Unmapped {
        run_id: report.run_id.clone(),
        step,
        decision: record.decision.name(),
        syscall: record.syscall,
        errno: record.errno,
        errno_name: record.errno_name.clone(),
        decider: record.decider.as_ref().map(ToString::to_string),
        reason: record
            .reason
            .clone()
            .or_else(|| (!tolerated).then(|| report.error.clone()).flatten()),
        error: (!tolerated).then(|| report.error.clone()).flatten(),
        missing_protection: record.missing_protection,
        node_name: report.node_name.clone(),
        labels: report.labels.clone(),
    });
    detection(
        report,
        time,
        format!("{}/{step}", report.run_id),
        (title, desc),
        (severity_id, severity),
        "Hardening Refusal",
        unmapped,
    )
}

/// One Detection Finding of `report`'s run: `uid`, title and description, severity, type.
fn detection(
    report: &HardeningReport,
    time: Timestamp,
    uid: String,
    (title, desc): (String, String),
    (severity_id, severity): (u32, &'static str),
    kind: &'static str,
    unmapped: UnmappedFields,
) -> DetectionFinding {
    let millis = time.unix_millis();
    DetectionFinding {
        class_uid: CLASS_UID,
        class_name: "Detection Finding",
        category_uid: CATEGORY_UID,
        category_name: "Findings",
        activity_id: ACTIVITY_CREATE,
        activity_name: "Create",
        type_uid: CLASS_UID * 100 + ACTIVITY_CREATE,
        type_name: "Detection Finding: Create",
        time: millis,
        severity_id,
        severity,
        status_id: 1,
        status: "New",
        message: format!("{title}: {desc}"),
        metadata: Metadata {
            version: OCSF_VERSION,
            product: Product {
                name: "sandbox-supervisor",
                vendor_name: "sandbox-supervisor",
                version: report.supervisor_version,
            },
            correlation_uid: report.run_id.clone(),
            log_name: "sandbox-supervisor findings",
        },
        finding_info: FindingInfo {
            uid,
            title,
            desc,
            types: vec![kind],
            created_time: millis,
        },
        device: Device {
            hostname: report.hostname.clone(),
            type_id: 0,
            kind: "Unknown",
        },
        unmapped,
    }
}

/// The finding of a boot stopped before any step was decided: the failure handler's plugin could
/// not be loaded (exit 118: a missing or untrusted file, a digest that is not the pinned one,
/// another ABI) or failed (exit 119: its init rejected the configuration, a panic, a missed
/// deadline), or the supervisor itself failed (exit 125: no uid could be allocated, a system
/// call that must not fail did). `None` for any other code.
pub fn handler_finding(
    report: &HardeningReport,
    exit_code: i32,
    time: Timestamp,
) -> Option<DetectionFinding> {
    let (title, step, severity_id, severity) = match exit_code {
        118 => (
            "failure handler not loaded, boot aborted",
            "failure-handler",
            4,
            "High",
        ),
        119 => (
            "failure handler failed, boot aborted",
            "failure-handler",
            3,
            "Medium",
        ),
        125 => ("supervisor failed, boot aborted", "boot", 3, "Medium"),
        _ => return None,
    };
    let error = report.error.clone().unwrap_or_default();
    let unmapped = UnmappedFields::Refusal(Unmapped {
        run_id: report.run_id.clone(),
        step,
        decision: Decision::Aborted.name(),
        syscall: None,
        errno: None,
        errno_name: None,
        decider: Some(report.handler.decider.clone()),
        reason: Some(error.clone()),
        error: Some(error.clone()),
        missing_protection: None,
        node_name: report.node_name.clone(),
        labels: report.labels.clone(),
    });
    Some(detection(
        report,
        time,
        format!("{}/{step}", report.run_id),
        (title.to_owned(), error),
        (severity_id, severity),
        "Hardening Refusal",
        unmapped,
    ))
}

/// Writes `findings` as JSON lines. The writer stays open until the run ends, when
/// [`ReportWriter::check`] finds its path still naming the same file, holding what was written.
pub fn write(findings: &[DetectionFinding], writer: &mut ReportWriter) -> std::io::Result<()> {
    let mut text = Vec::new();
    for finding in findings {
        serde_json::to_writer(&mut text, finding).map_err(std::io::Error::other)?;
        text.push(b'\n');
    }
    writer.write_all(&text)
}
