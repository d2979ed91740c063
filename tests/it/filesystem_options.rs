//! The filesystem view's edges: host sockets outside the scratch space, binds of the kernel's
//! pseudo-filesystems, view options without a view, masks through symbolic links, the host's
//! processes without a PID namespace or Landlock, and under `--fs host-rw` what the report says
//! Landlock restricts and the fresh /proc's read-only parts.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use sandbox_tests::{require_root, run_supervisor, scratch, Launch, Outcome};

fn run(args: &[&str]) -> Outcome {
    run_supervisor(&Launch::default(), args.iter().copied())
}

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
fn a_host_socket_outside_tmp_and_run_is_masked() {
    require_root!();
    // The scratch directory is under /var/lib (the staging directory), which the view shows
    // read-only: a read-only bind alone does not stop connect().
    let dir = scratch();
    let path = dir.path().join("host.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = dir.path().join("report.json");
    let socket = path.to_str().unwrap();
    let args = |fs: &'static str| {
        vec![
            "--fs",
            fs,
            "--report",
            report.to_str().unwrap(),
            "--",
            "/usr/bin/python3",
            "-c",
            CONNECT,
            socket,
        ]
    };
    let outcome = run(&args("host-ro"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("refused") && !outcome.stdout.contains("connected"),
        "{}",
        outcome.stdout
    );
    let recorded = report_of(&report);
    let masked = &step(&recorded, "filesystem-view")["verified"]["host_sockets_masked"];
    assert!(
        masked
            .as_array()
            .is_some_and(|list| list.iter().any(|place| place == socket)),
        "{masked}"
    );
    // Without the view the same socket is reached: the check can tell.
    let shared = run(&args("host-rw"));
    assert!(
        shared.stdout.contains("connected"),
        "{}{}",
        shared.stdout,
        shared.stderr
    );
}

/// The masks come from /proc/net/unix, which names a socket's path at bind time: a host socket
/// renamed or hard-linked since is not masked (docs/limits.md). What still holds is the socket's
/// mode: `connect` needs write permission on the socket file (a read-only mount does not stop
/// it), and the workload's uid is allocated for the run, so a renamed or linked 0660 socket of
/// root's is refused (EACCES), while a 0666 one is reached; uid 0 (`--allow-root --user 0`)
/// reaches root's 0660 one too.
#[test]
fn a_renamed_or_linked_host_socket_is_reachable_only_through_its_mode() {
    require_root!();
    let dir = scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut listeners = Vec::new();
    for (name, mode) in [("open", 0o666), ("closed", 0o660), ("linked", 0o660)] {
        let path = dir.path().join(format!("{name}.sock"));
        listeners.push(UnixListener::bind(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::rename(at("open.sock"), at("open-renamed.sock")).unwrap();
    std::fs::rename(at("closed.sock"), at("closed-renamed.sock")).unwrap();
    std::fs::hard_link(at("linked.sock"), at("linked-link.sock")).unwrap();
    let sockets = [
        at("open-renamed.sock"),
        at("closed-renamed.sock"),
        at("linked.sock"),
        at("linked-link.sock"),
    ];
    let connect = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["--", "/usr/bin/python3", "-c", CONNECT]);
        args.extend(sockets.iter().map(String::as_str));
        let outcome = run(&args);
        assert_eq!(outcome.code, 0, "{extra:?}: {}", outcome.stderr);
        outcome.stdout
    };
    let allocated = connect(&[]);
    let line = |stdout: &str, start: &str, socket: &str| {
        stdout
            .lines()
            .any(|line| line.starts_with(start) && line.contains(socket))
    };
    // The path bound is masked; the names it has now are not.
    assert!(
        line(&allocated, "refused", &format!("{} 111", sockets[2])),
        "{allocated}"
    );
    assert!(line(&allocated, "connected", &sockets[0]), "{allocated}");
    assert!(
        line(&allocated, "refused", &format!("{} 13", sockets[1])),
        "{allocated}"
    );
    assert!(
        line(&allocated, "refused", &format!("{} 13", sockets[3])),
        "{allocated}"
    );
    // uid 0 is the owner of root's sockets: the mode does not stop it.
    let root = connect(&["--allow-root", "--user", "0"]);
    assert!(line(&root, "connected", &sockets[1]), "{root}");
    assert!(line(&root, "connected", &sockets[3]), "{root}");
    drop(listeners);
}

#[test]
fn binds_of_the_kernels_pseudo_filesystems_are_usage_errors() {
    require_root!();
    let read = "cat /srv/sys/kernel/hostname 2>/dev/null; ls /srv >/dev/null && echo listed";
    for (option, source, fs) in [
        ("--bind", "/proc", "proc"),
        ("--ro-bind", "/proc/sys", "proc"),
        ("--bind", "/sys/kernel", "sysfs"),
        ("--bind", "/dev", "devtmpfs"),
        // Beneath the host's root: its /proc, /sys, /dev (whichever mountinfo lists first).
        ("--ro-bind", "/", ""),
    ] {
        let bind = format!("{source}:/srv");
        let outcome = run(&[option, &bind, "--", "sh", "-c", read]);
        assert_eq!(outcome.code, 2, "{option} {bind}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(&format!("the host's {fs}")),
            "{option} {bind}: {}",
            outcome.stderr
        );
    }
    // A bind of an ordinary directory at the same place is fine: the refusal is the source's.
    let outcome = run(&["--ro-bind", "/usr/share:/srv", "--", "sh", "-c", read]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("listed"), "{}", outcome.stdout);
}

/// The view mounts its own /tmp, /var/tmp, /run, /dev, /proc and /sys: a bind or workspace
/// beneath them would be hidden under that mount, so it is a usage error, never a silent no-op.
#[test]
fn binds_beneath_the_sandboxs_own_mounts_are_usage_errors() {
    require_root!();
    let dir = scratch();
    let source = dir.path().to_str().unwrap();
    for (option, dest) in [
        ("--ro-bind", "/tmp"),
        ("--bind", "/var/tmp/x"),
        ("--ro-bind", "/run/x"),
        ("--bind", "/dev/x"),
        ("--ro-bind", "/proc/x"),
    ] {
        let bind = format!("{source}:{dest}");
        let outcome = run(&[option, &bind, "--", "true"]);
        assert_eq!(outcome.code, 2, "{option} {bind}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains("would hide a bind beneath them"),
            "{option} {bind}: {}",
            outcome.stderr
        );
    }
    // A mask there would hide nothing of the host's (and could not be verified): refused too.
    for path in ["/tmp", "/var/tmp/x", "/run/x", "/dev/null"] {
        let outcome = run(&["--mask", path, "--", "true"]);
        assert_eq!(outcome.code, 2, "--mask {path}: {}", outcome.stderr);
        assert!(
            outcome.error_line().contains("nothing to mask"),
            "--mask {path}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn view_options_without_a_view_are_usage_errors() {
    require_root!();
    let dir = scratch();
    let path = dir.path().to_str().unwrap();
    let bind = format!("{path}:{path}");
    let cases: [(&[&str], &str); 7] = [
        (&["--fs", "host-rw", "--mask", path], "--mask"),
        (&["--fs", "host-rw", "--bind", &bind], "--bind"),
        (&["--fs", "host-rw", "--ro-bind", &bind], "--ro-bind"),
        (&["--fs", "host-rw", "--tmpfs-size", "1m"], "--tmpfs-size"),
        (&["--fs", "host-rw", "--workspace", path], "--workspace"),
        (
            &["--disable-step", "mount-namespace", "--mask", path],
            "--mask",
        ),
        (
            &[
                "--disable-step",
                "filesystem-view",
                "--disable-step",
                "landlock",
                "--workspace",
                path,
            ],
            "--workspace",
        ),
    ];
    for (args, option) in cases {
        let mut all = args.to_vec();
        all.extend(["--", "true"]);
        let outcome = run(&all);
        assert_eq!(outcome.code, 2, "{all:?}: {}", outcome.stderr);
        assert!(
            outcome
                .stderr
                .contains(&format!("{option} cannot be used with")),
            "{all:?}: {}",
            outcome.stderr
        );
    }
    // A workspace still names Landlock's writable places without the view.
    let outcome = run(&[
        "--disable-step",
        "filesystem-view",
        "--workspace",
        path,
        "--",
        "true",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn under_host_rw_the_report_says_landlock_restricts_no_file() {
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
    let recorded = report_of(&report);
    let landlock = step(&recorded, "landlock");
    if landlock["decision"] != "enforced" {
        return sandbox_tests::skip_or_fail("Landlock is not enforced on this kernel");
    }
    let protection = landlock["protection"].as_str().unwrap();
    assert!(
        protection.starts_with("no filesystem restriction") && !protection.contains("writes only"),
        "{protection}"
    );
    let restricts = landlock["verified"]["restricts"].as_str().unwrap();
    assert!(restricts.starts_with("no filesystem access"), "{restricts}");
    assert!(
        landlock["verified"]["path_socket_connect"]
            .as_str()
            .unwrap()
            .starts_with("not restricted"),
        "{landlock}"
    );
    assert!(
        !outcome
            .stderr
            .contains("writes only to the writable places"),
        "{}",
        outcome.stderr
    );
    // With the view, the same report says what the domain restricts.
    let outcome = run(&["--report", report.to_str().unwrap(), "--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let recorded = report_of(&report);
    let landlock = step(&recorded, "landlock");
    assert!(landlock["protection"]
        .as_str()
        .unwrap()
        .contains("writes only to the writable places"));
    assert!(landlock["verified"]["restricts"]
        .as_str()
        .unwrap()
        .starts_with("writes to the writable places"));
}

#[test]
fn a_mask_through_a_symbolic_link_is_a_usage_error() {
    require_root!();
    let dir = scratch();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::write(dir.path().join("real/secret"), "secret\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("real/secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real/secret"), dir.path().join("file")).unwrap();
    let read = format!("cat {}/real/secret; echo read", dir.path().display());
    for name in ["link", "link/secret", "file"] {
        let mask = dir.path().join(name);
        let outcome = run(&["--mask", mask.to_str().unwrap(), "--", "sh", "-c", &read]);
        assert_eq!(outcome.code, 2, "--mask {name}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains("symbolic link"),
            "--mask {name}: {}",
            outcome.stderr
        );
    }
    // The real path is masked.
    let mask = dir.path().join("real/secret");
    let outcome = run(&["--mask", mask.to_str().unwrap(), "--", "sh", "-c", &read]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("secret"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("read"), "{}", outcome.stdout);
}

/// A mask beneath a bind's destination is applied after the bind (the mount order is the data
/// order) in every mode, `--fs minimal` included, at the same path or another destination; the
/// verification looks every mask up through the workload's root.
#[test]
fn a_mask_beneath_a_bind_is_applied_in_every_mode() {
    require_root!();
    let dir = scratch();
    let source = dir.path().join("src");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    for file in ["secret", "sub/hidden", "shown"] {
        std::fs::write(source.join(file), format!("{file}-contents\n")).unwrap();
        std::fs::set_permissions(source.join(file), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    let same = source.to_str().unwrap();
    for (fs, dest) in [
        ("host-ro", same),
        ("minimal", same),
        ("minimal", "/data"),
        ("host-ro", "/srv"),
    ] {
        let bind = format!("{same}:{dest}");
        let (secret, sub) = (format!("{dest}/secret"), format!("{dest}/sub"));
        let read = format!("cat {dest}/secret {dest}/shown; ls {dest}/sub; echo end");
        let outcome = run(&[
            "--fs",
            fs,
            "--ro-bind",
            &bind,
            "--mask",
            &secret,
            "--mask",
            &sub,
            "--",
            "sh",
            "-c",
            &read,
        ]);
        assert_eq!(outcome.code, 0, "--fs {fs} {bind}: {}", outcome.stderr);
        assert!(
            outcome.stdout.contains("shown-contents") && outcome.stdout.contains("end"),
            "--fs {fs} {bind}: {}",
            outcome.stdout
        );
        assert!(
            !outcome.stdout.contains("secret-contents") && !outcome.stdout.contains("hidden"),
            "--fs {fs} {bind}: the masks were not applied: {}",
            outcome.stdout
        );
    }
}

/// Without the mount view a workspace still names Landlock's writable place: a path through a
/// symbolic link is refused there too, with one line (Landlock's rules are built from
/// descriptors opened without following a link, so a path swapped later grants nothing).
#[test]
fn a_workspace_through_a_symbolic_link_is_refused_without_the_view() {
    require_root!();
    let dir = scratch();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    let link = dir.path().join("link");
    for step in ["filesystem-view", "mount-namespace"] {
        let outcome = run(&[
            "--disable-step",
            step,
            "--workspace",
            link.to_str().unwrap(),
            "--",
            "true",
        ]);
        assert_eq!(outcome.code, 2, "--disable-step {step}: {}", outcome.stderr);
        let lines = outcome.error_lines();
        assert_eq!(lines.len(), 1, "--disable-step {step}: {}", outcome.stderr);
        assert!(
            lines[0].contains("--workspace") && lines[0].contains("symbolic link"),
            "--disable-step {step}: {}",
            outcome.stderr
        );
    }
}

/// A path whose component before the last is a file is the operator's error, named as such (the
/// walk checks each component's type as it opens it), not a failed open.
#[test]
fn a_workspace_below_a_file_is_a_usage_error() {
    require_root!();
    let dir = scratch();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let below = dir.path().join("file/workspace");
    let outcome = run(&["--workspace", below.to_str().unwrap(), "--", "true"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let lines = outcome.error_lines();
    assert_eq!(lines.len(), 1, "{}", outcome.stderr);
    assert!(
        lines[0].contains("--workspace")
            && lines[0].contains("a component before the last is not a directory"),
        "{}",
        outcome.stderr
    );
}

/// The host's control groups (other groups' names, limits, members) are hidden in every mode
/// that builds the view: /sys/fs/cgroup is an empty read-only directory (or absent under
/// `--fs minimal`, which has no /sys), reported among the masked paths; the workload's own
/// group is still named by /proc/self/cgroup.
#[test]
fn the_host_cgroup_tree_is_hidden_by_the_view() {
    require_root!();
    if !Path::new("/sys/fs/cgroup").is_dir() {
        eprintln!("skipped: the host has no /sys/fs/cgroup");
        return;
    }
    let dir = scratch();
    let report = dir.path().join("report.json");
    let list =
        "ls -A /sys/fs/cgroup 2>/dev/null | sed 's/^/entry /'; cat /proc/self/cgroup; echo end";
    for options in [
        &["--fs", "host-ro"][..],
        &["--fs", "minimal"],
        &["--allow-root", "--user", "0"],
    ] {
        // uid 0 could rewrite a report of the supervisor's uid: none there.
        let reported = options[0] == "--fs";
        let mut args = options.to_vec();
        if reported {
            args.extend(["--report", report.to_str().unwrap()]);
        }
        args.extend(["--", "sh", "-c", list]);
        let outcome = run(&args);
        assert_eq!(outcome.code, 0, "{options:?}: {}", outcome.stderr);
        assert!(
            outcome.stdout.contains("end"),
            "{options:?}: {}",
            outcome.stdout
        );
        assert!(
            !outcome.stdout.contains("entry "),
            "{options:?}: the host's cgroup tree is shown: {}",
            outcome.stdout
        );
        assert!(
            outcome.stdout.contains("0::"),
            "{options:?}: {}",
            outcome.stdout
        );
        if reported && options[1] != "minimal" {
            let recorded = report_of(&report);
            let masked = &step(&recorded, "filesystem-view")["verified"]["masked"];
            assert!(
                masked
                    .as_array()
                    .is_some_and(|list| list.iter().any(|place| place == "/sys/fs/cgroup")),
                "{options:?}: {masked}"
            );
        }
    }
}

#[test]
fn without_mount_setattr_each_mount_is_remounted_read_only() {
    require_root!();
    // A kernel before 5.12 has no mount_setattr: the outer filter answers it with ENOSYS. The
    // view must still hold, read-only to uid 0 on every mount, without a refusal.
    let dir = scratch();
    let probe = dir.path().join("written");
    let script = format!(
        "touch /etc/written 2>/dev/null && echo wrote-etc; touch {} 2>/dev/null && echo wrote-host; \
         echo x > /tmp/x && echo wrote-tmp; awk '$5 !~ \"^/(tmp|var/tmp|run|dev|proc)\" && $6 !~ /(^|,)ro(,|$)/ {{print \"writable\", $5}}' /proc/self/mountinfo",
        probe.display()
    );
    let mut command = std::process::Command::new(sandbox_tests::helper_bin("outer-seccomp"));
    command
        .args(["setattr=ENOSYS", "--"])
        .arg(sandbox_tests::supervisor_bin())
        .args(["--allow-root", "--user", "0", "--log-level", "info"])
        .args(["--", "sh", "-c", &script])
        .stdin(std::process::Stdio::null());
    let outcome = Outcome::from(sandbox_tests::output_of(&mut command));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("wrote-etc"), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains("wrote-host"), "{}", outcome.stdout);
    assert!(!probe.exists());
    assert!(!outcome.stdout.contains("writable"), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("wrote-tmp"), "{}", outcome.stdout);
    assert!(
        outcome.stderr.contains("filesystem-view enforced"),
        "{}",
        outcome.stderr
    );
}

/// A host process of `uid` that lives until dropped.
struct HostProcess(std::process::Child);

impl HostProcess {
    fn of(uid: u32) -> HostProcess {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sleep")
            .arg("60")
            .uid(uid)
            .gid(uid)
            .spawn()
            .unwrap();
        HostProcess(child)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Without a PID namespace of its own and without Landlock, `/proc/PID/root` of a host process of
/// the workload's uid is the host's root: the view would be a name only. The operator asking for
/// that is a usage error, and nothing reaches the host's /tmp.
#[test]
fn the_host_pids_without_landlock_are_refused_with_a_view() {
    require_root!();
    let host = HostProcess::of(65534);
    let escaped = Path::new("/tmp").join(format!("view-escape-{}", std::process::id()));
    let script = format!(
        "echo escaped > /proc/{pid}/root{file} && echo wrote-host-tmp",
        pid = host.0.id(),
        file = escaped.display()
    );
    let outcome = run(&[
        "--disable-step",
        "pid-namespace",
        "--disable-step",
        "landlock",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let written = escaped.exists();
    let _ = std::fs::remove_file(&escaped);
    drop(host);
    assert!(
        !written,
        "the workload wrote the host's /tmp: {}",
        outcome.stdout
    );
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("/proc/PID/root"),
        "{}",
        outcome.stderr
    );
}

/// Under `--fs host-rw` (and with the view disabled) the mount namespace still makes the fresh
/// /proc's kernel settings read-only and masks Docker's masked paths, as the view does: the
/// workload's mountinfo shows each part as a read-only mount, each masked file is /dev/null.
#[test]
fn host_rw_keeps_the_kernel_settings_of_proc_read_only() {
    require_root!();
    // The OCI runtime spec's (and Docker's) readonlyPaths and maskedPaths, without a view as
    // with one: the mount namespace's fresh /proc has them all.
    let read_only = [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ];
    let masked = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];
    for options in [
        &["--fs", "host-rw"][..],
        &["--disable-step", "filesystem-view"],
        &["--fs", "host-ro"],
    ] {
        let mut args = options.to_vec();
        let script = format!(
            "cat /proc/self/mountinfo; for f in {}; do [ -e $f ] && stat -c '%n %F %t:%T' $f; done; true",
            masked.join(" ")
        );
        args.extend(["--", "sh", "-c", &script]);
        let outcome = run(&args);
        assert_eq!(outcome.code, 0, "{options:?}: {}", outcome.stderr);
        // A kernel without one of them (no magic SysRq) has nothing to protect there.
        for part in read_only
            .into_iter()
            .chain(masked)
            .filter(|part| Path::new(part).exists())
        {
            let flags = outcome
                .stdout
                .lines()
                .rev()
                .find_map(|line| {
                    let mut fields = line.split_whitespace();
                    (fields.nth(4) == Some(part)).then(|| fields.next().unwrap_or("").to_owned())
                })
                .unwrap_or_else(|| panic!("{options:?}: no mount at {part}: {}", outcome.stdout));
            assert!(
                flags.split(',').any(|option| option == "ro"),
                "{options:?}: {part} is mounted {flags}"
            );
        }
        // A masked file reads as /dev/null.
        for file in masked.into_iter().filter(|path| Path::new(path).is_file()) {
            assert!(
                outcome
                    .stdout
                    .contains(&format!("{file} character special file 1:3")),
                "{options:?}: {}",
                outcome.stdout
            );
        }
    }
}
