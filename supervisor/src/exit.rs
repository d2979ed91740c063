//! Exit codes of the `sandbox-supervisor` binary.
//!
//! | code | meaning |
//! |---|---|
//! | workload's | the workload exited with this code |
//! | 128+N | the workload was killed by signal N, or signal N (TERM, INT, HUP, QUIT) stopped the boot |
//! | 2 | usage error: bad flag or value, unreadable or broken configuration, profile, `--user` or report destination |
//! | 118 | plugin load or ABI error: the plugin file is missing, untrusted, not a plugin, built for another ABI, or its digest does not match `--handler-plugin-sha256` |
//! | 119 | plugin failure: init rejected the configuration, a panic, a thread or process, a missed `--handler-timeout`, an out-of-range or undeclared verdict |
//! | 120 | a hardening step was refused and the strict default aborted |
//! | 121 | a hardening step was refused and the plugin's verdict aborted |
//! | 122 | a step no handler may tolerate failed: session, resource limits, capabilities, privilege drop, no_new_privs |
//! | 123 | a hardening step reported success but verification shows it did not take effect |
//! | 124 | the workload ran past `--timeout` and was stopped (SIGTERM, then SIGKILL after `--kill-after`) |
//! | 125 | the supervisor itself failed (clone, pipe, wait, not single-threaded, writing the report), a step failed for want of memory, processes or descriptors, or the sandbox did not get ready in time |
//! | 126 | the command was found but is not executable |
//! | 127 | the command was not found |
//!
//! Every code the supervisor produces itself comes with exactly one line on standard error that
//! starts with `sandbox-supervisor: error:`.

/// Usage error.
pub const USAGE: i32 = 2;
/// Plugin load or ABI error.
pub const PLUGIN_LOAD: i32 = 118;
/// Plugin failure.
pub const PLUGIN_FAILURE: i32 = 119;
/// Refused, aborted by the strict default.
pub const REFUSED_STRICT: i32 = 120;
/// Refused, aborted by the plugin's verdict.
pub const REFUSED_BY_PLUGIN: i32 = 121;
/// A step no handler may tolerate failed (session, capabilities, privilege drop, NNP).
pub const PRIVILEGE_DROP: i32 = 122;
/// Verification of a step failed.
pub const VERIFICATION: i32 = 123;
/// The workload ran past `--timeout` (timeout(1)'s code).
pub const TIMED_OUT: i32 = 124;
/// The supervisor itself failed.
pub const INTERNAL: i32 = 125;
/// Command not executable.
pub const NOT_EXECUTABLE: i32 = 126;
/// Command not found.
pub const NOT_FOUND: i32 = 127;

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
pub fn report(err: &dyn std::error::Error) {
    eprintln!("sandbox-supervisor: error: {}", one_line(err));
}

/// The fatal line in `--log-format json`: one JSON object shaped like the log events
/// (`timestamp`, `level` `ERROR`, `fields`), with `message` the text line's message (without the
/// `sandbox-supervisor: error: ` prefix), `exit_code`, and for a refusal `step`, `decision`,
/// `errno` and `decider`.
pub fn json_line(message: &str, code: i32, refusal: Option<&crate::run::RefusalFields>) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("message".into(), message.into());
    fields.insert("exit_code".into(), code.into());
    if let Some(refusal) = refusal {
        fields.insert("step".into(), refusal.step.into());
        fields.insert("decision".into(), refusal.decision.into());
        fields.insert("errno".into(), refusal.errno.into());
        fields.insert(
            "errno_name".into(),
            refusal.errno.map(crate::failure::errno_name).into(),
        );
        fields.insert("decider".into(), refusal.decider.clone().into());
    }
    serde_json::json!({
        "timestamp": crate::report::Timestamp::now().to_string(),
        "level": "ERROR",
        "fields": fields,
    })
    .to_string()
}
