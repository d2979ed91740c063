//! What to run and how: the library's form of the command line, at the bottom of the crate
//! (every layer reads it; it imports nothing above it).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::record::ReportSink;
use crate::steps::Step;

/// An operator's file that decided something about a run, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileDigest {
    /// The path, as given.
    pub path: String,
    /// The SHA-256 of the bytes that were read, in lowercase hexadecimal.
    pub sha256: String,
}

/// What to run and how; the library's form of the command line.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// `--config`: the file the flags were merged from, as read.
    pub config: Option<FileDigest>,
    /// `--handler-plugin`.
    pub handler_plugin: Option<PathBuf>,
    /// `--handler-config`.
    pub handler_config: Option<PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--handler-timeout` (default 5 s).
    pub handler_timeout: Option<std::time::Duration>,
    /// `--outer-boundary`: the outer boundary the operator declares, for the handler and the
    /// report.
    pub outer_boundary: Option<crate::handler::context::OuterBoundary>,
    /// `--node-name` (else `$NODE_NAME`): the node as the orchestrator names it.
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`, in order (a later KEY replaces an earlier one).
    pub labels: Vec<(String, String)>,
    /// `--user`.
    pub user: Option<String>,
    /// `--allow-root`: the workload may run as uid 0 or gid 0 (still without capabilities).
    pub allow_root: bool,
    /// `--allow-group`: host-power groups the workload of `--user` may hold, by name.
    pub allow_groups: Vec<String>,
    /// `--seccomp-profile`.
    pub seccomp_profile: Option<PathBuf>,
    /// `--seccomp-profile-replaces-builtin`: install the profile without the built-in filter.
    pub seccomp_profile_replaces_builtin: bool,
    /// `--cap-add`: capabilities the workload keeps, by number.
    pub cap_add: Vec<u32>,
    /// `--no-userns`: never take the user-namespace route.
    pub no_userns: bool,
    /// `--disable-step`: tolerable steps the operator turns off.
    pub disabled_steps: Vec<Step>,
    /// `--clear-env`: the workload starts with an empty environment (plus `env`).
    pub clear_env: bool,
    /// `--env KEY=VALUE`, in order.
    pub env: Vec<OsString>,
    /// The workload and its arguments.
    pub command: Vec<OsString>,
    /// `--report` or `--report-fd`.
    pub report: Option<ReportSink>,
    /// `--report-argv`: the report lists the workload's whole argv, not only `argv[0]`.
    pub report_argv: bool,
    /// `--findings`: OCSF findings, one per tolerated or aborting refusal.
    pub findings: Option<ReportSink>,
    /// `--fs`, `--workspace`, `--bind`, `--ro-bind`, `--mask`, `--tmpfs-size`.
    pub view: crate::view::ViewOptions,
    /// `--pids-max`, `--memory-max`, `--cpus`: the sandbox's control group.
    pub limits: crate::steps::cgroup::Limits,
    /// `--rlimit NAME=SOFT[:HARD]`, in order.
    pub rlimits: Vec<crate::steps::rlimits::Request>,
    /// `--timeout`: wall clock from the release of the workload.
    pub timeout: Option<std::time::Duration>,
    /// `--kill-after` (default [`crate::sandbox::supervise::DEFAULT_KILL_AFTER`]).
    pub kill_after: Option<std::time::Duration>,
}

impl RunOptions {
    /// The workload's environment: the supervisor's (unless `clear_env`), then every `--env`.
    pub fn workload_env(&self) -> Vec<OsString> {
        use std::os::unix::ffi::OsStrExt;
        let mut env: Vec<OsString> = if self.clear_env {
            Vec::new()
        } else {
            std::env::vars_os()
                .map(|(key, value)| {
                    let mut entry = key;
                    entry.push("=");
                    entry.push(value);
                    entry
                })
                .collect()
        };
        for entry in &self.env {
            let key = entry
                .as_bytes()
                .split(|b| *b == b'=')
                .next()
                .unwrap_or_default();
            env.retain(|existing| {
                existing
                    .as_bytes()
                    .split(|b| *b == b'=')
                    .next()
                    .unwrap_or_default()
                    != key
            });
            env.push(entry.clone());
        }
        env
    }
}

/// The names of `KEY=VALUE` entries.
pub(crate) fn env_names(env: &[OsString]) -> Vec<String> {
    env.iter()
        .map(|entry| {
            let text = entry.to_string_lossy();
            text.split('=').next().unwrap_or_default().to_owned()
        })
        .collect()
}
