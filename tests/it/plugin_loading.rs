//! The failure handler and the plugin boundary, end to end: the real binary loads real shared
//! objects built by this test run, and real refusals come from the kernel (the supervisor started
//! as an unprivileged user cannot create a network namespace: `unshare` answers `EPERM`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sandbox_tests::{
    marked, own_netns, plugin, require_root, run_supervisor, scratch, sha256_of, status_field,
    write_file, Launch, Outcome,
};

const PLUGIN_LOAD: i32 = 118;
const PLUGIN_FAILURE: i32 = 119;
const REFUSED_STRICT: i32 = 120;
const REFUSED_BY_PLUGIN: i32 = 121;
const USAGE: i32 = 2;

/// Runs the supervisor with `flags`, a workload that writes a marker and prints its status and
/// network namespace; returns the outcome and whether the workload ran.
fn run_marked(launch: &Launch, flags: &[String]) -> (Outcome, bool) {
    let dir = scratch();
    let marker = dir.path().join("marker");
    let mut args = flags.to_vec();
    args.extend(marked(
        &marker,
        "cat /proc/self/status; readlink /proc/self/ns/net",
    ));
    let outcome = run_supervisor(launch, args);
    (outcome, marker.exists())
}

fn plugin_flags(package: &str, config: Option<&str>) -> (Vec<String>, Option<tempfile::TempDir>) {
    let mut flags = vec![
        "--handler-plugin".to_owned(),
        plugin(package).display().to_string(),
    ];
    let dir = config.map(|text| {
        let dir = scratch();
        let path = write_file(dir.path(), "config.json", text);
        flags.push("--handler-config".to_owned());
        flags.push(path.display().to_string());
        dir
    });
    (flags, dir)
}

#[test]
fn without_a_plugin_a_refusal_aborts_before_the_workload() {
    require_root!();
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &[]);
    assert_eq!(outcome.code, REFUSED_STRICT, "{}", outcome.stderr);
    assert!(!ran, "the workload must not run");
    let line = outcome.error_line();
    assert!(
        line.contains("network-namespace refused: unshare(CLONE_NEWNET) failed with EPERM"),
        "{line}"
    );
    assert!(line.ends_with("aborted by strict"), "{line}");
    assert!(!outcome.stderr.contains("failure handler loaded"));
}

#[test]
fn outer_sandbox_tolerates_a_refused_network_namespace() {
    require_root!();
    // Declared, so that the decision does not depend on this machine's clues (see the plain-host
    // tests below for detected and missing boundaries).
    let (flags, _dir) = plugin_flags(
        "sandbox-plugin-outer-sandbox",
        Some(r#"{"boundary": "firecracker"}"#),
    );
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran);
    assert!(outcome.stderr.contains(
        "failure handler loaded: plugin:outer-sandbox@0.1.0 may tolerate \
         [network-namespace, supervisor-seccomp, workload-seccomp, pid-namespace, mount-namespace, \
         filesystem-view, landlock, cgroup]"
    ));
    let warns = outcome.warn_lines();
    assert_eq!(warns.len(), 1, "{}", outcome.stderr);
    assert!(warns[0].contains("unshare(CLONE_NEWNET) failed with EPERM"));
    assert!(warns[0].contains("the workload shares the supervisor's network namespace"));
    assert!(warns[0].contains("decider=plugin:outer-sandbox@0.1.0"));
    assert!(
        warns[0].contains(
            "tolerated by plugin:outer-sandbox@0.1.0: outer boundary: the operator declared the boundary firecracker"
        ),
        "{}",
        warns[0]
    );
    // The tolerated step is really missing, and the steps the kernel allowed are really there.
    assert!(outcome.stdout.contains(&own_netns()), "{}", outcome.stdout);
    assert_eq!(status_field(&outcome.stdout, "Seccomp"), Some("2"));
    assert_eq!(status_field(&outcome.stdout, "NoNewPrivs"), Some("1"));
}

#[test]
fn policy_tolerates_exactly_the_configured_kind() {
    require_root!();
    let (flags, _dir) = plugin_flags(
        "sandbox-plugin-policy",
        Some(r#"{"tolerate": {"network-namespace": ["EPERM"]}}"#),
    );
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran);
    assert!(outcome
        .stderr
        .contains("plugin:policy@0.1.0 may tolerate [network-namespace]"));
    assert_eq!(outcome.warn_lines().len(), 1);
    assert!(outcome.warn_lines()[0].contains("decider=plugin:policy@0.1.0"));
    assert!(outcome.stdout.contains(&own_netns()));
}

#[test]
fn policy_aborts_a_kind_it_does_not_tolerate() {
    require_root!();
    let (flags, _dir) = plugin_flags(
        "sandbox-plugin-policy",
        Some(r#"{"tolerate": {"workload-seccomp": ["EPERM"]}}"#),
    );
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(!ran);
    let line = outcome.error_line();
    assert!(
        line.contains("unshare(CLONE_NEWNET) failed with EPERM"),
        "{line}"
    );
    assert!(
        line.ends_with(
            "aborted by plugin:policy@0.1.0: the policy tolerates nothing for network-namespace"
        ),
        "{line}"
    );
}

#[test]
fn policy_aborts_an_errno_it_does_not_list() {
    require_root!();
    let (flags, _dir) = plugin_flags(
        "sandbox-plugin-policy",
        Some(r#"{"tolerate": {"network-namespace": ["ENOSYS"]}}"#),
    );
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(!ran);
}

/// Misbehaving plugins at decision time: each is fatal with its own line.
#[test]
fn misbehaving_handlers_are_fatal() {
    require_root!();
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "test-plugin-misbehaving",
            Some(r#"{"mode": "tolerate-undeclared"}"#),
            "plugin:misbehaving@0.1.0 answered tolerate but did not declare network-namespace",
        ),
        (
            "test-plugin-misbehaving",
            Some(r#"{"mode": "panic-handle"}"#),
            "plugin:misbehaving@0.1.0 failed: panicked in decide: deliberate panic in handle",
        ),
        (
            "test-plugin-misbehaving",
            Some(r#"{"mode": "thread-handle"}"#),
            "plugin:misbehaving@0.1.0 failed: started threads in decide",
        ),
        (
            "test-plugin-raw-verdict",
            None,
            "plugin:raw-verdict@0.1.0 failed: returned verdict 7, which is neither abort (0) nor tolerate (1)",
        ),
    ];
    for (package, config, expected) in cases {
        let (flags, _dir) = plugin_flags(package, *config);
        let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
        assert_eq!(
            outcome.code, PLUGIN_FAILURE,
            "{package} {config:?}: {}",
            outcome.stderr
        );
        assert!(!ran, "{package} {config:?}: the workload must not run");
        assert!(
            outcome.error_line().contains(expected),
            "{}",
            outcome.error_line()
        );
        assert!(outcome.warn_lines().is_empty(), "{}", outcome.stderr);
    }
}

#[test]
fn a_plugin_is_loaded_and_declared_before_hardening_when_nothing_is_refused() {
    require_root!();
    let (flags, _dir) = plugin_flags("sandbox-plugin-outer-sandbox", None);
    let (outcome, ran) = run_marked(&Launch::default(), &flags);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran);
    assert!(outcome.warn_lines().is_empty(), "{}", outcome.stderr);
    let declared = outcome
        .stderr
        .find("failure handler loaded")
        .expect("declaration");
    let first_step = outcome
        .stderr
        .find("network-namespace enforced")
        .expect("netns step");
    assert!(
        declared < first_step,
        "the declaration comes before any hardening"
    );
    assert_ne!(
        outcome.stdout.lines().last().unwrap_or_default(),
        own_netns(),
        "nothing refused: the workload has its own namespace"
    );
}

/// A directory only its owner (root, or the user running the tests) can write to: a plugin's
/// directory must not be writable by anyone else.
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// A copy of a built plugin in a scratch directory, with `mode`.
fn copy_plugin(dir: &Path, package: &str, mode: u32) -> PathBuf {
    let path = dir.join("plugin.so");
    std::fs::copy(plugin(package), &path).expect("copy plugin");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// Every bad plugin input: one error line, its exit code, and the workload never runs.
#[test]
fn bad_plugin_inputs_get_one_line_and_an_exit_code() {
    let dir = private_dir();
    let good = copy_plugin(dir.path(), "sandbox-plugin-outer-sandbox", 0o755);
    let link = dir.path().join("link.so");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let text = write_file(dir.path(), "text.so", "not a shared object\n");
    let subdir = dir.path().join("subdir");
    std::fs::create_dir(&subdir).unwrap();
    let writable_dir = private_dir();
    let group_writable = copy_plugin(writable_dir.path(), "sandbox-plugin-outer-sandbox", 0o775);
    let world_dir = private_dir();
    let world_writable = copy_plugin(world_dir.path(), "sandbox-plugin-outer-sandbox", 0o757);
    // A plugin built for aarch64, as far as its ELF header says (e_machine 183): named as such,
    // not left to the loader's "cannot open shared object file: No such file or directory".
    let aarch64 = dir.path().join("aarch64.so");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    std::fs::write(&aarch64, bytes).unwrap();
    std::fs::set_permissions(&aarch64, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bad_json = write_file(dir.path(), "bad.json", "{ not json");
    let p = |path: &Path| path.display().to_string();
    let s = |text: &str| text.to_owned();
    let misbehaving = p(&plugin("test-plugin-misbehaving"));
    let config = |mode: &str| {
        p(&write_file(
            dir.path(),
            &format!("{mode}.json"),
            &format!(r#"{{"mode": "{mode}"}}"#),
        ))
    };

    let cases: Vec<(Vec<String>, i32, String)> = vec![
        (vec![s("--handler-plugin"), p(&dir.path().join("missing.so"))], PLUGIN_LOAD, s("does not exist")),
        (vec![s("--handler-plugin"), s("relative/plugin.so")], PLUGIN_LOAD, s("is relative; give an absolute path")),
        (vec![s("--handler-plugin"), p(&subdir)], PLUGIN_LOAD, s("is a directory, not a regular file")),
        (vec![s("--handler-plugin"), p(&link)], PLUGIN_LOAD, s("is a symbolic link")),
        (vec![s("--handler-plugin"), p(&text)], PLUGIN_LOAD, s("is not an ELF shared object")),
        (
            vec![s("--handler-plugin"), p(&aarch64)],
            PLUGIN_LOAD,
            s("is built for aarch64, 64-bit little-endian, but this supervisor runs on x86_64, 64-bit little-endian; build the plugin for x86_64, 64-bit little-endian"),
        ),
        (vec![s("--handler-plugin"), p(&plugin("test-plugin-not-a-plugin"))], PLUGIN_LOAD, s("is a shared object but not a sandbox-supervisor plugin")),
        (
            vec![s("--handler-plugin"), p(&plugin("test-plugin-abi-future"))],
            PLUGIN_LOAD,
            format!("was built for sandbox-plugin-api 0.2.0; this supervisor speaks sandbox-plugin-api {} (plugin ABI 0.1.0) and loads plugins built for 0.1.x", sandbox_tests::plugin_api_version()),
        ),
        (
            vec![s("--handler-plugin"), p(&plugin("test-plugin-abi-layout"))],
            PLUGIN_LOAD,
            s("was built for sandbox-plugin-api 0.1.0 with an incompatible layout"),
        ),
        (
            vec![s("--handler-plugin"), p(&plugin("test-plugin-abi-ext-layout"))],
            PLUGIN_LOAD,
            s("exports sandbox_handler_ext_v1 with an incompatible layout"),
        ),
        (
            vec![s("--handler-plugin"), p(&plugin("test-plugin-abi-ext-header"))],
            PLUGIN_LOAD,
            s("could not be initialised as a sandbox-supervisor plugin: its extension sandbox_handler_ext_v1: its header is 64 bytes, not the frozen extension header's 56"),
        ),
        (vec![s("--handler-plugin"), p(&group_writable)], PLUGIN_LOAD, s("has mode 0775; it must not be group- or world-writable")),
        (vec![s("--handler-plugin"), p(&world_writable)], PLUGIN_LOAD, s("has mode 0757; it must not be group- or world-writable")),
        (
            vec![s("--handler-plugin"), p(&good), s("--handler-plugin-sha256"), "0".repeat(64)],
            PLUGIN_LOAD,
            format!("has SHA-256 {}, but --handler-plugin-sha256 requires {}", sha256_of(&good), "0".repeat(64)),
        ),
        (vec![s("--handler-plugin"), misbehaving.clone(), s("--handler-config"), config("reject-config")], PLUGIN_FAILURE, s("plugin:misbehaving@0.1.0 rejected its configuration: mode reject-config refuses every configuration")),
        (vec![s("--handler-plugin"), misbehaving.clone(), s("--handler-config"), config("panic-init")], PLUGIN_FAILURE, s("plugin:misbehaving@0.1.0 panicked in init: deliberate panic in init")),
        (vec![s("--handler-plugin"), misbehaving.clone(), s("--handler-config"), config("panic-tolerates")], PLUGIN_FAILURE, s("plugin:misbehaving@0.1.0 panicked in tolerates: deliberate panic in tolerates")),
        (vec![s("--handler-plugin"), misbehaving.clone(), s("--handler-config"), config("thread-init")], PLUGIN_FAILURE, s("plugin:misbehaving@0.1.0 started threads (the supervisor now has 2)")),
        (vec![s("--handler-plugin"), p(&plugin("sandbox-plugin-policy"))], PLUGIN_FAILURE, s("plugin:policy@0.1.0 rejected its configuration: policy needs a configuration")),
        (vec![s("--handler-plugin"), p(&good), s("--handler-config"), p(&bad_json)], USAGE, format!("failed to read handler configuration {}", p(&bad_json))),
        (vec![s("--handler-plugin"), p(&good), s("--handler-plugin-sha256"), s("xyz")], USAGE, s("invalid value 'xyz' for '--handler-plugin-sha256 <HEX>'")),
        (vec![s("--handler-config"), p(&bad_json)], USAGE, s("the following required arguments were not provided")),
        (vec![s("--no-such-flag")], USAGE, s("unexpected argument '--no-such-flag'")),
    ];
    for (flags, code, expected) in cases {
        let (outcome, ran) = run_marked(&Launch::default(), &flags);
        assert_eq!(outcome.code, code, "{flags:?}: {}", outcome.stderr);
        assert!(!ran, "{flags:?}: the workload must not run");
        assert!(
            outcome.stderr.contains(&expected),
            "{flags:?}: expected {expected:?} in:\n{}",
            outcome.stderr
        );
        if code != USAGE {
            assert!(outcome.error_line().contains(&expected));
            // One line, not abi_stable's layout report or a panic trace.
            assert_eq!(
                outcome.stderr.lines().count(),
                1,
                "{flags:?}:\n{}",
                outcome.stderr
            );
        }
    }

    // The pinned digest of the real file is accepted.
    let pinned = vec![
        s("--handler-plugin"),
        p(&good),
        s("--handler-plugin-sha256"),
        sha256_of(&good),
    ];
    let (outcome, ran) = run_marked(&Launch::default(), &pinned);
    assert!(ran, "{}", outcome.stderr);
}

#[test]
fn a_plugin_owned_by_another_user_is_refused() {
    require_root!();
    let dir = private_dir();
    let path = copy_plugin(dir.path(), "sandbox-plugin-outer-sandbox", 0o755);
    nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(12345)), None).unwrap();
    let flags = vec!["--handler-plugin".to_owned(), path.display().to_string()];
    let (outcome, ran) = run_marked(&Launch::default(), &flags);
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(!ran);
    assert!(outcome
        .error_line()
        .contains("is owned by uid 12345; it must be owned by root or by uid 0"));
}

/// Every directory on the plugin's path is checked like the file (OpenSSH's StrictModes): a
/// directory another user can write to (or owns) would let that user swap the plugin.
#[test]
fn a_plugin_in_a_directory_another_user_can_write_is_refused() {
    require_root!();
    let p = |path: &Path| path.display().to_string();

    // World-writable, not sticky: anyone can rename the plugin away and put theirs in its place.
    let open_dir = scratch();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let inner = open_dir.path().join("plugins");
    std::fs::create_dir(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugin_path = copy_plugin(&inner, "sandbox-plugin-outer-sandbox", 0o755);
    let (outcome, ran) = run_marked(
        &Launch::default(),
        &["--handler-plugin".to_owned(), p(&plugin_path)],
    );
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(!ran);
    assert!(
        outcome.error_line().contains(&format!(
            "directory {} has mode 0777; a directory on the path must not be group- or world-writable unless it is sticky",
            open_dir.path().display()
        )),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);

    // Owned by another user, even with mode 0755: that user can swap the plugin.
    let owned = private_dir();
    let plugin_path = copy_plugin(owned.path(), "sandbox-plugin-outer-sandbox", 0o755);
    nix::unistd::chown(owned.path(), Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let (outcome, ran) = run_marked(
        &Launch::default(),
        &["--handler-plugin".to_owned(), p(&plugin_path)],
    );
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(!ran);
    assert!(
        outcome.error_line().contains(&format!(
            "directory {} is owned by uid 65534; every directory on the path must be owned by root or by uid 0",
            owned.path().display()
        )),
        "{}",
        outcome.stderr
    );

    // A sticky, world-writable directory owned by root (like /tmp) is accepted: nobody else can
    // rename or remove the root-owned directory below it.
    let sticky = scratch();
    std::fs::set_permissions(sticky.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let inner = sticky.path().join("plugins");
    std::fs::create_dir(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugin_path = copy_plugin(&inner, "sandbox-plugin-outer-sandbox", 0o755);
    let (outcome, ran) = run_marked(
        &Launch::default(),
        &["--handler-plugin".to_owned(), p(&plugin_path)],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(ran);
}

/// A symbolic link anywhere on the path is refused, not only in the last component: each
/// directory is opened with O_NOFOLLOW relative to the one before.
#[test]
fn a_symlinked_directory_on_the_path_is_refused() {
    let dir = private_dir();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy_plugin(&real, "sandbox-plugin-outer-sandbox", 0o755);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let through_link = link.join("plugin.so");
    let (outcome, ran) = run_marked(
        &Launch::default(),
        &[
            "--handler-plugin".to_owned(),
            through_link.display().to_string(),
        ],
    );
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(!ran);
    assert!(
        outcome.error_line().contains(&format!(
            "directory {} is a symbolic link; name the real directory",
            link.display()
        )),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
    // `..` is refused outright.
    let dotdot = real.join("..").join("real").join("plugin.so");
    let (outcome, _) = run_marked(
        &Launch::default(),
        &["--handler-plugin".to_owned(), dotdot.display().to_string()],
    );
    assert_eq!(outcome.code, PLUGIN_LOAD, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("contains '..'"),
        "{}",
        outcome.stderr
    );
}

/// The pid written to `pidfile`, if the process got that far.
fn pid_in(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A plugin that never answers: the supervisor stops with the plugin-failure code within the
/// deadline, with one line, and the process that ran the plugin is gone.
#[test]
fn a_plugin_that_never_answers_is_stopped_at_the_deadline() {
    require_root!();
    for (mode, launch, expected) in [
        ("sleep-init", Launch::default(), "plugin:misbehaving@0.1.0 did not answer init within 1s (--handler-timeout)"),
        ("sleep-handle", Launch::netns_refused(), "plugin:misbehaving@0.1.0 failed: did not answer decide within 1s (--handler-timeout); the call was killed"),
    ] {
        let dir = scratch();
        let pidfile = dir.path().join("pid");
        let config = format!(r#"{{"mode": "{mode}", "pidfile": "{}"}}"#, pidfile.display());
        let (mut flags, _config_dir) = plugin_flags("test-plugin-misbehaving", Some(&config));
        flags.extend(["--handler-timeout".to_owned(), "1".to_owned()]);
        let started = std::time::Instant::now();
        let (outcome, ran) = run_marked(&launch, &flags);
        let took = started.elapsed();
        assert_eq!(outcome.code, PLUGIN_FAILURE, "{mode}: {}", outcome.stderr);
        assert!(!ran, "{mode}: the workload must not run");
        assert!(took < std::time::Duration::from_secs(4), "{mode}: took {took:?}");
        assert!(outcome.error_line().contains(expected), "{mode}: {}", outcome.stderr);
        if let Some(pid) = pid_in(&pidfile) {
            assert!(!alive(pid), "{mode}: the plugin's process {pid} survived the run");
        }
    }
}

/// A plugin that starts a process (a fork, a double fork whose orphan lands with the supervisor
/// as subreaper, or a fork in handle) is refused, and the process is killed.
#[test]
fn a_plugin_that_starts_a_process_is_refused() {
    require_root!();
    for (mode, launch, expected) in [
        (
            "fork-init",
            Launch::default(),
            "plugin:misbehaving@0.1.0 started a process (pid ",
        ),
        (
            "double-fork-init",
            Launch::default(),
            "plugin:misbehaving@0.1.0 started a process (pid ",
        ),
        (
            "fork-handle",
            Launch::netns_refused(),
            "plugin:misbehaving@0.1.0 failed: started a process (pid ",
        ),
    ] {
        let dir = scratch();
        let pidfile = dir.path().join("pid");
        let config = format!(
            r#"{{"mode": "{mode}", "pidfile": "{}"}}"#,
            pidfile.display()
        );
        let (flags, _config_dir) = plugin_flags("test-plugin-misbehaving", Some(&config));
        let (outcome, ran) = run_marked(&launch, &flags);
        assert_eq!(outcome.code, PLUGIN_FAILURE, "{mode}: {}", outcome.stderr);
        assert!(!ran, "{mode}: the workload must not run");
        assert!(
            outcome.error_line().contains(expected),
            "{mode}: {}",
            outcome.stderr
        );
        // Give a just-forked child the time to write its pid, then check it is gone.
        std::thread::sleep(std::time::Duration::from_millis(200));
        if let Some(pid) = pid_in(&pidfile) {
            assert!(
                !alive(pid),
                "{mode}: the plugin's process {pid} survived the run"
            );
        }
    }
}

/// A descriptor the plugin opens in handle (without close-on-exec) never reaches the workload:
/// handle runs in a child that exits after answering. The refusal is the workload filter's (an
/// outer filter refuses `seccomp`), decided between the first spawn and its retry: the path on
/// which a descriptor opened by the plugin would otherwise be inherited.
#[test]
fn a_descriptor_opened_in_handle_does_not_reach_the_workload() {
    require_root!();
    let dir = scratch();
    let secret = write_file(dir.path(), "plugin-secret-file", "secret\n");
    let config = format!(
        r#"{{"mode": "open-handle", "open": "{}"}}"#,
        secret.display()
    );
    let (mut flags, _config_dir) = plugin_flags("test-plugin-misbehaving", Some(&config));
    flags.extend([
        "--".to_owned(),
        "sh".to_owned(),
        "-c".to_owned(),
        "for fd in /proc/self/fd/*; do echo \"$fd -> $(readlink $fd)\"; done".to_owned(),
    ]);
    let launch = Launch {
        outer_refuses: Some("seccomp".to_owned()),
        ..Launch::default()
    };
    let outcome = run_supervisor(&launch, &flags);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("workload-seccomp"),
        "{}",
        outcome.stderr
    );
    // The plugin was asked (a refusal was tolerated) and the workload listed its descriptors.
    assert!(!outcome.warn_lines().is_empty(), "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("/proc/self/fd/0"),
        "{}",
        outcome.stdout
    );
    assert!(
        !outcome.stdout.contains("plugin-secret-file"),
        "the plugin's descriptor reached the workload:\n{}",
        outcome.stdout
    );
}

/// Runs the supervisor as nobody on a "plain host": in a private mount namespace, chrooted into a
/// fresh tmpfs root that binds the host's system directories but has none of the container clues
/// the supervisor looks for (`/.dockerenv`, `/run/.containerenv`; the environment is emptied, and
/// `environment` adds variables back), unless `stray_dockerenv` puts an empty `/.dockerenv` in
/// it as the machines this project is tested on carry one (they are VMs, not containers).
fn run_on_plain_host(environment: &[&str], stray_dockerenv: bool, args: &[String]) -> Outcome {
    let root = private_dir();
    let script = r#"
set -e
root=$1; staging=$2; stray=$3; shift 3
mount -t tmpfs -o mode=755 plain-host "$root"
if [ "$stray" = yes ]; then : > "$root/.dockerenv"; fi
for d in usr etc proc dev sys tmp bin sbin lib lib64 lib32 libx32; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"
  elif [ -d "/$d" ]; then mkdir "$root/$d"; mount --rbind "/$d" "$root/$d"
  fi
done
# The staged binary and plugins, at their own path.
mkdir -p "$root$staging"; mount --rbind "$staging" "$root$staging"
exec chroot "$root" "$@"
"#;
    let mut command = std::process::Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(root.path())
        .arg(sandbox_tests::staging_dir())
        .arg(if stray_dockerenv { "yes" } else { "no" })
        .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        .args(environment)
        .args(sandbox_tests::AS_NOBODY)
        .arg(sandbox_tests::supervisor_bin())
        .args(args)
        .stdin(std::process::Stdio::null());
    let output = command.output().expect("start unshare");
    Outcome::from(output)
}

/// `outer-sandbox` tolerates only behind a boundary the operator declares. On a plain host (no
/// clue, nothing declared) it aborts an unprivileged caller's refused network namespace and says
/// how to declare one; a stray `/.dockerenv` (as on the machines this project is tested on) and a
/// `KUBERNETES_SERVICE_HOST` variable decide nothing either, and are named as hints; a boundary
/// declared with `--outer-boundary` or in the plugin's configuration tolerates, the WARN line
/// naming the declaration.
#[test]
fn outer_sandbox_tolerates_only_behind_a_declared_boundary() {
    require_root!();
    let plugin_path = plugin("sandbox-plugin-outer-sandbox").display().to_string();
    let dir = scratch();
    let declared = write_file(dir.path(), "declared.json", r#"{"boundary": "kata"}"#);
    // Without the user-namespace route the unprivileged caller's namespaces are refused.
    let flags = |extra: &[&str]| {
        let mut flags = vec![
            "--no-userns".to_owned(),
            "--handler-plugin".to_owned(),
            plugin_path.clone(),
        ];
        flags.extend(extra.iter().map(|flag| (*flag).to_owned()));
        flags.extend(["--".to_owned(), "true".to_owned()]);
        flags
    };
    let undeclared = "no outer boundary declared (--outer-boundary gvisor|container|vm, or \
                      {\"boundary\": NAME} in --handler-config)";

    let outcome = run_on_plain_host(&[], false, &flags(&[]));
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    let line = outcome.error_line();
    assert!(
        line.contains("network-namespace refused: unshare(CLONE_NEWNET) failed with EPERM"),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "aborted by plugin:outer-sandbox@0.1.0: {undeclared}"
        )),
        "{line}"
    );

    // The clues this machine and a pod show decide nothing: the same abort, naming them.
    for (environment, stray, hint) in [
        (&[][..], true, "container clue /.dockerenv"),
        (
            &["KUBERNETES_SERVICE_HOST=10.96.0.1"][..],
            false,
            "container clue $KUBERNETES_SERVICE_HOST",
        ),
        (
            &["container=podman"][..],
            false,
            "container clue $container",
        ),
    ] {
        let outcome = run_on_plain_host(environment, stray, &flags(&[]));
        assert_eq!(
            outcome.code, REFUSED_BY_PLUGIN,
            "{hint}: {}",
            outcome.stderr
        );
        assert!(outcome
            .warn_lines()
            .iter()
            .all(|warn| !warn.contains("tolerated")));
        let line = outcome.error_line();
        assert!(
            line.ends_with(&format!("{undeclared}; hints, which never decide: {hint}")),
            "{line}"
        );
    }

    // Declared: the network, PID and mount namespaces are all refused: one WARN each, each
    // naming the declaration, and one for the filesystem view lost with the mount namespace.
    for (extra, stray, named) in [
        (
            vec!["--outer-boundary", "vm"],
            true,
            "outer boundary: the operator declared the boundary vm (--outer-boundary)",
        ),
        (
            vec!["--handler-config", declared.to_str().unwrap()],
            false,
            "outer boundary: the operator declared the boundary kata",
        ),
    ] {
        let outcome = run_on_plain_host(&[], stray, &flags(&extra));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        let warns = outcome.warn_lines();
        assert_eq!(warns.len(), 4, "{}", outcome.stderr);
        for warn in warns {
            assert!(warn.contains(named), "{warn}");
        }
    }
}

/// A plugin's reason reaches the abort line of a real run, and a plugin learns at run time which
/// supervisor and plugin API it runs under (from the report's context).
#[test]
fn a_reason_and_the_versions_reach_the_abort_line() {
    require_root!();
    let (flags, _dir) = plugin_flags("test-plugin-misbehaving", Some(r#"{"mode": "versions"}"#));
    let (outcome, ran) = run_marked(&Launch::netns_refused(), &flags);
    assert_eq!(outcome.code, REFUSED_BY_PLUGIN, "{}", outcome.stderr);
    assert!(!ran);
    // The supervisor shares the workspace's version with this crate; the plugin API has its own.
    let supervisor = env!("CARGO_PKG_VERSION");
    let api = sandbox_tests::plugin_api_version();
    let line = outcome.error_line();
    assert!(
        line.ends_with(&format!(
            "aborted by plugin:misbehaving@0.1.0: supervisor {supervisor}, plugin API {api}, built with {api}"
        )),
        "{line}"
    );
}
