//! OCSF findings (`--findings FILE|fd:N`): one Detection Finding per tolerated or aborting
//! refusal, validated by ocsf-emitter from PyPI (the OCSF 1.5.0 schema as Pydantic models, plus
//! its invariants), tied to the report by the run id.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use sandbox_tests::{plugin, require_root, run_supervisor, scratch, supervisor_bin, Launch};
use serde_json::Value;

/// Validates JSON lines with tests/ocsf/validate_findings.py and returns them parsed.
fn validated(text: &str) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ocsf/validate_findings.py");
    let mut child = Command::new(sandbox_tests::python::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the OCSF validator refused the findings:\n{said}{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        said.ends_with(&format!("{} valid\n", lines.len())),
        "{said}"
    );
    lines
}

fn run_with_findings(
    launch: &Launch,
    flags: &[&str],
) -> (sandbox_tests::Outcome, Value, Vec<Value>) {
    let dir = scratch();
    let report = dir.path().join("report.json");
    let findings = dir.path().join("findings.jsonl");
    let mut launch = launch.clone();
    let mut args = launch.record_to(&report, Some(&findings));
    args.extend(flags.iter().map(OsString::from));
    let outcome = run_supervisor(&launch, args);
    let report: Value = serde_json::from_str(sandbox_tests::last_record(
        &std::fs::read_to_string(&report).unwrap(),
    ))
    .unwrap();
    let text = std::fs::read_to_string(&findings)
        .unwrap_or_else(|err| panic!("no findings ({err}):\n{}", outcome.stderr));
    (outcome, report, validated(&text))
}

#[test]
fn tolerated_refusal_is_one_medium_finding() {
    require_root!();
    // An outer filter (like a container runtime's profile) refuses the network namespace with
    // EPERM; outer-sandbox tolerates it.
    let launch = Launch::netns_refused();
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let (outcome, report, findings) = run_with_findings(
        &launch,
        &[
            "--outer-boundary",
            "vm",
            "--handler-plugin",
            outer.to_str().unwrap(),
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(finding["class_uid"], 2004);
    assert_eq!(finding["type_uid"], 200401);
    assert_eq!(finding["severity_id"], 3);
    assert_eq!(finding["metadata"]["product"]["name"], "sandbox-supervisor");
    assert_eq!(finding["metadata"]["correlation_uid"], report["run_id"]);
    assert_eq!(finding["device"]["hostname"], report["hostname"]);
    assert_eq!(
        finding["finding_info"]["uid"],
        format!("{}/network-namespace", report["run_id"].as_str().unwrap())
    );
    assert_eq!(
        finding["finding_info"]["title"],
        "hardening step tolerated: network-namespace"
    );
    let unmapped = &finding["unmapped"];
    assert_eq!(unmapped["step"], "network-namespace");
    assert_eq!(unmapped["decision"], "tolerated");
    assert_eq!(unmapped["errno"], libc::EPERM);
    assert_eq!(unmapped["errno_name"], "EPERM");
    assert_eq!(unmapped["decider"], "plugin:outer-sandbox@0.1.0");
    assert!(unmapped["missing_protection"].is_string());
    // The finding's time lies within the run.
    let time = finding["time"].as_i64().unwrap();
    assert!(time > 1_700_000_000_000, "{time}");
}

#[test]
fn aborted_refusal_is_one_low_finding_with_the_reason() {
    require_root!();
    let launch = Launch::nobody();
    let (outcome, report, findings) = run_with_findings(&launch, &["--no-userns", "--", "true"]);
    assert_eq!(outcome.code, 120, "{}", outcome.stderr);
    // First the group nobody may make (no limit was asked for: tolerated by the default limits,
    // one medium finding), then the refusal that stopped the boot.
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0]["unmapped"]["step"], "cgroup");
    assert_eq!(findings[0]["unmapped"]["decider"], "default limits");
    assert_eq!(findings[0]["severity_id"], 3);
    let finding = &findings[1];
    assert_eq!(finding["severity_id"], 2);
    assert_eq!(finding["unmapped"]["decision"], "aborted");
    assert_eq!(finding["unmapped"]["decider"], "strict");
    assert_eq!(finding["unmapped"]["reason"], report["error"]);
    assert_eq!(finding["metadata"]["correlation_uid"], report["run_id"]);
}

#[test]
fn no_refusal_no_finding() {
    require_root!();
    let (outcome, _, findings) = run_with_findings(&Launch::default(), &["--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn findings_on_a_descriptor() {
    require_root!();
    let dir = scratch();
    let path = dir.path().join("findings.jsonl");
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--init-groups",
            "sh",
            "-c",
        ])
        .arg(format!(
            "exec 4>{}; exec \"$0\" --no-userns --findings fd:4 -- true",
            path.display()
        ))
        .arg(supervisor_bin())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(120));
    let findings = validated(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["unmapped"]["step"], "cgroup");
    assert_eq!(findings[1]["unmapped"]["step"], "network-namespace");
}

#[test]
fn report_and_findings_cannot_share_a_descriptor() {
    let output = Command::new("sh")
        .arg("-c")
        .arg("exec 3>/dev/null; exec \"$0\" --report-fd 3 --findings fd:3 -- true")
        .arg(supervisor_bin())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "sandbox-supervisor: error: --report-fd 3 and --findings fd:3 name the same descriptor; give each its own (see --help)\n"
    );
}

/// A tolerated finding carries the plugin's reason, the node and the labels; a boot the failure
/// handler stopped before any step is a finding too: the plugin not loaded (118: its digest is not
/// the pinned one; High) or failed (119: its init rejected the configuration; Medium), each with
/// the error line as its reason.
#[test]
fn findings_carry_the_reason_and_exist_for_118_and_119() {
    require_root!();
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let outer = outer.to_str().unwrap();
    let (outcome, report, findings) = run_with_findings(
        &Launch::netns_refused(),
        &[
            "--outer-boundary",
            "vm",
            "--node-name",
            "node-3",
            "--label",
            "job=11",
            "--handler-plugin",
            outer,
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let unmapped = &findings[0]["unmapped"];
    assert_eq!(
        unmapped["reason"],
        "outer boundary: the operator declared the boundary vm (--outer-boundary)"
    );
    assert_eq!(unmapped["reason"], report["steps"][1]["reason"]);
    assert_eq!(unmapped["node_name"], "node-3");
    assert_eq!(unmapped["labels"]["job"], "11");

    let dir = scratch();
    let rejected = sandbox_tests::write_file(dir.path(), "bad.json", r#"{"boundary": "vmware"}"#);
    for (code, flags, severity, cause) in [
        (
            118,
            vec!["--handler-plugin-sha256", &"0".repeat(64)],
            "High",
            "SHA-256",
        ),
        (
            119,
            vec!["--handler-config", rejected.to_str().unwrap()],
            "Medium",
            "unknown boundary",
        ),
    ] {
        let mut args = vec!["--handler-plugin", outer];
        args.extend(flags);
        args.extend(["--", "true"]);
        let (outcome, report, findings) = run_with_findings(&Launch::default(), &args);
        assert_eq!(outcome.code, code, "{}", outcome.stderr);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let finding = &findings[0];
        assert_eq!(finding["severity"], severity);
        assert_eq!(
            finding["finding_info"]["uid"],
            format!("{}/failure-handler", report["run_id"].as_str().unwrap())
        );
        assert_eq!(finding["unmapped"]["step"], "failure-handler");
        assert_eq!(finding["unmapped"]["decision"], "aborted");
        assert_eq!(finding["unmapped"]["error"], report["error"]);
        let reason = finding["unmapped"]["reason"].as_str().unwrap();
        assert!(reason.contains(cause), "{reason}");
    }
}

/// The usage fields of the final record, each carried by the finding's `unmapped.usage` and the
/// JSON log's `workload ended` event as the report has them (a log line leaves out a null).
fn assert_same_usage(report: &Value, finding: &Value, events: &[Value]) {
    const USAGE: [&str; 6] = [
        "memory_peak_bytes",
        "memory_max_hits",
        "oom_kills",
        "pids_peak",
        "pids_max_hits",
        "cpu_usage_usec",
    ];
    let usage = &report["usage"];
    assert!(usage.is_object(), "{report}");
    assert_eq!(&finding["unmapped"]["usage"], usage, "{finding}");
    assert_eq!(finding["unmapped"]["exit"], report["exit"], "{finding}");
    let ended: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("workload ended"))
        })
        .collect();
    assert_eq!(ended.len(), 1, "{events:?}");
    let fields = &ended[0]["fields"];
    assert_eq!(fields["outcome"], report["exit"]["outcome"], "{fields}");
    assert_eq!(fields["exit_code"], report["exit"]["exit_code"], "{fields}");
    for key in USAGE {
        match &usage[key] {
            Value::Null => assert!(fields[key].is_null(), "{key}: {fields}"),
            value => assert_eq!(&fields[key], value, "{key}: {fields}"),
        }
    }
}

/// A run that ends at a bound gets one more finding when it ends, carrying the final record's
/// `exit` and `usage`, and so does the JSON log's last line: an OOM kill under --memory-max
/// (Medium) and a --timeout (Low), both validated by ocsf-emitter.
#[test]
fn an_oom_kill_and_a_timeout_are_findings_with_the_usage() {
    require_root!();
    let allocate = [
        "--log-format",
        "json",
        "--memory-max",
        "64M",
        "--",
        "/usr/bin/python3",
        "-c",
        "b = bytearray(300 * 1024 * 1024)",
    ];
    let (outcome, report, findings) = run_with_findings(&Launch::default(), &allocate);
    assert_eq!(outcome.code, 137, "{}", outcome.stderr);
    assert_eq!(report["exit"]["outcome"], "oom-killed", "{report}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let oom = &findings[0];
    assert_eq!(oom["severity_id"], 3, "{oom}");
    assert_eq!(
        oom["finding_info"]["types"],
        serde_json::json!(["Resource Bound"])
    );
    assert_eq!(
        oom["finding_info"]["uid"],
        format!("{}/exit", report["run_id"].as_str().unwrap())
    );
    assert_eq!(oom["metadata"]["correlation_uid"], report["run_id"]);
    assert!(
        oom["unmapped"]["bounds"]
            .as_array()
            .unwrap()
            .contains(&"memory-max".into()),
        "{oom}"
    );
    assert!(
        report["usage"]["oom_kills"].as_u64().unwrap_or(0) >= 1
            || report["usage"]["memory_max_hits"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    assert!(
        report["usage"]["memory_peak_bytes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert_same_usage(&report, oom, &outcome.json_events());

    let sleep = [
        "--log-format",
        "json",
        "--timeout",
        "1",
        "--",
        "sleep",
        "30",
    ];
    let (outcome, report, findings) = run_with_findings(&Launch::default(), &sleep);
    assert_eq!(outcome.code, 124, "{}", outcome.stderr);
    assert_eq!(report["exit"]["outcome"], "timed-out", "{report}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let timeout = &findings[0];
    assert_eq!(timeout["severity_id"], 2, "{timeout}");
    assert_eq!(
        timeout["unmapped"]["bounds"],
        serde_json::json!(["timeout"])
    );
    assert_same_usage(&report, timeout, &outcome.json_events());
}
