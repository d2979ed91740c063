//! Plugins survive supervisor upgrades: old plugin binaries, built in this test run from the
//! plugin API's source as released (tests/fixtures/plugin-api-0.1.0), load into the current
//! supervisor and decide as before; plugins built against the current API load into a host built
//! with the 0.1.0 API when they use nothing newer; a plugin for another ABI line is refused with
//! one line naming both versions.

use std::path::Path;
use std::process::Command;

use sandbox_tests::{
    fixture, fixtures_dir, marked, plugin, require_root, run_supervisor, scratch, staged,
    write_file, Launch,
};

const PLUGIN_LOAD: i32 = 118;
const REFUSED_BY_PLUGIN: i32 = 121;

fn old_plugin() -> String {
    fixture("libfixture_plugin_0_1_0.so").display().to_string()
}

/// A plugin built against 0.1.0 loads into this supervisor (whose API is later) and decides as
/// it did: it tolerates the refused network namespace for the errno its configuration names, and
/// aborts for another one.
#[test]
fn a_plugin_built_against_0_1_0_loads_and_decides_as_before() {
    require_root!();
    let dir = scratch();
    let marker = dir.path().join("marker");
    let mut args = vec!["--handler-plugin".to_owned(), old_plugin()];
    args.extend(marked(&marker, "true"));
    let outcome = run_supervisor(&Launch::netns_refused(), &args);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(marker.exists(), "the workload must run");
    assert!(
        outcome.stderr.contains(
            "failure handler loaded: plugin:fixture-0.1.0@0.1.0 may tolerate [network-namespace]"
        ),
        "{}",
        outcome.stderr
    );
    let warns = outcome.warn_lines();
    assert_eq!(warns.len(), 1, "{}", outcome.stderr);
    assert!(warns[0].contains("unshare(CLONE_NEWNET) failed with EPERM"));
    // An old plugin gives no reason: the line ends with the decider.
    assert!(
        warns[0].contains("tolerated by plugin:fixture-0.1.0@0.1.0 "),
        "{}",
        warns[0]
    );

    // The same binary, configured for another errno: its verdict (abort) is what decides.
    let config = write_file(dir.path(), "config.json", r#"{"errno": 38}"#);
    std::fs::remove_file(&marker).ok();
    let mut args = vec![
        "--handler-plugin".to_owned(),
        old_plugin(),
        "--handler-config".to_owned(),
        config.display().to_string(),
    ];
    args.extend(marked(&marker, "true"));
    let outcome = run_supervisor(&Launch::netns_refused(), &args);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(!marker.exists(), "the workload must not run");
    assert!(
        outcome
            .error_line()
            .ends_with("aborted by plugin:fixture-0.1.0@0.1.0"),
        "{}",
        outcome.stderr
    );
}

/// Runs the 0.1.0 host fixture: `declared [..] verdict N` on success.
fn old_host(plugin: &Path, config: &str, kind: u32, errno: i32) -> (bool, String) {
    let output = Command::new(fixture("fixture-host-0-1-0"))
        .arg(plugin)
        .arg(config)
        .arg(kind.to_string())
        .arg(errno.to_string())
        .output()
        .expect("run the 0.1.0 host");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The other direction: a plugin built against the current API (extension v1 included) loads into
/// a host built with the 0.1.0 API, which only knows the frozen root module, and answers through
/// it the same verdicts.
#[test]
fn a_plugin_built_against_the_current_api_loads_into_a_0_1_0_host() {
    let policy = plugin("sandbox-plugin-policy");
    let config = r#"{"tolerate": {"network-namespace": ["EPERM"]}}"#;
    let (ok, text) = old_host(&policy, config, 1, 1);
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "declared [1] verdict 1");
    let (ok, text) = old_host(&policy, config, 1, 38);
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "declared [1] verdict 0");
    // And the 0.1.0 plugin in the 0.1.0 host, for reference.
    let (ok, text) = old_host(&fixture("libfixture_plugin_0_1_0.so"), "", 1, 1);
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "declared [1] verdict 1");
}

/// A plugin for another ABI line (0.2.0) is refused before any hardening: exit 118 and one line
/// that names the plugin's version and this supervisor's.
#[test]
fn a_plugin_for_another_abi_line_is_refused_naming_both_versions() {
    let dir = scratch();
    let marker = dir.path().join("marker");
    let mut args = vec![
        "--handler-plugin".to_owned(),
        plugin("test-plugin-abi-future").display().to_string(),
    ];
    args.extend(marked(&marker, "true"));
    let outcome = run_supervisor(&Launch::default(), &args);
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(!marker.exists());
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
    let line = outcome.error_line();
    assert!(
        line.contains(&format!(
            "was built for sandbox-plugin-api 0.2.0; this supervisor speaks sandbox-plugin-api {} (plugin ABI 0.1.0) and loads plugins built for 0.1.x",
            sandbox_tests::plugin_api_version()
        )),
        "{line}"
    );
}

/// The vendor template, copied out of the repository with the path dependency line that
/// docs/plugin-authors.md gives, builds on its own (no workspace inheritance in sandbox-plugin-api)
/// and its plugin answers through `simulate`.
#[test]
fn a_vendor_crate_outside_the_workspace_builds_against_the_api() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = tempfile::tempdir().unwrap();
    let crate_dir = out.path().join("vendor-plugin");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::copy(
        repository.join("examples/vendor-plugin/src/lib.rs"),
        crate_dir.join("src/lib.rs"),
    )
    .unwrap();
    let manifest =
        std::fs::read_to_string(repository.join("examples/vendor-plugin/Cargo.toml")).unwrap();
    let template_line = r#"sandbox-plugin-api = { path = "../../plugin-api", version = "0.1.1" }"#;
    assert!(manifest.contains(template_line), "{manifest}");
    // The form docs/plugin-authors.md gives for a checkout of the repository.
    let vendor_line = format!(
        r#"sandbox-plugin-api = {{ path = "{}", version = "0.1.1" }}"#,
        repository.join("plugin-api").display()
    );
    let manifest = manifest.replace(template_line, &vendor_line)
        + "\n[workspace]\n\n[profile.dev]\ndebug = false\n";
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        repository.join("tests/fixtures/Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();
    let target = fixtures_dir().parent().unwrap().to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the out-of-tree vendor crate did not build"
    );
    let built = staged(
        &target.join("debug/libvendor_plugin_template.so"),
        "libvendor_plugin_template_out_of_tree.so",
    );
    let output = Command::new(sandbox_tests::supervisor_bin())
        .args(["simulate", "--handler-plugin"])
        .arg(&built)
        .args(["--json", "network-namespace=EPERM"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        document["handler"]["decider"],
        "plugin:example-vendor@0.1.0"
    );
    assert_eq!(document["decisions"][0]["decision"], "tolerated");
    assert_eq!(
        document["decisions"][0]["reason"],
        "pods share the node's network namespace"
    );
}
