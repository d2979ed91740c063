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

/// `--log-level` takes comma-separated directives: a level for every event, and `TARGET=LEVEL` for
/// the events of one module path and those below it. Seen on standard error: the boot's own
/// debug line (`sandbox_supervisor::boot`) appears with `info,sandbox_supervisor::boot=debug`
/// while the per-step debug lines (`sandbox_supervisor::record`) stay out; `info` shows neither.
#[test]
fn a_target_directive_sets_the_level_of_that_module_alone() {
    require_root!();
    const BOOT_DEBUG: &str = "seccomp programs ready";
    const STEP_DEBUG: &str = "network-namespace verified";
    const INFO: &str = "workload started";
    let targeted = run_supervisor(
        &Launch::default(),
        [
            "--log-level",
            "info,sandbox_supervisor::boot=debug",
            "--",
            "true",
        ],
    );
    assert_eq!(targeted.code, 0, "{}", targeted.stderr);
    assert!(targeted.stderr.contains(BOOT_DEBUG), "{}", targeted.stderr);
    assert!(!targeted.stderr.contains(STEP_DEBUG), "{}", targeted.stderr);
    assert!(targeted.stderr.contains(INFO), "{}", targeted.stderr);
    let info = run_supervisor(&Launch::default(), ["--log-level", "info", "--", "true"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert!(!info.stderr.contains(BOOT_DEBUG), "{}", info.stderr);
    assert!(info.stderr.contains(INFO), "{}", info.stderr);
    let debug = run_supervisor(&Launch::default(), ["--log-level", "debug", "--", "true"]);
    assert!(debug.stderr.contains(STEP_DEBUG), "{}", debug.stderr);
}

/// A directive without `=` must be a level: a mistyped one (`wran`) is a usage error, one line,
/// exit 2, not a target that would silence every other line.
#[test]
fn a_mistyped_level_is_one_usage_line() {
    for level in ["wran", "info,", "x=loud", "a=b=c"] {
        let usage = run_supervisor(&Launch::default(), ["--log-level", level, "--", "true"]);
        assert_eq!(usage.code, 2, "{level}: {}", usage.stderr);
        assert_eq!(usage.stderr.lines().count(), 1, "{}", usage.stderr);
        assert!(
            usage.stderr.starts_with(&format!(
                "sandbox-supervisor: error: failed to parse log level \"{level}\": "
            )),
            "{}",
            usage.stderr
        );
    }
}
