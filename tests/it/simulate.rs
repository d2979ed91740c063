//! `sandbox-supervisor simulate`: every shipped plugin (and the 0.1.0 fixture) answers made-up
//! refusals through the real loader and glue, without root. As root, the supervisor is started as
//! nobody with no capabilities to show that nothing privileged is needed.

use serde_json::Value;

use sandbox_tests::{
    fixture, is_root, plugin, run_supervisor, scratch, write_file, Launch, Outcome,
};

fn simulate(plugin_path: &std::path::Path, config: Option<&str>, args: &[&str]) -> Outcome {
    let dir = scratch();
    let mut argv = vec![
        "simulate".to_owned(),
        "--handler-plugin".to_owned(),
        plugin_path.display().to_string(),
    ];
    if let Some(config) = config {
        let path = write_file(dir.path(), "config.json", config);
        argv.extend(["--handler-config".to_owned(), path.display().to_string()]);
    }
    argv.extend(args.iter().map(|arg| (*arg).to_owned()));
    let launch = Launch {
        as_nobody: is_root(),
        ..Launch::default()
    };
    run_supervisor(&launch, argv)
}

/// One decision of a `--json` simulation: (kind, errno name, decision, reason, would_exit).
type Row = (String, String, String, Option<String>, Option<i64>);

/// The decisions of a `--json` simulation, which exited 0 (no plugin failure).
fn decisions(outcome: &Outcome) -> Vec<Row> {
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    rows(outcome)
}

/// The decisions of a `--json` simulation, whatever its exit code.
fn rows(outcome: &Outcome) -> Vec<Row> {
    let document: Value = serde_json::from_str(&outcome.stdout).expect("one JSON document");
    document["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|row| {
            (
                row["kind"].as_str().unwrap().to_owned(),
                row["errno_name"].as_str().unwrap().to_owned(),
                row["decision"].as_str().unwrap().to_owned(),
                row["reason"].as_str().map(str::to_owned),
                row["would_exit"].as_i64(),
            )
        })
        .collect()
}

#[test]
fn outer_sandbox_decides_by_boundary_and_errno() {
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let refusals = "network-namespace=EPERM,workload-seccomp=EINVAL,pid-namespace=ENOMEM";

    // A plain host (the context simulate starts from): everything aborts, saying why.
    let rows = decisions(&simulate(&outer, None, &["--json", refusals]));
    let no_boundary = "no outer boundary declared (--outer-boundary gvisor|container|vm, \
                       or {\"boundary\": NAME} in --handler-config)";
    assert_eq!(rows[0].2, "aborted");
    assert_eq!(rows[0].3.as_deref(), Some(no_boundary));
    assert_eq!(rows[0].4, Some(121));
    assert_eq!(rows[1].3.as_deref(), Some(no_boundary));
    assert_eq!(
        rows[2].3.as_deref(),
        Some("ENOMEM is not an errno an outer runtime refuses pid-namespace with")
    );

    // Clues are hints: gVisor detected and a container clue still abort, naming them.
    let rows = decisions(&simulate(
        &outer,
        None,
        &[
            "--json",
            "--context",
            "gvisor=true",
            "--context",
            "container=$KUBERNETES_SERVICE_HOST",
            refusals,
        ],
    ));
    assert_eq!(rows[0].2, "aborted");
    assert_eq!(
        rows[0].3.as_deref(),
        Some(
            format!(
                "{no_boundary}; hints, which never decide: gVisor's /proc/version, \
                 container clue $KUBERNETES_SERVICE_HOST"
            )
            .as_str()
        )
    );
    assert_eq!(rows[1].2, "aborted");

    // Declared with --outer-boundary: the outer-runtime errnos are tolerated, naming the
    // declaration; ENOMEM still aborts.
    let rows = decisions(&simulate(
        &outer,
        None,
        &["--json", "--outer-boundary", "gvisor", refusals],
    ));
    assert_eq!(rows[0].2, "tolerated");
    assert_eq!(
        rows[0].3.as_deref(),
        Some("outer boundary: the operator declared the boundary gvisor (--outer-boundary)")
    );
    assert_eq!(rows[0].4, None);
    assert_eq!(rows[1].2, "tolerated");
    assert_eq!(rows[2].2, "aborted");

    // Declared in the configuration.
    let rows = decisions(&simulate(
        &outer,
        Some(r#"{"boundary": "firecracker"}"#),
        &["--json", "network-namespace=EPERM,network-namespace=EINVAL"],
    ));
    assert_eq!(rows[0].2, "tolerated");
    assert_eq!(
        rows[0].3.as_deref(),
        Some("outer boundary: the operator declared the boundary firecracker")
    );
    // EINVAL is an outer runtime's answer for seccomp flags only.
    assert_eq!(rows[1].2, "aborted");
}

#[test]
fn policy_decides_per_kind_and_errno() {
    let policy = plugin("sandbox-plugin-policy");
    let config = r#"{"tolerate": {"network-namespace": ["EPERM"], "pid-namespace": [38]}}"#;
    let rows = decisions(&simulate(
        &policy,
        Some(config),
        &[
            "--json",
            "network-namespace=EPERM,network-namespace=EACCES",
            "pid-namespace=ENOSYS,workload-seccomp=EPERM",
        ],
    ));
    let verdicts: Vec<&str> = rows.iter().map(|row| row.2.as_str()).collect();
    assert_eq!(verdicts, ["tolerated", "aborted", "tolerated", "aborted"]);
    assert_eq!(rows[1].4, Some(121));
    // The shipped policy says which entry of its configuration decided.
    let reasons: Vec<&str> = rows.iter().filter_map(|row| row.3.as_deref()).collect();
    assert_eq!(
        reasons,
        [
            "the policy lists EPERM for network-namespace",
            "the policy lists only EPERM for network-namespace",
            "the policy lists ENOSYS for pid-namespace",
            "the policy tolerates nothing for workload-seccomp",
        ]
    );
    // Without its required configuration the plugin is refused at init: exit 119, one line.
    let outcome = simulate(&policy, None, &["network-namespace=EPERM"]);
    assert_eq!(outcome.code, 119, "{}", outcome.stderr);
    assert!(outcome
        .error_line()
        .contains("plugin:policy@0.1.0 rejected its configuration"));
}

#[test]
fn a_0_1_0_plugin_answers_and_new_kinds_abort_saying_why() {
    let old = fixture("libfixture_plugin_0_1_0.so");
    let rows = decisions(&simulate(
        &old,
        None,
        &["--json", "network-namespace=EPERM,pid-namespace=EPERM"],
    ));
    assert_eq!(rows[0].2, "tolerated");
    assert_eq!(rows[0].3, None, "a 0.1.0 plugin gives no reason");
    assert_eq!(rows[1].2, "aborted");
    assert_eq!(
        rows[1].3.as_deref(),
        Some("built against sandbox-plugin-api 0.1.0, which has no pid-namespace kind (added in 0.1.1)")
    );
}

/// The host's floor applies, and a plugin that fails (an undeclared tolerate, a panic, a hang,
/// a verdict out of range) makes `simulate` exit with the code a run would stop with (119), after
/// printing every decision: a CI step that only checks the exit status catches it.
#[test]
fn the_host_floor_applies_and_a_failing_plugin_fails_the_simulation() {
    let misbehaving = plugin("test-plugin-misbehaving");
    for (plugin, config, refusals) in [
        (
            &misbehaving,
            r#"{"mode": "tolerate-undeclared"}"#,
            "network-namespace=EPERM",
        ),
        (
            &misbehaving,
            r#"{"mode": "panic-handle"}"#,
            "mount-namespace=EPERM",
        ),
        (
            &misbehaving,
            r#"{"mode": "sleep-handle"}"#,
            "network-namespace=EPERM",
        ),
        (
            &plugin("test-plugin-raw-verdict"),
            "{}",
            "network-namespace=EPERM",
        ),
    ] {
        let outcome = simulate(
            plugin,
            Some(config),
            &["--json", "--handler-timeout", "0.5", refusals],
        );
        assert_eq!(outcome.code, 119, "{config}: {}", outcome.stderr);
        let rows = rows(&outcome);
        assert_eq!(rows[0].2, "aborted", "{config}");
        assert_eq!(rows[0].4, Some(119), "{config}");
    }
    // An abort the plugin decides is an answer: exit 0 with would_exit 121.
    let policy = plugin("sandbox-plugin-policy");
    let rows = decisions(&simulate(
        &policy,
        Some(r#"{"tolerate": {"network-namespace": ["EPERM"]}}"#),
        &["--json", "network-namespace=EINVAL"],
    ));
    assert_eq!(rows[0].4, Some(121));
}

#[test]
fn text_output_and_usage_errors() {
    let outer = plugin("sandbox-plugin-outer-sandbox");
    let outcome = simulate(
        &outer,
        None,
        &[
            "--context",
            "outer_boundary=gvisor",
            "network-namespace=EPERM",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .starts_with("handler: plugin:outer-sandbox@0.1.0\n"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .lines()
            .any(|line| line.starts_with("network-namespace")
                && line.contains("tolerated")
                && line.ends_with(
                    "outer boundary: the operator declared the boundary gvisor (--outer-boundary)"
                )),
        "{}",
        outcome.stdout
    );
    for args in [
        &["bogus=EPERM"][..],
        &["network-namespace=EBOGUS"],
        &["--context", "colour=blue", "network-namespace=EPERM"],
    ] {
        let outcome = simulate(&outer, None, args);
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.error_lines().len(),
            1,
            "{args:?}: {}",
            outcome.stderr
        );
    }
}
