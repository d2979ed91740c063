//! Exit codes of the `sandbox-supervisor` binary: [`ExitCode`], the one table from which
//! `--help` and the man page are generated and against which the README's table is checked.
//!
//! Besides these, the binary passes on the workload's own exit code, or 128+N when signal N
//! killed it or stopped the boot. Every code the supervisor produces itself comes with exactly one
//! line on standard error that starts with `sandbox-supervisor: error:`.

/// An exit code the supervisor produces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ExitCode {
    /// Usage error: bad flag or value, unreadable or broken configuration, profile, `--user` or
    /// report destination.
    Usage = 2,
    /// Plugin load or ABI error.
    PluginLoad = 118,
    /// Plugin failure.
    PluginFailure = 119,
    /// A step was refused and the strict default aborted.
    RefusedStrict = 120,
    /// A step was refused and the plugin's verdict aborted.
    RefusedByPlugin = 121,
    /// A step no handler may tolerate failed (session, capabilities, privilege drop, NNP).
    NeverTolerable = 122,
    /// A step reported success but verification shows it did not take effect.
    Verification = 123,
    /// The workload ran past `--timeout` and was stopped (timeout(1)'s code).
    TimedOut = 124,
    /// The supervisor itself failed.
    Internal = 125,
    /// The command was found but is not executable.
    NotExecutable = 126,
    /// The command was not found.
    NotFound = 127,
}

/// One row of the exit-code table.
struct ExitRow {
    code: ExitCode,
    /// The short text of `--help` and the man page.
    help: &'static str,
    /// The README's text (Markdown).
    readme: &'static str,
}

/// The table, in code order.
const EXIT_CODES: [ExitRow; 11] = [
    ExitRow {
        code: ExitCode::Usage,
        help: "usage error (flag, value, configuration, profile, --user, --uid-range, a view path, report destination)",
        readme: "usage error: bad flag or value, unreadable or broken configuration, seccomp profile, `--uid-range` (not `FIRST-LAST` with 1 <= FIRST <= LAST <= 4294967294), `--user` (uid or gid 0 without `--allow-root`, a host-power group without `--allow-group`; uid 0 or `--cap-add` without an enforced filesystem view or without a mount namespace, disabled or tolerated), a `--workspace`, `--bind` or `--mask` path (relative, a symbolic link in it, missing, a bind of a kernel pseudo-filesystem such as the host's `/proc`, `/sys` or `/dev`; a bind destination beneath `/tmp`, `/var/tmp`, `/run`, `/dev`, `/proc` or `/sys`, or a `--mask` beneath `/tmp`, `/var/tmp`, `/run` or `/dev`, which the view mounts anew), a view option without a view (`--mask`, `--bind`, `--ro-bind`, `--workspace`, `--tmpfs-size` with `--fs host-rw` or a disabled view), report or findings destination (one the workload could rewrite or replace included), a caller without a capability the sandbox needs (`CAP_KILL` for a workload of another uid)",
    },
    ExitRow {
        code: ExitCode::PluginLoad,
        help: "plugin load or ABI error",
        readme: "plugin load or ABI error (missing, untrusted, not a plugin, built for another ABI, digest mismatch)",
    },
    ExitRow {
        code: ExitCode::PluginFailure,
        help: "plugin failure (init, panic, thread, bad or undeclared verdict)",
        readme: "plugin failure (init rejected its configuration, a panic, a thread or process, a missed `--handler-timeout`, an out-of-range or undeclared verdict)",
    },
    ExitRow {
        code: ExitCode::RefusedStrict,
        help: "a hardening step was refused and the strict default aborted",
        readme: "a hardening step was refused and the strict default aborted",
    },
    ExitRow {
        code: ExitCode::RefusedByPlugin,
        help: "a hardening step was refused and the plugin's verdict aborted",
        readme: "a hardening step was refused and the plugin's verdict aborted",
    },
    ExitRow {
        code: ExitCode::NeverTolerable,
        help: "a step no handler may tolerate failed (session, rlimits, capabilities, ids, no_new_privs)",
        readme: "a step no handler may tolerate failed: the session, the resource limits, the capability drop, the privilege drop, no_new_privs",
    },
    ExitRow {
        code: ExitCode::Verification,
        help: "a step reported success but verification shows it did not take effect",
        readme: "a step reported success but verification shows it did not take effect",
    },
    ExitRow {
        code: ExitCode::TimedOut,
        help: "the workload ran past --timeout and was stopped",
        readme: "the workload ran past `--timeout` and was stopped (SIGTERM, then SIGKILL after `--kill-after`)",
    },
    ExitRow {
        code: ExitCode::Internal,
        help: "the supervisor itself failed, or no uid of --uid-range was free",
        readme: "the supervisor itself failed (clone, pipe, wait, not single-threaded, writing the report or findings), a step, or the opening of a path, report destination or user the operator named, failed for want of memory, processes or descriptors (`ENOMEM`, `EAGAIN`, `EMFILE`, `ENFILE`: never asked of a handler, never a usage error), no uid of `--uid-range` was free for a root caller's workload (or the uid lock directory is unsafe: a symbolic link, not root's, open to others; or `/proc` could not be read whole to prove one free; or a uid's `flock` answered success without locking), a descriptor the caller left open could not be marked close-on-exec (or `/proc/self/fd` not listed whole), or the sandbox did not get ready within 10 s",
    },
    ExitRow {
        code: ExitCode::NotExecutable,
        help: "the command is not executable",
        readme: "the command is not executable",
    },
    ExitRow {
        code: ExitCode::NotFound,
        help: "the command was not found",
        readme: "the command was not found",
    },
];

impl ExitCode {
    /// Every code, in numeric order.
    pub const ALL: [ExitCode; EXIT_CODES.len()] = {
        let mut all = [ExitCode::Usage; EXIT_CODES.len()];
        let mut index = 0;
        while index < EXIT_CODES.len() {
            all[index] = EXIT_CODES[index].code;
            index += 1;
        }
        all
    };

    /// The number the process exits with.
    pub const fn code(self) -> i32 {
        self as i32
    }

    fn row(self) -> &'static ExitRow {
        EXIT_CODES
            .iter()
            .find(|row| row.code == self)
            .expect("every code has a row")
    }

    /// The short text of `--help` and the man page.
    pub fn help(self) -> &'static str {
        self.row().help
    }

    /// The README's text.
    pub fn readme(self) -> &'static str {
        self.row().readme
    }
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> Self {
        code.code()
    }
}

/// The "Exit status" text at the end of `--help` and in the man page, generated from
/// [`ExitCode`].
pub fn exit_status_help() -> String {
    let mut text = String::from(
        "Exit status:\n  the workload's  the workload exited with this code\n  128+N           the workload was killed by signal N, or signal N stopped the boot",
    );
    for code in ExitCode::ALL {
        text.push_str(&format!("\n  {:<15} {}", code.code(), code.help()));
    }
    text
}

/// `err` and its sources joined with `: ` on one line.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line.replace('\n', " ")
}

/// Prints `err` and its sources as one line on standard error.
pub fn print_error(err: &dyn std::error::Error) {
    eprintln!("sandbox-supervisor: error: {}", one_line(err));
}

/// The fatal line in `--log-format json`: one JSON object shaped like the log events
/// (`timestamp`, `level` `ERROR`, `fields`), with `message` the text line's message (without the
/// `sandbox-supervisor: error: ` prefix), `exit_code`, and for a refusal `step`, `decision`,
/// `errno` and `decider`.
pub fn json_line(
    message: &str,
    code: i32,
    refusal: Option<&crate::error::RefusalFields>,
) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("message".into(), message.into());
    fields.insert("exit_code".into(), code.into());
    if let Some(refusal) = refusal {
        fields.insert("step".into(), refusal.step.into());
        fields.insert("decision".into(), refusal.decision.into());
        fields.insert("errno".into(), refusal.errno.into());
        fields.insert(
            "errno_name".into(),
            refusal.errno.map(crate::handler::errno_name).into(),
        );
        fields.insert("decider".into(), refusal.decider.as_str().into());
    }
    let mut line = serde_json::json!({
        "timestamp": crate::record::Timestamp::now().to_string(),
        "level": "ERROR",
        "fields": fields,
    });
    // The run's span, as on every other line of the run.
    if let Some(run) = crate::record::current_run() {
        let mut span = serde_json::json!({"name": "run", "run_id": run.run_id});
        if let Some(node) = &run.node_name {
            span["node"] = node.as_str().into();
        }
        if !run.labels.is_empty() {
            span["labels"] = run.labels.as_str().into();
        }
        line["span"] = span;
    }
    line.to_string()
}

/// Set when a thread of the supervisor ended without finishing its work (an outer filter's
/// `SECCOMP_RET_KILL_THREAD`): it may have died holding a lock of the C library or of the dynamic
/// loader (inside a `dlopen` of an NSS module), which `exit`'s handlers take.
pub(crate) static THREAD_LOST: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Ends the process with `code`: `exit`, or `_exit` once a thread was lost (`THREAD_LOST`),
/// whose locks `exit` would wait for forever. The error line, the report and the findings are
/// written before; standard output is flushed here.
pub fn end(code: i32) -> ! {
    if THREAD_LOST.load(std::sync::atomic::Ordering::SeqCst) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process at once; nothing runs after it.
        unsafe { libc::_exit(code) }
    }
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_code_order() {
        for (row, code) in EXIT_CODES.iter().zip(ExitCode::ALL) {
            assert_eq!(row.code, code);
        }
        assert!(ExitCode::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
    }

    /// The README's table lists exactly these codes, with these texts.
    #[test]
    fn the_readme_table_is_the_enum() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Exit codes\n")
            .nth(1)
            .expect("the README has an exit-code section");
        let rows: Vec<&str> = section
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .filter(|line| line.chars().nth(2).is_some_and(|c| c.is_ascii_digit()))
            .filter(|line| !line.starts_with("| 128+N"))
            .collect();
        let expected: Vec<String> = ExitCode::ALL
            .iter()
            .map(|code| format!("| {} | {} |", code.code(), code.readme()))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn help_lists_every_code() {
        let help = exit_status_help();
        for code in ExitCode::ALL {
            assert!(
                help.contains(&format!("\n  {:<15} {}", code.code(), code.help())),
                "{code:?}"
            );
        }
    }
}
