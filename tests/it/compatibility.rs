//! Plugins survive supervisor upgrades: old plugin binaries, built in this test run from the
//! plugin API's source as released (tests/fixtures/plugin-api-0.1.0 and plugin-api-0.1.1), load
//! into the current supervisor and decide as before, on the context the real supervisor sends;
//! plugins built against the current API load into a host built with the 0.1.0 API when they use
//! nothing newer; a plugin for another ABI line is refused with one line naming both versions;
//! and no frozen type of any released API has changed its layout.

#[path = "../fixtures/layouts/src/dump.rs"]
mod dump;

use std::path::Path;
use std::process::Command;

use sandbox_tests::{
    fixture, marked, plugin, require_root, run_supervisor, scratch, write_file, Launch, Outcome,
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
/// that names the plugin's version and this supervisor's. The plugin also exports extension v1
/// (of its own line, so with a layout this supervisor refuses): the version is compared before any
/// extension is looked up.
#[test]
fn a_plugin_for_another_abi_line_is_refused_naming_both_versions() {
    let future = plugin("test-plugin-abi-future");
    let bytes = std::fs::read(&future).unwrap();
    assert!(
        bytes
            .windows(b"sandbox_handler_ext_v1".len())
            .any(|window| window == b"sandbox_handler_ext_v1"),
        "the future-line test plugin must export extension v1"
    );
    let dir = scratch();
    let marker = dir.path().join("marker");
    let mut args = vec!["--handler-plugin".to_owned(), future.display().to_string()];
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
    let template_line = r#"sandbox-plugin-api = { path = "../../plugin-api" }"#;
    assert!(manifest.contains(template_line), "{manifest}");
    // The form docs/plugin-authors.md gives for a checkout of the repository.
    let vendor_line = format!(
        r#"sandbox-plugin-api = {{ path = "{}" }}"#,
        repository.join("plugin-api").display()
    );
    let manifest = manifest.replace(template_line, &vendor_line)
        + "\n[workspace]\n\n[profile.dev]\ndebug = false\n";
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
    let built = sandbox_tests::build_plugin_crate(
        &crate_dir,
        "vendor_plugin_template",
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

/// The context the supervisor sees when the tests start it as `launch`: what `detect` finds in
/// this process (the same host, container clue and gVisor), with the launch's uid and effective
/// capabilities.
fn expected_context(launch: &Launch) -> sandbox_supervisor::handler::context::FailureContext {
    let mut context = sandbox_supervisor::handler::context::detect(None);
    if launch.as_nobody {
        context.uid = 65534;
        context.effective_capabilities = 0;
    }
    context
}

/// What the fixtures' reasons say they saw (`saw gvisor=.. container=.. uid=.. caps=..`).
fn saw(context: &sandbox_supervisor::handler::context::FailureContext) -> String {
    format!(
        "saw gvisor={} container={} uid={} caps={:x}",
        context.gvisor,
        context.container.as_deref().unwrap_or("none"),
        context.uid,
        context.effective_capabilities
    )
}

/// The fixture's configuration that holds exactly in `context`, with `change` applied.
fn conditions(
    context: &sandbox_supervisor::handler::context::FailureContext,
    kinds: &[&str],
    change: impl FnOnce(&mut serde_json::Value),
) -> String {
    let mut config = serde_json::json!({
        "kinds": kinds,
        "gvisor": context.gvisor,
        "container": context.container.is_some(),
        "uid": context.uid,
        "capabilities": context.effective_capabilities != 0,
    });
    change(&mut config);
    config.to_string()
}

/// Runs the supervisor with a fixture plugin configured by `config`; `extra` before the workload.
fn run_fixture(launch: &Launch, plugin: &Path, config: &str, extra: &[&str]) -> (Outcome, bool) {
    let dir = scratch();
    let marker = dir.path().join("marker");
    let config = write_file(dir.path(), "config.json", config);
    let mut args = vec![
        "--handler-plugin".to_owned(),
        plugin.display().to_string(),
        "--handler-config".to_owned(),
        config.display().to_string(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args.extend(marked(&marker, "true"));
    let outcome = run_supervisor(launch, &args);
    (outcome, marker.exists())
}

const NAMESPACES: [&str; 3] = ["network-namespace", "pid-namespace", "mount-namespace"];

/// A plugin built against 0.1.1 as released decides through extension v1, with a reason, on the
/// context the current supervisor sends: as root (capabilities, uid 0, this host's container
/// clue) and as nobody without a user namespace (no capabilities, uid 65534). Its reason names
/// the context it parsed, which must be what the supervisor saw; a condition the real context does
/// not meet turns the same plugin's verdict into an abort. A context the plugin could not parse
/// (every field reset to its default: no container, uid 0, no capabilities) would fail these.
#[test]
fn a_plugin_built_against_0_1_1_decides_on_the_context_the_supervisor_sends() {
    require_root!();
    let plugin = fixture("libfixture_plugin_0_1_1.so");

    // Root, the network namespace refused by an outer filter.
    let launch = Launch::netns_refused();
    let context = expected_context(&launch);
    let config = conditions(&context, &["network-namespace"], |_| {});
    let (outcome, ran) = run_fixture(&launch, &plugin, &config, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran, "the workload must run");
    let warns = outcome.warn_lines();
    assert_eq!(warns.len(), 1, "{}", outcome.stderr);
    assert!(
        warns[0].contains(&format!(
            "tolerated by plugin:fixture-0.1.1@0.1.1: {}: as configured ",
            saw(&context)
        )),
        "{}",
        warns[0]
    );

    // The same plugin, wanting another uid, and wanting no capabilities: it aborts, saying why.
    for (change, why) in [
        (
            serde_json::json!({"uid": context.uid + 1}),
            format!("uid {} is not {}", context.uid, context.uid + 1),
        ),
        (
            serde_json::json!({"capabilities": context.effective_capabilities == 0}),
            "the effective capabilities are not empty".to_owned(),
        ),
        (
            serde_json::json!({"container": context.container.is_none()}),
            format!(
                "a container clue is {}",
                if context.container.is_none() {
                    "missing"
                } else {
                    "present"
                }
            ),
        ),
    ] {
        let config = conditions(&context, &["network-namespace"], |config| {
            for (key, value) in change.as_object().unwrap() {
                config[key] = value.clone();
            }
        });
        let (outcome, ran) = run_fixture(&launch, &plugin, &config, &[]);
        assert_eq!(
            outcome.code, REFUSED_BY_PLUGIN,
            "{change}: {}",
            outcome.stderr
        );
        assert!(!ran, "{change}: the workload must not run");
        assert!(
            outcome.error_line().ends_with(&format!(
                "aborted by plugin:fixture-0.1.1@0.1.1: {}: {why}",
                saw(&context)
            )),
            "{change}: {}",
            outcome.stderr
        );
    }

    // Nobody without a user namespace: the three namespaces are refused with EPERM (and the
    // filesystem view is lost with the mount namespace: a fourth WARN, with the same reason).
    let nobody = Launch::nobody();
    let context = expected_context(&nobody);
    let config = conditions(&context, &NAMESPACES, |_| {});
    let (outcome, ran) = run_fixture(&nobody, &plugin, &config, &["--no-userns"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran, "the workload must run");
    let warns = outcome.warn_lines();
    assert_eq!(warns.len(), 4, "{}", outcome.stderr);
    for warn in warns {
        assert!(
            warn.contains(&format!("{}: as configured ", saw(&context))),
            "{warn}"
        );
    }
    // A policy for root with capabilities does not hold for nobody: the first refusal aborts.
    let config = conditions(&context, &NAMESPACES, |config| {
        config["uid"] = 0.into();
    });
    let (outcome, ran) = run_fixture(&nobody, &plugin, &config, &["--no-userns"]);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(!ran);
    assert!(
        outcome
            .error_line()
            .ends_with(&format!("{}: uid 65534 is not 0", saw(&context))),
        "{}",
        outcome.stderr
    );
}

/// A plugin built against 0.1.0 as released that reads the context (0.1.0 parses it with the whole
/// struct's default on any error, and has no reasons): its verdicts follow the real context.
#[test]
fn a_plugin_built_against_0_1_0_decides_on_the_context_the_supervisor_sends() {
    require_root!();
    let plugin = fixture("libfixture_plugin_0_1_0_context.so");
    let launch = Launch::netns_refused();
    let context = expected_context(&launch);
    let config = conditions(&context, &["network-namespace"], |_| {});
    let (outcome, ran) = run_fixture(&launch, &plugin, &config, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran);
    assert_eq!(outcome.warn_lines().len(), 1, "{}", outcome.stderr);
    for change in [
        serde_json::json!({"uid": context.uid + 1}),
        serde_json::json!({"capabilities": context.effective_capabilities == 0}),
        serde_json::json!({"container": context.container.is_none()}),
        serde_json::json!({"gvisor": !context.gvisor}),
    ] {
        let config = conditions(&context, &["network-namespace"], |config| {
            for (key, value) in change.as_object().unwrap() {
                config[key] = value.clone();
            }
        });
        let (outcome, ran) = run_fixture(&launch, &plugin, &config, &[]);
        assert_eq!(
            outcome.code, REFUSED_BY_PLUGIN,
            "{change}: {}",
            outcome.stderr
        );
        assert!(!ran);
        assert!(
            outcome
                .error_line()
                .ends_with("aborted by plugin:fixture-0.1.0-context@0.1.0"),
            "{}",
            outcome.stderr
        );
    }

    // As nobody: the network namespace is tolerated for uid 65534 without capabilities; the
    // PID namespace, a kind 0.1.0 does not know, then aborts without asking the plugin.
    let nobody = Launch::nobody();
    let context = expected_context(&nobody);
    let config = conditions(&context, &["network-namespace"], |_| {});
    let (outcome, _) = run_fixture(&nobody, &plugin, &config, &["--no-userns"]);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    let warns = outcome.warn_lines();
    assert_eq!(warns.len(), 1, "{}", outcome.stderr);
    assert!(
        warns[0].contains("unshare(CLONE_NEWNET) failed with EPERM"),
        "{}",
        warns[0]
    );
    assert!(
        outcome.error_line().contains("pid-namespace"),
        "{}",
        outcome.stderr
    );
    // The same plugin wanting uid 0 aborts at the network namespace.
    let config = conditions(&context, &["network-namespace"], |config| {
        config["uid"] = 0.into();
    });
    let (outcome, _) = run_fixture(&nobody, &plugin, &config, &["--no-userns"]);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(outcome.warn_lines().is_empty(), "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("unshare(CLONE_NEWNET)"),
        "{}",
        outcome.stderr
    );
}

/// The frozen types of the current API, described like the fixtures describe theirs.
fn current_layouts(release: &str) -> String {
    use abi_stable::StableAbi;
    use sandbox_plugin_api::ffi::{
        ExtensionHeader, FailureReportRef, HandlerExtV1Ref, HandlerModRef, PluginError, RulingFfi,
    };
    if release == "0.1.0" {
        return dump::dump(&[
            ("root module", <HandlerModRef as StableAbi>::LAYOUT),
            ("report", <FailureReportRef as StableAbi>::LAYOUT),
            ("error", <PluginError as StableAbi>::LAYOUT),
        ]);
    }
    let mut text = dump::dump(&[
        ("root module", <HandlerModRef as StableAbi>::LAYOUT),
        ("report", <FailureReportRef as StableAbi>::LAYOUT),
        ("error", <PluginError as StableAbi>::LAYOUT),
        ("extension v1", <HandlerExtV1Ref as StableAbi>::LAYOUT),
        ("ruling", <RulingFfi as StableAbi>::LAYOUT),
        (
            "extension header's abi",
            <abi_stable::library::AbiHeader as StableAbi>::LAYOUT,
        ),
    ]);
    type Header = ExtensionHeader<HandlerExtV1Ref>;
    text.push_str(&format!(
        "\nextension header: size {} align {} abi@{} layout@{} module@{}\n",
        std::mem::size_of::<Header>(),
        std::mem::align_of::<Header>(),
        std::mem::offset_of!(Header, abi),
        std::mem::offset_of!(Header, layout),
        std::mem::offset_of!(Header, module),
    ));
    text
}

fn first_difference(left: &str, right: &str) -> String {
    left.lines()
        .zip(right.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(line, (a, b))| format!("line {}: {a:?} != {b:?}", line + 1))
        .unwrap_or_else(|| "one is a prefix of the other".to_owned())
}

/// No frozen type has changed: the root module, the report, the error, extension v1, the ruling
/// and the extension header (its size, alignment and field offsets, and abi_stable's header at
/// its start) are described exactly as in the checked-in snapshot of 0.1.1
/// (tests/fixtures/layouts/frozen-0.1.1.txt), by the current API and by the frozen copy of 0.1.1;
/// and the types 0.1.0 released are described by the current API as by the frozen copy of 0.1.0.
/// Appending a field to `HandlerExtV1`, renaming one, changing a type or the header fails this.
#[test]
fn no_frozen_type_of_a_released_api_has_changed() {
    let snapshot_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/layouts/frozen-0.1.1.txt");
    let snapshot = std::fs::read_to_string(&snapshot_path).unwrap();
    let layouts = |release: &str| {
        let output = Command::new(fixture("fixture-layouts"))
            .arg(release)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let released = layouts("0.1.1");
    assert!(
        released == snapshot,
        "the frozen copy of 0.1.1 no longer matches its snapshot: {}",
        first_difference(&released, &snapshot)
    );
    let current = current_layouts("0.1.1");
    assert!(
        current == snapshot,
        "a frozen type changed its layout since 0.1.1 (never change one: add an extension): {}",
        first_difference(&current, &snapshot)
    );
    let released = layouts("0.1.0");
    let current = current_layouts("0.1.0");
    assert!(
        current == released,
        "a type frozen in 0.1.0 changed its layout: {}",
        first_difference(&current, &released)
    );
}

/// The context schema of each plugin API release, oldest first.
fn context_schemas() -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/context-schema");
    let mut schemas: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let release = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (release, serde_json::from_str(&text).unwrap())
        })
        .collect();
    let number = |release: &str| -> Vec<u32> {
        release
            .split('.')
            .map(|part| part.parse().unwrap())
            .collect()
    };
    schemas.sort_by_key(|(release, _)| number(release));
    schemas
}

/// The context JSON the real supervisor sends, as the context-echo test plugin received it: as
/// root under an outer filter refusing the network namespace, and as nobody without a user
/// namespace (three refusals). Every document satisfies the schema of every released plugin API
/// (so every old plugin finds the keys it was built to read, with the types it expects), and the
/// current glue parses it with no key missing.
#[test]
fn the_context_the_supervisor_sends_satisfies_the_schema_of_every_released_api() {
    require_root!();
    let mut documents = Vec::new();
    for (launch, extra, refusals) in [
        (Launch::netns_refused(), vec![], 1),
        (Launch::nobody(), vec!["--no-userns"], 3),
    ] {
        let dir = scratch();
        let echo = dir.path().join("contexts");
        let config = serde_json::json!({"path": echo}).to_string();
        let (outcome, ran) = run_fixture(
            &launch,
            &plugin("test-plugin-context-echo"),
            &config,
            &extra,
        );
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert!(ran);
        let text = std::fs::read_to_string(&echo).unwrap();
        assert_eq!(text.lines().count(), refusals, "{text}");
        documents.extend(text.lines().map(str::to_owned));
    }
    let schemas = context_schemas();
    assert!(schemas.len() >= 3, "one schema per release: {schemas:?}");
    for document in &documents {
        let value: serde_json::Value = serde_json::from_str(document).unwrap();
        for (release, schema) in &schemas {
            let validator = jsonschema::validator_for(schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|err| err.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "the context {document} does not satisfy the {release} schema: {errors:?}"
            );
        }
        let parsed = sandbox_plugin_api::FailureContext::from_json(document);
        assert!(
            parsed.missing().is_empty(),
            "{document}: {:?}",
            parsed.missing()
        );
    }
}

/// Keys are only ever added: each release's schema keeps every key of the one before, with the
/// same definition, and requires every key the one before required. The latest schema is exactly
/// the keys the current API knows (`FailureContext::KEYS`, with their releases) and sends.
#[test]
fn context_keys_are_only_ever_added() {
    let schemas = context_schemas();
    for pair in schemas.windows(2) {
        let ((old_release, old), (new_release, new)) = (&pair[0], &pair[1]);
        for (key, definition) in old["properties"].as_object().unwrap() {
            assert_eq!(
                &new["properties"][key], definition,
                "{new_release} changed or removed the context key {key} of {old_release}"
            );
        }
        for key in old["required"].as_array().unwrap() {
            assert!(
                new["required"].as_array().unwrap().contains(key),
                "{new_release} no longer requires {key}"
            );
        }
    }
    let (latest, schema) = schemas.last().unwrap();
    assert_eq!(latest, &sandbox_tests::plugin_api_version());
    let properties = schema["properties"].as_object().unwrap();
    let keys: Vec<&str> = sandbox_plugin_api::FailureContext::KEYS
        .iter()
        .map(|(key, _)| *key)
        .collect();
    assert_eq!(
        properties
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        keys.iter().copied().collect()
    );
    for (key, since) in sandbox_plugin_api::FailureContext::KEYS {
        assert_eq!(properties[key]["x-since"], since, "{key}");
        // The release that added a key is the first schema that has it.
        let first = schemas
            .iter()
            .find(|(_, schema)| schema["properties"].get(key).is_some())
            .unwrap();
        assert_eq!(first.0, since, "{key}");
    }
    // What the current API sends for a context with every clue set has exactly these keys.
    let sent = sandbox_plugin_api::FailureContext::from_json(
        &serde_json::json!({
            "gvisor": true, "container": "c", "threads": 1, "effective_capabilities": 1,
            "uid": 1, "supervisor_version": "v", "plugin_api_version": "v",
        })
        .to_string(),
    );
    let sent = serde_json::to_value(&sent).unwrap();
    assert_eq!(
        sent.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        keys.iter().copied().collect()
    );
}

/// The GNU build id `readelf -n` shows for `binary`.
fn readelf_build_id(binary: &Path) -> String {
    let output = Command::new("readelf")
        .arg("-n")
        .arg(binary)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.trim().strip_prefix("Build ID: "))
        .expect("the binary has a build id")
        .to_owned()
}

/// Operators can tell which plugin API a supervisor speaks: `--version` prints the supervisor's
/// version, the plugin API version and ABI line, and the binary's build id (the one `readelf -n`
/// shows); the report carries the same three.
#[test]
fn version_and_report_name_the_plugin_api_line_and_the_build_id() {
    let binary = sandbox_tests::supervisor_bin();
    let build_id = readelf_build_id(&binary);
    let outcome = run_supervisor(&Launch::default(), ["--version"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout,
        format!(
            "sandbox-supervisor {}\nplugin API: sandbox-plugin-api {} (loads plugins built for 0.1.x)\nbuild id: {build_id}\n",
            env!("CARGO_PKG_VERSION"),
            sandbox_tests::plugin_api_version()
        )
    );

    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "--report".to_owned(),
            report.display().to_string(),
            "--".to_owned(),
            "true".to_owned(),
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let text = std::fs::read_to_string(&report).unwrap();
    // A file holds one pretty-printed document (the final record).
    let first: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first["supervisor_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        first["plugin_api_version"],
        sandbox_tests::plugin_api_version()
    );
    assert_eq!(first["plugin_abi"], "0.1.x");
    assert_eq!(first["build_id"], build_id.as_str());
}

/// The fenced block of `lang` that follows `after` in `page`.
fn doc_block(page: &str, lang: &str, after: usize) -> (String, usize) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(page)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = (after..lines.len())
        .find(|index| lines[*index] == format!("```{lang}"))
        .unwrap_or_else(|| panic!("no {lang} block in {page}"));
    let end = (start + 1..lines.len())
        .find(|index| lines[*index] == "```")
        .unwrap();
    (lines[start + 1..end].join("\n") + "\n", end)
}

/// The guide's example plugin (docs/plugin-authors.md, its first Rust and TOML blocks, with the
/// dependency line pointed at this checkout) builds out of tree and keeps the guide's contract:
/// asked about a kind it does not declare (as nobody without a user namespace, where the PID and
/// mount namespaces are refused too), it aborts with a reason instead of tolerating it, which
/// would be a plugin failure (119).
#[test]
fn the_guides_example_plugin_keeps_the_contract() {
    let (source, end) = doc_block("../docs/plugin-authors.md", "rust", 0);
    let (manifest, _) = doc_block("../docs/plugin-authors.md", "toml", end);
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let line = manifest
        .lines()
        .find(|line| line.starts_with("sandbox-plugin-api = "))
        .expect("the guide's dependency line")
        .to_owned();
    let manifest = format!(
        "[package]\nname = \"guide-example\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n{}\n[workspace]\n\n[profile.dev]\ndebug = false\n",
        manifest.replace(
            &line,
            &format!(
                "sandbox-plugin-api = {{ path = \"{}\" }}",
                repository.join("plugin-api").display()
            )
        )
    );
    let out = tempfile::tempdir().unwrap();
    let crate_dir = out.path().join("guide-example");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), source).unwrap();
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
    let built =
        sandbox_tests::build_plugin_crate(&crate_dir, "guide_example", "libguide_example.so");
    let output = Command::new(sandbox_tests::supervisor_bin())
        .args(["simulate", "--handler-plugin"])
        .arg(&built)
        .args([
            "--json",
            "network-namespace=EPERM,pid-namespace=EPERM,mount-namespace=EPERM,network-namespace=EINVAL",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let exits: Vec<serde_json::Value> = document["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["would_exit"].clone())
        .collect();
    assert_eq!(
        exits,
        [serde_json::Value::Null, 121.into(), 121.into(), 121.into()]
    );
}
