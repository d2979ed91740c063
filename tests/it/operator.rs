//! The operator's view: the hardening report against its documented schema, `probe`, JSON logs,
//! the vendor template and the embedding example.

use std::ffi::OsString;
use std::process::Command;

use sandbox_tests::{
    helper_bin, plugin, require_root, run_supervisor, run_with_report, scratch, supervisor_bin,
    Launch, AS_NOBODY, STEPS,
};
use serde_json::Value;

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == name)
        .unwrap()
}

#[test]
fn strict_root_report_lists_every_step_enforced_and_verified() {
    require_root!();
    let (outcome, report) = run_with_report(
        &Launch::default(),
        ["--user", "nobody", "--", "true"].map(OsString::from),
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(report["outcome"], "ended");
    assert_eq!(report["handler"]["decider"], "strict");
    for name in STEPS {
        assert_eq!(
            step(&report, name)["decision"],
            "enforced",
            "{name}: {report:#}"
        );
    }
    let netns = &step(&report, "network-namespace")["verified"];
    assert_ne!(netns["netns_inode"], netns["parent_netns_inode"]);
    assert_eq!(netns["interfaces_up"], serde_json::json!(["lo"]));
    assert_eq!(step(&report, "network-namespace")["route"], "direct");
    let pid = &step(&report, "pid-namespace")["verified"];
    assert_ne!(
        pid["pid_namespace_inode"],
        pid["parent_pid_namespace_inode"]
    );
    assert_eq!(pid["nspid"].as_array().unwrap().len(), 2, "{pid}");
    let mnt = &step(&report, "mount-namespace")["verified"];
    assert!(mnt["proc_mount_id"].as_u64().is_some(), "{mnt}");
    let session = &step(&report, "session")["verified"];
    assert_eq!(session["session"], report["workload"]["pid"]);
    assert_eq!(session["tty_nr"], 0);
    let caps = &step(&report, "capabilities")["verified"];
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        assert_eq!(caps["sets"][set], serde_json::json!([]), "{set}: {caps}");
    }
    assert_eq!(
        step(&report, "supervisor-seccomp")["verified"]["seccomp"],
        2
    );
    let filter = &step(&report, "workload-seccomp")["verified"];
    assert_eq!(filter["seccomp"], 2);
    // The workload's own program only: it does not inherit the supervisor's prelude.
    assert_eq!(filter["seccomp_filters"], filter["programs"]);
    assert_eq!(step(&report, "no-new-privs")["verified"]["no_new_privs"], 1);
    let ids = &step(&report, "privilege-drop")["verified"];
    assert_eq!(ids["uid"], serde_json::json!([65534, 65534, 65534, 65534]));
    assert_eq!(ids["groups"], serde_json::json!([65534]));
    // Named with --user: no uid was allocated.
    assert_eq!(ids["origin"], "named", "{ids}");
    assert!(ids["uid_range"].is_null(), "{ids}");
    assert!(report["workload"]["pid"].as_i64().unwrap() > 1);
}

#[test]
fn tolerated_report_names_the_missing_protection_and_the_plugin() {
    require_root!();
    let flags = [
        "--no-userns".into(),
        "--outer-boundary".into(),
        "vm".into(),
        "--handler-plugin".into(),
        plugin("sandbox-plugin-outer-sandbox").into_os_string(),
        "--".into(),
        "true".into(),
    ];
    let (outcome, report) = run_with_report(&Launch::nobody(), &flags);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let netns = step(&report, "network-namespace");
    assert_eq!(netns["decision"], "tolerated");
    assert_eq!(netns["syscall"], "unshare(CLONE_NEWNET)");
    assert_eq!(netns["errno"], 1);
    assert_eq!(netns["errno_name"], "EPERM");
    assert!(
        netns["decider"]
            .as_str()
            .unwrap()
            .starts_with("plugin:outer-sandbox@"),
        "{netns}"
    );
    assert_eq!(
        netns["missing_protection"],
        "the workload shares the supervisor's network namespace"
    );
    assert_eq!(step(&report, "pid-namespace")["decision"], "tolerated");
    assert_eq!(step(&report, "workload-seccomp")["decision"], "enforced");
    assert_eq!(step(&report, "privilege-drop")["decision"], "not-requested");
    assert_eq!(report["environment"]["uid"], 65534);
    assert_eq!(report["environment"]["effective_capabilities"], 0);
}

#[test]
fn aborted_report_says_where_it_stopped() {
    require_root!();
    let (outcome, report) = run_with_report(
        &Launch::nobody(),
        ["--no-userns", "--", "true"].map(OsString::from),
    );
    assert_eq!(outcome.code, 120);
    assert_eq!(report["outcome"], "aborted");
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("aborted by strict"));
    assert_eq!(step(&report, "network-namespace")["decision"], "aborted");
    assert_eq!(step(&report, "network-namespace")["decider"], "strict");
    assert_eq!(
        step(&report, "supervisor-seccomp")["decision"],
        "not-reached"
    );
    assert_eq!(report["workload"]["pid"], Value::Null);
}

#[test]
fn a_failed_exec_is_reported_as_such() {
    require_root!();
    let dir = scratch();
    let script = dir.path().join("root-only");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (outcome, report) =
        run_with_report(&Launch::default(), &["--".into(), script.into_os_string()]);
    assert_eq!(outcome.code, 126, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_eq!(report["outcome"], "aborted", "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("failed to execute") && error.contains("EACCES"),
        "{error}"
    );
    assert_eq!(
        outcome.error_line(),
        format!("sandbox-supervisor: error: {error}")
    );
}

#[test]
fn report_fd_receives_the_report_and_is_not_inherited() {
    require_root!();
    let dir = scratch();
    let path = dir.path().join("report.json");
    let script = format!(
        "exec 3>{path}; exec \"$0\" --report-fd 3 -- sh -c 'ls /proc/self/fd/3 2>/dev/null || echo no-fd-3'",
        path = path.display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(supervisor_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "no-fd-3\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // JSON lines: the boot record, then the final one.
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[0]["outcome"], "running");
    assert_eq!(records[0]["record"], "boot");
    assert_eq!(records[1]["record"], "final");

    let missing_dir = dir.path().join("no-such-dir/report.json");
    let bad_path = run_supervisor(
        &Launch::default(),
        [
            OsString::from("--report"),
            missing_dir.clone().into(),
            "--".into(),
            "true".into(),
        ],
    );
    assert_eq!(bad_path.code, 2, "{}", bad_path.stderr);
    assert!(bad_path.error_line().contains(&format!(
        "failed to open the hardening report {}",
        missing_dir.display()
    )));

    let bad = run_supervisor(&Launch::default(), ["--report-fd", "77", "--", "true"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("descriptor 77 is not open"),
        "{}",
        bad.stderr
    );
}

fn probe(launch: &Launch, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["probe", "--json"];
    args.extend(extra);
    let outcome = run_supervisor(launch, args);
    let answer: Value = serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}\n{}", outcome.stdout, outcome.stderr));
    (outcome.code, answer)
}

fn probe_step<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap()
}

#[test]
fn probe_tells_root_and_an_unprivileged_user_apart() {
    require_root!();
    let (code, root) = probe(&Launch::default(), &[]);
    assert_eq!(code, 0, "{root:#}");
    assert_eq!(root["boots"], true);
    assert_eq!(root["handler"]["decider"], "strict");
    for name in STEPS {
        assert_eq!(probe_step(&root, name)["decision"], "enforced", "{name}");
    }

    // An unprivileged caller gets its namespaces through a user namespace.
    let (code, user) = probe(&Launch::nobody(), &[]);
    assert_eq!(code, 0, "{user:#}");
    assert_eq!(
        probe_step(&user, "network-namespace")["route"],
        "user-namespace"
    );
    assert_eq!(probe_step(&user, "pid-namespace")["decision"], "enforced");

    let (code, user) = probe(&Launch::nobody(), &["--no-userns"]);
    assert_eq!(code, 120, "{user:#}");
    assert_eq!(user["boots"], false);
    let netns = probe_step(&user, "network-namespace");
    assert_eq!(netns["errno_name"], "EPERM");
    assert_eq!(netns["decision"], "aborted");
    assert_eq!(probe_step(&user, "pid-namespace")["decision"], "aborted");
    assert_eq!(
        probe_step(&user, "workload-seccomp")["decision"],
        "enforced"
    );

    let plugin = plugin("sandbox-plugin-outer-sandbox");
    let (code, tolerated) = probe(
        &Launch::nobody(),
        &[
            "--no-userns",
            "--outer-boundary",
            "vm",
            "--handler-plugin",
            plugin.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{tolerated:#}");
    assert_eq!(
        probe_step(&tolerated, "network-namespace")["decision"],
        "tolerated"
    );

    // A real drop to another user needs CAP_SETGID: never tolerable. Global flags go before or
    // after the subcommand.
    let outcome = run_supervisor(
        &Launch::nobody(),
        [
            "--no-userns",
            "--handler-plugin",
            plugin.to_str().unwrap(),
            "--allow-root",
            "probe",
            "--json",
            "--outer-boundary",
            "vm",
            "--user",
            "root",
        ],
    );
    let drop: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(outcome.code, 122, "{drop:#}");
    assert_eq!(probe_step(&drop, "privilege-drop")["decision"], "aborted");
    assert_eq!(probe_step(&drop, "privilege-drop")["errno_name"], "EPERM");

    // The table form says the same thing for people.
    let table = run_supervisor(&Launch::nobody(), ["probe", "--no-userns"]);
    assert!(
        table
            .stdout
            .contains("result: a run would stop with exit code 120"),
        "{}",
        table.stdout
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    require_root!();
    let plugin = plugin("sandbox-plugin-outer-sandbox");
    let outcome = run_supervisor(
        &Launch::nobody(),
        [
            "--no-userns",
            "--outer-boundary",
            "vm",
            "--log-format",
            "json",
            "--handler-plugin",
            plugin.to_str().unwrap(),
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let events = outcome.json_events();
    // The group nobody may make comes first: one WARN with its own fields.
    let cgroup = events
        .iter()
        .find(|event| event["level"] == "WARN" && event["fields"]["step"] == "cgroup")
        .expect("a cgroup WARN event");
    assert_eq!(cgroup["fields"]["decider"], "default limits");
    assert_eq!(cgroup["fields"]["errno_name"], "EACCES");
    let warn = events
        .iter()
        .find(|event| event["level"] == "WARN" && event["fields"]["step"] != "cgroup")
        .expect("a WARN event");
    assert_eq!(warn["fields"]["step"], "network-namespace");
    assert_eq!(warn["fields"]["errno_name"], "EPERM");
    assert_eq!(warn["fields"]["decider"], "plugin:outer-sandbox@0.1.0");

    let quiet = run_supervisor(&Launch::default(), ["--log-level", "warn", "--", "true"]);
    assert_eq!(quiet.stderr, "", "nothing to warn about as root");
}

#[test]
fn the_vendor_template_builds_and_loads() {
    require_root!();
    let template = plugin("vendor-plugin-template");
    let outcome = run_supervisor(
        &Launch::nobody(),
        [
            "--no-userns",
            "--disable-step",
            "pid-namespace",
            "--disable-step",
            "mount-namespace",
            "--handler-plugin",
            template.to_str().unwrap(),
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome
        .stderr
        .contains("failure handler loaded: plugin:example-vendor@0.1.0"));
    let tolerated: Vec<&str> = outcome
        .warn_lines()
        .into_iter()
        .filter(|line| line.contains("hardening step tolerated"))
        .collect();
    assert!(
        tolerated[0].contains("decider=plugin:example-vendor@0.1.0"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_embedding_example_uses_its_own_handler() {
    require_root!();
    let binary = helper_bin("embedded-supervisor");
    let output = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .arg(&binary)
        .args(["sh", "-c", "echo embedded-ran"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "embedded-ran\n");
    assert!(stderr.contains("decider=embedded:pod-handler"), "{stderr}");
}

/// On the user-namespace route the workload keeps every group of the caller, the ones the
/// namespace does not map included (the kernel keeps them): the report lists them as in effect,
/// with their numbers, and the workload reaches a file only that group may read, which shows the
/// report true (issue 24 item 4).
#[test]
fn extra_groups_on_the_user_namespace_route_are_reported_in_effect() {
    require_root!();
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    let only_group = dir.path().join("group-4242-only");
    std::fs::write(&only_group, "read-by-4242\n").unwrap();
    std::os::unix::fs::chown(&only_group, Some(0), Some(4242)).unwrap();
    std::fs::set_permissions(&only_group, std::fs::Permissions::from_mode(0o040)).unwrap();
    let launch = Launch {
        as_nobody: true,
        groups: Some("--groups=4242".to_owned()),
        ..Launch::default()
    };
    let (outcome, report) = run_with_report(
        &launch,
        [
            OsString::from("--log-level"),
            "info".into(),
            "--".into(),
            "cat".into(),
            only_group.clone().into_os_string(),
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "read-by-4242\n", "{}", outcome.stderr);
    assert_eq!(
        step(&report, "network-namespace")["route"],
        "user-namespace"
    );
    let ids = &step(&report, "privilege-drop")["verified"];
    assert_eq!(ids["groups"], serde_json::json!([4242]), "{ids}");
    assert_eq!(
        ids["groups_inside_namespace"],
        serde_json::json!([65534]),
        "{ids}"
    );
    assert!(
        ids["groups_note"]
            .as_str()
            .is_some_and(|note| note.contains("keeps the caller's supplementary groups")),
        "{ids}"
    );
    let info = outcome
        .stderr
        .lines()
        .find(|line| line.contains("user-namespace route"))
        .unwrap_or_else(|| panic!("no line about the route:\n{}", outcome.stderr));
    assert!(info.contains("keeps the caller's groups [4242]"), "{info}");
}

/// `--user` refuses a group with power over the host (issue 21 item 5): one usage line naming
/// the group and the flag, exit 2; `--allow-group NAME` lets it through, and the report lists the
/// workload's groups by name.
#[test]
fn user_refuses_host_power_groups_unless_allowed() {
    require_root!();
    for group in ["shadow", "disk"] {
        let user = format!("nobody:{group}");
        let outcome = run_supervisor(&Launch::default(), ["--user", &user, "--", "true"]);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
        let line = outcome.error_line();
        assert!(line.contains(&format!("group {group} (gid ")), "{line}");
        assert!(line.contains(&format!("--allow-group {group}")), "{line}");
    }
    let (outcome, report) = run_with_report(
        &Launch::default(),
        [
            "--user",
            "nobody:shadow",
            "--allow-group",
            "shadow",
            "--",
            "true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let names = &step(&report, "privilege-drop")["verified"]["group_names"];
    assert_eq!(names, &serde_json::json!(["shadow"]), "{report:#}");
    // Without --user the default identity is not checked by group, and its names are reported.
    let (outcome, report) = run_with_report(&Launch::default(), ["--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let names = &step(&report, "privilege-drop")["verified"]["group_names"];
    assert!(
        names.as_array().is_some_and(|names| !names.is_empty()),
        "{report:#}"
    );
}

/// `--user` refuses a group that owns a socket or a device under /run or /dev its members may use
/// more than others (issue 21 item 5), found by the walk four directory levels below /run: a
/// socket and a character device at the deepest level walked, each owned by a group without a
/// name; regular files, symbolic links and FIFOs beside them name no group.
#[test]
fn user_refuses_a_group_that_owns_a_socket_or_a_device_under_run() {
    use std::os::unix::fs::PermissionsExt;
    require_root!();
    let (socket_gid, device_gid) = (4_000_555u32, 4_000_556u32);
    for gid in [socket_gid, device_gid] {
        assert!(
            nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                .is_ok_and(|g| g.is_none()),
            "gid {gid} is named here"
        );
    }
    // /run is depth 0: this directory is 1, the node's is 4.
    let top = std::path::PathBuf::from(format!("/run/sandbox-walk-test-{}", std::process::id()));
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _removed = Removed(top.clone());
    let deepest = top.join("a/b/c");
    std::fs::create_dir_all(&deepest).unwrap();
    let socket = deepest.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let device = deepest.join("null");
    let path = std::ffi::CString::new(device.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated path; 1:3 is /dev/null's number.
    let rc = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o660, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    for (node, gid) in [(&socket, socket_gid), (&device, device_gid)] {
        std::os::unix::fs::chown(node, None, Some(gid)).unwrap();
        std::fs::set_permissions(node, std::fs::Permissions::from_mode(0o660)).unwrap();
    }
    // Beside them, what names no group: a file, a link and a FIFO with the same group and mode.
    let file = deepest.join("file");
    std::fs::write(&file, "").unwrap();
    std::os::unix::fs::symlink(&socket, deepest.join("link")).unwrap();
    let fifo = std::ffi::CString::new(deepest.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o660) }, 0);
    let quiet_gid = 4_000_557u32;
    for node in [file.clone(), deepest.join("fifo")] {
        std::os::unix::fs::chown(&node, None, Some(quiet_gid)).unwrap();
    }
    for (gid, node) in [(socket_gid, &socket), (device_gid, &device)] {
        let user = format!("65534:{gid}");
        let outcome = run_supervisor(&Launch::default(), ["--user", &user, "--", "true"]);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert_eq!(
            outcome.error_line(),
            format!(
                "sandbox-supervisor: error: the workload would hold group {gid} (gid {gid}), the \
                 group of {}; pass --allow-group {gid} to allow it",
                node.display()
            ),
            "{}",
            outcome.stderr
        );
        let allowed = run_supervisor(
            &Launch::default(),
            [
                "--user",
                &user,
                "--allow-group",
                &gid.to_string(),
                "--",
                "true",
            ],
        );
        assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    }
    let user = format!("65534:{quiet_gid}");
    let outcome = run_supervisor(&Launch::default(), ["--user", &user, "--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

/// The walk finds a device bind-mounted over a regular file and a socket bind-mounted over a FIFO
/// (as container runtimes mount /dev's nodes over empty files): the entry's `d_type` is the
/// covered file's, only a `stat` crosses the mount.
#[test]
fn user_refuses_a_group_whose_device_or_socket_is_mounted_over_a_file_under_run() {
    use std::os::unix::fs::PermissionsExt;
    require_root!();
    let (device_gid, socket_gid) = (4_000_565u32, 4_000_566u32);
    let top = std::path::PathBuf::from(format!("/run/sandbox-walk-mount-{}", std::process::id()));
    let nodes = std::path::PathBuf::from(format!(
        "{}/sandbox-walk-nodes-{}",
        std::env::var("SANDBOX_TESTS_STAGING").unwrap_or_else(|_| "/var/lib".into()),
        std::process::id()
    ));
    struct Cleaned(Vec<std::path::PathBuf>, Vec<std::path::PathBuf>);
    impl Drop for Cleaned {
        fn drop(&mut self) {
            for mount in &self.1 {
                let path = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: `path` is a NUL-terminated path.
                unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            }
            for dir in &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let mut cleaned = Cleaned(vec![top.clone(), nodes.clone()], Vec::new());
    std::fs::create_dir_all(top.join("a")).unwrap();
    std::fs::create_dir_all(&nodes).unwrap();
    // The nodes, outside the walked trees.
    let device = nodes.join("null");
    null_device_of(&device, device_gid);
    let socket = nodes.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::os::unix::fs::chown(&socket, None, Some(socket_gid)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();
    // Their mount points under /run: an empty regular file and a FIFO.
    let file = top.join("a/file");
    std::fs::write(&file, "").unwrap();
    let fifo = top.join("a/fifo");
    let fifo_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `fifo_path` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_path.as_ptr(), 0o600) }, 0);
    for (source, target) in [(&device, &file), (&socket, &fifo)] {
        let c = |path: &std::path::Path| {
            std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
        };
        let (from, to) = (c(source), c(target));
        // SAFETY: both are NUL-terminated paths; a bind mount takes no type and no data.
        let rc = unsafe {
            libc::mount(
                from.as_ptr(),
                to.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "mount: {}", std::io::Error::last_os_error());
        cleaned.1.push(target.clone());
    }
    for (gid, node) in [(device_gid, &file), (socket_gid, &fifo)] {
        let user = format!("65534:{gid}");
        let outcome = run_supervisor(&Launch::default(), ["--user", &user, "--", "true"]);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert_eq!(
            outcome.error_line(),
            format!(
                "sandbox-supervisor: error: the workload would hold group {gid} (gid {gid}), the \
                 group of {}; pass --allow-group {gid} to allow it",
                node.display()
            ),
            "{}",
            outcome.stderr
        );
    }
}

/// A flood of entries where anyone may write (here /dev/shm, walked before /run) neither hides a
/// group's device nor stops the walk: world-writable directories and those another user owns are
/// not listed. Before, 100,001 files there used up the walk's bound and the group of a device
/// under /run passed as harmless (exit 0).
#[test]
fn user_refuses_a_group_whose_device_lies_beyond_a_flood_where_anyone_writes() {
    require_root!();
    let gid = 4_000_567u32;
    let top = std::path::PathBuf::from(format!("/run/sandbox-walk-flood-{}", std::process::id()));
    let flood = std::path::PathBuf::from(format!(
        "/dev/shm/sandbox-walk-flood-{}",
        std::process::id()
    ));
    struct Cleaned(Vec<std::path::PathBuf>);
    impl Drop for Cleaned {
        fn drop(&mut self) {
            for dir in &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let _cleaned = Cleaned(vec![top.clone(), flood.clone()]);
    std::fs::create_dir_all(top.join("a")).unwrap();
    let device = top.join("a/null");
    null_device_of(&device, gid);
    std::fs::create_dir_all(&flood).unwrap();
    for n in 0..100_001 {
        std::fs::File::create(flood.join(n.to_string())).unwrap();
    }
    let user = format!("65534:{gid}");
    let outcome = run_supervisor(&Launch::default(), ["--user", &user, "--", "true"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert_eq!(
        outcome.error_line(),
        format!(
            "sandbox-supervisor: error: the workload would hold group {gid} (gid {gid}), the \
             group of {}; pass --allow-group {gid} to allow it",
            device.display()
        ),
        "{}",
        outcome.stderr
    );
}

/// Makes a device node at `path` with /dev/null's number, of group `gid`, mode 0660: a device
/// its group may use more than others.
fn null_device_of(path: &std::path::Path, gid: u32) {
    use std::os::unix::fs::PermissionsExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c_path` is a NUL-terminated path; 1:3 is /dev/null's number.
    let rc = unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o660, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    std::os::unix::fs::chown(path, None, Some(gid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).unwrap();
}
