//! The workload's own filesystem (the filesystem view and Landlock), as root and as an
//! unprivileged caller: what the workload can see, write, execute and connect to, what is left on
//! the host, and what the report says.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use sandbox_tests::{require_root, run_supervisor, scratch, staging_dir, Launch, Outcome};

fn run(args: &[&str]) -> Outcome {
    run_supervisor(&Launch::default(), args.iter().copied())
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The last record of a report (a `--report` file, or the JSON lines of `--report-fd`).
fn report_of(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the report");
    serde_json::from_str(sandbox_tests::last_record(&text)).expect("JSON")
}

fn step<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {report}"))
}

#[test]
fn host_tmp_is_invisible_and_nothing_is_left_on_the_host() {
    require_root!();
    // A file another process of the host keeps in /tmp (the workload's uid could read it).
    let secret = PathBuf::from("/tmp").join(unique("host-secret"));
    std::fs::write(&secret, "host secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let left = PathBuf::from("/tmp").join(unique("left-behind"));
    let script = format!(
        "cat {secret} 2>/dev/null && echo read-host-tmp; echo mine > {left} && cat {left}; \
         echo > /var/tmp/x && echo var-tmp-ok",
        secret = secret.display(),
        left = left.display()
    );
    let outcome = run(&["--", "sh", "-c", &script]);
    std::fs::remove_file(&secret).unwrap();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        !outcome.stdout.contains("read-host-tmp"),
        "the workload read the host's /tmp: {}",
        outcome.stdout
    );
    // It has a /tmp of its own, writable...
    assert!(outcome.stdout.contains("mine"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("var-tmp-ok"), "{}", outcome.stdout);
    // ...that dies with it.
    assert!(!left.exists(), "{} was left on the host", left.display());
}

#[test]
fn workspace_writes_are_kept_and_the_rest_of_the_host_is_read_only() {
    require_root!();
    let workspace = scratch();
    let other = scratch();
    let kept = workspace.path().join("built");
    let elsewhere = other.path().join("escaped");
    let script = format!(
        "echo built > {kept} && cp /bin/true {ws}/tool && {ws}/tool && echo ran-tool; \
         echo x > {elsewhere} 2>/dev/null && echo wrote-elsewhere; \
         touch /usr/sandbox-test 2>/dev/null && echo wrote-usr; exit 0",
        kept = kept.display(),
        ws = workspace.path().display(),
        elsewhere = elsewhere.display()
    );
    let outcome = run(&[
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "built\n");
    // Exec is allowed in a workspace (agents run what they build).
    assert!(outcome.stdout.contains("ran-tool"), "{}", outcome.stdout);
    assert!(
        !outcome.stdout.contains("wrote-elsewhere"),
        "{}",
        outcome.stdout
    );
    assert!(!elsewhere.exists());
    assert!(!outcome.stdout.contains("wrote-usr"), "{}", outcome.stdout);
    assert!(!Path::new("/usr/sandbox-test").exists());
}

#[test]
fn nothing_written_to_scratch_space_can_be_executed() {
    require_root!();
    // uid 0 (no capabilities) may write /run too; the view keeps it contained.
    let script = "for dir in /tmp /var/tmp /run /dev/shm; do \
                    cp /bin/true $dir/t || echo cannot-copy-$dir; \
                    if $dir/t; then echo exec-$dir; else echo noexec-$dir; fi; \
                  done";
    let outcome = run(&["--allow-root", "--user", "0", "--", "sh", "-c", script]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for dir in ["/tmp", "/var/tmp", "/run", "/dev/shm"] {
        assert!(
            outcome.stdout.contains(&format!("noexec-{dir}")),
            "{dir}: {}",
            outcome.stdout
        );
    }
}

/// A listening socket at `path`, every user may connect.
fn listener(path: &Path) -> UnixListener {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    listener
}

const CONNECT: &str = r#"
import socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        print('connected', path)
    except OSError as e:
        print('refused', path, e.errno)
"#;

#[test]
fn host_sockets_in_tmp_and_run_are_unreachable() {
    require_root!();
    let in_tmp = PathBuf::from("/tmp").join(unique("host.sock"));
    let in_run = PathBuf::from("/run").join(unique("host.sock"));
    let _tmp = listener(&in_tmp);
    let _run = listener(&in_run);
    let args = |fs: &'static str| {
        vec![
            "--fs".to_owned(),
            fs.to_owned(),
            "--".to_owned(),
            "/usr/bin/python3".to_owned(),
            "-c".to_owned(),
            CONNECT.to_owned(),
            in_tmp.display().to_string(),
            in_run.display().to_string(),
        ]
    };
    let outcome = run_supervisor(&Launch::default(), args("host-ro"));
    // Without the view both are reached: the check can tell.
    let shared = run_supervisor(&Launch::default(), args("host-rw"));
    let _ = std::fs::remove_file(&in_tmp);
    let _ = std::fs::remove_file(&in_run);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("connected"), "{}", outcome.stdout);
    assert_eq!(outcome.stdout.matches("refused").count(), 2);
    assert_eq!(
        shared.stdout.matches("connected").count(),
        2,
        "{}{}",
        shared.stdout,
        shared.stderr
    );
}

#[test]
fn dev_is_minimal_with_its_own_pty() {
    require_root!();
    let outcome = run(&[
        "--",
        "/usr/bin/python3",
        "-c",
        r#"
import os, pty
print(' '.join(sorted(os.listdir('/dev'))))
m, s = pty.openpty()
print('pty', os.ttyname(s))
open('/dev/null', 'w').write('x')
print('null-writable')
"#,
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut lines = outcome.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero")
    );
    assert_eq!(lines.next(), Some("pty /dev/pts/0"));
    assert_eq!(lines.next(), Some("null-writable"));
}

#[test]
fn uid_0_cannot_write_the_host_its_kernel_settings_or_devices() {
    require_root!();
    let script = "touch /usr/sandbox-root-test 2>/dev/null && echo wrote-usr; \
                  echo x >> /etc/hostname 2>/dev/null && echo wrote-etc; \
                  echo core > /proc/sys/kernel/core_pattern 2>/dev/null && echo wrote-sysctl; \
                  echo 1 > /sys/kernel/mm/ksm/run 2>/dev/null && echo wrote-sys; \
                  for dev in kmsg kvm userfaultfd console loop0 vda sda mem; do \
                    [ -e /dev/$dev ] && echo has-$dev; \
                  done; \
                  cat /proc/kcore > /dev/null 2>&1 && [ -s /proc/kcore ] && echo read-kcore; \
                  id -u";
    let hostname = std::fs::read("/etc/hostname").unwrap();
    let outcome = run(&["--allow-root", "--user", "0", "--", "sh", "-c", script]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.trim(), "0", "{}", outcome.stdout);
    assert_eq!(std::fs::read("/etc/hostname").unwrap(), hostname);
    assert!(!Path::new("/usr/sandbox-root-test").exists());
}

#[test]
fn uid_0_or_kept_capabilities_without_the_view_is_a_usage_error() {
    require_root!();
    for (args, why) in [
        (
            vec!["--allow-root", "--user", "0", "--fs", "host-rw"],
            "--fs host-rw",
        ),
        (
            vec![
                "--allow-root",
                "--user",
                "0",
                "--disable-step",
                "mount-namespace",
            ],
            "--disable-step mount-namespace",
        ),
        (
            vec!["--cap-add", "NET_BIND_SERVICE", "--fs", "host-rw"],
            "--fs host-rw",
        ),
        (
            vec![
                "--allow-root",
                "--user",
                "0",
                "--disable-step",
                "filesystem-view",
            ],
            "--disable-step filesystem-view",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--", "true"]);
        let outcome = run(&all);
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        let line = outcome.error_line();
        // Without the mount namespace the line names the host's /proc and /sys (issue 24 item 5).
        let names_why = if why.contains("mount-namespace") {
            line.contains("without a mount namespace of its own")
                && line.contains("/proc/sys")
                && line.contains("a parent's cgroup.procs")
        } else {
            line.contains("without an enforced filesystem view")
        };
        assert!(names_why && line.contains(why), "{line}");
    }
}

#[test]
fn landlock_denies_a_write_outside_the_rules_even_without_the_mount_view() {
    require_root!();
    let dir = scratch();
    let workspace = scratch();
    let target = dir.path().join("written");
    let allowed = workspace.path().join("written");
    let script = format!(
        "echo x > {target} && echo wrote-outside; echo y > {allowed} && echo wrote-workspace; exit 0",
        target = target.display(),
        allowed = allowed.display()
    );
    let ws = workspace.path().to_str().unwrap();
    let outcome = run(&[
        "--disable-step",
        "filesystem-view",
        "--workspace",
        ws,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        !outcome.stdout.contains("wrote-outside"),
        "{}",
        outcome.stdout
    );
    assert!(!target.exists());
    assert!(
        outcome.stdout.contains("wrote-workspace"),
        "{}",
        outcome.stdout
    );
    // Without Landlock either, the same write goes through: the check can tell.
    let unprotected = run(&[
        "--disable-step",
        "filesystem-view",
        "--disable-step",
        "landlock",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        unprotected.stdout.contains("wrote-outside"),
        "{}",
        unprotected.stderr
    );
}

#[test]
fn report_shows_the_view_and_landlock_verified() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let outcome = run(&[
        "--report",
        report.to_str().unwrap(),
        "--mask",
        "/etc/hostname",
        "--",
        "cat",
        "/etc/hostname",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // The masked file reads as /dev/null.
    assert_eq!(outcome.stdout, "");
    let report = report_of(&report);
    let view = step(&report, "filesystem-view");
    assert_eq!(view["decision"], "enforced", "{view}");
    let verified = &view["verified"];
    assert_eq!(verified["mode"], "host-ro");
    assert!(verified["root_mount_id"].as_u64().is_some());
    for place in ["/tmp", "/var/tmp", "/run", "/dev/shm"] {
        assert!(
            verified["noexec"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == place),
            "{verified}"
        );
    }
    assert!(
        verified["masked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/etc/hostname"),
        "{verified}"
    );
    let landlock = step(&report, "landlock");
    assert_eq!(landlock["decision"], "enforced", "{landlock}");
    let status = landlock["verified"]["status"].as_str().unwrap();
    let abi = landlock["verified"]["kernel_abi"].as_i64().unwrap();
    let requested = landlock["verified"]["requested_abi"].as_i64().unwrap();
    // A partial result is said, never called fully enforced.
    if abi < requested {
        assert_eq!(status, "partially-enforced", "{landlock}");
        assert!(!landlock["verified"]["not_handled"]
            .as_array()
            .unwrap()
            .is_empty());
    } else {
        assert_eq!(status, "fully-enforced", "{landlock}");
    }
}

#[test]
fn minimal_view_shows_only_the_system_directories() {
    require_root!();
    let outcome = run(&["--fs", "minimal", "--", "sh", "-c", "ls -A /"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let entries: Vec<&str> = outcome.stdout.lines().collect();
    for absent in ["home", "root", "srv", "mnt", "boot"] {
        assert!(!entries.contains(&absent), "{entries:?}");
    }
    for present in ["usr", "etc", "bin", "dev", "proc", "tmp"] {
        assert!(entries.contains(&present), "{entries:?}");
    }
    // The staging directory (under /var/lib) is not there either.
    assert!(!staging_dir().starts_with("/usr"));
    let outcome = run(&[
        "--fs",
        "minimal",
        "--",
        "sh",
        "-c",
        &format!("ls {}", staging_dir().display()),
    ]);
    assert_ne!(outcome.code, 0, "{}", outcome.stdout);
}

#[test]
fn binds_show_host_paths_read_only_or_read_write_where_named() {
    require_root!();
    let source = scratch();
    std::fs::write(source.path().join("file"), "from the host\n").unwrap();
    let writable = scratch();
    let shown = "/opt";
    let script = format!(
        "cat {shown}/file; echo x > {shown}/new 2>/dev/null && echo wrote-ro; \
         echo y > {rw}/new && echo wrote-rw",
        rw = writable.path().display()
    );
    let outcome = run(&[
        "--ro-bind",
        &format!("{}:{shown}", source.path().display()),
        "--bind",
        writable.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("from the host"),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stdout.contains("wrote-ro"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("wrote-rw"), "{}", outcome.stdout);
    assert!(writable.path().join("new").exists());

    // A symbolic link in a bind's path is the operator's error (exit 2), before any step.
    let link = source.path().join("link");
    std::os::unix::fs::symlink(writable.path(), &link).unwrap();
    let outcome = run(&["--workspace", link.to_str().unwrap(), "--", "true"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("symbolic link"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn host_rw_gives_the_view_up_with_a_warning_and_a_record() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let outcome = run(&[
        "--fs",
        "host-rw",
        "--report",
        report.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .warn_lines()
            .iter()
            .any(|line| line.contains("--fs host-rw")),
        "{}",
        outcome.stderr
    );
    let report = report_of(&report);
    let view = step(&report, "filesystem-view");
    assert_eq!(view["decision"], "disabled-by-operator");
    assert_eq!(view["reason"], "--fs host-rw");
    assert!(view["missing_protection"].as_str().is_some());
}

#[test]
fn the_view_is_lost_with_a_disabled_mount_namespace() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let outcome = run(&[
        "--disable-step",
        "mount-namespace",
        "--report",
        report.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .warn_lines()
            .iter()
            .any(|line| line.contains("filesystem-view lost with mount-namespace")),
        "{}",
        outcome.stderr
    );
    let report = report_of(&report);
    let view = step(&report, "filesystem-view");
    assert_eq!(view["decision"], "disabled-by-operator", "{view}");
    assert_eq!(
        view["reason"],
        "lost with mount-namespace, which it requires"
    );
}

#[test]
fn an_unprivileged_caller_gets_the_view_on_the_user_namespace_route() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    // An unprivileged caller's report goes through a descriptor (a file would be refused).
    let mut launch = Launch::nobody();
    let mut args = launch.record_to(&report, None);
    args.extend(
        [
            "--workspace",
            dir.path().to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "touch /usr/x 2>/dev/null && echo wrote-usr; cp /bin/true /tmp/t; /tmp/t || echo noexec",
        ]
        .map(Into::into),
    );
    let outcome = run_supervisor(&launch, args);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.trim(), "noexec");
    let report = report_of(&report);
    let view = step(&report, "filesystem-view");
    assert_eq!(view["decision"], "enforced", "{view}");
    assert_eq!(view["route"], "user-namespace", "{view}");
    assert_eq!(step(&report, "landlock")["decision"], "enforced");
}

/// Under gVisor (`runsc do`, as root and as nobody) the report says truthfully that neither the
/// view nor Landlock is enforced, and why: Landlock answers `ENOSYS`, and the mount namespace
/// (which the view requires) is refused. `outer-sandbox`, with gVisor declared as the boundary
/// (it tolerates these two kinds only then), tolerates both; as root gVisor answers the private
/// remount with `EINVAL`, which no plugin should take for a policy refusal, so root turns the
/// mount namespace off, as docs/limits.md says. The strict default aborts at Landlock.
#[test]
fn under_gvisor_the_report_says_the_view_and_landlock_are_not_enforced() {
    require_root!();
    if !sandbox_tests::outer::available("runsc") {
        sandbox_tests::skip_or_fail("needs gVisor's runsc (Debian package runsc)");
        return;
    }
    let plugin = sandbox_tests::plugin("sandbox-plugin-outer-sandbox");
    let supervisor = sandbox_tests::supervisor_bin();
    // outer-sandbox tolerates the view and Landlock only behind a declared boundary.
    let dir = scratch();
    let config = dir.path().join("gvisor.json");
    std::fs::write(&config, r#"{"boundary": "gvisor"}"#).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (who, prefix, extra, lost) in [
        (
            "root",
            String::new(),
            "--disable-step mount-namespace",
            "disabled-by-operator",
        ),
        (
            "nobody",
            sandbox_tests::AS_NOBODY.join(" "),
            "",
            "tolerated",
        ),
    ] {
        for handler in [Some(&plugin), None] {
            let flags = handler.map_or(String::new(), |plugin| {
                format!(
                    "--handler-plugin {} --handler-config {}",
                    plugin.display(),
                    config.display()
                )
            });
            // The report goes to standard output (the host sees no file gVisor's sandbox writes).
            let script = format!(
                "{prefix} {} --log-level warn --report-fd 3 {flags} {extra} -- true 3>&1",
                supervisor.display()
            );
            let mut argv = sandbox_tests::outer::runsc_do();
            argv.extend(["sh", "-c", &script].map(str::to_owned));
            let outcome = Outcome::from(sandbox_tests::output_of(
                std::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::null()),
            ));
            let report: serde_json::Value = outcome
                .stdout
                .lines()
                .find(|line| line.starts_with('{'))
                .and_then(|line| serde_json::from_str(line).ok())
                .unwrap_or_else(|| panic!("{who}: no report:\n{}", outcome.stderr));
            assert_eq!(report["environment"]["gvisor"], true, "{who}");
            let landlock = step(&report, "landlock");
            assert_eq!(landlock["syscall"], "landlock_create_ruleset", "{who}");
            assert_eq!(landlock["errno_name"], "ENOSYS", "{who}");
            match handler {
                Some(_) => {
                    assert_eq!(outcome.code, 0, "{who}: {}", outcome.stderr);
                    assert_eq!(landlock["decision"], "tolerated", "{who}: {landlock}");
                    assert!(landlock["missing_protection"].as_str().is_some());
                    let view = step(&report, "filesystem-view");
                    assert_eq!(view["decision"], lost, "{who}: {view}");
                    assert_eq!(
                        view["reason"], "lost with mount-namespace, which it requires",
                        "{who}: {view}"
                    );
                    assert_eq!(
                        view["syscall"],
                        step(&report, "mount-namespace")["syscall"],
                        "{who}"
                    );
                    assert!(
                        outcome
                            .warn_lines()
                            .iter()
                            .any(|line| line.contains("filesystem-view lost with mount-namespace")),
                        "{who}: {}",
                        outcome.stderr
                    );
                }
                None => {
                    assert_eq!(outcome.code, 120, "{who}: {}", outcome.stderr);
                    assert_eq!(landlock["decision"], "aborted", "{who}: {landlock}");
                    assert!(
                        outcome.error_line().contains(
                            "landlock refused: landlock_create_ruleset failed with ENOSYS"
                        ),
                        "{who}: {}",
                        outcome.stderr
                    );
                }
            }
        }
    }
}

/// A view refused at boot and tolerated by a plugin leaves uid 0 uncontained: the run stops with
/// the usage error before the workload runs; a workload as nobody runs, the view reported
/// tolerated with the refused call.
#[test]
fn a_tolerated_view_stops_a_uid_0_workload() {
    require_root!();
    let dir = scratch();
    let config = dir.path().join("boundary.json");
    std::fs::write(&config, r#"{"boundary": "firecracker"}"#).unwrap();
    let plugin = sandbox_tests::plugin("sandbox-plugin-outer-sandbox");
    let launch = Launch {
        as_nobody: false,
        outer_refuses: Some("pivot".to_owned()),
        ..Launch::default()
    };
    let report = dir.path().join("report.json");
    let flags = [
        "--handler-plugin",
        plugin.to_str().unwrap(),
        "--handler-config",
        config.to_str().unwrap(),
    ];
    // No --report for uid 0: a file the workload's uid would own is refused before any step.
    let mut root = flags.to_vec();
    root.extend(["--allow-root", "--user", "0", "--", "true"]);
    let outcome = run_supervisor(&launch, root);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .error_line()
            .contains("without an enforced filesystem view (filesystem-view was tolerated)"),
        "{}",
        outcome.stderr
    );
    let mut nobody = flags.to_vec();
    nobody.extend(["--report", report.to_str().unwrap(), "--", "true"]);
    let outcome = run_supervisor(&launch, nobody);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let report = report_of(&report);
    let view = step(&report, "filesystem-view");
    assert_eq!(view["decision"], "tolerated", "{view}");
    assert_eq!(view["syscall"], "pivot_root", "{view}");
    assert_eq!(view["errno_name"], "EPERM", "{view}");
}

/// A mount namespace refused at boot and tolerated by a plugin would give uid 0 the host's /proc
/// and /sys (kernel settings, the cgroup tree): the run stops with the usage error naming that,
/// before the workload runs (issue 24 item 5).
#[test]
fn a_tolerated_mount_namespace_stops_a_uid_0_workload() {
    require_root!();
    let dir = scratch();
    let config = dir.path().join("policy.json");
    std::fs::write(
        &config,
        r#"{"tolerate": {"mount-namespace": ["EPERM"], "filesystem-view": ["EPERM"]}}"#,
    )
    .unwrap();
    let plugin = sandbox_tests::plugin("sandbox-plugin-policy");
    let launch = Launch {
        outer_refuses: Some("mountns".to_owned()),
        ..Launch::default()
    };
    let outcome = run_supervisor(
        &launch,
        [
            "--handler-plugin",
            plugin.to_str().unwrap(),
            "--handler-config",
            config.to_str().unwrap(),
            "--allow-root",
            "--user",
            "0",
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let line = outcome.error_line();
    assert!(
        line.contains(
            "without a mount namespace of its own (mount-namespace was tolerated by plugin:"
        ),
        "{line}"
    );
    assert!(
        line.contains("/proc/sys") && line.contains("a parent's cgroup.procs"),
        "{line}"
    );
}
