//! Starting the supervisor as an operator would (as root, as nobody, under an outer seccomp
//! filter) and what a run showed from outside.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{helper_bin, supervisor_bin};

/// The command prefix that runs a program as uid/gid 65534 with no capabilities.
pub const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--init-groups",
    "--inh-caps=-all",
];

/// How the supervisor is started. The default: as the tests' user (root in CI), nothing refused.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Start it as uid/gid 65534 (nobody) with no capabilities: an unprivileged caller.
    pub as_nobody: bool,
    /// Start it under `outer-seccomp` refusing these calls (`netns`, `seccomp`).
    pub outer_refuses: Option<String>,
    /// Files the test process creates (as itself) and passes open for writing as these
    /// descriptors (`--report-fd 3`, `--findings fd:4`): an unprivileged caller's workload could
    /// replace a `--report` file, which the supervisor refuses.
    pub write_fds: Vec<(i32, std::path::PathBuf)>,
    /// With `as_nobody`: setpriv's groups option in place of `--init-groups` (`--groups=4242`).
    pub groups: Option<String>,
    /// Variables added to the supervisor's own environment.
    pub env: Vec<(String, String)>,
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

impl Launch {
    /// `--report-fd 3` (and `--findings fd:4`) on files at `report` (and `findings`) for an
    /// unprivileged caller, `--report FILE` (and `--findings FILE`) otherwise; the arguments.
    pub fn record_to(&mut self, report: &Path, findings: Option<&Path>) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self.as_nobody {
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

    /// An unprivileged caller: the supervisor started as nobody, without capabilities (it takes
    /// the user-namespace route to its namespaces).
    pub fn nobody() -> Launch {
        Launch {
            as_nobody: true,
            ..Launch::default()
        }
    }

    /// A launch whose network namespace, and nothing else, is refused: `EPERM` from an outer
    /// seccomp filter, as a runtime's profile gives. (An unprivileged caller would take the
    /// user-namespace route instead, and get its namespaces.)
    pub fn netns_refused() -> Launch {
        Launch {
            outer_refuses: Some("netns".to_owned()),
            ..Launch::default()
        }
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

    /// Standard error as `--log-format json` writes it: one JSON object per line (panics on a line
    /// that is not one).
    pub fn json_events(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .map(|line| {
                let event: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {line}\n{}", self.stderr));
                assert!(event.is_object(), "{line}");
                event
            })
            .collect()
    }

    /// WARN lines on standard error, but for those decided by the default limits
    /// (`decider="default limits"`): that the sandbox has no control group because the caller may
    /// not make one and asked for no limit, and which bound then holds its processes. Every
    /// unprivileged run has them; tests/it/bounds.rs and the refusal matrix check them.
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
    if launch.as_nobody {
        argv.extend(AS_NOBODY.map(OsString::from));
        if let Some(groups) = &launch.groups {
            argv[3] = groups.into();
        }
    }
    if let Some(refuses) = &launch.outer_refuses {
        argv.push(helper_bin("outer-seccomp").into());
        argv.push(refuses.into());
        argv.push("--".into());
    }
    argv.push(supervisor_bin().into());
    argv.extend(args.into_iter().map(Into::into));
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .envs(launch.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null());
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

/// Runs `sandbox-supervisor ARGS` as the tests' user (root in CI) and waits for it.
pub fn run(args: &[&str]) -> Outcome {
    run_supervisor(&Launch::default(), args.iter().copied())
}

/// Runs `sandbox-supervisor ARGS` as nobody without capabilities ([`Launch::nobody`]).
pub fn run_as_nobody(args: &[&str]) -> Outcome {
    run_supervisor(&Launch::nobody(), args.iter().copied())
}

/// Runs `sandbox-supervisor --report FILE ARGS` (FILE in a scratch directory) started as `launch`
/// says; returns the outcome and the report, which must validate against the documented schema
/// (docs/report.schema.json, formats included).
pub fn run_with_report<I, S>(launch: &Launch, args: I) -> (Outcome, serde_json::Value)
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let dir = crate::scratch();
    let path = dir.path().join("report.json");
    let mut launch = launch.clone();
    let mut argv = launch.record_to(&path, None);
    argv.extend(args.into_iter().map(Into::into));
    let outcome = run_supervisor(&launch, argv);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("no report ({err}):\n{}", outcome.stderr));
    let report: serde_json::Value = serde_json::from_str(last_record(&text))
        .unwrap_or_else(|err| panic!("the file is not one JSON document ({err}):\n{text}"));
    crate::validate_report(&report);
    (outcome, report)
}

/// A child killed (SIGKILL) and reaped when dropped, so that a failed assertion leaves no
/// sandbox behind (the sandbox dies with its supervisor).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command`, retrying while a staged binary is busy (see [`output_of`]).
pub fn spawn(command: &mut Command) -> Child {
    for _ in 0..100 {
        match command.spawn() {
            Err(err) if err.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.expect("start the command"),
        }
    }
    panic!("the staged binary stayed busy")
}

/// Runs `command` to completion and asserts that it succeeded (the failure shows both outputs).
pub fn run_ok(command: &mut Command) -> std::process::Output {
    let output = output_of(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
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

/// A shell command for the workload that writes `ran` to `marker` and then runs `then`; the
/// marker's directory is named the workload's workspace (`--workspace`), the one place it may
/// write on the host.
pub fn marked(marker: &Path, then: &str) -> Vec<String> {
    vec![
        "--workspace".to_owned(),
        marker
            .parent()
            .expect("a marker in a directory")
            .display()
            .to_string(),
        "--".to_owned(),
        "sh".to_owned(),
        "-c".to_owned(),
        format!("echo ran > '{}'; {then}", marker.display()),
    ]
}
