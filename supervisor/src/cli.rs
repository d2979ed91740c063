//! The command line of the `sandbox-supervisor` binary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::fd::RawFd;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::report::ReportSink;
use crate::run::RunOptions;

/// Run COMMAND behind a network namespace, seccomp filters and a verified privilege drop.
///
/// Without --handler-plugin every refused hardening step aborts before COMMAND runs.
#[derive(Debug, Parser)]
#[command(
    name = "sandbox-supervisor",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Check a host without running a workload.
    #[command(subcommand)]
    pub subcommand: Option<Command>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub handler: HandlerArgs,

    /// Run COMMAND as this user (and group); supplementary groups come from the group database.
    #[arg(long, value_name = "NAME|UID[:GROUP|GID]")]
    pub user: Option<String>,

    /// Replace the built-in workload filter with the filter named "workload" in this seccompiler
    /// JSON profile.
    #[arg(long, value_name = "FILE")]
    pub seccomp_profile: Option<PathBuf>,

    /// Write the JSON hardening report to FILE (mode 0600) before the workload execs, or when the
    /// boot stops.
    #[arg(long, value_name = "FILE", conflicts_with = "report_fd")]
    pub report: Option<PathBuf>,

    /// Write the JSON hardening report to this open descriptor (3 or above), then close it.
    #[arg(long, value_name = "N", value_parser = parse_report_fd)]
    pub report_fd: Option<RawFd>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub logging: LogArgs,

    /// The workload and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The failure-handler flags, shared by a run and `probe`.
#[derive(Debug, Clone, Args)]
pub struct HandlerArgs {
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

    /// Deadline for the plugin to load (constructors, init, tolerates) and for each of its
    /// decisions; past it the supervisor stops with the plugin-failure code (119). Default: 5.
    #[arg(long, value_name = "SECONDS", requires = "handler_plugin", value_parser = crate::plugin::parse_timeout)]
    pub handler_timeout: Option<std::time::Duration>,
}

/// Logging flags, accepted before or after a subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log level (error, warn, info, debug, trace) or a tracing filter; default: RUST_LOG, else info.
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,

    /// Log line format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try every hardening step in a throwaway child on this host and print what the host allows
    /// and what the configured handler would decide. Exits 0 when a real run would boot.
    Probe(ProbeArgs),
    /// Ask a plugin about made-up refusals (KIND=ERRNO) with a made-up context, without root and
    /// without hardening anything, and print its decisions. For plugin authors' tests.
    Simulate(SimulateArgs),
}

/// `simulate` flags.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Absolute path of the plugin to ask.
    #[arg(long, value_name = "PATH")]
    pub handler_plugin: PathBuf,

    /// JSON configuration handed to the plugin's init.
    #[arg(long, value_name = "FILE")]
    pub handler_config: Option<PathBuf>,

    /// Refuse the plugin unless its SHA-256 digest is this (64 hexadecimal digits).
    #[arg(long, value_name = "HEX", value_parser = crate::plugin::parse_sha256)]
    pub handler_plugin_sha256: Option<[u8; 32]>,

    /// Deadline for loading and for each decision, in seconds. Default: 5.
    #[arg(long, value_name = "SECONDS", value_parser = crate::plugin::parse_timeout)]
    pub handler_timeout: Option<std::time::Duration>,

    /// Change the made-up environment context (it starts as a plain host): gvisor=true,
    /// container=CLUE, threads=N, uid=N, effective_capabilities=HEX, supervisor_version=V,
    /// plugin_api_version=V. Repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,

    /// Print the decisions as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The refusals to ask about: KIND=ERRNO, comma-separated or repeated
    /// (network-namespace=EPERM,workload-seccomp=EINVAL).
    #[arg(required = true, value_name = "KIND=ERRNO")]
    pub refusals: Vec<String>,
}

impl SimulateArgs {
    /// The library's view of these flags.
    pub fn options(&self) -> crate::simulate::SimulateOptions {
        crate::simulate::SimulateOptions {
            handler_plugin: self.handler_plugin.clone(),
            handler_config: self.handler_config.clone(),
            handler_plugin_sha256: self.handler_plugin_sha256,
            handler_timeout: self.handler_timeout,
            refusals: self.refusals.clone(),
            context: self.context.clone(),
        }
    }
}

/// `probe` flags.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub handler: HandlerArgs,

    /// Also try dropping to this user, as a run with --user would.
    #[arg(long, value_name = "NAME|UID[:GROUP|GID]")]
    pub user: Option<String>,

    /// Print the result as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

fn parse_report_fd(text: &str) -> Result<RawFd, String> {
    let fd: RawFd = text
        .parse()
        .map_err(|_| format!("{text:?} is not a descriptor number"))?;
    if fd < 3 {
        return Err(
            "the report descriptor must be 3 or above (0, 1 and 2 are the workload's)".to_owned(),
        );
    }
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
        .map_err(|errno| format!("descriptor {fd} is not open ({errno})"))?;
    Ok(fd)
}

/// The log filter could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("failed to parse log level {0:?}")]
pub struct LogLevelError(String, #[source] tracing_subscriber::filter::ParseError);

impl LogArgs {
    /// Installs the tracing subscriber (standard error).
    pub fn init(&self) -> Result<(), LogLevelError> {
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
}

impl Cli {
    /// The library's view of this command line (for a run, not `probe`).
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            handler_plugin: self.handler.handler_plugin.clone(),
            handler_config: self.handler.handler_config.clone(),
            handler_plugin_sha256: self.handler.handler_plugin_sha256,
            handler_timeout: self.handler.handler_timeout,
            user: self.user.clone(),
            seccomp_profile: self.seccomp_profile.clone(),
            command: self.command.clone(),
            report: match (&self.report, self.report_fd) {
                (Some(path), _) => Some(ReportSink::File(path.clone())),
                (None, Some(fd)) => Some(ReportSink::Fd(fd)),
                (None, None) => None,
            },
        }
    }
}
