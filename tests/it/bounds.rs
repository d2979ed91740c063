//! Bounds, on the real kernel: a fork loop held by `--pids-max`, an allocation killed at
//! `--memory-max` and reported as OOM, `--timeout` ending a workload near its deadline, a
//! TERM-proof workload ended by `--kill-after` (after a timeout, and after a SIGTERM to the
//! supervisor), the default and operator's resource limits, the sandbox's group removed after
//! every run (and, after the supervisor was SIGKILLed, at the next start), a workload that cannot
//! leave its group, the process bound of an unprivileged default run (`RLIMIT_NPROC` in its user
//! namespace), and cgroup v2 in the cgroup2 hierarchy the test mounts in a private mount namespace
//! (as root, and delegated to an unprivileged caller).
//!
//! Every run names its group in the report (`steps[cgroup].verified.groups`); each test checks
//! that none of them exists once the supervisor has exited.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use sandbox_tests::{helper_bin, output_of, require_root, scratch, supervisor_bin, Outcome};

/// Runs the supervisor with `args` and a report; returns what it showed, the final report and the
/// wall time.
fn run(args: &[&str]) -> (Outcome, Value, Duration) {
    let dir = scratch();
    let report = dir.path().join("report.json");
    let started = Instant::now();
    let output = output_of(
        Command::new(supervisor_bin())
            .arg("--report")
            .arg(&report)
            .args(args)
            .stdin(Stdio::null()),
    );
    let elapsed = started.elapsed();
    let report: Value = std::fs::read_to_string(&report)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (Outcome::from(output), report, elapsed)
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step"] == name))
        .unwrap_or(&Value::Null)
}

/// The sandbox's groups named in the report, each checked to be gone.
fn assert_groups_removed(report: &Value) {
    let groups = step(report, "cgroup")["verified"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!groups.is_empty(), "the report names no group: {report}");
    let name = step(report, "cgroup")["verified"]["name"]
        .as_str()
        .expect("the groups' name");
    for group in groups {
        let path = group["path"].as_str().expect("a group path");
        assert!(
            path.contains("/sandbox-supervisor-"),
            "a group not of the pattern: {path}"
        );
        // The report's name is the groups' own (the name they were made with).
        assert_eq!(
            Path::new(path).file_name().and_then(|n| n.to_str()),
            Some(name),
            "{report}"
        );
        assert!(!Path::new(path).exists(), "{path} was left behind");
    }
}

#[test]
fn pids_max_holds_a_fork_loop() {
    require_root!();
    // The workload forks children that sleep until it has tried 200 forks.
    let script = "import os, errno, time\n\
                  made = 0\n\
                  err = 'none'\n\
                  for _ in range(200):\n\
                  \x20   try:\n\
                  \x20       pid = os.fork()\n\
                  \x20   except OSError as e:\n\
                  \x20       err = errno.errorcode[e.errno]; break\n\
                  \x20   if pid == 0:\n\
                  \x20       time.sleep(30); os._exit(0)\n\
                  \x20   made += 1\n\
                  print('forked', made, err, flush=True)\n";
    let (seen, report, elapsed) =
        run(&["--pids-max", "32", "--", "/usr/bin/python3", "-c", script]);
    assert_eq!(seen.code, 0, "{}", seen.stderr);
    let line = seen
        .stdout
        .lines()
        .find(|l| l.starts_with("forked"))
        .expect("forked line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let made: u32 = fields[1].parse().unwrap();
    // 32 tasks: the init, the workload, and at most 30 children.
    assert!(made <= 30, "{line}");
    assert_eq!(fields[2], "EAGAIN", "{line}");
    assert_eq!(step(&report, "cgroup")["decision"], "enforced", "{report}");
    assert_eq!(
        step(&report, "cgroup")["verified"]["limits"]["pids_max"],
        32
    );
    let usage = &report["usage"];
    assert!(usage["pids_max_hits"].as_u64().unwrap_or(0) >= 1, "{usage}");
    if let Some(peak) = usage["pids_peak"].as_u64() {
        assert!(peak <= 32, "{usage}");
    }
    // The children died with the sandbox: nothing waited for their 30 s.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_groups_removed(&report);
    println!("fork loop: {made} children, usage {usage}, {elapsed:?}");
}

#[test]
fn a_default_run_is_bounded_to_1024_processes() {
    require_root!();
    let (seen, report, _) = run(&["--", "true"]);
    assert_eq!(seen.code, 0, "{}", seen.stderr);
    let cgroup = step(&report, "cgroup");
    assert_eq!(cgroup["decision"], "enforced", "{cgroup}");
    assert_eq!(cgroup["verified"]["limits"]["pids_max"], 1024);
    // The group's pids.max, as the kernel has it, was read back before the release; the
    // workload had a cgroup namespace of its own.
    assert_eq!(cgroup["verified"]["cgroup_namespace"], true, "{cgroup}");
    assert_groups_removed(&report);
}

/// An unprivileged caller's default run: no group can be made (nobody may not write below the
/// host's groups) and no limit was asked for, yet a fork loop is held: the workload gets
/// `RLIMIT_NPROC` 1024, which the kernel counts in the sandbox's own user namespace. The loop
/// stops with `EAGAIN` at 1024 tasks (the supervisor, the init, the workload and its children)
/// while its children still run, and meanwhile the host, as the same uid, still forks. The WARN
/// line and the report say which bound applies.
#[test]
fn an_unprivileged_default_run_cannot_exhaust_the_hosts_processes() {
    require_root!();
    // The fork loop: each child execs sleep; the workload holds them until its stdin closes.
    let script = "import os, errno, sys\n\
                  made = 0\n\
                  err = 'none'\n\
                  for _ in range(3000):\n\
                  \x20   try:\n\
                  \x20       pid = os.fork()\n\
                  \x20   except OSError as e:\n\
                  \x20       err = errno.errorcode[e.errno]; break\n\
                  \x20   if pid == 0:\n\
                  \x20       os.execv('/bin/sleep', ['sleep', '60'])\n\
                  \x20   made += 1\n\
                  print('forked', made, err, flush=True)\n\
                  sys.stdin.read()\n";
    let mut child = sandbox_tests::spawn(
        Command::new(sandbox_tests::AS_NOBODY[0])
            .args(&sandbox_tests::AS_NOBODY[1..])
            .arg(supervisor_bin())
            .args(["--", "/usr/bin/python3", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    // While the sandbox holds its children, the host still forks, as the caller's uid too.
    let host = output_of(
        Command::new(sandbox_tests::AS_NOBODY[0])
            .args(&sandbox_tests::AS_NOBODY[1..])
            .args(["sh", "-c", "sleep 0 & wait; echo host forks"]),
    );
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{line}\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&host.stdout).trim(),
        "host forks",
        "{host:?}"
    );
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"forked"), "{line}\n{stderr}");
    let made: u32 = fields[1].parse().unwrap();
    assert_eq!(fields[2], "EAGAIN", "{line}");
    // 1024 tasks: the supervisor, the init, the workload and at most 1021 children; the loop
    // was stopped by the bound, not by anything else before it.
    assert!((1000..=1021).contains(&made), "{line}");

    // The report of a plain run says which bound applies.
    let dir = scratch();
    let report_path = dir.path().join("report.json");
    let mut launch = sandbox_tests::Launch::nobody();
    let mut args = launch.record_to(&report_path, None);
    args.extend(["--", "true"].map(std::ffi::OsString::from));
    let plain = sandbox_tests::run_supervisor(&launch, args);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    let report: Value = serde_json::from_str(sandbox_tests::last_record(
        &std::fs::read_to_string(&report_path).unwrap(),
    ))
    .expect("report");
    let cgroup = step(&report, "cgroup");
    assert_eq!(cgroup["decision"], "tolerated", "{cgroup}");
    assert_eq!(cgroup["verified"]["rlimit_nproc"], 1024, "{cgroup}");
    assert_eq!(
        step(&report, "rlimits")["verified"]["nproc"],
        serde_json::json!({"soft": 1024, "hard": 1024})
    );
    assert!(
        plain.stderr.lines().any(|l| l.contains(" WARN ")
            && l.contains("process_bound=\"RLIMIT_NPROC\"")
            && l.contains("bounded by RLIMIT_NPROC 1024")),
        "{}",
        plain.stderr
    );
    println!("unprivileged fork loop held at {made} children");
}

/// A workload cannot move itself out of its sandbox group: it writes its pid into every
/// `cgroup.procs` it finds below /sys/fs/cgroup (the parent groups' among them, the host's root
/// groups here), and its /proc/self/cgroup still shows the sandbox's group (`/`, the root of its
/// cgroup namespace; an escape to the parent reads `/..`). Run as nobody (the default) and as
/// uid 0 (`--allow-root --user 0`, which may open any root-owned file but finds /sys read-only in
/// its view). uid 0 without a mount namespace, where /sys is the host's and writable, is refused
/// before the workload runs (tests of the filesystem view).
#[test]
fn a_workload_cannot_move_itself_out_of_its_group() {
    require_root!();
    let script = "for f in $(find /sys/fs/cgroup -maxdepth 4 -name cgroup.procs 2>/dev/null) \
                  /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs; do \
                  if (echo $$ > \"$f\") 2>/dev/null; then echo \"moved via $f\"; fi; done; \
                  echo uid $(id -u); cat /proc/self/cgroup";
    for extra in [&[][..], &["--allow-root", "--user", "0"][..]] {
        let mut args = extra.to_vec();
        args.extend(["--", "sh", "-c", script]);
        // A workload of uid 0 could rewrite a report file of the supervisor's uid: none there.
        let (seen, report) = if extra.is_empty() {
            let (seen, report, _) = run(&args);
            (seen, Some(report))
        } else {
            let seen = Outcome::from(output_of(
                Command::new(supervisor_bin())
                    .args(&args)
                    .stdin(Stdio::null()),
            ));
            (seen, None)
        };
        assert_eq!(seen.code, 0, "{extra:?}: {}", seen.stderr);
        // The default: a uid allocated for the run (never 0); with --user 0, uid 0.
        let uid = seen
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("uid "))
            .and_then(|uid| uid.parse::<u32>().ok());
        assert_eq!(
            uid == Some(0),
            !extra.is_empty(),
            "{extra:?}: {}",
            seen.stdout
        );
        assert!(uid.is_some(), "{extra:?}: {}", seen.stdout);
        assert!(
            !seen.stdout.contains("moved via"),
            "{extra:?}: {}",
            seen.stdout
        );
        let lines: Vec<&str> = seen
            .stdout
            .lines()
            .filter(|l| l.split(':').count() == 3 && !l.starts_with("uid"))
            .collect();
        assert!(
            lines.iter().any(|l| l.contains(":pids:")),
            "{extra:?}: {}",
            seen.stdout
        );
        for line in lines {
            assert!(line.ends_with(":/"), "{extra:?}: escaped: {}", seen.stdout);
        }
        if let Some(report) = report {
            assert_eq!(step(&report, "cgroup")["decision"], "enforced", "{report}");
            assert_eq!(
                step(&report, "cgroup")["verified"]["cgroup_namespace"],
                true
            );
            assert_groups_removed(&report);
        }
    }
}

#[test]
fn memory_max_kills_a_300m_allocation_and_reports_oom() {
    require_root!();
    let (seen, report, elapsed) = run(&[
        "--memory-max",
        "64M",
        "--",
        "/usr/bin/python3",
        "-c",
        "b = bytearray(300 * 1024 * 1024); print('allocated', len(b))",
    ]);
    assert!(!seen.stdout.contains("allocated"), "{}", seen.stdout);
    assert_eq!(seen.code, 137, "{}", seen.stderr);
    assert_eq!(report["exit"]["outcome"], "oom-killed", "{report}");
    let usage = &report["usage"];
    assert!(usage["oom_kills"].as_u64().unwrap_or(0) >= 1, "{usage}");
    let peak = usage["memory_peak_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(peak <= 64 << 20, "{usage}");
    let limits = &step(&report, "cgroup")["verified"]["limits"];
    assert_eq!(limits["memory_max"], 64 << 20, "{limits}");
    assert_eq!(limits["swap_max"], 0, "{limits}");
    assert!(
        seen.stderr.contains("workload ended: oom-killed"),
        "{}",
        seen.stderr
    );
    assert_groups_removed(&report);
    println!("OOM: usage {usage}, {elapsed:?}");
}

/// The whole sandbox dies with an OOM, not only the process the kernel picks: a shell whose child
/// allocates never gets to its next command (v1 has no `memory.oom.group`: the kernel's OOM killer
/// is disabled for the group and the supervisor kills the whole sandbox when it is under OOM).
#[test]
fn an_oom_kills_the_whole_sandbox() {
    require_root!();
    let (seen, report, _) = run(&[
        "--memory-max",
        "64M",
        "--",
        "sh",
        "-c",
        "/usr/bin/python3 -c 'b = bytearray(300 * 1024 * 1024)'; echo survived",
    ]);
    assert!(!seen.stdout.contains("survived"), "{}", seen.stdout);
    assert_eq!(report["exit"]["outcome"], "oom-killed", "{report}");
    assert_eq!(seen.code, 137, "{}", seen.stderr);
    assert_groups_removed(&report);
}

#[test]
fn timeout_ends_sleep_near_the_deadline() {
    require_root!();
    let (seen, report, elapsed) = run(&["--timeout", "1", "--", "sleep", "30"]);
    assert_eq!(seen.code, 124, "{}", seen.stderr);
    assert_eq!(report["exit"]["outcome"], "timed-out", "{report}");
    assert_eq!(report["exit"]["exit_code"], 124);
    // From the supervisor's start (the boot takes tens of milliseconds, more on a loaded
    // machine: the slack is for waiting for a CPU, not for the timer) to its exit.
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
    assert_groups_removed(&report);
    println!("--timeout 1: the supervisor exited after {elapsed:?}");
}

/// `--cpus 0.05`: a busy loop stopped by `--timeout 1` gets at most about a twentieth of a CPU
/// second (unbounded, it gets what the machine gives it: 230 ms at a load average of 20).
#[test]
fn cpus_bound_a_busy_loop() {
    require_root!();
    let (seen, report, _) = run(&[
        "--cpus",
        "0.05",
        "--timeout",
        "1",
        "--kill-after",
        "1",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_eq!(seen.code, 124, "{}", seen.stderr);
    let limits = &step(&report, "cgroup")["verified"]["limits"];
    assert_eq!(limits["cpu_max"], "5000/100000", "{limits}");
    let used = report["usage"]["cpu_usage_usec"]
        .as_u64()
        .expect("CPU time counted");
    // 0.05 CPU for about a second, plus the boot's and the teardown's own slack.
    assert!(used < 120_000, "{used} us of CPU under --cpus 0.05");
    assert_groups_removed(&report);
    println!("--cpus 0.05, 1 s busy loop: {used} us of CPU");
}

/// `--cpu-max QUOTA/PERIOD`: the quota and its own period written (v1 `cpu.cfs_period_us` and
/// `cpu.cfs_quota_us`, v2 `cpu.max`), read back, and a busy loop held to it; with `--cpus` it is a
/// usage error.
#[test]
fn cpu_max_bounds_a_busy_loop() {
    require_root!();
    let (seen, report, _) = run(&[
        "--cpu-max",
        "2500/50000",
        "--timeout",
        "1",
        "--kill-after",
        "1",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_eq!(seen.code, 124, "{}", seen.stderr);
    let limits = &step(&report, "cgroup")["verified"]["limits"];
    assert_eq!(limits["cpu_max"], "2500/50000", "{limits}");
    let used = report["usage"]["cpu_usage_usec"]
        .as_u64()
        .expect("CPU time counted");
    // 0.05 CPU for about a second, plus the boot's and the teardown's own slack.
    assert!(
        used < 120_000,
        "{used} us of CPU under --cpu-max 2500/50000"
    );
    assert_groups_removed(&report);
    let both = Outcome::from(output_of(
        Command::new(supervisor_bin())
            .args(["--cpus", "1", "--cpu-max", "50000/100000", "--", "true"])
            .stdin(Stdio::null()),
    ));
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(both.stderr.contains("--cpu-max"), "{}", both.stderr);
    println!("--cpu-max 2500/50000, 1 s busy loop: {used} us of CPU");
}

const TERM_PROOF: &str = "trap '' TERM; while :; do sleep 0.1; done";

#[test]
fn a_term_proof_workload_ends_after_kill_after() {
    require_root!();
    let (seen, report, elapsed) = run(&[
        "--timeout",
        "500ms",
        "--kill-after",
        "1s",
        "--",
        "sh",
        "-c",
        TERM_PROOF,
    ]);
    assert_eq!(seen.code, 124, "{}", seen.stderr);
    assert_eq!(report["exit"]["outcome"], "timed-out", "{report}");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(2200),
        "{elapsed:?}"
    );
    assert!(
        seen.stderr.contains("SIGKILL to the whole sandbox"),
        "{}",
        seen.stderr
    );
    assert_groups_removed(&report);
    println!("--timeout 500ms --kill-after 1s on a TERM-proof workload: {elapsed:?}");
}

#[test]
fn a_sigterm_to_the_supervisor_escalates_after_kill_after() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let mut child = Command::new(supervisor_bin())
        .args(["--log-level", "warn", "--kill-after", "1", "--report"])
        .arg(&report)
        .args(["--", "sh", "-c", TERM_PROOF])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the supervisor");
    // Wait until the workload runs (the report's boot record).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&report).is_ok_and(|text| text.contains("\"running\"")) {
        assert!(Instant::now() < deadline, "the workload never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    let elapsed = sent.elapsed();
    assert_eq!(status.code(), Some(137), "{status:?}");
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(1600),
        "{elapsed:?}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("the report");
    assert_eq!(report["exit"]["signal"], "SIGKILL", "{report}");
    assert_groups_removed(&report);
    println!("SIGTERM to the supervisor, --kill-after 1: it exited after {elapsed:?}");
}

/// `nproc` is far above what the tests run: on the direct route the workload's uid (nobody) is
/// counted across the host, other tests' sandboxes included (a fork loop of 1021 among them).
#[test]
fn core_dumps_are_off_and_rlimit_applies() {
    require_root!();
    let (seen, report, _) = run(&[
        "--rlimit",
        "nofile=64",
        "--rlimit",
        "nproc=20000:30000",
        "--",
        "sh",
        "-c",
        "echo core $(ulimit -c) $(ulimit -Hc); echo nofile $(ulimit -n) $(ulimit -Hn); grep 'Max processes' /proc/self/limits",
    ]);
    assert_eq!(seen.code, 0, "{}", seen.stderr);
    assert!(seen.stdout.contains("core 0 0"), "{}", seen.stdout);
    assert!(seen.stdout.contains("nofile 64 64"), "{}", seen.stdout);
    let nproc: Vec<&str> = seen
        .stdout
        .lines()
        .find(|l| l.starts_with("Max processes"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        nproc.get(2..4),
        Some(&["20000", "30000"][..]),
        "{}",
        seen.stdout
    );
    let verified = &step(&report, "rlimits")["verified"];
    assert_eq!(step(&report, "rlimits")["decision"], "enforced");
    assert_eq!(
        verified["nofile"],
        serde_json::json!({"soft": 64, "hard": 64})
    );
    assert_eq!(verified["core"], serde_json::json!({"soft": 0, "hard": 0}));
    assert_groups_removed(&report);
}

/// A limit is never raised above the caller's, soft or hard: a caller with `ulimit -Sn 100` that
/// asks for `--rlimit nofile=200` gives the workload a soft limit of 100 (its hard limit 200 is
/// below the caller's), with a WARN; `setrlimit` alone would have allowed 200.
#[test]
fn rlimit_never_raises_the_callers_soft_limit() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let seen = Outcome::from(output_of(
        Command::new("sh")
            .args([
                "-c",
                "ulimit -n 4096 && ulimit -Sn 100 && exec \"$0\" \"$@\"",
            ])
            .arg(supervisor_bin())
            .arg("--report")
            .arg(&report)
            .args([
                "--rlimit",
                "nofile=200",
                "--",
                "sh",
                "-c",
                "echo nofile $(ulimit -Sn) $(ulimit -Hn)",
            ])
            .stdin(Stdio::null()),
    ));
    assert_eq!(seen.code, 0, "{}", seen.stderr);
    assert!(
        seen.stdout.lines().any(|l| l == "nofile 100 200"),
        "{}",
        seen.stdout
    );
    assert!(
        seen.warn_lines()
            .iter()
            .any(|l| l.contains("--rlimit nofile asks for more than the supervisor has")),
        "{}",
        seen.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("report");
    assert_eq!(
        step(&report, "rlimits")["verified"]["nofile"],
        serde_json::json!({"soft": 100, "hard": 200})
    );
    assert_groups_removed(&report);
}

#[test]
fn malformed_bounds_are_usage_errors() {
    for args in [
        ["--rlimit", "nofile=many"],
        ["--rlimit", "files=3"],
        ["--rlimit", "nofile=10:5"],
        ["--pids-max", "0"],
        ["--memory-max", "64Q"],
        ["--cpus", "0"],
        ["--cpu-max", "half"],
        ["--cpu-max", "50000/999"],
        ["--timeout", "soon"],
        ["--kill-after", "0"],
    ] {
        let seen = Outcome::from(output_of(
            Command::new(supervisor_bin())
                .args(args)
                .args(["--", "true"])
                .stdin(Stdio::null()),
        ));
        assert_eq!(seen.code, 2, "{args:?}: {}", seen.stderr);
        assert!(
            seen.error_line().contains(args[0]),
            "{args:?}: {}",
            seen.stderr
        );
    }
}

/// Values no kernel takes are the operator's mistake, said at once (exit 2), never a refusal
/// asked of the failure handler: a handler that tolerates the `cgroup` kind's `EINVAL` would
/// otherwise run the workload without any group, less bounded than by the default 1024. The
/// kernel's `pids.max` takes at most 4194304 (`PID_MAX_LIMIT`); a memory limit of 2^63 bytes or
/// more reads back as "no limit"; a duration that rounds to zero is not positive.
#[test]
fn out_of_range_bounds_are_usage_errors() {
    for args in [
        ["--pids-max", "4194305"],
        ["--pids-max", "18446744073709551615"],
        ["--memory-max", "18446744073709551615"],
        ["--memory-max", "9223372036854775808"],
        ["--timeout", "0.0000000001"],
        ["--kill-after", "0.0000000001"],
    ] {
        let seen = Outcome::from(output_of(
            Command::new(supervisor_bin())
                .args(["--log-level", "warn"])
                .args(args)
                .args(["--", "true"])
                .stdin(Stdio::null()),
        ));
        assert_eq!(seen.code, 2, "{args:?}: {}", seen.stderr);
        assert!(
            seen.error_line().contains(args[0]),
            "{args:?}: {}",
            seen.stderr
        );
    }
}

/// The pids hierarchy mounted twice, a bind of another part of its tree listed first in
/// mountinfo (as container tooling leaves it): the supervisor finds its own group through the
/// mount that shows it, and the default 1024 still applies, instead of a WARN that no hierarchy
/// offers the controller.
#[test]
fn a_bind_of_another_subtree_does_not_hide_the_hierarchy() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let sub = format!("bounds-bind-{}", std::process::id());
    let script = format!(
        r#"set -e
mount --make-rprivate /
mkdir /sys/fs/cgroup/pids/{sub}
mount --bind /sys/fs/cgroup/pids/{sub} {elsewhere}
umount /sys/fs/cgroup/pids
mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids
set +e
"$0" --log-level warn --report {report} -- true
echo "default=$?"
umount {elsewhere}
rmdir /sys/fs/cgroup/pids/{sub}
"#,
        report = report.display(),
        elsewhere = elsewhere.display(),
    );
    let seen = Outcome::from(output_of(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .arg(supervisor_bin())
            .stdin(Stdio::null()),
    ));
    assert!(
        seen.stdout.contains("default=0"),
        "{}\n{}",
        seen.stdout,
        seen.stderr
    );
    assert!(
        !seen.stderr.contains("has no pids limit"),
        "{}",
        seen.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("report");
    let cgroup = step(&report, "cgroup");
    assert_eq!(cgroup["verified"]["limits"]["pids_max"], 1024, "{cgroup}");
    assert_groups_removed(&report);
}

/// A supervisor started with `SIGCHLD` ignored (a parent that set `SIG_IGN` and exec'd it, as
/// some process managers do): the kernel then reaps its children itself and sends no `SIGCHLD`,
/// so a supervisor that waits for one waits forever for a workload that has long exited, and
/// loses its exit code. It must still end with the workload's code, at once.
#[test]
fn an_inherited_ignored_sigchld_does_not_keep_the_supervisor_waiting() {
    use std::os::unix::process::CommandExt;
    let dir = scratch();
    let report = dir.path().join("report.json");
    let mut command = Command::new(supervisor_bin());
    command
        .args(["--log-level", "warn", "--report"])
        .arg(&report)
        .args(["--", "sh", "-c", "exit 7"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe; the child only changes its own disposition.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start the supervisor");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        // Its end, for the next test run: the --kill-after escalation ends it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
    }
    let status = status.expect("the supervisor still waits 10 s after the workload exited");
    assert_eq!(status.code(), Some(7), "{status:?}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("report");
    assert_eq!(report["exit"]["code"], 7, "{report}");
    if sandbox_tests::is_root() {
        assert_groups_removed(&report);
    }
}

/// The groups of the pattern whose supervisor was `pid`, in the pids hierarchy's root (where the
/// tests' supervisors sit on these machines) and the v2 one.
fn groups_of(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for own in [own_group("pids"), own_group("")].into_iter().flatten() {
        for entry in std::fs::read_dir(&own).into_iter().flatten().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("sandbox-supervisor-{pid}-"))
            {
                found.push(entry.path());
            }
        }
    }
    found
}

/// This process's group in the v1 hierarchy of `controller` ("" for v2), as a directory.
fn own_group(controller: &str) -> Option<std::path::PathBuf> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        (controllers.split(',').any(|c| c == controller)
            || (controller.is_empty() && controllers.is_empty()))
        .then(|| path.to_owned())
    })?;
    let mount = if controller.is_empty() {
        ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .find(|m| Path::new(m).join("cgroup.controllers").exists())?
            .to_owned()
    } else {
        format!("/sys/fs/cgroup/{controller}")
    };
    Some(Path::new(&mount).join(path.trim_start_matches('/')))
}

#[test]
fn a_sigkilled_supervisors_group_is_removed_at_the_next_start() {
    require_root!();
    let mut child = Command::new(supervisor_bin())
        .args(["--log-level", "warn", "--", "sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .expect("start the supervisor");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let groups = loop {
        let groups = groups_of(pid);
        let joined = groups.iter().any(|g| {
            std::fs::read_to_string(g.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
        });
        if joined {
            break groups;
        }
        assert!(
            Instant::now() < deadline,
            "no group of supervisor {pid} filled"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL the supervisor");
    child.wait().expect("wait");
    // Its sandbox dies with it (the init's parent-death signal); its groups stay, empty.
    let deadline = Instant::now() + Duration::from_secs(5);
    while groups.iter().any(|g| {
        std::fs::read_to_string(g.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
    }) {
        assert!(
            Instant::now() < deadline,
            "the sandbox outlived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing removed them with the supervisor gone, but the start of a supervisor of another
    // test running at the same time may already have found them stale.
    // The next start finds them (the pid and start time in the name name no running process)
    // and removes them.
    let (seen, report, _) = run(&["--", "true"]);
    assert_eq!(seen.code, 0, "{}", seen.stderr);
    for group in &groups {
        assert!(!group.exists(), "{} was left behind", group.display());
    }
    assert_groups_removed(&report);
}

/// cgroup v2 for real, as far as this kernel allows: in a private mount namespace the test
/// unmounts the v1 hierarchies and mounts the cgroup2 hierarchy at /sys/fs/cgroup, then moves the
/// shell into a group of its own there, so that the supervisor sees a v2-only host and a group
/// below the root. On these machines v2 offers no pids, memory or cpu controller (they are bound
/// to v1 hierarchies): a default run gets a v2 group without a pids limit (a WARN says so), the
/// workload is born inside it with a cgroup namespace, its CPU time is counted, and the group is
/// removed; an explicit --pids-max is refused with EOPNOTSUPP and the strict default aborts (120).
/// Under an outer filter that answers `clone3` with `ENOSYS` the init joins by writing its
/// `cgroup.procs` instead of being cloned into the group, with the same result.
#[test]
fn cgroup_v2_in_a_private_mount() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let explicit = dir.path().join("explicit.json");
    let test_group = format!("bounds-test-{}", std::process::id());
    let script = format!(
        r#"set -e
mount --make-rprivate /
umount -R /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
mkdir /sys/fs/cgroup/{test_group}
echo $$ > /sys/fs/cgroup/{test_group}/cgroup.procs
set +e
"$0" --log-level warn --report {report} -- sh -c 'cat /proc/self/cgroup'
echo "default=$?"
ls /sys/fs/cgroup/{test_group}
"$0" --log-level warn --report {explicit} --pids-max 64 -- true
echo "explicit=$?"
{outer} clone3=ENOSYS -- "$0" --log-level warn -- sh -c 'cat /proc/self/cgroup'
echo "without-clone3=$?"
echo $$ > /sys/fs/cgroup/cgroup.procs
rmdir /sys/fs/cgroup/{test_group}
"#,
        report = report.display(),
        explicit = explicit.display(),
        outer = helper_bin("outer-seccomp").display(),
    );
    let seen = Outcome::from(output_of(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .arg(supervisor_bin())
            .stdin(Stdio::null()),
    ));
    assert!(
        seen.stdout.contains("default=0"),
        "{}\n{}",
        seen.stdout,
        seen.stderr
    );
    // The workload sees its group as its root (a cgroup namespace): born in it by
    // clone3(CLONE_INTO_CGROUP), and where an outer filter answers clone3 with ENOSYS (as container
    // runtimes do) joined by the init's write of cgroup.procs.
    assert!(
        seen.stdout.contains("without-clone3=0"),
        "{}\n{}",
        seen.stdout,
        seen.stderr
    );
    assert_eq!(
        seen.stdout.lines().filter(|l| *l == "0::/").count(),
        2,
        "{}",
        seen.stdout
    );
    assert!(
        !seen.stdout.contains("sandbox-supervisor-"),
        "the group was left behind: {}",
        seen.stdout
    );
    assert!(
        seen.stdout.contains("explicit=120"),
        "{}\n{}",
        seen.stdout,
        seen.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("report");
    let cgroup = step(&report, "cgroup");
    assert_eq!(cgroup["decision"], "enforced", "{cgroup}");
    let groups = cgroup["verified"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{cgroup}");
    assert_eq!(groups[0]["version"], "v2");
    assert!(groups[0]["path"]
        .as_str()
        .unwrap()
        .starts_with(&format!("/sys/fs/cgroup/{test_group}/sandbox-supervisor-")));
    assert_eq!(
        cgroup["verified"]["unavailable"],
        serde_json::json!(["pids"])
    );
    assert_eq!(cgroup["verified"]["cgroup_namespace"], true);
    assert!(
        report["usage"]["cpu_usage_usec"].as_u64().is_some(),
        "{report}"
    );
    assert!(seen.stderr.contains("has no pids limit"), "{}", seen.stderr);
    let explicit: Value =
        serde_json::from_str(&std::fs::read_to_string(&explicit).unwrap()).expect("report");
    let refused = step(&explicit, "cgroup");
    assert_eq!(refused["decision"], "aborted", "{refused}");
    assert_eq!(refused["errno_name"], "EOPNOTSUPP", "{refused}");
}

/// cgroup v2 delegated to an unprivileged caller, as systemd's `Delegate=yes` does for a user: in
/// a private mount namespace the test mounts the cgroup2 hierarchy at /sys/fs/cgroup, makes a
/// group owned by nobody (the directory, `cgroup.procs`, `cgroup.subtree_control`,
/// `cgroup.threads`) and moves its shell there; the supervisor, started as nobody, takes the
/// user-namespace route, makes its group below its own, and the workload is born inside it with a
/// cgroup namespace (the init joins through the descriptors opened before the user namespace);
/// the group is removed by the unprivileged supervisor. No v2 controller offers pids here (bound to
/// v1), so the sandbox's processes are bounded by `RLIMIT_NPROC` (the WARN and the report say so).
#[test]
fn cgroup_v2_delegated_to_an_unprivileged_caller() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    std::fs::write(&report, "").unwrap();
    let test_group = format!("bounds-delegated-{}", std::process::id());
    let script = format!(
        r#"set -e
mount --make-rprivate /
umount -R /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
G=/sys/fs/cgroup/{test_group}
mkdir $G
chown 65534:65534 $G $G/cgroup.procs $G/cgroup.subtree_control $G/cgroup.threads
echo $$ > $G/cgroup.procs
set +e
setpriv --reuid=65534 --regid=65534 --init-groups --inh-caps=-all "$0" --log-level warn --report-fd 3 -- sh -c 'cat /proc/self/cgroup; grep "Max processes" /proc/self/limits' 3>>{report}
echo "delegated=$?"
ls $G
echo $$ > /sys/fs/cgroup/cgroup.procs
rmdir $G
"#,
        report = report.display(),
    );
    let seen = Outcome::from(output_of(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .arg(supervisor_bin())
            .stdin(Stdio::null()),
    ));
    assert!(
        seen.stdout.contains("delegated=0"),
        "{}\n{}",
        seen.stdout,
        seen.stderr
    );
    // Its group is the workload's root: a cgroup namespace.
    assert!(seen.stdout.lines().any(|l| l == "0::/"), "{}", seen.stdout);
    assert!(
        !seen.stdout.contains("sandbox-supervisor-"),
        "the group was left behind: {}",
        seen.stdout
    );
    let text = std::fs::read_to_string(&report).unwrap();
    let report: Value = serde_json::from_str(sandbox_tests::last_record(&text)).expect("report");
    assert_eq!(report["record"], "final", "{report}");
    let cgroup = step(&report, "cgroup");
    assert_eq!(cgroup["decision"], "enforced", "{cgroup}");
    let groups = cgroup["verified"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{cgroup}");
    assert_eq!(groups[0]["version"], "v2");
    assert!(groups[0]["path"]
        .as_str()
        .unwrap()
        .starts_with(&format!("/sys/fs/cgroup/{test_group}/sandbox-supervisor-")));
    assert_eq!(cgroup["verified"]["cgroup_namespace"], true, "{cgroup}");
    assert_eq!(
        cgroup["verified"]["unavailable"],
        serde_json::json!(["pids"])
    );
    assert_eq!(cgroup["verified"]["rlimit_nproc"], 1024, "{cgroup}");
    assert_eq!(
        step(&report, "network-namespace")["route"],
        "user-namespace"
    );
    assert!(
        seen.stdout
            .contains("Max processes             1024                 1024"),
        "{}",
        seen.stdout
    );
    assert!(
        report["usage"]["cpu_usage_usec"].as_u64().is_some(),
        "{report}"
    );
    assert!(
        seen.stderr.contains("bounded by RLIMIT_NPROC 1024"),
        "{}",
        seen.stderr
    );
}
