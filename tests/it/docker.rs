//! The supervisor under a real `docker run`: the daemon's own runc, Docker's default seccomp
//! profile and capability set, its masked `/proc` and its `/.dockerenv`, as an operator who puts
//! the supervisor in an image gets them. (tests/it/refusals.rs and kubernetes.rs build runc
//! bundles themselves; this module asks the daemon.)
//!
//! Each test imports an image of its own (`docker import`, no registry): a minimal root made of
//! the built supervisor, the `outer-sandbox` plugin, `cat`, `sh` and `rm` and the libraries `ldd`
//! names for them, an `/etc/passwd` and `/etc/group` with root and nobody. Containers run with
//! `--rm`, `--network none` (no veth or firewall rule on the host; the refusals are the same on
//! Docker's bridge) and a label of the test's own; the image guard removes every container with
//! that label and the image when the test ends, failed or not. The report is written to a
//! bind-mounted directory; the workload is `cat /proc/self/status`.
//!
//! Skipped, saying why, when not root or when no Docker daemon answers; with
//! `REQUIRE_PRIVILEGED_TESTS=1` either fails.
//!
//! gVisor through Docker (`--runtime=runsc`) is not tested: the daemon must have runsc configured
//! as a runtime (docs/refusals.md says what the CI machine's daemon answers).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use sandbox_tests::{
    assert_no_capabilities, output_of, plugin, skip_or_fail, staging_dir, status_field,
    supervisor_bin, validate_report, Outcome,
};

/// Docker's 14 default capabilities as a mask (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
/// SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP).
const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// Where the image has the supervisor and the plugin.
const SUPERVISOR: &str = "/usr/local/bin/sandbox-supervisor";
const OUTER_SANDBOX: &str = "/usr/local/lib/sandbox-supervisor/libsandbox_plugin_outer_sandbox.so";
/// The bind-mounted directory the report is written to, inside the container.
const REPORT: &str = "/report/report.json";

const OUTER_SANDBOX_DECIDER: &str = "plugin:outer-sandbox@0.1.0";
const DECLARED: &str =
    "outer boundary: the operator declared the boundary container (--outer-boundary)";
/// The error line of a refused network namespace, up to the decider.
const NETNS_REFUSED: &str = "sandbox-supervisor: error: network-namespace refused: \
    unshare(CLONE_NEWNET) failed with EPERM (the kernel refused to give the workload its own \
    network namespace); aborted by";

/// Why Docker cannot be used here, or `None` when a daemon answers.
fn docker_unusable() -> Option<String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
    {
        Err(err) => Some(format!("needs the docker command ({err})")),
        Ok(output) if !output.status.success() => Some(format!(
            "needs a running Docker daemon (docker info: {})",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// A test image and every container labelled with its name, removed when dropped.
struct Image {
    name: String,
}

impl Drop for Image {
    fn drop(&mut self) {
        let label = format!("label=sandbox-supervisor-test={}", self.tag());
        if let Ok(output) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
        {
            let ids = String::from_utf8_lossy(&output.stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.name])
            .output();
    }
}

/// What a `docker run` of the supervisor showed: the container's exit code and outputs, and the
/// report it wrote (`None` when it wrote none).
struct Run {
    outcome: Outcome,
    report: Option<Value>,
}

impl Run {
    fn report(&self) -> &Value {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report:\n{}", self.outcome.stderr))
    }

    /// The report's record of `step`.
    fn step(&self, step: &str) -> &Value {
        self.report()["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|record| record["step"] == step)
            .unwrap_or_else(|| panic!("no record of {step} in {:#}", self.report()))
    }
}

/// Copies the host file `source` (its content, symbolic links followed) to `path` under `root`.
fn copy_in(root: &Path, source: &Path, path: &str) {
    let target = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
    std::fs::copy(source, &target)
        .unwrap_or_else(|err| panic!("copy {} into the image: {err}", source.display()));
}

/// The shared objects `ldd` names for `binary` (the loader included).
fn libraries(binary: &Path) -> Vec<String> {
    let output = sandbox_tests::run_ok(Command::new("ldd").arg(binary));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, after)) => after.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

impl Image {
    /// Imports a new image: the built supervisor and `outer-sandbox` plugin, `cat`, `sh`, `rm`,
    /// their libraries, and a user database.
    fn build() -> Image {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "sandbox-supervisor-test:{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let image = Image { name };
        let root = tempfile::Builder::new()
            .prefix("docker-root")
            .tempdir_in(staging_dir())
            .expect("tempdir");
        let mut binaries: Vec<(PathBuf, String)> = vec![
            (supervisor_bin(), SUPERVISOR.to_owned()),
            (
                plugin("sandbox-plugin-outer-sandbox"),
                OUTER_SANDBOX.to_owned(),
            ),
        ];
        for program in ["cat", "sh", "rm"] {
            binaries.push((
                Path::new("/usr/bin").join(program),
                format!("/bin/{program}"),
            ));
        }
        let mut files = binaries.clone();
        for (source, _) in &binaries {
            files.extend(
                libraries(source)
                    .into_iter()
                    .map(|lib| (lib.clone().into(), lib)),
            );
        }
        for (source, path) in &files {
            copy_in(root.path(), source, path);
        }
        for dir in ["proc", "sys", "dev", "run", "tmp", "report", "etc"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        sandbox_tests::write_file(
            &root.path().join("etc"),
            "passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
        );
        sandbox_tests::write_file(
            &root.path().join("etc"),
            "group",
            "root:x:0:\nnogroup:x:65534:\n",
        );
        sandbox_tests::run_ok(
            Command::new("chmod")
                .args(["-R", "go-w,a+rX"])
                .arg(root.path()),
        );
        let mut tar = Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tar");
        let import = Command::new("docker")
            .args(["import", "-", &image.name])
            .stdin(tar.stdout.take().expect("tar's output"))
            .output()
            .expect("start docker import");
        assert!(tar.wait().expect("tar").success(), "tar failed");
        assert!(
            import.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&import.stderr)
        );
        image
    }

    /// The label value the containers of this image carry.
    fn tag(&self) -> String {
        self.name.replace([':', '/'], "-")
    }

    /// `docker run` with `docker_flags` of `before` (a wrapper, or nothing), then the supervisor
    /// with `--report` and `args`, then `workload` (`probe` when empty).
    fn run(&self, docker_flags: &[&str], before: &[&str], args: &[&str], workload: &[&str]) -> Run {
        let reports = tempfile::Builder::new()
            .prefix("docker-report")
            .tempdir_in(staging_dir())
            .expect("tempdir");
        std::fs::set_permissions(
            reports.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let mut command = Command::new("docker");
        command
            .args(["run", "--rm", "--network", "none", "--label"])
            .arg(format!("sandbox-supervisor-test={}", self.tag()))
            .arg("-v")
            .arg(format!("{}:/report", reports.path().display()))
            .args(docker_flags)
            .arg(&self.name)
            .args(before)
            .arg(SUPERVISOR);
        if workload.is_empty() {
            command.args(["probe", "--json"]).args(args);
        } else {
            command
                .args(["--report", REPORT])
                .args(args)
                .arg("--")
                .args(workload);
        }
        let outcome = Outcome::from(output_of(command.stdin(Stdio::null())));
        assert!(
            !outcome.stderr.contains("docker: "),
            "docker itself failed: {}",
            outcome.stderr
        );
        let report = if workload.is_empty() {
            serde_json::from_str(&outcome.stdout).ok()
        } else {
            std::fs::read_to_string(reports.path().join("report.json"))
                .ok()
                .map(|text| serde_json::from_str(&text).expect("the report is JSON"))
        };
        if let Some(report) = report.as_ref().filter(|_| !workload.is_empty()) {
            validate_report(report);
        }
        Run { outcome, report }
    }

    /// The supervisor with `args`, running `cat /proc/self/status`.
    fn supervise(&self, docker_flags: &[&str], args: &[&str]) -> Run {
        self.run(docker_flags, &[], args, &["/bin/cat", "/proc/self/status"])
    }

    /// `probe --json` with `args`: its exit code, `boots` and `would_exit` (null when it boots).
    fn probe(&self, docker_flags: &[&str], args: &[&str]) -> (i32, Value, Value) {
        let run = self.run(docker_flags, &[], args, &[]);
        let json = run.report();
        (
            run.outcome.code,
            json["boots"].clone(),
            json["would_exit"].clone(),
        )
    }
}

/// An image of its own for the calling test, or `None` (the test is skipped, or fails under
/// `REQUIRE_PRIVILEGED_TESTS=1`) when not root or no Docker daemon answers.
fn image() -> Option<Image> {
    if !sandbox_tests::is_root() {
        skip_or_fail("needs root (to talk to the Docker daemon)");
        return None;
    }
    if let Some(why) = docker_unusable() {
        skip_or_fail(&why);
        return None;
    }
    Some(Image::build())
}

/// The report's `environment` of a root supervisor in a Docker container with `caps`.
fn assert_environment(run: &Run, caps: u64, clue: Option<&str>, boundary: Option<&str>) {
    let environment = &run.report()["environment"];
    assert_eq!(environment["uid"], 0, "{environment}");
    assert_eq!(environment["gvisor"], false, "{environment}");
    assert_eq!(environment["effective_capabilities"], caps, "{environment}");
    assert_eq!(environment["container"].as_str(), clue, "{environment}");
    assert_eq!(
        environment["outer_boundary"].as_str(),
        boundary,
        "{environment}"
    );
}

/// The workload's `/proc/self/status` (the run's standard output) shows no capability,
/// `no_new_privs`, `filters` seccomp filters and an allocated uid; the report's evidence agrees.
fn assert_workload(run: &Run, filters: &str) {
    let status = &run.outcome.stdout;
    assert_no_capabilities(status);
    assert_eq!(status_field(status, "NoNewPrivs"), Some("1"), "{status}");
    assert_eq!(status_field(status, "Seccomp"), Some("2"), "{status}");
    assert_eq!(
        status_field(status, "Seccomp_filters"),
        Some(filters),
        "{status}"
    );
    let uid: u32 = status_field(status, "Uid")
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("a uid");
    assert!((61184..=65519).contains(&uid), "{status}");
    assert_eq!(
        run.step("privilege-drop")["verified"]["uid"],
        serde_json::json!([uid, uid, uid, uid])
    );
    assert_eq!(
        run.step("workload-seccomp")["verified"]["seccomp_filters"].to_string(),
        filters
    );
    assert_eq!(run.report()["exit"]["exit_code"], 0);
}

/// Asserts the report's record of `step`: its decision, call, errno and decider.
fn assert_step(run: &Run, step: &str, decision: &str, refused: Option<(&str, &str, &str)>) {
    let record = run.step(step);
    assert_eq!(record["decision"], decision, "{record}");
    match refused {
        Some((call, errno, decider)) => {
            assert_eq!(record["syscall"], call, "{record}");
            assert_eq!(record["errno_name"], errno, "{record}");
            assert_eq!(record["decider"], decider, "{record}");
        }
        None => assert_eq!(record["syscall"], Value::Null, "{record}"),
    }
}

/// Docker's default profile and capabilities refuse the network namespace first (`EPERM`: the
/// profile allows `unshare` with namespace flags only with `CAP_SYS_ADMIN`), so the strict default
/// stops there with 120, before the workload, as docs/refusals.md predicts for runc with Docker's
/// profile; `probe` says so beforehand.
#[test]
fn docker_default_strict_stops_at_the_network_namespace() {
    let Some(image) = image() else { return };
    let run = image.supervise(&[], &[]);
    assert_eq!(run.outcome.code, 120, "{}", run.outcome.stderr);
    assert_eq!(run.outcome.error_line(), format!("{NETNS_REFUSED} strict"));
    assert_eq!(run.outcome.stdout, "", "the workload ran");
    assert_eq!(run.report()["outcome"], "aborted");
    assert_environment(&run, DOCKER_DEFAULT_CAPS, Some("/.dockerenv"), None);
    assert_step(
        &run,
        "network-namespace",
        "aborted",
        Some(("unshare(CLONE_NEWNET)", "EPERM", "strict")),
    );
    for step in [
        "pid-namespace",
        "mount-namespace",
        "filesystem-view",
        "landlock",
    ] {
        assert_step(&run, step, "not-reached", None);
    }
    let probe = image.probe(&[], &[]);
    assert_eq!(probe, (120, Value::from(false), Value::from(120)));
}

/// An image without a user database (`FROM scratch` with a static binary is common): the root
/// supervisor cannot tell a free uid from a named one (a failed lookup counts as named), so it
/// allocates none and stops with 125 before the workload, saying so in the one error line and
/// in the `--report` it was given (a usage error about the report hid it, exit 2, before the fix).
#[test]
fn docker_image_without_a_user_database_stops_with_no_free_uid() {
    let Some(image) = image() else { return };
    let without_passwd = [
        "/bin/sh",
        "-c",
        "rm /etc/passwd /etc/group && exec \"$@\"",
        "sh",
    ];
    let run = image.run(
        &[],
        &without_passwd,
        &[],
        &["/bin/cat", "/proc/self/status"],
    );
    assert_eq!(run.outcome.code, 125, "{}", run.outcome.stderr);
    let error = "no free uid in --uid-range 61184-65519: every one is in the user database, held \
                 by a process or locked by another sandbox (see /run/sandbox-supervisor/uids)";
    assert_eq!(
        run.outcome.error_line(),
        format!("sandbox-supervisor: error: {error}")
    );
    assert_eq!(run.outcome.stdout, "", "the workload ran");
    assert_eq!(run.report()["outcome"], "aborted");
    assert_eq!(run.report()["error"], error);
}

/// Behind the declared boundary (`--outer-boundary container`) `outer-sandbox` tolerates the three
/// refused namespaces, and the filesystem view is lost with the mount namespace; each is one WARN
/// line and one record decided by the plugin, with its reason. Everything else is enforced: the
/// workload holds no capability, has `no_new_privs`, Docker's filter and its own, an allocated
/// uid; Landlock, which Docker's profile allows, is enforced.
#[test]
fn docker_default_outer_sandbox_behind_the_declared_container() {
    let Some(image) = image() else { return };
    let args = [
        "--handler-plugin",
        OUTER_SANDBOX,
        "--outer-boundary",
        "container",
    ];
    let run = image.supervise(&[], &args);
    assert_eq!(run.outcome.code, 0, "{}", run.outcome.stderr);
    assert_eq!(run.outcome.error_lines(), Vec::<&str>::new());
    assert_environment(
        &run,
        DOCKER_DEFAULT_CAPS,
        Some("/.dockerenv"),
        Some("container"),
    );
    assert_workload(&run, "2");
    let lost = [
        ("network-namespace", "unshare(CLONE_NEWNET)"),
        ("pid-namespace", "clone(CLONE_NEWPID|CLONE_NEWIPC)"),
        ("mount-namespace", "unshare(CLONE_NEWNS)"),
        ("filesystem-view", "unshare(CLONE_NEWNS)"),
    ];
    for (step, call) in lost {
        let refused = (call, "EPERM", OUTER_SANDBOX_DECIDER);
        assert_step(&run, step, "tolerated", Some(refused));
        let reason = if step == "filesystem-view" {
            "lost with mount-namespace, which it requires"
        } else {
            DECLARED
        };
        assert_eq!(run.step(step)["reason"], reason);
    }
    let warned: Vec<&str> = run.outcome.warn_lines();
    assert_eq!(warned.len(), lost.len(), "{}", run.outcome.stderr);
    for (line, (step, _)) in warned.iter().zip(lost) {
        assert!(line.contains(&format!(" step={step} ")), "{line}");
        assert!(line.contains(OUTER_SANDBOX_DECIDER), "{line}");
    }
    for step in [
        "session",
        "capabilities",
        "privilege-drop",
        "no-new-privs",
        "landlock",
        "workload-seccomp",
        "supervisor-seccomp",
    ] {
        assert_step(&run, step, "enforced", None);
    }
    let probe = image.probe(&[], &args);
    assert_eq!(probe, (0, Value::from(true), Value::Null));
}

/// Issue 23, item 2: clues never decide. Docker puts `/.dockerenv` in every container: with it,
/// `outer-sandbox` without a declared boundary aborts at the first refusal (121), the clue named
/// as a hint; with `/.dockerenv` removed and `KUBERNETES_SERVICE_HOST` set, and with neither, the
/// run stops the same way (only the hint differs); with the declaration and no `/.dockerenv` it
/// runs with the same decisions as with it.
#[test]
fn docker_clues_decide_nothing() {
    let Some(image) = image() else { return };
    let plugin = ["--handler-plugin", OUTER_SANDBOX];
    let without_clue = ["/bin/sh", "-c", "rm /.dockerenv && exec \"$@\"", "sh"];
    let k8s = ["-e", "KUBERNETES_SERVICE_HOST=10.0.0.1"];
    let undeclared = format!(
        "{NETNS_REFUSED} {OUTER_SANDBOX_DECIDER}: no outer boundary declared (--outer-boundary \
         gvisor|container|vm, or {{\"boundary\": NAME}} in --handler-config)"
    );
    let workload = ["/bin/cat", "/proc/self/status"];
    for (flags, before, clue) in [
        (&[][..], &[][..], Some("/.dockerenv")),
        (
            &k8s[..],
            &without_clue[..],
            Some("$KUBERNETES_SERVICE_HOST"),
        ),
        // Whatever else the supervisor detects (a cgroup path of PID 1 naming docker), or none.
        (&[][..], &without_clue[..], None),
    ] {
        let run = image.run(flags, before, &plugin, &workload);
        assert_eq!(run.outcome.code, 121, "{}", run.outcome.stderr);
        assert_eq!(run.outcome.stdout, "", "the workload ran");
        let refused = ("unshare(CLONE_NEWNET)", "EPERM", OUTER_SANDBOX_DECIDER);
        assert_step(&run, "network-namespace", "aborted", Some(refused));
        let detected = run.report()["environment"]["container"].as_str();
        match clue {
            Some(clue) => assert_eq!(detected, Some(clue)),
            None => assert_ne!(detected, Some("/.dockerenv")),
        }
        let hints = detected
            .map(|clue| format!("; hints, which never decide: container clue {clue}"))
            .unwrap_or_default();
        assert_eq!(run.outcome.error_line(), format!("{undeclared}{hints}"));
        assert_environment(&run, DOCKER_DEFAULT_CAPS, detected, None);
    }
    let declared = [&plugin[..], &["--outer-boundary", "container"]].concat();
    let run = image.run(&[], &without_clue, &declared, &workload);
    assert_eq!(run.outcome.code, 0, "{}", run.outcome.stderr);
    let detected = run.report()["environment"]["container"].as_str();
    assert_ne!(detected, Some("/.dockerenv"));
    assert_environment(&run, DOCKER_DEFAULT_CAPS, detected, Some("container"));
    assert_workload(&run, "2");
    let decisions: Vec<(String, String)> = run.report()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| (record["step"].to_string(), record["decision"].to_string()))
        .collect();
    let with_clue = image.supervise(&[], &declared);
    let with_clue_decisions: Vec<(String, String)> = with_clue.report()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| (record["step"].to_string(), record["decision"].to_string()))
        .collect();
    assert_eq!(decisions, with_clue_decisions);
}

/// What docs/refusals.md says of Docker's profile, one capability or profile change at a time:
/// - `--security-opt seccomp=unconfined` alone: still 120 at the network namespace (`EPERM`
///   from the kernel now: Docker's root lacks `CAP_SYS_ADMIN`);
/// - `--cap-add SYS_ADMIN --cap-add NET_ADMIN`: the profile lets the namespaces and mounts through
///   with `CAP_SYS_ADMIN` (lo is brought up with `NET_ADMIN`), but never `pivot_root`, so the strict
///   default stops at the filesystem view (120);
/// - the same capabilities without Docker's profile: every step enforced (the cgroup tolerated by
///   the default limits: Docker mounts the cgroup file system read-only), the workload with its
///   filter alone.
#[test]
fn docker_capabilities_and_profile_one_at_a_time() {
    let Some(image) = image() else { return };
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    let run = image.supervise(&unconfined, &[]);
    assert_eq!(run.outcome.code, 120, "{}", run.outcome.stderr);
    assert_eq!(run.outcome.error_line(), format!("{NETNS_REFUSED} strict"));
    assert_environment(&run, DOCKER_DEFAULT_CAPS, Some("/.dockerenv"), None);

    let admin = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"];
    let caps = DOCKER_DEFAULT_CAPS | CAP_SYS_ADMIN | CAP_NET_ADMIN;
    let run = image.supervise(&admin, &[]);
    assert_eq!(run.outcome.code, 120, "{}", run.outcome.stderr);
    assert_eq!(
        run.outcome.error_line(),
        "sandbox-supervisor: error: filesystem-view refused: pivot_root failed with EPERM (the \
         kernel refused to build the workload's filesystem view); aborted by strict"
    );
    assert_eq!(run.outcome.stdout, "", "the workload ran");
    assert_environment(&run, caps, Some("/.dockerenv"), None);
    assert_step(&run, "network-namespace", "enforced", None);
    let refused = ("pivot_root", "EPERM", "strict");
    assert_step(&run, "filesystem-view", "aborted", Some(refused));

    let run = image.supervise(&[&admin[..], &unconfined].concat(), &[]);
    assert_eq!(run.outcome.code, 0, "{}", run.outcome.stderr);
    assert_environment(&run, caps, Some("/.dockerenv"), None);
    assert_workload(&run, "1");
    let cgroup = ("mkdir(cgroup)", "EROFS", "default limits");
    assert_step(&run, "cgroup", "tolerated", Some(cgroup));
    for step in run.report()["steps"].as_array().unwrap() {
        if step["step"] != "cgroup" {
            assert_eq!(step["decision"], "enforced", "{step}");
        }
    }
}
