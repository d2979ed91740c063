//! The refusal matrix: real environments that refuse hardening calls, times every handler.
//!
//! Environments (all created by the test itself):
//! - `unprivileged`: the supervisor runs as uid 65534 with no capabilities; the kernel answers
//!   `unshare(CLONE_NEWNET)` with EPERM.
//! - `outer-netns`, `outer-seccomp`, `outer-all`: the supervisor runs as root under an outer
//!   seccomp filter (the `outer-seccomp` helper, like a container runtime's profile) that answers
//!   EPERM to `unshare`/`clone` with `CLONE_NEWNET`, to `seccomp(SET_MODE_FILTER)` and
//!   `prctl(PR_SET_SECCOMP)`, or to both.
//! - `gvisor-root`, `gvisor-unprivileged`: the supervisor runs inside gVisor (`runsc do`), as root
//!   and as uid 65534.
//!
//! For every cell the test asserts from outside: the exit code, the one error line or the WARN
//! lines (step, call, errno, decider), whether the workload ran (a marker line it prints first), and what the
//! workload really has: its network namespace against the launcher's, the workload filter (does
//! `memfd_create` fail with EPERM?), and the supervisor's prelude (its seccomp filter count).

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

use sandbox_tests::{
    helper_bin, is_root, plugin, scratch, skip_or_fail, status_field, supervisor_bin, write_file,
    AS_NOBODY,
};

use Env::*;
use Handler::*;
use Kind::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    Unprivileged,
    OuterNetns,
    OuterSeccomp,
    OuterAll,
    GvisorRoot,
    GvisorUnprivileged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Netns,
    Prelude,
    Workload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Strict,
    OuterSandbox,
    /// `policy` tolerating exactly this kind for EPERM.
    Policy(Kind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The workload ran; these steps were refused and tolerated (a WARN each, in boot order).
    Ran(&'static [Kind]),
    /// Aborted at this step with this exit code; the workload never ran.
    Aborted(Kind, i32),
}

use Expect::*;

/// Binds `\0NAME`, leaves a child holding it for 15 s, then execs the rest of the arguments.
const LISTENER: &str = r#"
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1]); s.listen(1)
if os.fork() == 0:
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 1); os.dup2(null, 2)
    time.sleep(15)
    os._exit(0)
os.execvp(sys.argv[2], sys.argv[2:])
"#;

/// Prints `netns-shared` when `\0NAME` is reachable, `netns-isolated` otherwise.
const CONNECT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0" + sys.argv[1]); print("netns-shared")
except OSError:
    print("netns-isolated")
"#;

const STRICT: i32 = 120;
const MARKER: &str = "workload-ran";
const BY_PLUGIN: i32 = 121;

/// environment x handler -> expected outcome.
#[rustfmt::skip]
const MATRIX: &[(Env, Handler, Expect)] = &[
    (Unprivileged,       Strict,           Aborted(Netns, STRICT)),
    (Unprivileged,       OuterSandbox,     Ran(&[Netns])),
    (Unprivileged,       Policy(Netns),    Ran(&[Netns])),
    (Unprivileged,       Policy(Prelude),  Aborted(Netns, BY_PLUGIN)),
    (Unprivileged,       Policy(Workload), Aborted(Netns, BY_PLUGIN)),

    (OuterNetns,         Strict,           Aborted(Netns, STRICT)),
    (OuterNetns,         OuterSandbox,     Ran(&[Netns])),
    (OuterNetns,         Policy(Netns),    Ran(&[Netns])),
    (OuterNetns,         Policy(Prelude),  Aborted(Netns, BY_PLUGIN)),
    (OuterNetns,         Policy(Workload), Aborted(Netns, BY_PLUGIN)),

    (OuterSeccomp,       Strict,           Aborted(Prelude, STRICT)),
    (OuterSeccomp,       OuterSandbox,     Ran(&[Prelude, Workload])),
    (OuterSeccomp,       Policy(Netns),    Aborted(Prelude, BY_PLUGIN)),
    (OuterSeccomp,       Policy(Prelude),  Aborted(Workload, BY_PLUGIN)),
    (OuterSeccomp,       Policy(Workload), Aborted(Prelude, BY_PLUGIN)),

    (OuterAll,           Strict,           Aborted(Netns, STRICT)),
    (OuterAll,           OuterSandbox,     Ran(&[Netns, Prelude, Workload])),
    (OuterAll,           Policy(Netns),    Aborted(Prelude, BY_PLUGIN)),
    (OuterAll,           Policy(Prelude),  Aborted(Netns, BY_PLUGIN)),
    (OuterAll,           Policy(Workload), Aborted(Netns, BY_PLUGIN)),

    (GvisorRoot,         Strict,           Ran(&[])),
    (GvisorRoot,         OuterSandbox,     Ran(&[])),
    (GvisorRoot,         Policy(Netns),    Ran(&[])),
    (GvisorRoot,         Policy(Prelude),  Ran(&[])),
    (GvisorRoot,         Policy(Workload), Ran(&[])),

    (GvisorUnprivileged, Strict,           Aborted(Netns, STRICT)),
    (GvisorUnprivileged, OuterSandbox,     Ran(&[Netns])),
    (GvisorUnprivileged, Policy(Netns),    Ran(&[Netns])),
    (GvisorUnprivileged, Policy(Prelude),  Aborted(Netns, BY_PLUGIN)),
    (GvisorUnprivileged, Policy(Workload), Aborted(Netns, BY_PLUGIN)),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Netns => "network-namespace",
            Prelude => "supervisor-seccomp",
            Workload => "workload-seccomp",
        }
    }

    /// The call named in the error or WARN line, and its errno.
    fn call(self) -> &'static str {
        match self {
            Netns => "unshare(CLONE_NEWNET) failed with EPERM",
            Prelude | Workload => "seccomp(SECCOMP_SET_MODE_FILTER) failed with EPERM",
        }
    }
}

impl Env {
    fn name(self) -> &'static str {
        match self {
            Unprivileged => "unprivileged",
            OuterNetns => "outer-netns",
            OuterSeccomp => "outer-seccomp",
            OuterAll => "outer-all",
            GvisorRoot => "gvisor-root",
            GvisorUnprivileged => "gvisor-unprivileged",
        }
    }

    fn gvisor(self) -> bool {
        matches!(self, GvisorRoot | GvisorUnprivileged)
    }

    /// Seccomp filters the environment itself puts on the supervisor.
    fn outer_filters(self) -> usize {
        match self {
            OuterNetns | OuterSeccomp | OuterAll => 1,
            _ => 0,
        }
    }

    /// The launcher: binds an abstract unix socket named `probe` in its network namespace (held by
    /// a forked child for a few seconds), then execs the supervisor. Abstract socket names are per
    /// network namespace, so the workload reaches `probe` exactly when it shares the launcher's
    /// namespace. (Namespace inodes cannot be compared under gVisor: its `/proc/PID/ns/net` gives a
    /// new number at every read.)
    fn launcher(self, probe: &str) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if self.gvisor() {
            argv.extend(["runsc", "--network=none", "do"].map(OsString::from));
        }
        argv.extend(["python3", "-c", LISTENER, probe].map(OsString::from));
        if matches!(self, Unprivileged | GvisorUnprivileged) {
            argv.extend(AS_NOBODY.map(OsString::from));
        }
        let refuses = match self {
            OuterNetns => Some("netns"),
            OuterSeccomp => Some("seccomp"),
            OuterAll => Some("netns,seccomp"),
            _ => None,
        };
        if let Some(refuses) = refuses {
            argv.push(helper_bin("outer-seccomp").into());
            argv.push(refuses.into());
            argv.push("--".into());
        }
        argv.push(supervisor_bin().into());
        argv
    }
}

fn handler_flags(handler: Handler, dir: &std::path::Path) -> Vec<OsString> {
    let (package, config) = match handler {
        Strict => return Vec::new(),
        OuterSandbox => ("sandbox-plugin-outer-sandbox", None),
        Policy(kind) => (
            "sandbox-plugin-policy",
            Some(format!(
                r#"{{"tolerate": {{"{}": ["EPERM"]}}}}"#,
                kind.name()
            )),
        ),
    };
    let mut flags: Vec<OsString> = vec!["--handler-plugin".into(), plugin(package).into()];
    if let Some(config) = config {
        flags.push("--handler-config".into());
        flags.push(write_file(dir, "policy.json", &config).into());
    }
    flags
}

/// What one cell showed.
#[derive(Debug)]
struct Observed {
    code: i32,
    ran: bool,
    stdout: String,
    stderr: String,
}

fn run_cell(env: Env, handler: Handler) -> Observed {
    let dir = scratch();
    let probe = helper_bin("syscall-probe");
    // The marker is a line on standard output: gVisor's file system is an overlay whose writes the
    // host never sees.
    let probe_name = format!(
        "sandbox-supervisor-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let script = format!(
        "echo {MARKER}; python3 -c '{CONNECT}' {probe_name}; \
         grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status; \
         grep -E '^Seccomp_filters:' /proc/$PPID/status | sed 's/^/supervisor-/'; \
         exec {probe} denied",
        probe = probe.display(),
    );
    let mut argv = env.launcher(&probe_name);
    argv.extend(handler_flags(handler, dir.path()));
    argv.extend(["--", "sh", "-c", &script].map(OsString::from));
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .expect("start the launcher");
    Observed {
        code: output.status.code().unwrap_or(-1),
        ran: String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line == MARKER),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn line_value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

fn check_cell(env: Env, handler: Handler, expect: Expect, seen: &Observed) -> Result<(), String> {
    let error_lines: Vec<&str> = seen
        .stderr
        .lines()
        .filter(|line| line.starts_with("sandbox-supervisor: error:"))
        .collect();
    let warns: Vec<&str> = seen
        .stderr
        .lines()
        .filter(|line| line.contains(" WARN "))
        .collect();
    let decider = match handler {
        Strict => "strict".to_owned(),
        OuterSandbox => "plugin:outer-sandbox@0.1.0".to_owned(),
        Policy(_) => "plugin:policy@0.1.0".to_owned(),
    };
    let fail = |what: String| {
        Err(format!(
            "{what}\nstdout:\n{}\nstderr:\n{}",
            seen.stdout, seen.stderr
        ))
    };
    match expect {
        Aborted(kind, code) => {
            if seen.code != code {
                return fail(format!("exit code {} (expected {code})", seen.code));
            }
            if seen.ran {
                return fail("the workload ran".to_owned());
            }
            let expected = format!("{} refused: {}", kind.name(), kind.call());
            if error_lines.len() != 1 || !error_lines[0].contains(&expected) {
                return fail(format!("expected one error line with {expected:?}"));
            }
            if !error_lines[0].ends_with(&format!("aborted by {decider}")) {
                return fail(format!(
                    "expected the error line to end with 'aborted by {decider}'"
                ));
            }
        }
        Ran(tolerated) => {
            if seen.code != 0 || !seen.ran {
                return fail(format!(
                    "exit code {}, ran {} (expected 0, true)",
                    seen.code, seen.ran
                ));
            }
            if warns.len() != tolerated.len() {
                return fail(format!(
                    "{} WARN lines (expected {})",
                    warns.len(),
                    tolerated.len()
                ));
            }
            for (warn, kind) in warns.iter().zip(tolerated) {
                if !warn.contains(kind.call()) || !warn.contains(&format!("decider={decider}")) {
                    return fail(format!(
                        "WARN line does not name {} and {decider}: {warn}",
                        kind.call()
                    ));
                }
            }
            // What the workload really has: a tolerated step is missing, every other step is there.
            let isolated = seen.stdout.lines().any(|line| line == "netns-isolated");
            let shared = seen.stdout.lines().any(|line| line == "netns-shared");
            if isolated == shared || isolated == tolerated.contains(&Netns) {
                return fail(
                    "the workload's network namespace is not what the outcome says".to_owned(),
                );
            }
            let filtered = line_value(&seen.stdout, "memfd_create ") == Some("EPERM");
            if filtered == tolerated.contains(&Workload) {
                return fail("the workload filter is not what the outcome says".to_owned());
            }
            if !env.gvisor() {
                // gVisor's /proc/PID/status has neither NoNewPrivs nor Seccomp_filters.
                if status_field(&seen.stdout, "NoNewPrivs") != Some("1") {
                    return fail("the workload lacks NoNewPrivs".to_owned());
                }
                let prelude = usize::from(!tolerated.contains(&Prelude));
                let expected = (env.outer_filters() + prelude).to_string();
                if line_value(&seen.stdout, "supervisor-Seccomp_filters:")
                    != Some(expected.as_str())
                {
                    return fail(format!(
                        "the supervisor should have {expected} seccomp filters"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn runsc_available() -> bool {
    Command::new("runsc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn run_matrix(envs: &[Env]) {
    let mut failures = Vec::new();
    let mut table = String::from("| environment | handler | outcome |\n|---|---|---|\n");
    for &(env, handler, expect) in MATRIX.iter().filter(|(env, _, _)| envs.contains(env)) {
        let seen = run_cell(env, handler);
        let outcome = match seen
            .stderr
            .lines()
            .find(|line| line.starts_with("sandbox-supervisor: error:"))
        {
            Some(line) => format!(
                "exit {}: {}",
                seen.code,
                line.trim_start_matches("sandbox-supervisor: error: ")
            ),
            None => format!(
                "exit {}, workload ran: {}; {} WARN",
                seen.code,
                seen.ran,
                seen.stderr
                    .lines()
                    .filter(|line| line.contains(" WARN "))
                    .count()
            ),
        };
        table.push_str(&format!("| {} | {handler:?} | {outcome} |\n", env.name()));
        if let Err(why) = check_cell(env, handler, expect, &seen) {
            failures.push(format!(
                "{} x {handler:?} (expected {expect:?}): {why}",
                env.name()
            ));
        }
    }
    // The measured table, for docs/refusals.md.
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn matrix_unprivileged_and_outer_seccomp() {
    if !is_root() {
        skip_or_fail(
            "needs root (to start the supervisor as another user and under outer filters)",
        );
        return;
    }
    run_matrix(&[Unprivileged, OuterNetns, OuterSeccomp, OuterAll]);
}

#[test]
fn matrix_gvisor() {
    if !is_root() {
        skip_or_fail("needs root (runsc do)");
        return;
    }
    if !runsc_available() {
        skip_or_fail("needs gVisor's runsc (Debian package runsc)");
        return;
    }
    run_matrix(&[GvisorRoot, GvisorUnprivileged]);
}

/// A tolerated refusal of one step never weakens a step the kernel allowed: with only the network
/// namespace refused, the workload filter denies exactly what it denies on a clean host.
#[test]
fn tolerating_netns_leaves_the_workload_filter_whole() {
    if !is_root() {
        skip_or_fail("needs root (to start the supervisor under an outer filter)");
        return;
    }
    let denied = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|line| line.ends_with(" EPERM") || line.ends_with(" ENOSYS"))
            .map(str::to_owned)
            .collect()
    };
    let clean_host = sandbox_tests::run_supervisor(
        &sandbox_tests::Launch::default(),
        [
            OsString::from("--"),
            helper_bin("syscall-probe").into(),
            "denied".into(),
        ],
    );
    assert_eq!(clean_host.code, 0, "{}", clean_host.stderr);
    let netns_refused = run_cell(OuterNetns, OuterSandbox);
    assert_eq!(netns_refused.code, 0, "{}", netns_refused.stderr);
    assert!(
        denied(&clean_host.stdout).len() > 30,
        "{}",
        clean_host.stdout
    );
    assert_eq!(denied(&netns_refused.stdout), denied(&clean_host.stdout));
}
