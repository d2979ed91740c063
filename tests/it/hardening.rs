//! The hardening steps for real, as root: what the workload sees from inside, what the supervisor
//! passes on from outside.

use std::process::{Command, Stdio};

use sandbox_tests::{
    assert_ids, helper_bin, own_netns, require_root, run, run_supervisor, scratch, status_field,
    supervisor_bin, wait_for, wait_until_supervising, write_file, Launch,
};

fn sh(script: &str) -> sandbox_tests::Outcome {
    run(&["--", "sh", "-c", script])
}

#[test]
fn workload_has_its_own_network_namespace_with_only_lo_up() {
    require_root!();
    let outcome = sh("readlink /proc/self/ns/net; cat /proc/net/dev; ip -o link show up");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut lines = outcome.stdout.lines();
    let netns = lines.next().unwrap();
    assert!(netns.starts_with("net:["));
    assert_ne!(netns, own_netns());
    let up: Vec<&str> = outcome
        .stdout
        .lines()
        .filter(|line| line.contains("state "))
        .collect();
    assert_eq!(up.len(), 1, "only one interface up:\n{}", outcome.stdout);
    assert!(up[0].contains(": lo:"), "{}", up[0]);
    // /proc/net/dev lists the namespace's interfaces; eth0 of the host is not among them.
    assert!(!outcome.stdout.contains("eth0"), "{}", outcome.stdout);
}

#[test]
fn workload_has_seccomp_filter_and_no_new_privs() {
    require_root!();
    let outcome = sh("cat /proc/self/status");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(status_field(&outcome.stdout, "Seccomp"), Some("2"));
    assert_eq!(status_field(&outcome.stdout, "NoNewPrivs"), Some("1"));
    // The workload program only: the supervisor installs its prelude after the sandbox exists, so
    // the workload does not inherit it.
    assert_eq!(status_field(&outcome.stdout, "Seccomp_filters"), Some("1"));
}

#[test]
fn supervisor_runs_under_its_prelude() {
    require_root!();
    // The workload's parent is the sandbox's init, in another PID namespace: the supervisor is
    // read from outside, as the test's own child, once the workload runs.
    let dir = scratch();
    let ready = dir.path().join("ready");
    let mut child = Command::new(supervisor_bin())
        .args(["--log-level", "error", "--workspace"])
        .arg(dir.path())
        .args(["--", "sh", "-c"])
        .arg(format!("echo > {}; sleep 30", ready.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let supervisor = child.id();
    wait_for(&ready);
    let status = std::fs::read_to_string(format!("/proc/{supervisor}/status")).unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{supervisor}/comm")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(comm.trim(), "sandbox-supervi");
    assert_eq!(status_field(&status, "Seccomp"), Some("2"), "{status}");
    assert_eq!(
        status_field(&status, "Seccomp_filters"),
        Some("1"),
        "{status}"
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("1"), "{status}");
}

#[test]
fn each_denied_call_fails_in_the_workload_and_ordinary_ones_work() {
    require_root!();
    let probe = helper_bin("syscall-probe");
    let outcome = run(&["--", probe.to_str().unwrap(), "denied"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let results: Vec<(&str, &str)> = outcome
        .stdout
        .lines()
        .map(|line| line.rsplit_once(' ').unwrap())
        .collect();
    assert!(results.len() > 30, "{}", outcome.stdout);
    for (name, result) in results {
        let expected = match name {
            "clone3" => "ENOSYS",
            _ if name.starts_with("socket(AF_NETLINK,NETLINK_ROUTE)")
                || name.starts_with("socket(AF_INET,SOCK_STREAM)")
                || name.starts_with("socket(AF_UNIX") =>
            {
                "OK"
            }
            _ => "EPERM",
        };
        assert_eq!(result, expected, "{name}");
    }

    // The same probe without the supervisor: the denied calls fail differently or succeed, so the
    // EPERMs above are the filter's doing.
    let bare = Command::new(&probe).arg("denied").output().unwrap();
    let bare = String::from_utf8(bare.stdout).unwrap();
    assert!(bare.contains("clone3 EINVAL"), "{bare}");
    assert!(!bare.contains("x32:getppid EPERM"), "{bare}");
    assert!(bare.contains("memfd_create OK"), "{bare}");

    for program in [
        vec!["sh", "-c", "echo hello"],
        vec!["ls", "/"],
        vec!["cat", "/etc/hostname"],
        vec![
            // The system interpreter: the workload runs as nobody, who cannot read root's shims.
            "/usr/bin/python3",
            "-c",
            "import subprocess; print(subprocess.run(['true']).returncode)",
        ],
    ] {
        let mut args = vec!["--"];
        args.extend(program.iter());
        let outcome = run(&args);
        assert_eq!(outcome.code, 0, "{program:?}: {}", outcome.stderr);
    }
}

#[test]
fn user_nobody_runs_as_65534_and_cannot_regain_root() {
    require_root!();
    let outcome = run(&[
        "--user",
        "nobody",
        "--",
        "sh",
        "-c",
        "cat /proc/self/status",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_ids(&outcome.stdout, 65534);
    assert_eq!(status_field(&outcome.stdout, "Groups"), Some("65534"));
    assert_eq!(
        status_field(&outcome.stdout, "CapEff"),
        Some("0000000000000000")
    );

    let probe = helper_bin("syscall-probe");
    let outcome = run(&[
        "--user",
        "nobody",
        "--",
        probe.to_str().unwrap(),
        "regain-root",
    ]);
    assert_eq!(
        outcome.stdout.trim(),
        "setuid(0) EPERM",
        "{}",
        outcome.stderr
    );

    // gid 0 is root's group: refused without --allow-root, kept with it.
    let outcome = run(&["--user", "65534:0", "--", "id", "-g"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("--allow-root"),
        "{}",
        outcome.stderr
    );
    let outcome = run(&["--allow-root", "--user", "65534:0", "--", "id", "-g"]);
    assert_eq!(outcome.stdout.trim(), "0", "{}", outcome.stderr);
}

#[test]
fn user_drop_is_idempotent_without_cap_setgid() {
    require_root!();
    // Started already as nobody (no capabilities at all): the drop must not call setgroups. With
    // --no-userns the namespaces are refused for this user, so the outer-sandbox plugin tolerates
    // them and the drop runs in the caller's own user namespace.
    let plugin = sandbox_tests::plugin("sandbox-plugin-outer-sandbox");
    let launch = Launch::nobody();
    let outcome = run_supervisor(
        &launch,
        [
            "--handler-plugin",
            plugin.to_str().unwrap(),
            "--outer-boundary",
            "vm",
            "--no-userns",
            "--user",
            "nobody",
            "--",
            "cat",
            "/proc/self/status",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        status_field(&outcome.stdout, "Uid"),
        Some("65534\t65534\t65534\t65534")
    );
    assert_eq!(status_field(&outcome.stdout, "Seccomp"), Some("2"));

    // A different target is a real drop, which needs CAP_SETGID: always fatal, never tolerated.
    let outcome = run_supervisor(
        &launch,
        [
            "--handler-plugin",
            plugin.to_str().unwrap(),
            "--outer-boundary",
            "vm",
            "--no-userns",
            "--allow-root",
            "--user",
            "root",
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 122, "{}", outcome.stderr);
    let line = outcome.error_line();
    assert!(
        line.contains("failed to drop privileges: setgroups failed: EPERM"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn bad_user_is_a_usage_error() {
    let outcome = run(&["--user", "no-such-user-here", "--", "true"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome
        .error_line()
        .contains("unknown user \"no-such-user-here\""));
}

#[test]
fn exit_codes_are_passed_on() {
    require_root!();
    assert_eq!(sh("exit 7").code, 7);
    assert_eq!(sh("kill -KILL $$").code, 137);
    assert_eq!(sh("kill -TERM $$").code, 143);
    let missing = run(&["--", "no-such-command-anywhere"]);
    assert_eq!(missing.code, 127);
    assert!(missing
        .error_line()
        .contains("command \"no-such-command-anywhere\" not found"));
    let dir = scratch();
    let plain = write_file(dir.path(), "plain", "echo hi\n");
    let not_executable = run(&["--", plain.to_str().unwrap()]);
    assert_eq!(not_executable.code, 126);
    assert!(not_executable.error_line().contains("is not executable"));
    let garbage = write_file(dir.path(), "garbage", "\x01\x02");
    std::fs::set_permissions(
        &garbage,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let bad_format = run(&["--", garbage.to_str().unwrap()]);
    assert_eq!(bad_format.code, 126);
    assert!(
        bad_format.error_line().contains("failed to execute"),
        "{}",
        bad_format.stderr
    );
    assert!(
        bad_format.error_line().contains("ENOEXEC"),
        "{}",
        bad_format.stderr
    );
}

#[test]
fn environment_is_passed_through_and_no_descriptor_leaks() {
    require_root!();
    let output = Command::new("sh")
        .arg("-c")
        .arg("exec 7</etc/hostname; exec \"$0\" -- sh -c 'echo $PROBE_VALUE; ls /proc/self/fd'")
        .arg(supervisor_bin())
        .env("PROBE_VALUE", "passed-through")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("passed-through"));
    // 0, 1, 2 and the descriptor ls opened for /proc/self/fd; never the inherited 7.
    let fds: Vec<&str> = lines.collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sigterm_to_the_supervisor_reaches_the_workload() {
    require_root!();
    let dir = scratch();
    let ready = dir.path().join("ready");
    let got = dir.path().join("got-term");
    let script = format!(
        "trap 'echo term > {got}; exit 3' TERM; echo > {ready}; while :; do sleep 0.05; done",
        got = got.display(),
        ready = ready.display()
    );
    let mut child = Command::new(supervisor_bin())
        .arg("--workspace")
        .arg(dir.path())
        .args(["--", "sh", "-c", &script])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&ready);
    wait_until_supervising(child.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(got.exists());
}

#[test]
fn orphans_are_reaped_when_running_as_pid_1() {
    require_root!();
    // The sandbox's init is PID 1 of the sandbox (here nested in a PID namespace whose PID 1 is
    // the supervisor itself): the backgrounded sleep is orphaned to the init, which reaps it.
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(supervisor_bin())
        .args([
            "--",
            "sh",
            "-c",
            "sh -c 'sleep 0.2 & exit 0'; sleep 1; echo pid1=$(cat /proc/1/comm); grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("pid1=sandbox-supervi"),
        "{stdout}{stderr} ({})",
        output.status
    );
    assert_eq!(stdout.lines().last(), Some("0"), "zombies left: {stdout}");
}

#[test]
fn seccomp_profile_adds_to_the_builtin_filter() {
    require_root!();
    let dir = scratch();
    let profile = write_file(
        dir.path(),
        "profile.json",
        r#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 1}, "filter": [{"syscall": "getcwd"}]}}"#,
    );
    let outcome = run(&[
        "--seccomp-profile",
        profile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "/bin/pwd; cat /proc/self/status",
    ]);
    assert!(
        outcome.stderr.contains("Operation not permitted"),
        "{}",
        outcome.stderr
    );
    // The profile's program (behind the workload head) and the built-in filter: the workload
    // does not inherit the supervisor's prelude.
    assert_eq!(status_field(&outcome.stdout, "Seccomp_filters"), Some("2"));

    let broken = write_file(dir.path(), "broken.json", r#"{"other": {}}"#);
    let outcome = run(&["--seccomp-profile", broken.to_str().unwrap(), "--", "true"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome
        .error_line()
        .contains("failed to compile seccomp profile"));
}
