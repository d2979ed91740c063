//! The command line of the `sandbox-supervisor` binary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::run::RunOptions;

/// Run COMMAND behind a network namespace, seccomp filters and a verified privilege drop.
///
/// Without --handler-plugin every refused hardening step aborts before COMMAND runs.
#[derive(Debug, Parser)]
#[command(name = "sandbox-supervisor", version)]
pub struct Cli {
    /// Absolute path of a failure-handler plugin (a shared object) that decides, per refused
    /// hardening step, whether to abort or go on without that protection.
    #[arg(long, value_name = "PATH")]
    pub handler_plugin: Option<PathBuf>,

    /// JSON configuration handed to the plugin's init; the plugin may reject it.
    #[arg(long, value_name = "FILE", requires = "handler_plugin")]
    pub handler_config: Option<PathBuf>,

    /// Refuse the plugin unless its SHA-256 digest is this (64 hexadecimal digits).
    #[arg(long, value_name = "HEX", requires = "handler_plugin", value_parser = crate::plugin::parse_sha256)]
    pub handler_plugin_sha256: Option<[u8; 32]>,

    /// Run COMMAND as this user (and group); supplementary groups come from the group database.
    #[arg(long, value_name = "NAME|UID[:GROUP|GID]")]
    pub user: Option<String>,

    /// Replace the built-in workload filter with the filter named "workload" in this seccompiler
    /// JSON profile.
    #[arg(long, value_name = "FILE")]
    pub seccomp_profile: Option<PathBuf>,

    /// Log level (error, warn, info, debug, trace) or a tracing filter; default: RUST_LOG, else info.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The workload and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// The log filter could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("failed to parse log level {0:?}")]
pub struct LogLevelError(String, #[source] tracing_subscriber::filter::ParseError);

impl Cli {
    /// Installs the tracing subscriber (standard error).
    pub fn init_logging(&self) -> Result<(), LogLevelError> {
        let filter = match (&self.log_level, std::env::var("RUST_LOG")) {
            (Some(level), _) => {
                EnvFilter::try_new(level).map_err(|err| LogLevelError(level.clone(), err))?
            }
            (None, Ok(env)) if !env.is_empty() => {
                EnvFilter::try_new(&env).map_err(|err| LogLevelError(env.clone(), err))?
            }
            (None, _) => EnvFilter::new("info"),
        };
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        match self.log_format {
            LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
            LogFormat::Json => builder.json().init(),
        }
        Ok(())
    }

    /// The library's view of this command line.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            handler_plugin: self.handler_plugin.clone(),
            handler_config: self.handler_config.clone(),
            handler_plugin_sha256: self.handler_plugin_sha256,
            user: self.user.clone(),
            seccomp_profile: self.seccomp_profile.clone(),
            command: self.command.clone(),
        }
    }
}
