//! Helpers for the integration tests: find the built binary and plugins, run the supervisor the
//! way an operator would (optionally as an unprivileged user or under an outer seccomp profile),
//! and collect what can be seen from outside.
//!
//! The binary and the plugin shared objects are built by `cargo build --workspace`, which the
//! README's test command runs before `cargo test`.

pub mod python;

use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub mod outer;

/// Skips the calling test unless it runs as root; with `REQUIRE_PRIVILEGED_TESTS=1` a missing
/// privilege fails the test instead.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            $crate::skip_or_fail(
                "needs root (to create namespaces, change ids and run as another user)",
            );
            return;
        }
    };
}

/// The name the test harness gives the test function `$name` of the calling module, for running
/// that one test again (`--exact`) in another process.
#[macro_export]
macro_rules! test_name {
    ($name:ident) => {
        match module_path!().split_once("::") {
            Some((_, module)) => format!("{module}::{}", stringify!($name)),
            None => stringify!($name).to_owned(),
        }
    };
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints why a test is skipped, or panics when privileged tests are required.
pub fn skip_or_fail(why: &str) {
    if std::env::var("REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
        panic!("REQUIRE_PRIVILEGED_TESTS=1 but this test {why}");
    }
    // Written to the real standard error, past the test harness's capture, so that a skip is
    // visible in a normal `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {}: this test {why}; run as root to include it",
        std::thread::current().name().unwrap_or("?")
    );
}

/// The cargo target directory the tests were built in (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_owned()
}

/// Where built artifacts are staged for the tests: a directory every user can traverse, because
/// the checkout itself may not be (and the tests start the supervisor as an unprivileged user).
/// `SANDBOX_TESTS_STAGING` names it (tests/run.sh makes a fresh one and removes it afterwards);
/// otherwise it is one per user and target directory under the system temp dir, reused.
pub fn staging_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("SANDBOX_TESTS_STAGING") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                target_dir().hash(&mut hasher);
                std::env::temp_dir().join(format!(
                    "sandbox-supervisor-tests-{}-{:016x}",
                    nix::unistd::geteuid(),
                    hasher.finish()
                ))
            }
        };
        std::fs::create_dir_all(&dir).expect("create the staging directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    })
}

/// A copy of the built artifact `name` in the staging directory, mode 0755, refreshed when the
/// build is newer.
fn built(name: &str) -> PathBuf {
    let source = target_dir().join(name);
    assert!(
        source.exists(),
        "{} is missing: run `cargo build --workspace` before the tests (the README's test command does)",
        source.display()
    );
    stage(&source, name)
}

/// Copies `source` to the staging directory as `name` (mode 0755) when the build is newer.
fn stage(source: &Path, name: &str) -> PathBuf {
    let staged = staging_dir().join(name);
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    if modified(&staged) < modified(source) {
        // Copy under a unique name, then rename: concurrent tests never see a partial file.
        let partial = staging_dir().join(format!(
            ".{name}.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::copy(source, &partial).expect("stage artifact");
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&partial, &staged).expect("stage artifact");
    }
    staged
}

/// The `sandbox-supervisor` binary.
pub fn supervisor_bin() -> PathBuf {
    built("sandbox-supervisor")
}

/// A helper binary of this crate (`outer-seccomp`, `syscall-probe`).
pub fn helper_bin(name: &str) -> PathBuf {
    built(name)
}

/// The shared object of the plugin package `package` (`sandbox-plugin-policy`, ...).
pub fn plugin(package: &str) -> PathBuf {
    built(&format!("lib{}.so", package.replace('-', "_")))
}

/// The compatibility fixtures (tests/fixtures: plugins and a host built against earlier releases
/// of the plugin API), built once per test process into `target/fixtures` with the fixtures' own
/// lock file. Returns that target directory's `debug`.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/Cargo.toml");
        let target = target_dir()
            .parent()
            .expect("target/<profile> has a parent")
            .join("fixtures");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("start cargo to build the compatibility fixtures");
        assert!(status.success(), "building {} failed", manifest.display());
        target.join("debug")
    })
}

/// `source` (a file built outside this workspace's target directory) staged as `name`.
pub fn staged(source: &Path, name: &str) -> PathBuf {
    stage(source, name)
}

/// A compatibility fixture artifact (`libfixture_plugin_0_1_0.so`, `fixture-host-0-1-0`), staged
/// like the other artifacts.
pub fn fixture(name: &str) -> PathBuf {
    stage(&fixtures_dir().join(name), name)
}

/// The version of sandbox-plugin-api in this checkout (its own, not the workspace's), from
/// plugin-api/Cargo.toml.
pub fn plugin_api_version() -> String {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/Cargo.toml"),
    )
    .expect("read plugin-api/Cargo.toml");
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a version line in plugin-api/Cargo.toml")
        .to_owned()
}

/// A scratch directory every user can write to (for markers written by an unprivileged workload),
/// sticky like /tmp: a workload cannot rename or remove what another uid put there, so a report
/// the supervisor writes there cannot be replaced (see `record::forgery`).
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

/// The command prefix that runs a program as uid/gid 65534 with no capabilities.
pub const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--init-groups",
    "--inh-caps=-all",
];

/// How the supervisor is started.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Start it as uid/gid 65534 (nobody) with no capabilities.
    pub unprivileged: bool,
    /// Start it under `outer-seccomp` refusing these calls (`netns`, `seccomp`).
    pub outer_refuses: Option<String>,
    /// Files the test process creates (as itself) and passes open for writing as these
    /// descriptors (`--report-fd 3`, `--findings fd:4`): an unprivileged caller's workload could
    /// replace a `--report` file, which the supervisor refuses.
    pub write_fds: Vec<(i32, PathBuf)>,
}

impl Launch {
    /// `--report-fd 3` (and `--findings fd:4`) on files at `report` (and `findings`) for an
    /// unprivileged caller, `--report FILE` (and `--findings FILE`) otherwise; the arguments.
    pub fn record_to(&mut self, report: &Path, findings: Option<&Path>) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self.unprivileged {
            self.write_fds.push((3, report.to_owned()));
            args.extend(["--report-fd".into(), "3".into()]);
            if let Some(findings) = findings {
                self.write_fds.push((4, findings.to_owned()));
                args.extend(["--findings".into(), "fd:4".into()]);
            }
        } else {
            args.extend(["--report".into(), report.into()]);
            if let Some(findings) = findings {
                args.extend(["--findings".into(), findings.into()]);
            }
        }
        args
    }
}

/// The last record of a report written by [`Launch::record_to`]: the whole file (`--report`,
/// one pretty-printed document) or its last line (`--report-fd`, one JSON line per record).
pub fn last_record(text: &str) -> &str {
    if text.starts_with("{\n") {
        text
    } else {
        text.lines().rfind(|line| !line.is_empty()).unwrap_or("")
    }
}

/// What a run showed from outside.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (128+N when the supervisor itself died of signal N).
    pub code: i32,
    /// The workload's standard output.
    pub stdout: String,
    /// The supervisor's (and workload's) standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Outcome {
    /// What a finished command showed: its exit code (128+N when signal N killed it), standard
    /// output and standard error.
    fn from(output: std::process::Output) -> Self {
        let code = match output.status.code() {
            Some(code) => code,
            None => {
                128 + std::os::unix::process::ExitStatusExt::signal(&output.status).unwrap_or(0)
            }
        };
        Outcome {
            code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// The lines of standard error that start with `sandbox-supervisor: error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("sandbox-supervisor: error:"))
            .collect()
    }

    /// The one error line; panics unless there is exactly one.
    pub fn error_line(&self) -> &str {
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one error line in:\n{}",
            self.stderr
        );
        lines[0]
    }

    /// WARN lines on standard error, but for the one that says the sandbox has no control group
    /// because the caller may not make one and asked for no limit (`decider="default limits"`):
    /// every unprivileged run has it; tests/bounds.rs and the refusal matrix check it.
    pub fn warn_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.contains(" WARN ") && !line.contains("decider=\"default limits\""))
            .collect()
    }
}

/// Runs `sandbox-supervisor ARGS` started as `launch` says and waits for it.
pub fn run_supervisor<I, S>(launch: &Launch, args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut argv: Vec<OsString> = Vec::new();
    if launch.unprivileged {
        argv.extend(AS_NOBODY.map(OsString::from));
    }
    if let Some(refuses) = &launch.outer_refuses {
        argv.push(helper_bin("outer-seccomp").into());
        argv.push(refuses.into());
        argv.push("--".into());
    }
    argv.push(supervisor_bin().into());
    argv.extend(args.into_iter().map(Into::into));
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null());
    // Each file is moved to a descriptor of 100 or above first, so that no dup2 to its target
    // number overwrites another source, or is a no-op leaving close-on-exec set.
    let files: Vec<(i32, std::os::fd::OwnedFd)> = launch
        .write_fds
        .iter()
        .map(|(fd, path)| {
            let file = std::fs::File::create(path).expect("create the record file");
            let high = nix::fcntl::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100),
            )
            .expect("dup the record file");
            // SAFETY: fcntl returned a new descriptor that nothing else owns.
            (*fd, unsafe { std::os::fd::FromRawFd::from_raw_fd(high) })
        })
        .collect();
    let raw: Vec<(i32, i32)> = files
        .iter()
        .map(|(fd, file)| (*fd, std::os::fd::AsRawFd::as_raw_fd(file)))
        .collect();
    if !raw.is_empty() {
        // SAFETY: only dup2, async-signal-safe, between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                for (target, source) in &raw {
                    if libc::dup2(*source, *target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let outcome = Outcome::from(output_of(&mut command));
    drop(files);
    outcome
}

/// Runs `command` to completion. A binary that another test thread is staging at that moment can
/// be busy (a child forked during the copy holds the file open for writing until it execs):
/// `ETXTBSY` is retried.
pub fn output_of(command: &mut Command) -> std::process::Output {
    for _ in 0..100 {
        match command.output() {
            Err(err) if err.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.expect("start the supervisor"),
        }
    }
    panic!("the staged binary stayed busy")
}

/// A shell command for the workload that writes `ran` to `marker` and then runs `then`.
pub fn marked(marker: &Path, then: &str) -> Vec<String> {
    vec![
        "--".to_owned(),
        "sh".to_owned(),
        "-c".to_owned(),
        format!("echo ran > '{}'; {then}", marker.display()),
    ]
}

/// A field of a `/proc/*/status` text (`Seccomp`, `NoNewPrivs`, ...).
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// This process's network namespace (`net:[N]`).
pub fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .expect("readlink /proc/self/ns/net")
        .display()
        .to_string()
}

/// Writes `text` to a new file `name` in `dir` (mode 0644) and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

/// Set in a test process that runs on an imitated host (`private-host`), naming the imitation.
pub const IMITATED_HOST: &str = "SANDBOX_TESTS_IMITATED_HOST";

/// Runs this test binary again, on a host imitated by `private-host IMITATION...` (for instance
/// `--systemd`: /dev/mqueue mounted, /run/user/0 and /run/user/1000 present, every mount shared),
/// with the test harness's `args` (filters, `--skip NAME`). Returns how many tests passed there;
/// panics with the output when any failed.
pub fn rerun_on_imitated_host(imitation: &[&str], args: &[&str]) -> usize {
    let output = output_of(
        Command::new(helper_bin("private-host"))
            .args(imitation)
            .arg("--")
            .arg(std::env::current_exe().expect("current_exe"))
            .args(args)
            .env(IMITATED_HOST, imitation.join(" "))
            .stdin(Stdio::null()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "on the imitated host ({imitation:?}) the tests failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// How many tests of this test binary the harness's `args` select, ignored ones left out.
pub fn runnable_tests(args: &[&str]) -> usize {
    let count = |extra: &[&str]| {
        let output = Command::new(std::env::current_exe().expect("current_exe"))
            .arg("--list")
            .args(extra)
            .args(args)
            .output()
            .expect("list the tests");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.ends_with(": test"))
            .count()
    };
    count(&[]) - count(&["--ignored"])
}
