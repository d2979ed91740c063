//! Logs a collector can parse: with `--log-format json` every line on standard error is one JSON
//! object, every step event carries `step` and `decision` (and, for a refusal, `errno` and
//! `decider`), and the fatal error is one JSON object too; with text, one line per error.

use sandbox_tests::{plugin, require_root, run_supervisor, Launch, STEPS};
use serde_json::Value;

/// The events about `step`.
fn about<'a>(events: &'a [Value], step: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["fields"]["step"] == step)
        .collect()
}

#[test]
fn json_fatal_refusal_is_one_object_with_the_refusal_fields() {
    require_root!();
    let outcome = run_supervisor(
        &Launch::nobody(),
        ["--no-userns", "--log-format", "json", "--", "true"],
    );
    assert_eq!(outcome.code, 120, "{}", outcome.stderr);
    let events = outcome.json_events();
    let errors: Vec<&Value> = events.iter().filter(|e| e["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{}", outcome.stderr);
    let fatal = &errors[0]["fields"];
    assert!(
        fatal["message"]
            .as_str()
            .unwrap()
            .starts_with("network-namespace refused: unshare(CLONE_NEWNET) failed with EPERM"),
        "{fatal}"
    );
    assert_eq!(fatal["exit_code"], 120);
    assert_eq!(fatal["step"], "network-namespace");
    assert_eq!(fatal["decision"], "aborted");
    assert_eq!(fatal["errno"], libc::EPERM);
    assert_eq!(fatal["decider"], "strict");
    assert!(errors[0]["timestamp"].is_string());
    assert!(!outcome.stderr.contains("sandbox-supervisor: error:"));
}

#[test]
fn json_enforced_and_tolerated_steps_carry_their_fields() {
    require_root!();
    let enforced = run_supervisor(&Launch::default(), ["--log-format", "json", "--", "true"]);
    assert_eq!(enforced.code, 0, "{}", enforced.stderr);
    let events = enforced.json_events();
    for step in STEPS {
        let records = about(&events, step);
        assert!(
            records
                .iter()
                .any(|event| event["fields"]["decision"] == "enforced"),
            "no enforced event for {step}:\n{}",
            enforced.stderr
        );
    }

    // Under an outer filter refusing the network namespace, outer-sandbox tolerates it.
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let tolerated = run_supervisor(
        &Launch::netns_refused(),
        [
            "--log-format",
            "json",
            "--outer-boundary",
            "vm",
            "--handler-plugin",
            outer.to_str().unwrap(),
            "--",
            "true",
        ],
    );
    assert_eq!(tolerated.code, 0, "{}", tolerated.stderr);
    let events = tolerated.json_events();
    let decided: Vec<&Value> = about(&events, "network-namespace")
        .into_iter()
        .filter(|event| event["fields"]["decision"] == "tolerated")
        .collect();
    assert_eq!(decided.len(), 1, "{}", tolerated.stderr);
    assert_eq!(decided[0]["fields"]["errno"], libc::EPERM);
    assert_eq!(
        decided[0]["fields"]["decider"],
        "plugin:outer-sandbox@0.1.0"
    );
}

#[test]
fn json_usage_errors_are_one_object() {
    for args in [
        vec!["--log-format", "json", "--no-such-flag", "--", "true"],
        vec!["--log-format=json", "--user"],
        vec![
            "--log-format",
            "json",
            "--log-level",
            "no=such=level",
            "--",
            "true",
        ],
    ] {
        let outcome = run_supervisor(&Launch::default(), args.clone());
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        let events = outcome.json_events();
        assert_eq!(events.len(), 1, "{args:?}: {}", outcome.stderr);
        assert_eq!(events[0]["level"], "ERROR");
        assert_eq!(events[0]["fields"]["exit_code"], 2);
        assert!(events[0]["fields"]["message"].is_string());
    }
}

#[test]
fn text_errors_are_one_line_each() {
    require_root!();
    let refused = run_supervisor(&Launch::nobody(), ["--no-userns", "--", "true"]);
    assert_eq!(refused.code, 120);
    assert_eq!(
        refused
            .stderr
            .lines()
            .filter(|l| l.contains("error"))
            .count(),
        1,
        "{}",
        refused.stderr
    );
    refused.error_line();
    let usage = run_supervisor(&Launch::default(), ["--log-format", "xml", "--", "true"]);
    assert_eq!(usage.code, 2);
    assert_eq!(usage.stderr.lines().count(), 1, "{}", usage.stderr);
    assert!(usage.stderr.ends_with("(see --help)\n"), "{}", usage.stderr);
}
