//! Joining what a run leaves behind: every log line of a run carries its run id (and the node and
//! labels the operator gave), the same as its report; the workload's start and end are one line
//! each; a decided refusal is one line; the report names the handler's configuration; `probe`
//! refuses the flags it cannot honour and its answer says where, when and what made it.

use std::path::Path;
use std::process::{Command, Stdio};

use sandbox_tests::{
    plugin, require_root, run_supervisor, scratch, sha256_of, supervisor_bin, write_file, Launch,
    Outcome,
};
use serde_json::Value;

/// Runs the supervisor as root with `env` set, `--log-format json` and `--report`; the outcome and
/// the report.
fn run_json(env: &[(&str, &str)], args: &[&str]) -> (Outcome, Value) {
    let dir = scratch();
    let report = dir.path().join("report.json");
    let mut command = Command::new(supervisor_bin());
    command
        .args(["--log-format", "json", "--report"])
        .arg(&report)
        .args(args)
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let outcome = Outcome::from(sandbox_tests::output_of(&mut command));
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|err| panic!("no report ({err}): {}", outcome.stderr));
    (outcome, serde_json::from_str(&text).unwrap())
}

/// Every JSON log line of the run is in its span: the report's run id, node and labels.
fn assert_every_line_in_the_run(outcome: &Outcome, report: &Value, node: &str, labels: &str) {
    let events = outcome.json_events();
    assert!(events.len() > 10, "{}", outcome.stderr);
    for event in &events {
        assert_eq!(event["span"]["run_id"], report["run_id"], "{event}");
        assert_eq!(event["span"]["node"], node, "{event}");
        assert_eq!(event["span"]["labels"], labels, "{event}");
    }
}

/// `--node-name` (else `$NODE_NAME`) and `--label` reach the report and every log line, with the
/// run id; the workload's start is one line with its pid, its end one line with its exit code and
/// duration.
#[test]
fn every_log_line_carries_the_run_id_node_and_labels() {
    require_root!();
    let (outcome, report) = run_json(
        &[("NODE_NAME", "node-from-env")],
        &[
            "--label",
            "job=42",
            "--label",
            "tenant=blue",
            "--node-name",
            "node-7",
            "--",
            "sh",
            "-c",
            "exit 3",
        ],
    );
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert_eq!(report["node_name"], "node-7");
    assert_eq!(
        report["labels"],
        serde_json::json!({"job": "42", "tenant": "blue"})
    );
    assert_every_line_in_the_run(&outcome, &report, "node-7", "job=42,tenant=blue");
    let events = outcome.json_events();
    let started: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("workload started: "))
        })
        .collect();
    assert_eq!(started.len(), 1, "{}", outcome.stderr);
    assert_eq!(started[0]["fields"]["pid"], report["workload"]["pid"]);
    let ended: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("workload ended: "))
        })
        .collect();
    assert_eq!(ended.len(), 1, "{}", outcome.stderr);
    assert_eq!(ended[0]["fields"]["exit_code"], 3);
    assert_eq!(ended[0]["fields"]["outcome"], "exited");
    assert!(ended[0]["fields"]["duration_ms"].is_u64());

    // Without --node-name, a pod's NODE_NAME (the downward API's) names the node.
    let (outcome, report) = run_json(&[("NODE_NAME", "node-from-env")], &["--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(report["node_name"], "node-from-env");
}

/// A decided refusal is one line: a tolerated one its WARN (with the decision's fields), an aborted
/// one the fatal error line, which is in the run's span too. The report names the handler's
/// configuration (path and SHA-256).
#[test]
fn a_decided_refusal_is_one_line_in_the_run() {
    require_root!();
    let dir = scratch();
    let config = write_file(dir.path(), "outer.json", r#"{"boundary": "vm"}"#);
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let about_netns = |outcome: &Outcome| -> Vec<Value> {
        outcome
            .json_events()
            .into_iter()
            .filter(|event| {
                event["fields"]["step"] == "network-namespace"
                    && event["fields"]["decision"] != "enforced"
            })
            .collect()
    };
    let mut launch = Launch::netns_refused();
    let report_path = dir.path().join("report.json");
    let mut args = launch.record_to(&report_path, None);
    args.extend(
        [
            "--log-format",
            "json",
            "--label",
            "job=7",
            "--handler-plugin",
            outer.to_str().unwrap(),
            "--handler-config",
            config.to_str().unwrap(),
            "--",
            "true",
        ]
        .map(Into::into),
    );
    let outcome = run_supervisor(&launch, &args);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let lines = about_netns(&outcome);
    assert_eq!(lines.len(), 1, "{}", outcome.stderr);
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["decision"], "tolerated");
    assert_eq!(lines[0]["fields"]["decider"], "plugin:outer-sandbox@0.1.0");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(lines[0]["span"]["run_id"], report["run_id"]);
    assert_eq!(
        report["handler"]["config"]["path"],
        config.to_str().unwrap()
    );
    assert_eq!(report["handler"]["config"]["sha256"], sha256_of(&config));

    // Strict: the fatal line is the one line, in the run's span.
    let outcome = run_supervisor(
        &Launch::netns_refused(),
        ["--log-format", "json", "--label", "job=8", "--", "true"],
    );
    assert_eq!(outcome.code, 120, "{}", outcome.stderr);
    let lines = about_netns(&outcome);
    assert_eq!(lines.len(), 1, "{}", outcome.stderr);
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["decision"], "aborted");
    assert!(lines[0]["span"]["run_id"].is_string(), "{}", lines[0]);
    assert_eq!(lines[0]["span"]["labels"], "job=8");
}

/// `probe --report`, `--report-fd` and `--findings` are usage errors (no report of a run is
/// written), while a config file that names a report serves a probe too; the answer validates
/// against docs/probe.schema.json and says where (host, node), when, with what (version, build
/// id) and under which run id.
#[test]
fn probe_refuses_what_it_cannot_honour_and_says_where_and_when() {
    let dir = scratch();
    for flag in [
        vec!["--report", "/nonexistent/report.json"],
        vec!["--findings", "/nonexistent/findings.jsonl"],
    ] {
        let mut args = vec!["probe"];
        args.extend(&flag);
        let outcome = run_supervisor(&Launch::default(), &args);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
        assert!(
            outcome
                .error_line()
                .contains(&format!("probe writes no report or findings ({})", flag[0])),
            "{}",
            outcome.stderr
        );
    }
    let config = write_file(
        dir.path(),
        "config.json",
        r#"{"report": "/nonexistent/report.json", "label": ["job=9"]}"#,
    );
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "probe",
            "--json",
            "--log-level",
            "error",
            "--config",
            config.to_str().unwrap(),
            "--node-name",
            "node-9",
        ],
    );
    assert!(outcome.code != 2, "{}", outcome.stderr);
    let answer: Value = serde_json::from_str(&outcome.stdout).unwrap();
    let schema_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/probe.schema.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&answer)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{answer:#}");
    assert_eq!(answer["$schema"], schema["$id"]);
    assert_eq!(answer["hostname"], sandbox_supervisor_hostname());
    assert_eq!(answer["node_name"], "node-9");
    assert_eq!(answer["labels"]["job"], "9");
    assert_eq!(answer["supervisor_version"], env!("CARGO_PKG_VERSION"));
}

fn sandbox_supervisor_hostname() -> String {
    nix::sys::utsname::uname()
        .unwrap()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
