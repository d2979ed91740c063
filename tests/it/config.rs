//! `--config FILE`: the flags from a JSON file, merged under the command line, for run and probe
//! alike; its path and digest in the report and probe's answer; every mistake in it one usage
//! line (exit 2) before anything runs; the schema in docs/ accepts the example the package
//! installs and refuses what the supervisor refuses.

use std::path::Path;

use sandbox_tests::{
    marked, require_root, run_supervisor, run_with_report, scratch, sha256_of, write_file, Launch,
};
use serde_json::Value;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// One file stands for the flags: its values apply (a timeout, the environment, a declared
/// boundary), the command line's single values win over the file's, and a repeatable flag's
/// values are the file's then the command line's. The report and probe name the file and its
/// SHA-256.
#[test]
fn a_config_file_stands_for_the_flags_in_run_and_probe() {
    require_root!();
    let dir = scratch();
    let config = write_file(
        dir.path(),
        "config.json",
        r#"{"timeout": "300ms", "clear-env": true, "env": ["FROM_FILE=file", "BOTH=file"], "outer-boundary": "vm", "report-argv": true}"#,
    );
    let config_arg = config.display().to_string();
    let sleeper = [
        "--",
        "sh",
        "-c",
        "echo \"$FROM_FILE $FROM_CLI $BOTH ${HOME:-unset}\"; sleep 2",
    ];

    // The file's timeout stops the workload (124); its environment is there, and the command
    // line's --env comes after it (BOTH is the command line's).
    let mut args = vec![
        "--config",
        &config_arg,
        "--env",
        "FROM_CLI=cli",
        "--env",
        "BOTH=cli",
    ];
    args.extend(sleeper);
    let (outcome, report) = run_with_report(&Launch::default(), &args);
    assert_eq!(outcome.code, 124, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        "file cli cli unset",
        "{}",
        outcome.stderr
    );
    assert_eq!(report["config"]["path"], config_arg.as_str());
    assert_eq!(report["config"]["sha256"], sha256_of(&config));
    assert_eq!(report["environment"]["outer_boundary"], "vm");
    assert_eq!(report["workload"]["argv_complete"], true);

    // The command line's --timeout wins over the file's.
    let mut args = vec!["--config", &config_arg, "--timeout", "30s"];
    args.extend(sleeper);
    let outcome = run_supervisor(&Launch::default(), &args);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);

    // probe reads the same file: its declared boundary, and the file named in the answer.
    let outcome = run_supervisor(
        &Launch::default(),
        ["probe", "--json", "--config", &config_arg],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let answer: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(answer["environment"]["outer_boundary"], "vm");
    assert_eq!(answer["config"]["sha256"], sha256_of(&config));
    // And the command line wins there too.
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "--config",
            &config_arg,
            "probe",
            "--json",
            "--outer-boundary",
            "gvisor",
        ],
    );
    let answer: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(answer["environment"]["outer_boundary"], "gvisor");
}

/// An unknown key, a value of the wrong type, a value its flag refuses, a file that is not a JSON
/// object, over the input cap, a directory or missing: one line naming the file and the cause,
/// exit 2, and the workload never runs.
#[test]
fn every_mistake_in_a_config_file_is_one_usage_line() {
    let dir = scratch();
    let marker = dir.path().join("marker");
    let oversized = dir.path().join("oversized.json");
    std::fs::write(
        &oversized,
        format!(r#"{{"env": ["A={}"]}}"#, "x".repeat(2 << 20)),
    )
    .unwrap();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (
            write_file(dir.path(), "unknown.json", r#"{"memroy-max": "1G"}"#),
            "unknown key \"memroy-max\"",
        ),
        (
            write_file(dir.path(), "type.json", r#"{"env": "A=1"}"#),
            "\"env\" takes a list of strings or numbers, not a string",
        ),
        (
            write_file(dir.path(), "switch.json", r#"{"clear-env": "yes"}"#),
            "\"clear-env\" takes true or false, not a string",
        ),
        (
            write_file(dir.path(), "value.json", r#"{"pids-max": "lots"}"#),
            "invalid value 'lots' for '--pids-max <N>'",
        ),
        (
            write_file(dir.path(), "nested.json", r#"{"config": "other.json"}"#),
            "\"config\" cannot be set in a config file",
        ),
        (
            write_file(dir.path(), "array.json", r#"["--timeout", "1s"]"#),
            "expected a JSON object, not a list",
        ),
        (oversized.clone(), "more than the cap of 1048576"),
        (
            dir.path().to_owned(),
            "not a regular file (it is a directory)",
        ),
        (dir.path().join("missing.json"), "No such file or directory"),
    ];
    for (path, cause) in cases {
        for subcommand in [None, Some("probe")] {
            let mut args: Vec<String> = subcommand.map(str::to_owned).into_iter().collect();
            args.extend(["--config".to_owned(), path.display().to_string()]);
            if subcommand.is_none() {
                args.extend(marked(&marker, "true"));
            }
            let outcome = run_supervisor(&Launch::default(), &args);
            assert_eq!(outcome.code, 2, "{cause}: {}", outcome.stderr);
            assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
            let line = outcome.error_line();
            assert!(
                line.starts_with(&format!(
                    "sandbox-supervisor: error: --config {}: ",
                    path.display()
                )),
                "{line}"
            );
            assert!(line.contains(cause), "{cause}: {line}");
            assert_eq!(line.matches(cause).count(), 1, "the cause once: {line}");
            assert!(!marker.exists(), "the workload ran: {line}");
        }
    }
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repository().join("docs/config.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// The schema in docs/ (generated from the command line's definition: see the supervisor's unit
/// test `config::tests::the_documented_schema_is_the_generated_one`) accepts the example the
/// package installs, which the supervisor reads; and it refuses what the supervisor refuses.
#[test]
fn the_schema_accepts_the_installed_example_and_refuses_mistakes() {
    let validator = validator();
    let example_path = repository().join("packaging/config.example.json");
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(&example_path).unwrap()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    for bad in [
        r#"{"memroy-max": "1G"}"#,
        r#"{"env": "A=1"}"#,
        r#"{"clear-env": "yes"}"#,
        r#"{"fs": "host-rx"}"#,
        r#"{"outer-boundary": "vmware"}"#,
        r#"{"config": "x.json"}"#,
    ] {
        let value: Value = serde_json::from_str(bad).unwrap();
        assert!(!validator.is_valid(&value), "the schema accepts {bad}");
    }
    // The supervisor reads the example: probe parses every flag (the plugin named there is the
    // installed path, which the tests do not have: a plugin load error, not a usage error).
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "probe".as_ref(),
            "--config".as_ref(),
            example_path.as_os_str(),
            "--handler-plugin".as_ref(),
            sandbox_tests::plugin("sandbox-plugin-outer-sandbox").as_os_str(),
        ],
    );
    assert_ne!(outcome.code, 2, "{}", outcome.stderr);
}
