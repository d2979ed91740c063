//! A failure-handler plugin written in C (examples/c-plugin): the test builds its C code with the
//! system compiler into a static library, links it into the shim (examples/c-plugin/shim, which
//! exports the frozen ABI through sandbox-plugin-api) and loads the result into the real
//! supervisor, which asks it and obeys it like a Rust plugin: through `simulate`, and in a real run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sandbox_tests::{
    fixtures_dir, marked, require_root, run_ok, run_supervisor, scratch, staged, target_dir,
    workspace, write_file, Launch, Outcome,
};

const DECIDER: &str = "plugin:c-example@0.1.0";

/// Builds `source` (C) with `cc` and `ar` into `lib{name}.a` and links it into the shim as
/// plugin `name`; the staged shared object `lib{name}.so`. One build at a time: every build
/// writes the shim's output in the shared target directory.
fn build_c_plugin(source: &Path, name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let example = workspace().join("examples/c-plugin");
    let out = target_dir().parent().unwrap().join("c-plugin");
    std::fs::create_dir_all(&out).unwrap();
    let object = out.join(format!("{name}.o"));
    let library = out.join(format!("lib{}.a", name.replace('-', "_")));
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    run_ok(
        Command::new(&cc)
            .args([
                "-std=c11", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-I",
            ])
            .arg(&example)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(&object),
    );
    run_ok(Command::new("ar").arg("rcs").arg(&library).arg(&object));
    // The same target directory as the compatibility fixtures: their dependencies are built.
    let target = fixtures_dir().parent().unwrap().to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--manifest-path"])
            .arg(example.join("shim/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("SANDBOX_C_PLUGIN_LIB", &library)
            .env("SANDBOX_C_PLUGIN_NAME", name)
            .env_remove("SANDBOX_C_PLUGIN_VERSION"),
    );
    staged(
        &target.join("debug/libsandbox_c_plugin.so"),
        &format!("lib{}.so", name.replace('-', "_")),
    )
}

/// The C example (examples/c-plugin/plugin.c), built once per test process.
fn c_plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        build_c_plugin(&workspace().join("examples/c-plugin/plugin.c"), "c-example")
    })
}

fn simulate(args: &[&str]) -> Outcome {
    let mut argv = vec![
        "simulate".to_owned(),
        "--handler-plugin".to_owned(),
        c_plugin().display().to_string(),
        "--json".to_owned(),
    ];
    argv.extend(args.iter().map(|arg| (*arg).to_owned()));
    run_supervisor(&Launch::default(), argv)
}

/// (decision, reason, would_exit) of each refusal.
fn decisions(outcome: &Outcome) -> Vec<(String, String, Option<i64>)> {
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let document: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(document["handler"]["decider"], DECIDER);
    assert_eq!(
        document["handler"]["declared"],
        serde_json::json!(["network-namespace"])
    );
    document["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["decision"].as_str().unwrap().to_owned(),
                row["reason"].as_str().unwrap_or_default().to_owned(),
                row["would_exit"].as_i64(),
            )
        })
        .collect()
}

/// The C plugin decides through the real loader and glue like the Rust template: by kind, errno
/// and the context (gVisor, a container clue, the uid), with reasons.
#[test]
fn the_c_plugin_decides_on_kind_errno_and_context() {
    let refusals = "network-namespace=EPERM,network-namespace=EINVAL,pid-namespace=EPERM";
    let rows = decisions(&simulate(&["--context", "container=", refusals]));
    assert_eq!(
        rows,
        [
            (
                "aborted".to_owned(),
                "no outer boundary: not gVisor and no container clue".to_owned(),
                Some(121)
            ),
            (
                "aborted".to_owned(),
                "EINVAL is not an outer runtime's refusal".to_owned(),
                Some(121)
            ),
            (
                "aborted".to_owned(),
                "only a refused network namespace is tolerated".to_owned(),
                Some(121)
            ),
        ]
    );
    let rows = decisions(&simulate(&[
        "--context",
        "container=/.dockerenv",
        "--context",
        "uid=4242",
        "network-namespace=EPERM",
    ]));
    assert_eq!(
        rows,
        [(
            "tolerated".to_owned(),
            "outer boundary: container (/.dockerenv, uid 4242)".to_owned(),
            None
        )]
    );
    let rows = decisions(&simulate(&[
        "--context",
        "gvisor=true",
        "--context",
        "container=",
        "network-namespace=EPERM,workload-seccomp=EPERM",
    ]));
    assert_eq!(rows[0].0, "tolerated");
    assert!(
        rows[0].1.starts_with("outer boundary: gVisor (uid "),
        "{rows:?}"
    );
    assert_eq!(rows[1].0, "aborted");
}

/// The C plugin refuses a configuration with the documented line and exit code.
#[test]
fn the_c_plugin_rejects_a_configuration_with_one_line() {
    let dir = scratch();
    let config = write_file(dir.path(), "config.json", r#"{"tolerate": "everything"}"#);
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "simulate".to_owned(),
            "--handler-plugin".to_owned(),
            c_plugin().display().to_string(),
            "--handler-config".to_owned(),
            config.display().to_string(),
            "network-namespace=EPERM".to_owned(),
        ],
    );
    assert_eq!(outcome.code, 119, "{}", outcome.stderr);
    assert_eq!(
        outcome.error_line(),
        format!("sandbox-supervisor: error: {DECIDER} rejected its configuration: takes no configuration")
    );
}

/// In a real run the supervisor loads the C plugin, asks it about the network namespace an outer
/// filter refuses, and obeys it: tolerated behind this host's container clue or gVisor (the reason
/// in the WARN line), aborted with exit 121 and the reason on a plain host.
#[test]
fn the_c_plugin_is_obeyed_in_a_real_run() {
    require_root!();
    let dir = scratch();
    let marker = dir.path().join("marker");
    let mut args = vec![
        "--handler-plugin".to_owned(),
        c_plugin().display().to_string(),
    ];
    args.extend(marked(&marker, "true"));
    let launch = Launch::netns_refused();
    let outcome = run_supervisor(&launch, &args);
    assert!(
        outcome.stderr.contains(&format!(
            "failure handler loaded: {DECIDER} may tolerate [network-namespace]"
        )),
        "{}",
        outcome.stderr
    );
    let context = sandbox_supervisor::handler::context::detect(None);
    if context.gvisor || context.container.is_some() {
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert!(marker.exists(), "the workload must run");
        let warns = outcome.warn_lines();
        assert_eq!(warns.len(), 1, "{}", outcome.stderr);
        assert!(
            warns[0].contains(&format!("tolerated by {DECIDER}: outer boundary: ")),
            "{}",
            warns[0]
        );
    } else {
        assert_eq!(outcome.code, 121, "{}", outcome.stderr);
        assert!(!marker.exists(), "the workload must not run");
        assert!(outcome.error_line().ends_with(&format!(
            "aborted by {DECIDER}: no outer boundary: not gVisor and no container clue"
        )));
    }
}

/// The C plugin, built here, needs no newer glibc than the plugins' baseline (Debian 12, 2.36).
#[test]
fn the_c_plugin_needs_no_newer_glibc_than_the_baseline() {
    let output = Command::new("readelf")
        .args(["-V", "--wide"])
        .arg(c_plugin())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let newest = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let (major, minor) = version.split_once('.')?;
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        })
        .max()
        .unwrap();
    assert!(newest <= (2, 36), "GLIBC_{}.{}", newest.0, newest.1);
}

/// A C plugin that misbehaves as its configuration says: `"verdict"` answers 7 for every
/// refusal, `"kind"` declares kind code 99, which no API knows.
const BROKEN_C: &str = r#"
#include <string.h>
#include "sandbox_plugin.h"

static int declare_unknown;

int sandbox_plugin_init(const char *config_json, char *message, size_t message_len)
{
    (void)message;
    (void)message_len;
    declare_unknown = strstr(config_json, "kind") != NULL;
    return 0;
}

size_t sandbox_plugin_tolerates(uint32_t *kinds, size_t capacity)
{
    if (capacity < 1) {
        return 0;
    }
    kinds[0] = declare_unknown ? 99u : SANDBOX_KIND_NETWORK_NAMESPACE;
    return 1;
}

int sandbox_plugin_decide(const struct sandbox_report *report, char *reason, size_t reason_len)
{
    (void)report;
    (void)reason;
    (void)reason_len;
    return 7;
}
"#;

/// What the shim makes of a C plugin's answers outside the header's contract: a verdict other
/// than 0 or 1 is a plugin failure (exit 119, in a run and in `simulate`), and a declared kind
/// code the API does not know refuses the plugin at load (119), never a tolerate.
#[test]
fn a_c_plugin_outside_the_contract_is_a_plugin_failure() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("broken.c");
    std::fs::write(&source, BROKEN_C).unwrap();
    let broken = build_c_plugin(&source, "c-broken");
    let scratch_dir = scratch();
    for (mode, expected) in [
        (
            "verdict",
            "plugin:c-broken@0.1.0 failed: panicked in decide: sandbox_plugin_decide answered 7, neither 0 (abort) nor 1 (tolerate)",
        ),
        (
            "kind",
            "plugin:c-broken@0.1.0 rejected its configuration: sandbox_plugin_tolerates declared kind code 99, which this API does not know",
        ),
    ] {
        let config = write_file(
            scratch_dir.path(),
            &format!("{mode}.json"),
            &format!(r#"{{"mode": "{mode}"}}"#),
        );
        let outcome = run_supervisor(
            &Launch::default(),
            [
                "simulate".to_owned(),
                "--handler-plugin".to_owned(),
                broken.display().to_string(),
                "--handler-config".to_owned(),
                config.display().to_string(),
                "network-namespace=EPERM".to_owned(),
            ],
        );
        assert_eq!(outcome.code, 119, "{mode}: {}", outcome.stderr);
        assert!(
            outcome.stdout.contains(expected) || outcome.stderr.contains(expected),
            "{mode}: expected {expected:?} in:\n{}{}",
            outcome.stdout,
            outcome.stderr
        );
    }
}
