//! `--cap-add`: the one way a workload keeps a capability, and only the one it names.

use sandbox_tests::{
    assert_capabilities, require_root, run_supervisor, status_field, supervisor_bin, Launch,
};

const BIND_80: &str =
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 80)); print('bound')";

#[test]
fn cap_add_keeps_exactly_the_named_capability() {
    require_root!();
    let run = |extra: &[&str]| {
        let mut args = vec!["--log-level", "error"];
        args.extend(extra);
        args.extend([
            "--",
            "sh",
            "-c",
            "cat /proc/self/status; /usr/bin/python3 -c \"$0\"",
            BIND_80,
        ]);
        run_supervisor(&Launch::default(), args)
    };
    let kept = run(&["--cap-add", "NET_BIND_SERVICE"]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert!(kept.stdout.contains("bound"), "{}", kept.stdout);
    // Not root: the uid allocated for the run.
    sandbox_tests::assert_allocated_ids(&kept.stdout, 61184..=65519);
    assert_capabilities(&kept.stdout, "0000000000000400");

    // Without the flag the same workload holds nothing and cannot bind a privileged port.
    let none = run(&[]);
    assert_ne!(none.code, 0);
    assert!(!none.stdout.contains("bound"), "{}", none.stdout);
    assert_capabilities(&none.stdout, "0000000000000000");
}

#[test]
fn an_unknown_capability_is_a_usage_error() {
    let outcome = run_supervisor(
        &Launch::default(),
        ["--cap-add", "NO_SUCH_CAP", "--", "true"],
    );
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("NO_SUCH_CAP"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_capability_that_reaches_the_host_cannot_be_added() {
    // The sandbox shares the host's file system: these reach host files, ids, devices, the
    // terminal or the sandbox's own init.
    for cap in [
        "SETUID",
        "SETFCAP",
        "MKNOD",
        "CHOWN",
        "FOWNER",
        "DAC_OVERRIDE",
        "SYS_ADMIN",
        "SYS_PTRACE",
    ] {
        let outcome = run_supervisor(&Launch::default(), ["--cap-add", cap, "--", "true"]);
        assert_eq!(outcome.code, 2, "{cap}: {}", outcome.stderr);
        assert!(
            outcome.error_line().contains("only CAP_NET_BIND_SERVICE"),
            "{cap}: {}",
            outcome.stderr
        );
    }
}

/// The sandbox's init is PID 1 of the workload's namespace and, for a root caller, root: once the
/// workload exists it keeps only CAP_KILL, no descriptor but its status pipe, and is not dumpable,
/// so the workload cannot open its /proc entries.
#[test]
fn the_init_keeps_only_cap_kill_and_is_not_dumpable() {
    require_root!();
    let outcome = run_supervisor(
        &Launch::default(),
        [
            "--log-level",
            "error",
            "--allow-root",
            "--user",
            "0",
            "--",
            "sh",
            "-c",
            "cat /proc/1/status; readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd-read; \
             cat /proc/1/mem >/dev/null 2>&1 && echo mem-read; true",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_capabilities(&outcome.stdout, "0000000000000020");
    assert_eq!(status_field(&outcome.stdout, "NoNewPrivs"), Some("1"));
    for access in ["fd-read", "mem-read"] {
        assert!(
            !outcome.stdout.contains(access),
            "{access}:\n{}",
            outcome.stdout
        );
    }

    // For a caller that is not root the init runs as the caller, like the workload: only its not
    // being dumpable keeps its /proc entries root's (the overflow uid inside the sandbox's user
    // namespace) instead of the workload's own uid. (A uid of its own, not 65534, which is also
    // the overflow uid.)
    let unprivileged = std::process::Command::new("setpriv")
        .args([
            "--reuid=4242",
            "--regid=4242",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(supervisor_bin())
        .args([
            "--log-level",
            "error",
            "--",
            "sh",
            "-c",
            "stat -c 'owner %u' /proc/1/status; echo \"self $(id -u)\"",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let outcome = sandbox_tests::Outcome::from(unprivileged);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("self 4242"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("owner 65534"),
        "the init's /proc/1 belongs to the workload's uid: {}",
        outcome.stdout
    );
}

/// A caller with an inheritable capability (a systemd service with `AmbientCapabilities=`, every
/// non-root process under `runsc do`) on the direct route: the init clears the sets it inherited
/// instead of asking for a `CAP_KILL` it does not have (which made `capset` refuse everything),
/// and the boot verifies (issue 24: it was exit 123).
#[test]
fn a_caller_with_an_inheritable_capability_boots_on_the_direct_route() {
    require_root!();
    let outer = sandbox_tests::plugin("sandbox-plugin-outer-sandbox");
    let output = sandbox_tests::output_of(
        std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--init-groups",
                "--inh-caps=+net_bind_service",
            ])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--no-userns",
                "--outer-boundary",
                "vm",
            ])
            .arg("--handler-plugin")
            .arg(&outer)
            .args(["--", "cat", "/proc/self/status"])
            .stdin(std::process::Stdio::null()),
    );
    let outcome = sandbox_tests::Outcome::from(output);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            status_field(&outcome.stdout, set),
            Some("0000000000000000"),
            "{set}: {}",
            outcome.stdout
        );
    }
}

/// The same under gVisor (`runsc do`), where every process a root `runsc do` starts as another
/// user keeps the full inheritable set (and the permitted and effective ones): on the direct
/// route (gVisor refuses the namespaces' mounts, and has no Landlock) the boot verifies and the
/// workload holds no inheritable or ambient capability (issue 24 item 7). gVisor's status has no
/// `CapAmb` line: the workload asks the kernel (`PR_CAP_AMBIENT_IS_SET`).
#[test]
fn under_gvisor_a_caller_with_inheritable_capabilities_boots_on_the_direct_route() {
    require_root!();
    if !sandbox_tests::outer::available("runsc") {
        sandbox_tests::skip_or_fail("needs gVisor's runsc (Debian package runsc)");
        return;
    }
    let caller = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--init-groups",
        "--inh-caps=+net_bind_service",
    ];
    let ambient = "/usr/bin/python3 -c 'import ctypes; libc = ctypes.CDLL(None); \
                   print(\"ambient\", sum(libc.prctl(47, 1, c, 0, 0) == 1 for c in range(64)))'";
    let script = format!("grep CapInh /proc/self/status; {ambient}");
    let gvisor = |inner: Vec<String>| {
        let argv: Vec<String> = sandbox_tests::outer::runsc_do()
            .into_iter()
            .chain(inner)
            .collect();
        sandbox_tests::Outcome::from(sandbox_tests::output_of(
            std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null()),
        ))
    };
    // The caller itself holds an inheritable capability there: the test shows something.
    let mut control: Vec<String> = caller.map(str::to_owned).to_vec();
    control.extend(["grep".into(), "CapInh".into(), "/proc/self/status".into()]);
    let control = gvisor(control);
    assert!(
        status_field(&control.stdout, "CapInh").is_some_and(|set| set != "0000000000000000"),
        "the caller holds no inheritable capability under gVisor: {}{}",
        control.stdout,
        control.stderr
    );
    let mut inner: Vec<String> = caller.map(str::to_owned).to_vec();
    inner.push(supervisor_bin().display().to_string());
    inner.extend(
        [
            "--log-level",
            "error",
            "--no-userns",
            "--disable-step",
            "mount-namespace",
            "--disable-step",
            "landlock",
            "--outer-boundary",
            "gvisor",
            "--handler-plugin",
        ]
        .map(str::to_owned),
    );
    inner.push(
        sandbox_tests::plugin("sandbox-plugin-outer-sandbox")
            .display()
            .to_string(),
    );
    inner.extend(["--", "sh", "-c"].map(str::to_owned));
    inner.push(script);
    let outcome = gvisor(inner);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        status_field(&outcome.stdout, "CapInh"),
        Some("0000000000000000"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("ambient 0"), "{}", outcome.stdout);
}

/// A root caller without `CAP_KILL` (a pod that drops it) cannot give the init what it needs to
/// signal a nobody workload: one usage error naming the capability and how to grant it, never
/// "verification shows it did not take effect" (exit 123). A workload of the caller's own uid
/// needs no `CAP_KILL`, and runs.
#[test]
fn root_without_cap_kill_is_told_which_capability_it_lacks() {
    require_root!();
    let run = |extra: &[&str]| {
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--bounding-set=-kill", "--inh-caps=-all"])
            .arg(supervisor_bin())
            .args(["--log-level", "error"])
            .args(extra)
            .args(["--", "true"])
            .stdin(std::process::Stdio::null());
        sandbox_tests::Outcome::from(sandbox_tests::output_of(&mut command))
    };
    let outcome = run(&[]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let line = outcome.error_line();
    assert!(
        line.contains("the caller lacks CAP_KILL") && line.contains("--cap-add KILL"),
        "{line}"
    );
    let own = run(&["--allow-root", "--user", "0"]);
    assert_eq!(own.code, 0, "{}", own.stderr);
}
