//! Operator inputs and destinations fail closed, quickly, with one line: configuration that is not a
//! small regular file, a report path that is a link or someone else's file, a read-only report
//! descriptor, clap's usage errors. And the idempotent drop accepts a caller that already holds
//! less than the target.

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{
    assert_ids, helper_bin, marked, plugin, require_root, run_supervisor, scratch, status_field,
    supervisor_bin, write_file, Launch, Outcome,
};

/// Runs the supervisor with `args` and fails the test unless it ends within `limit` (killing it).
fn run_within(limit: Duration, args: &[OsString]) -> (Outcome, Duration) {
    let start = Instant::now();
    let mut child = Command::new(supervisor_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the supervisor");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("reap");
            panic!(
                "the supervisor did not end within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    let output = child.wait_with_output().expect("collect output");
    let outcome = Outcome::from(output);
    (outcome, elapsed)
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

/// `--handler-config PATH` with the policy plugin and a marked workload: exit 2 within a second,
/// one error line that names the file and says why, and the workload never ran.
fn assert_config_refused(config: &Path, why: &str) {
    let dir = scratch();
    let marker = dir.path().join("ran");
    let mut args = vec![
        OsString::from("--handler-plugin"),
        plugin("sandbox-plugin-policy").into(),
        "--handler-config".into(),
        config.into(),
    ];
    args.extend(marked(&marker, "true").into_iter().map(OsString::from));
    let (outcome, elapsed) = run_within(Duration::from_secs(5), &args);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let expected = format!(
        "sandbox-supervisor: error: failed to read handler configuration {}: {why}",
        config.display()
    );
    assert_eq!(outcome.error_line(), expected, "{}", outcome.stderr);
    assert!(!marker.exists(), "the workload ran");
}

#[test]
fn handler_config_from_dev_zero_is_refused_at_once() {
    assert_config_refused(
        Path::new("/dev/zero"),
        "not a regular file (it is a character device)",
    );
}

#[test]
fn handler_config_from_a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = scratch();
    let fifo = dir.path().join("config.fifo");
    mkfifo(&fifo);
    assert_config_refused(&fifo, "not a regular file (it is a FIFO)");
}

#[test]
fn handler_config_over_the_cap_is_refused_without_reading_it() {
    let dir = scratch();
    let big = dir.path().join("big.json");
    // Sparse: one byte over the cap costs no disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(input_cap() + 1)
        .unwrap();
    assert_config_refused(
        &big,
        &format!(
            "it has {} bytes, more than the cap of {}",
            input_cap() + 1,
            input_cap()
        ),
    );
}

/// The documented cap (docs/operators.md): 1 MiB.
fn input_cap() -> u64 {
    1024 * 1024
}

#[test]
fn handler_config_within_the_cap_still_reaches_the_plugin() {
    // The cap refuses only what is over it: a valid configuration padded to exactly the cap loads.
    let dir = scratch();
    let mut text = String::from(r#"{"tolerate": {"network-namespace": ["EPERM"]}}"#);
    text.push_str(&" ".repeat(input_cap() as usize - text.len()));
    let config = write_file(dir.path(), "config.json", &text);
    let (outcome, _) = run_within(
        Duration::from_secs(30),
        &[
            "--handler-plugin".into(),
            plugin("sandbox-plugin-policy").into(),
            "--handler-config".into(),
            config.into(),
            "--log-level".into(),
            "info".into(),
            "--".into(),
            "true".into(),
        ],
    );
    assert!(
        outcome
            .stderr
            .contains("failure handler loaded: plugin:policy@"),
        "{}",
        outcome.stderr
    );
    assert!(outcome
        .error_lines()
        .iter()
        .all(|line| !line.contains("handler configuration")));
}

/// Runs `--report PATH -- sh -c 'echo ran > MARKER'` and returns the outcome and whether the
/// workload ran.
fn run_with_report_at(path: &Path) -> (Outcome, bool) {
    let dir = scratch();
    let marker = dir.path().join("ran");
    let mut args = vec![OsString::from("--report"), path.into()];
    args.extend(marked(&marker, "true").into_iter().map(OsString::from));
    let (outcome, _) = run_within(Duration::from_secs(30), &args);
    (outcome, marker.exists())
}

#[test]
fn report_under_a_symbolically_linked_directory_is_refused() {
    // A link planted in a directory component (say by another user owning /tmp/x) would make a
    // root run write where the link points.
    let dir = scratch();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let linked = dir.path().join("linked");
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
    let (outcome, ran) = run_with_report_at(&linked.join("report.json"));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("symbolic link"),
        "{}",
        outcome.stderr
    );
    assert!(!ran, "the workload ran");
    assert!(
        !elsewhere.join("report.json").exists(),
        "the report was written through the link"
    );
}

#[test]
fn report_through_a_symbolic_link_is_refused_and_its_target_unchanged() {
    let dir = scratch();
    let target = write_file(dir.path(), "precious", "precious contents\n");
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (outcome, ran) = run_with_report_at(&link);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert_eq!(
        outcome.error_line(),
        format!(
            "sandbox-supervisor: error: failed to open the hardening report {}: it is a symbolic link, and the report never follows one",
            link.display()
        )
    );
    assert!(!ran, "the workload ran");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "precious contents\n"
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o644
    );

    // A dangling link is not followed to create its target either.
    let dangling = dir.path().join("dangling.json");
    let absent = dir.path().join("created-through-the-link");
    std::os::unix::fs::symlink(&absent, &dangling).unwrap();
    let (outcome, _) = run_with_report_at(&dangling);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(!absent.exists(), "the report created the link's target");
}

#[test]
fn a_new_report_is_mode_0600_and_an_existing_one_becomes_0600_and_is_truncated() {
    let dir = scratch();
    let fresh = dir.path().join("fresh.json");
    let (outcome, _) = run_with_report_at(&fresh);
    let meta = std::fs::metadata(&fresh)
        .unwrap_or_else(|err| panic!("no report ({err}): {}", outcome.stderr));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&fresh).unwrap())
        .expect("the report is one JSON document");

    // An existing, longer, world-readable report of the caller's: 0600 and only the new report.
    let old = write_file(dir.path(), "old.json", &"x".repeat(200_000));
    assert_eq!(
        std::fs::metadata(&old).unwrap().permissions().mode() & 0o7777,
        0o644
    );
    let (outcome, _) = run_with_report_at(&old);
    assert_eq!(
        std::fs::metadata(&old).unwrap().permissions().mode() & 0o7777,
        0o600,
        "{}",
        outcome.stderr
    );
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&old).unwrap())
        .expect("the old contents are gone: the report is one JSON document");
}

#[test]
fn report_owned_by_another_user_is_refused_and_unchanged() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let theirs = write_file(dir.path(), "theirs.json", "their data\n");
    nix::unistd::chown(
        &theirs,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let (outcome, ran) = run_with_report_at(&theirs);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .error_line()
            .ends_with(": it is owned by uid 65534, not by the caller (euid 0)"),
        "{}",
        outcome.stderr
    );
    assert!(!ran, "the workload ran");
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "their data\n");
    assert_eq!(
        std::fs::metadata(&theirs).unwrap().permissions().mode() & 0o7777,
        0o644
    );
}

#[test]
fn report_at_a_hard_link_is_refused_and_the_other_name_unchanged() {
    let dir = scratch();
    let precious = write_file(dir.path(), "precious", "precious contents\n");
    let link = dir.path().join("report.json");
    std::fs::hard_link(&precious, &link).unwrap();
    let (outcome, ran) = run_with_report_at(&link);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .error_line()
            .ends_with(": it has 2 hard links; a report file has one"),
        "{}",
        outcome.stderr
    );
    assert!(!ran, "the workload ran");
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "precious contents\n"
    );
    assert_eq!(std::fs::metadata(&precious).unwrap().nlink(), 2);
}

#[test]
fn report_at_a_fifo_or_a_directory_is_refused_at_once() {
    let dir = scratch();
    let fifo = dir.path().join("report.fifo");
    mkfifo(&fifo);
    let start = Instant::now();
    let (outcome, ran) = run_with_report_at(&fifo);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .error_line()
            .ends_with(": not a regular file (it is a FIFO without a reader or a socket)"),
        "{}",
        outcome.stderr
    );
    assert!(!ran, "the workload ran");

    // With a reader the FIFO opens; it is refused on the descriptor, before anything is written.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let (outcome, ran) = run_with_report_at(&fifo);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .error_line()
            .ends_with(": not a regular file (it is a FIFO)"),
        "{}",
        outcome.stderr
    );
    assert!(!ran, "the workload ran");

    let (outcome, ran) = run_with_report_at(dir.path());
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(!ran, "the workload ran");
    outcome.error_line();
}

#[test]
fn read_only_report_fd_is_a_usage_error_before_any_step() {
    let dir = scratch();
    let target = write_file(dir.path(), "report.json", "");
    let marker = dir.path().join("ran");
    // Descriptor 3 opened read-only by the shell, then handed to the supervisor.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; shift; exec "$@""#)
        .arg("sh")
        .arg(&target)
        .arg(supervisor_bin())
        .args(["--log-level", "info", "--report-fd", "3"])
        .args(marked(&marker, "true"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "sandbox-supervisor: error: invalid value '3' for '--report-fd <N>': descriptor 3 is not open for writing (see --help)"
        ],
        "one line, and nothing logged: no step began"
    );
    assert!(!marker.exists(), "the workload ran");

    // The same descriptor opened for writing is accepted.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3>"$1"; shift; exec "$@""#)
        .arg("sh")
        .arg(&target)
        .arg(supervisor_bin())
        .args(["--report-fd", "3"])
        .args(marked(&marker, "true"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("--report-fd"),
        "a writable descriptor was refused: {stderr}"
    );
    // One JSON line when the workload started, one when it ended.
    let text = std::fs::read_to_string(&target).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("the report went to the descriptor");
    }
}

/// Every line of `outcome`'s standard error, which must be exactly one usage line.
fn assert_one_usage_line(outcome: &Outcome, starts: &str) {
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", outcome.stderr);
    assert!(
        lines[0].starts_with(&format!("sandbox-supervisor: error: {starts}")),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with(" (see --help)"), "{}", lines[0]);
}

#[test]
fn clap_usage_errors_are_one_line() {
    let launch = Launch::default();
    assert_one_usage_line(
        &run_supervisor(&launch, ["--no-such-flag", "--", "true"]),
        "unexpected argument '--no-such-flag' found",
    );
    assert_one_usage_line(
        &run_supervisor(&launch, ["--user", "nobody"]),
        "the following required arguments were not provided: <COMMAND>...",
    );
    assert_one_usage_line(
        &run_supervisor(&launch, ["true"]),
        "unexpected argument 'true' found",
    );
    assert_one_usage_line(
        &run_supervisor(&launch, ["--log-format", "xml", "--", "true"]),
        "invalid value 'xml' for '--log-format <LOG_FORMAT>' [possible values: text, json]",
    );
    assert_one_usage_line(
        &run_supervisor(&launch, ["--report-fd", "1", "--", "true"]),
        "invalid value '1' for '--report-fd <N>': the report descriptor must be 3 or above",
    );

    // --help and --version are answers, not errors.
    let help = run_supervisor(&launch, ["--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("Usage: sandbox-supervisor"),
        "{}",
        help.stdout
    );
    assert_eq!(help.stderr, "");
    let version = run_supervisor(&launch, ["--version"]);
    assert_eq!(version.code, 0);
    assert!(
        version.stdout.starts_with("sandbox-supervisor "),
        "{}",
        version.stdout
    );
}

/// A policy configuration that tolerates the namespace refusals an unprivileged caller meets, so
/// that the boot reaches the privilege drop.
fn unprivileged_policy(dir: &Path) -> std::path::PathBuf {
    write_file(
        dir,
        "policy.json",
        r#"{"tolerate": {"network-namespace": ["EPERM"], "pid-namespace": ["EPERM"], "mount-namespace": ["EPERM"]}}"#,
    )
}

/// Starts the supervisor as uid/gid 65534 with the supplementary groups `groups` says (a setpriv
/// flag) and no capabilities, with `--user nobody`; the workload prints its status.
fn run_as_nobody_with_groups(groups: &str) -> Outcome {
    run_setpriv_nobody(groups, "nobody", &[])
}

/// Runs the supervisor as uid/gid 65534 with `groups`, `--user USER` and `extra` flags. Without
/// the user-namespace route (`--no-userns`): these tests are about the drop itself.
fn run_setpriv_nobody(groups: &str, user: &str, extra: &[&str]) -> Outcome {
    let dir = scratch();
    let policy = unprivileged_policy(dir.path());
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", groups, "--inh-caps=-all"])
        .arg(supervisor_bin())
        .arg("--handler-plugin")
        .arg(plugin("sandbox-plugin-policy"))
        .arg("--handler-config")
        .arg(&policy)
        .arg("--no-userns")
        .args(extra)
        .args(["--user", user, "--", "cat", "/proc/self/status"])
        .stdin(Stdio::null())
        .output()
        .expect("setpriv");
    Outcome::from(output)
}

#[test]
fn nobody_without_groups_passes_user_nobody() {
    require_root!();
    // Already nobody, with no supplementary group at all: fewer privileges than the target
    // (nobody with its group), and setgroups is refused without CAP_SETGID.
    let outcome = run_as_nobody_with_groups("--clear-groups");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_ids(&outcome.stdout, 65534);
    assert_eq!(status_field(&outcome.stdout, "Groups"), Some(""));
    assert_eq!(status_field(&outcome.stdout, "Seccomp"), Some("2"));
    assert_eq!(
        status_field(&outcome.stdout, "CapEff"),
        Some("0000000000000000")
    );
}

#[test]
fn nobody_with_a_group_the_target_lacks_fails_the_drop() {
    require_root!();
    // Same ids, but one group more than nobody has: setgroups is refused and the caller holds
    // more than the target. Never tolerable.
    let outcome = run_as_nobody_with_groups("--groups=65534,4242");
    assert_eq!(outcome.code, 122, "{}", outcome.stderr);
    assert!(
        outcome.error_line().starts_with(
            "sandbox-supervisor: error: failed to drop privileges: setgroups failed: EPERM"
        ),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stdout.contains("Uid:"), "the workload ran");
}

#[test]
fn fewer_groups_do_not_excuse_other_ids() {
    require_root!();
    // No supplementary group is a subset of root's groups, but the ids are not root's: the refused
    // setgroups is the failure, named as such.
    // The same with only the gid differing (nobody with root's group).
    for user in ["root", "65534:0"] {
        let outcome = run_setpriv_nobody("--clear-groups", user, &["--allow-root"]);
        assert_eq!(outcome.code, 122, "{user}: {}", outcome.stderr);
        assert!(
            outcome.error_line().starts_with(
                "sandbox-supervisor: error: failed to drop privileges: setgroups failed: EPERM"
            ),
            "{user}: {}",
            outcome.stderr
        );
        assert!(!outcome.stdout.contains("Uid:"), "the workload ran");
    }
}

#[test]
fn a_group_listed_twice_is_still_the_target_group() {
    require_root!();
    // The kernel keeps duplicates in the supplementary list; nobody with nogroup twice holds
    // exactly nobody's groups.
    let outcome = run_as_nobody_with_groups("--groups=65534,65534");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        status_field(&outcome.stdout, "Uid"),
        Some("65534\t65534\t65534\t65534")
    );
}

/// Runs `fake-success CALLS -- sandbox-supervisor --user nobody -- id` as root.
fn run_with_faked(calls: &str) -> Outcome {
    let output = Command::new(helper_bin("fake-success"))
        .arg(calls)
        .arg("--")
        .arg(supervisor_bin())
        .args(["--user", "nobody", "--", "id"])
        .stdin(Stdio::null())
        .output()
        .expect("fake-success");
    Outcome::from(output)
}

#[test]
fn a_drop_call_that_fakes_success_is_caught_in_the_child() {
    require_root!();
    // An outer runtime that answers the call with 0 and does nothing: the child re-reads its ids
    // and groups and stops before exec with the verification code, naming the check.
    for (calls, check) in [
        ("setresuid", "getresuid/getresgid (verification)"),
        ("setresgid", "getresuid/getresgid (verification)"),
        ("setgroups", "getgroups (verification)"),
        (
            "setgroups,setresgid,setresuid",
            "getresuid/getresgid (verification)",
        ),
    ] {
        let outcome = run_with_faked(calls);
        assert_eq!(outcome.code, 123, "{calls}: {}", outcome.stderr);
        assert_eq!(
            outcome.error_line(),
            format!("sandbox-supervisor: error: failed to verify privilege-drop: {check} shows that an earlier call returned success without effect"),
            "{calls}"
        );
        assert_eq!(outcome.stdout, "", "{calls}: the workload ran");
    }
}

#[test]
fn a_drop_that_keeps_the_capabilities_is_refused() {
    require_root!();
    // With SECBIT_NO_SETUID_FIXUP the kernel keeps root's capabilities across setresuid: the
    // child would be uid 65534 with CAP_SETUID. Its setuid(0) check catches that.
    let output = Command::new("setpriv")
        .arg("--securebits=+no_setuid_fixup")
        .arg(supervisor_bin())
        .args(["--user", "nobody", "--", "id"])
        .stdin(Stdio::null())
        .output()
        .expect("setpriv");
    let outcome = Outcome::from(output);
    assert_eq!(outcome.code, 123, "{}", outcome.stderr);
    assert!(
        outcome.error_line().starts_with(
            "sandbox-supervisor: error: failed to verify privilege-drop: setuid(0) (verification: it succeeded)"
        ),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.stdout, "", "the workload ran");
}

/// A profile that denies `write` (so the workload cannot say it is ready): the supervisor ends at
/// once with its own code and one line naming the likely cause, and nothing of the run is left.
#[test]
fn a_profile_that_denies_write_ends_the_boot_at_once() {
    require_root!();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let profile = write_file(
        dir.path(),
        "deny-write.json",
        r#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 1},
            "filter": [{"syscall": "write"}]}}"#,
    );
    let mut args = vec![
        "--seccomp-profile".to_owned(),
        profile.display().to_string(),
    ];
    args.extend(marked(&marker, "true"));
    let started = Instant::now();
    let outcome = run_supervisor(&Launch::default(), args);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("denies write"),
        "{}",
        outcome.stderr
    );
    assert!(!marker.exists(), "the workload ran");
}

/// SIGTERM while the boot waits for a slow plugin: the supervisor still ends within the plugin's
/// deadline with a documented code and one line, writes an aborted report, and leaves no process
/// behind (the signal is blocked from the start of the boot, never lost, never half-way fatal).
#[test]
fn sigterm_during_the_boot_ends_it_within_the_deadline() {
    require_root!();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let report = dir.path().join("report.json");
    let pidfile = dir.path().join("pid");
    let config = write_file(
        dir.path(),
        "sleep.json",
        &format!(
            r#"{{"mode": "sleep-handle", "pidfile": "{}"}}"#,
            pidfile.display()
        ),
    );
    let mut command = Command::new(helper_bin("outer-seccomp"));
    command
        .args(["netns", "--"])
        .arg(supervisor_bin())
        .arg("--report")
        .arg(&report)
        .arg("--handler-plugin")
        .arg(plugin("test-plugin-misbehaving"))
        .arg("--handler-config")
        .arg(&config)
        .args(["--handler-timeout", "3"])
        .args(marked(&marker, "true"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let supervisor = nix::unistd::Pid::from_raw(child.id() as i32);
    // The plugin writes its pid once it sleeps in handle: the boot is under way.
    let waiting = Instant::now();
    while !pidfile.exists() && waiting.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(pidfile.exists(), "the plugin was never asked");
    nix::sys::signal::kill(supervisor, nix::sys::signal::Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let outcome = Outcome::from(child.wait_with_output().unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!([119, 143].contains(&outcome.code), "{}", outcome.stderr);
    outcome.error_line();
    assert!(!marker.exists(), "the workload ran");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("\"outcome\": \"aborted\""), "{text}");
    let sleeper = std::fs::read_to_string(&pidfile).unwrap();
    let sleeper = sleeper.trim();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !Path::new(&format!("/proc/{sleeper}")).exists()
            || std::fs::read_to_string(format!("/proc/{sleeper}/stat")).is_ok_and(|stat| stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))),
        "the plugin's sleeping process survived"
    );
}

/// A step that fails for want of memory or processes (`EAGAIN`, `ENOMEM`) is not a runtime's
/// refusal: a plugin that tolerates everything is not asked, the boot stops with the supervisor's
/// own code, and the workload never runs.
#[test]
fn an_exhausted_resource_never_reaches_the_handler() {
    require_root!();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let config = write_file(dir.path(), "all.json", r#"{"mode": "tolerate-everything"}"#);
    let mut args = vec![
        "--handler-plugin".to_owned(),
        plugin("test-plugin-misbehaving").display().to_string(),
        "--handler-config".to_owned(),
        config.display().to_string(),
    ];
    args.extend(marked(&marker, "true"));
    for errno in ["11", "12"] {
        let launch = Launch {
            outer_refuses: Some(format!("pidns={errno}")),
            ..Launch::default()
        };
        let outcome = run_supervisor(&launch, args.clone());
        assert_eq!(outcome.code, 125, "{errno}: {}", outcome.stderr);
        assert!(
            outcome
                .error_line()
                .contains("failed to create the sandbox's PID namespace"),
            "{errno}: {}",
            outcome.stderr
        );
        assert!(outcome.warn_lines().is_empty(), "{}", outcome.stderr);
        assert!(!marker.exists(), "{errno}: the workload ran");
    }
}

/// A boot short of descriptors (a tight `RLIMIT_NOFILE`, whichever call runs out first: the uid
/// lock, the scan, a Landlock rule's path, the ruleset, a pipe) ends with exit 125 and one line
/// naming `EMFILE`: the machine's state, never a usage error (exit 2) blaming the operator's
/// path, never a question to a handler, never a workload run.
#[test]
fn a_boot_short_of_descriptors_ends_with_exit_125_and_one_line() {
    require_root!();
    let mut failed = 0;
    let mut ran = 0;
    // From 4: with fewer, the dynamic loader cannot open the libraries (exit 127, its own line).
    for limit in 4..=40 {
        let output = Command::new("prlimit")
            .arg(format!("--nofile={limit}:{limit}"))
            .arg(supervisor_bin())
            .args(["--log-level", "error", "--", "echo", "ran"])
            .stdin(Stdio::null())
            .output()
            .expect("run prlimit");
        let outcome = Outcome::from(output);
        match outcome.code {
            0 => {
                assert_eq!(outcome.stdout, "ran\n", "limit {limit}");
                ran += 1;
            }
            125 => {
                assert_eq!(outcome.stdout, "", "limit {limit}: the workload ran");
                let lines: Vec<&str> = outcome.stderr.lines().collect();
                assert_eq!(lines.len(), 1, "limit {limit}: {}", outcome.stderr);
                assert!(
                    lines[0].starts_with("sandbox-supervisor: error: ")
                        && lines[0].contains("EMFILE"),
                    "limit {limit}: {}",
                    lines[0]
                );
                failed += 1;
            }
            code => panic!("limit {limit}: exit {code}: {}", outcome.stderr),
        }
    }
    assert!(failed > 0 && ran > 0, "{failed} failed, {ran} ran");
}

/// A sandbox group the kernel does not make for want of descriptors (`mkdir` answering `EMFILE`
/// under an outer filter) ends the boot with exit 125 and one line, even with the default limits,
/// which tolerate a refused group: running out of descriptors is the machine's state, not a
/// runtime's refusal (before, the run went on without a group of its own, after a WARN line).
#[test]
fn a_group_not_made_for_want_of_descriptors_ends_the_boot() {
    require_root!();
    let output = Command::new(helper_bin("outer-seccomp"))
        .args(["cgroup=24", "--"])
        .arg(supervisor_bin())
        // A named user: no uid is allocated, whose lock directory's `mkdir` would fail first.
        .args([
            "--log-level",
            "error",
            "--user",
            "65534",
            "--",
            "echo",
            "ran",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run outer-seccomp");
    let outcome = Outcome::from(output);
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", outcome.stderr);
    assert!(
        lines[0].contains("control group") && lines[0].contains("EMFILE"),
        "{}",
        lines[0]
    );
}
