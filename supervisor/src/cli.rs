//! The command line of the `sandbox-supervisor` binary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::options::RunOptions;
use crate::record::ReportSink;
use crate::steps::Step;

/// Run COMMAND in a sandbox: its own network, PID, IPC and mount namespaces with a fresh /proc, a new
/// session, no capabilities, a verified privilege drop and a seccomp filter.
///
/// Without --handler-plugin every refused hardening step aborts before COMMAND runs. A root caller
/// that names no --user runs COMMAND as a uid and gid of its own, allocated for the run from
/// --uid-range and owned by nothing else on the host.
#[derive(Debug, Parser)]
#[command(
    name = "sandbox-supervisor",
    version = crate::version::SUPERVISOR,
    long_version = crate::version::long(),
    subcommand_negates_reqs = true,
    after_long_help = crate::exit::exit_status_help()
)]
pub struct Cli {
    /// Check a host without running a workload.
    #[command(subcommand)]
    pub subcommand: Option<Command>,

    /// The `--config` file the flags were merged from ([`Cli::with_config`]), as read.
    #[arg(skip)]
    pub config_file: Option<crate::options::FileDigest>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub handler: HandlerArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub boot: BootArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub logging: LogArgs,

    /// The workload and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// [`Cli`]'s workload argument alone, for [`Cli::parse_run`] (the same attributes, the same id).
#[derive(Debug, Args)]
struct Workload {
    /// The workload and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// The failure-handler flags, shared by a run and `probe` (before or after the subcommand).
#[derive(Debug, Clone, Args)]
pub struct HandlerArgs {
    /// Absolute path of a failure-handler plugin (a shared object) that decides, per refused
    /// hardening step, whether to abort or go on without that protection.
    #[arg(long, value_name = "PATH", global = true)]
    pub handler_plugin: Option<PathBuf>,

    /// JSON configuration handed to the plugin's init; the plugin may reject it.
    #[arg(long, value_name = "FILE", requires = "handler_plugin", global = true)]
    pub handler_config: Option<PathBuf>,

    /// Refuse the plugin unless its SHA-256 digest is this (64 hexadecimal digits).
    #[arg(long, value_name = "HEX", requires = "handler_plugin", value_parser = crate::handler::plugin::parse_sha256, global = true)]
    pub handler_plugin_sha256: Option<[u8; 32]>,

    /// Deadline for the plugin to load (constructors, init, tolerates) and for each of its
    /// decisions; past it the supervisor stops with the plugin-failure code (119). Default: 5.
    #[arg(long, value_name = "SECONDS", requires = "handler_plugin", value_parser = crate::handler::plugin::parse_timeout, global = true)]
    pub handler_timeout: Option<std::time::Duration>,

    /// Declare the outer boundary this supervisor runs behind (gvisor, container or vm), for the
    /// failure handler (outer-sandbox tolerates only behind a declared boundary) and the report.
    /// Detected clues (/.dockerenv, KUBERNETES_SERVICE_HOST, gVisor's /proc/version) are only
    /// shown as hints; they never decide.
    #[arg(long, value_enum, value_name = "BOUNDARY", global = true)]
    pub outer_boundary: Option<crate::handler::context::OuterBoundary>,
}

/// The flags that change the boot, shared by a run and `probe` (before or after the subcommand).
#[derive(Debug, Clone, Args)]
pub struct BootArgs {
    /// Take flags from this JSON file too: each key a long flag's name without the dashes
    /// ("memory-max": "1G"), a list for a repeatable flag, true or false for a switch
    /// (docs/config.schema.json). The command line wins: its values replace the file's, and its
    /// repeated values are appended after the file's. Run and probe read the same file.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Run COMMAND as this user (and group); supplementary groups come from the group database.
    /// Default: for a root caller a uid and gid of its own, allocated for the run (--uid-range),
    /// with no supplementary group; the caller itself otherwise (the user-namespace route).
    #[arg(long, value_name = "NAME|UID[:GROUP|GID]", global = true)]
    pub user: Option<String>,

    /// Allocate a root caller's workload uid (and gid, the same number) from FIRST to LAST, both
    /// included (default 61184-65519, systemd's DynamicUser range). A uid is given only when no
    /// user or group of the user database and no process has it; it is locked under
    /// /run/sandbox-supervisor/uids while the run lasts. Exhausted: exit 125.
    #[arg(long, value_name = "FIRST-LAST", global = true)]
    pub uid_range: Option<crate::steps::identity::alloc::UidRange>,

    /// Allow the workload to run as uid 0 or gid 0 (with --user 0). It still gets no
    /// capabilities, but it owns the host's root-owned files and sockets.
    #[arg(long, global = true)]
    pub allow_root: bool,

    /// Allow the workload started with --user to hold this group although it has power over the
    /// host (root's, shadow, disk, kmem, docker, sudo, adm, or one owning a device node or socket
    /// in a directory under /dev or /run that only root may write). Repeatable.
    #[arg(long, value_name = "NAME", global = true)]
    pub allow_group: Vec<String>,

    /// Add this seccomp profile to the built-in workload filter (both are installed; the
    /// strictest action wins): Docker's format, an OCI runtime config.json (its linux.seccomp) or
    /// that object alone, or seccompiler's JSON with a filter named "workload", told apart by
    /// content.
    #[arg(long, value_name = "FILE", global = true)]
    pub seccomp_profile: Option<PathBuf>,

    /// Keep this capability in the workload (Docker's spelling: NET_BIND_SERVICE or
    /// CAP_NET_BIND_SERVICE): one of NET_BIND_SERVICE, NET_BROADCAST, IPC_LOCK, AUDIT_WRITE (the
    /// others reach the host's shared file system, ids, devices or kernel). Logged at WARN and
    /// reported. Repeatable. Without it the workload holds no capability at all.
    #[arg(long, value_name = "NAME", value_parser = crate::fixed::cap_add(), hide_possible_values = true, global = true)]
    pub cap_add: Vec<u32>,

    /// Install the --seccomp-profile without the built-in workload filter (logged at WARN and
    /// reported): only the profile's rules apply.
    #[arg(long, requires = "seccomp_profile", global = true)]
    pub seccomp_profile_replaces_builtin: bool,

    /// Never create a user namespace: an unprivileged caller's namespace refusals go straight to
    /// the failure handler.
    #[arg(long, global = true)]
    pub no_userns: bool,

    /// Turn a tolerable step off (cgroup, network-namespace, pid-namespace, mount-namespace,
    /// filesystem-view, landlock, workload-seccomp, supervisor-seccomp); logged at WARN and
    /// reported. Repeatable.
    #[arg(long, value_name = "STEP", value_parser = crate::fixed::disable_step(), hide_possible_values = true, global = true)]
    pub disable_step: Vec<Step>,

    /// Start COMMAND with an empty environment (then add each --env).
    #[arg(long, global = true)]
    pub clear_env: bool,

    /// Set this variable in COMMAND's environment. Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env, global = true)]
    pub env: Vec<OsString>,

    /// Write the JSON hardening report to FILE (mode 0600) once COMMAND has started, or when the
    /// boot stops; rewritten complete, with how COMMAND ended, when it ends. Refused where
    /// COMMAND could rewrite or replace it (use --report-fd then).
    #[arg(long, value_name = "FILE", conflicts_with = "report_fd", global = true)]
    pub report: Option<PathBuf>,

    /// Write the JSON hardening report to this open descriptor (3 or above), one line once
    /// COMMAND has started and a final line when it ends, then close it.
    #[arg(long, value_name = "N", value_parser = parse_report_fd, global = true)]
    pub report_fd: Option<RawFd>,

    /// Attach this label to the run (a job or tenant id from the orchestrator): in every record of
    /// the report, every finding and every log line (the run span). Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label, global = true)]
    pub label: Vec<(String, String)>,

    /// The node this run is on, as the orchestrator names it (in a pod, NODE_NAME from the
    /// downward API is the default): in the report, the findings and every log line.
    #[arg(long, value_name = "NAME", global = true)]
    pub node_name: Option<String>,

    /// Write one OCSF Detection Finding (JSON, one per line) per refused step that was tolerated
    /// or aborted the boot, to FILE (mode 0600, like --report) or to descriptor N (fd:N).
    #[arg(long, value_name = "FILE|fd:N", value_parser = parse_findings, global = true)]
    pub findings: Option<FindingsDest>,

    /// List COMMAND's whole argv in the report (arguments can hold secrets; by default only the
    /// program is listed).
    #[arg(long, global = true)]
    pub report_argv: bool,

    /// COMMAND's filesystem: host-ro (the host read-only, nosuid, nodev), minimal (only /usr,
    /// /bin, /sbin, /lib*, /etc, /opt of the host, read-only), or host-rw (no view: COMMAND
    /// shares the host's filesystem; logged at WARN and reported as given up). Either view adds
    /// private noexec tmpfs on /tmp, /var/tmp, /run and /dev/shm, a minimal /dev, and masks
    /// Docker's /proc and /sys paths.
    #[arg(long = "fs", value_enum, value_name = "VIEW", default_value_t = FsArg::HostRo, global = true)]
    pub fs: FsArg,

    /// Show this host directory read-write at the same path (nosuid, nodev, exec allowed): where
    /// COMMAND may keep what it writes. Repeatable.
    #[arg(long, value_name = "DIR", global = true)]
    pub workspace: Vec<PathBuf>,

    /// Show host path SRC read-write at DST (default: the same path). No symbolic link in any
    /// component; never on or above a kernel pseudo-filesystem (/proc, /sys, /dev, cgroup, ...).
    /// Repeatable.
    #[arg(long, value_name = "SRC[:DST]", value_parser = parse_bind_rw, global = true)]
    pub bind: Vec<crate::view::BindSpec>,

    /// Show host path SRC read-only at DST (default: the same path), as --bind checks it.
    /// Repeatable.
    #[arg(long, value_name = "SRC[:DST]", value_parser = parse_bind_ro, global = true)]
    pub ro_bind: Vec<crate::view::BindSpec>,

    /// Hide this path in the view (an empty read-only directory, or /dev/null). No symbolic link
    /// in any component (name the real path). Repeatable.
    #[arg(long, value_name = "PATH", global = true)]
    pub mask: Vec<PathBuf>,

    /// Size limit of the private /tmp and /var/tmp (bytes, or with k, m, g). Default: 256m.
    #[arg(long, value_name = "SIZE", value_parser = crate::view::parse_size, global = true)]
    pub tmpfs_size: Option<u64>,

    /// Bound the sandbox to N processes and threads (its control group's pids.max). Default:
    /// 1024, applied when the supervisor can make a group (otherwise a WARN says which limits
    /// apply); given explicitly, a refusal to set it goes to the failure handler.
    #[arg(long, value_name = "N", value_parser = crate::steps::cgroup::parse_pids, global = true)]
    pub pids_max: Option<u64>,

    /// Bound the sandbox's memory (bytes, or with K, M, G, T): no swap, and the whole sandbox is
    /// killed together when the kernel's OOM killer strikes; reported as oom-killed.
    #[arg(long, value_name = "SIZE", value_parser = crate::steps::cgroup::parse_size, global = true)]
    pub memory_max: Option<u64>,

    /// Bound the sandbox's CPU time to N CPUs (a fraction allowed: 0.5), per 100 ms period.
    #[arg(long, value_name = "N", value_parser = crate::steps::cgroup::parse_cpus, global = true)]
    pub cpus: Option<f64>,

    /// Bound the sandbox's CPU time to QUOTA microseconds per PERIOD microseconds (50000/100000 is
    /// half a CPU; a period of 1000 to 1000000), as cgroup v2's cpu.max; instead of --cpus.
    #[arg(long, value_name = "QUOTA/PERIOD", value_parser = crate::steps::cgroup::parse_cpu_max, conflicts_with = "cpus", global = true)]
    pub cpu_max: Option<(u64, u64)>,

    /// Lower a resource limit of the workload (Docker's --ulimit names: nofile, nproc, core, as,
    /// cpu, fsize, ...; a number or "unlimited"); neither soft nor hard ever raised above the
    /// caller's own (a request above them is lowered to them, with a WARN). Defaults: core=0,
    /// nofile at most 4096. Repeatable.
    #[arg(long, value_name = "NAME=SOFT[:HARD]", value_parser = crate::steps::rlimits::parse, global = true)]
    pub rlimit: Vec<crate::steps::rlimits::Request>,

    /// Stop the workload after DURATION of wall clock from its release (500ms, 30s, 5m, 1h; a bare
    /// number is seconds): SIGTERM to the whole sandbox, SIGKILL after --kill-after; exit 124.
    #[arg(long, value_name = "DURATION", value_parser = crate::sandbox::supervise::parse_duration, global = true)]
    pub timeout: Option<std::time::Duration>,

    /// After a SIGTERM (from --timeout, or a TERM, INT or HUP the supervisor forwards), SIGKILL
    /// the whole sandbox when it has not ended within DURATION. Default: 5s.
    #[arg(long, value_name = "DURATION", value_parser = crate::sandbox::supervise::parse_duration, global = true)]
    pub kill_after: Option<std::time::Duration>,
}

/// `--fs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsArg {
    /// The host read-only.
    HostRo,
    /// Only the host's system directories, read-only.
    Minimal,
    /// No view (the protection given up).
    HostRw,
}

fn parse_bind_rw(text: &str) -> Result<crate::view::BindSpec, String> {
    crate::view::BindSpec::parse(text, true)
}

fn parse_bind_ro(text: &str) -> Result<crate::view::BindSpec, String> {
    crate::view::BindSpec::parse(text, false)
}

/// Logging flags, accepted before or after a subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log level (off, error, warn, info, debug, trace), or comma-separated directives, each a level
    /// or TARGET=LEVEL for one module path and those below it (info,sandbox_supervisor::boot=debug);
    /// default: RUST_LOG, else info.
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,

    /// Log line format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk the boot of a run on this host (every flag that changes the boot applies), without
    /// running a workload, and print what the host allows and what the handler would decide.
    /// Exits 0 when a run would boot, else with the code the run would stop with.
    Probe(ProbeArgs),
    /// Ask a plugin about made-up refusals (KIND=ERRNO) with a made-up context, without root and
    /// without hardening anything, and print its decisions. For plugin authors' tests. Exits 0
    /// when the plugin answered every refusal (whatever it decided), 119 when it failed on one
    /// (panic, missed deadline, bad or undeclared verdict), as a run would.
    Simulate(SimulateArgs),
}

/// `simulate` flags (the plugin comes from the handler flags, before or after `simulate`).
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Change the made-up environment context (it starts as a plain host): gvisor=true,
    /// container=CLUE, threads=N, uid=N, effective_capabilities=HEX, supervisor_version=V,
    /// plugin_api_version=V, outer_boundary=gvisor|container|vm (--outer-boundary sets it too).
    /// Repeatable.
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
    /// The library's view of these flags and the handler flags; `None` without
    /// `--handler-plugin`, which `simulate` needs.
    pub fn options(
        &self,
        handler: &HandlerArgs,
    ) -> Option<crate::handler::simulate::SimulateOptions> {
        Some(crate::handler::simulate::SimulateOptions {
            handler_plugin: handler.handler_plugin.clone()?,
            handler_config: handler.handler_config.clone(),
            handler_plugin_sha256: handler.handler_plugin_sha256,
            handler_timeout: handler.handler_timeout,
            refusals: self.refusals.clone(),
            // A declared boundary is part of the made-up context; a --context item may change it.
            context: handler
                .outer_boundary
                .map(|boundary| format!("outer_boundary={}", boundary.name()))
                .into_iter()
                .chain(self.context.iter().cloned())
                .collect(),
        })
    }
}

/// `probe` flags.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Print the result as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where `--findings` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingsDest {
    /// A file, opened like `--report FILE`.
    File(PathBuf),
    /// `fd:N`: a descriptor checked like `--report-fd N`.
    Fd(RawFd),
}

fn parse_findings(text: &str) -> Result<FindingsDest, String> {
    match text.strip_prefix("fd:") {
        Some(number) => parse_report_fd(number).map(FindingsDest::Fd),
        None if text.is_empty() => Err("an empty path".to_owned()),
        None => Ok(FindingsDest::File(text.into())),
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value))
            if !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)) =>
        {
            Ok((key.to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "{text:?} is not KEY=VALUE (KEY: letters, digits, '.', '_', '-', '/')"
        )),
    }
}

fn parse_env(text: &str) -> Result<OsString, String> {
    match text.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(text.into()),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// `--report-fd`: a descriptor 3 or above, open, and open for writing. Checked while parsing so that
/// a bad destination is a usage error before any step.
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
    // SAFETY: F_GETFD just succeeded on `fd`, so it is open, and nothing closes it while this
    // borrow (which ends in this function) lives: the process is single-threaded while parsing.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    crate::record::check_writable(borrowed).map_err(|err| crate::exit::one_line(&err))?;
    Ok(fd)
}

/// Words that [`Cli::parse_run`] leaves to the whole command before trying (only to save a doomed
/// attempt: they are its subcommands and flags).
const WHOLE_COMMAND: &str = "probe simulate help -h --help -V --version";

/// The command [`Cli::parse_run`] parses with: [`Cli`]'s flags and workload, without help and
/// version flags and without subcommands.
fn run_command() -> clap::Command {
    let command = clap::Command::new("sandbox-supervisor").disable_help_flag(true);
    let command = <HandlerArgs as Args>::augment_args(command);
    let command = <BootArgs as Args>::augment_args(command);
    let command = <LogArgs as Args>::augment_args(command);
    <Workload as Args>::augment_args(command)
}

/// The one line a clap error becomes: `sandbox-supervisor: error: MESSAGE (see --help)`, where
/// MESSAGE is clap's first paragraph without its `error: ` prefix, its lines joined (so that
/// "the following required arguments were not provided:" keeps the argument it names).
pub fn usage_error_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("sandbox-supervisor: error: {message} (see --help)")
}

pub use crate::config::config_schema;

/// Whether the raw arguments ask for `--log-format json` (before `--`), for the usage error of a
/// command line that did not parse.
pub fn json_requested(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut requested = false;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") => break,
            Some("--log-format") => requested = args.next().is_some_and(|value| value == "json"),
            Some("--log-format=json") => requested = true,
            Some(other) if other.starts_with("--log-format=") => requested = false,
            _ => {}
        }
    }
    requested
}

/// The log filter could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("failed to parse log level {0:?}")]
pub struct LogLevelError(String, #[source] LogDirectiveError);

/// A directive of a log filter that is neither a level nor `TARGET=LEVEL`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is neither a level (off, error, warn, info, debug, trace) nor TARGET=LEVEL")]
pub struct LogDirectiveError(String);

/// The level a directive names: `off`, `error`, `warn`, `info`, `debug` or `trace`, in any case.
fn level_named(name: &str) -> Option<LevelFilter> {
    let levels = [
        ("off", LevelFilter::OFF),
        ("error", LevelFilter::ERROR),
        ("warn", LevelFilter::WARN),
        ("info", LevelFilter::INFO),
        ("debug", LevelFilter::DEBUG),
        ("trace", LevelFilter::TRACE),
    ];
    let found = levels
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name));
    found.map(|(_, level)| *level)
}

/// Parses a log filter: comma-separated directives, each a level (for every event) or
/// `TARGET=LEVEL` (for the events of the module path TARGET and those below it). Nothing else: a
/// mistyped level read as a target (as tracing's own filters read it) would silence every other
/// line.
pub fn parse_log_filter(text: &str) -> Result<Targets, LogLevelError> {
    let mut filter = Targets::new();
    for directive in text.split(',') {
        let refused = || LogLevelError(text.to_owned(), LogDirectiveError(directive.to_owned()));
        filter = match directive.split_once('=') {
            None => filter.with_default(level_named(directive).ok_or_else(refused)?),
            Some((target, level)) => {
                let target_is_a_path = !target.is_empty()
                    && target.split("::").all(|part| {
                        !part.is_empty()
                            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    });
                match (target_is_a_path, level_named(level)) {
                    (true, Some(level)) => filter.with_target(target, level),
                    _ => return Err(refused()),
                }
            }
        };
    }
    Ok(filter)
}

impl LogArgs {
    /// Installs the tracing subscriber (standard error).
    pub fn init(&self) -> Result<(), LogLevelError> {
        let filter = match (&self.log_level, std::env::var("RUST_LOG")) {
            (Some(level), _) => parse_log_filter(level)?,
            (None, Ok(env)) if !env.is_empty() => parse_log_filter(&env)?,
            (None, _) => Targets::new().with_default(LevelFilter::INFO),
        };
        // The filter decides alone: `fmt()`'s own builder would add a maximum level of `info`.
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false);
        let registry = tracing_subscriber::registry().with(filter);
        match self.log_format {
            LogFormat::Text => registry
                .with(layer.with_ansi(std::io::stderr().is_terminal()))
                .init(),
            LogFormat::Json => registry.with(layer.json().with_span_list(false)).init(),
        }
        Ok(())
    }
}

impl Cli {
    /// The command line of a run, parsed by [`Cli`]'s flags alone: no subcommand, no `--help` or
    /// `--version`. Building the whole command copies each of the 38 global flags into each
    /// subcommand and formats the version's and the exit statuses' texts (docs/performance.md,
    /// 1j). `None` when this parser refuses the line (a subcommand, help, version, a usage
    /// error): the caller parses it with the whole command, whose answer the operator sees. A
    /// line it accepts, the whole command parses alike (tests: `run_parser_agrees_with_clis`).
    pub fn parse_run(raw: &[OsString]) -> Option<Cli> {
        let mut options = raw.iter().skip(1).take_while(|arg| *arg != "--");
        if options.any(|arg| WHOLE_COMMAND.split(' ').any(|word| arg == word)) {
            return None;
        }
        let mut matches = run_command().try_get_matches_from_mut(raw).ok()?;
        <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches).ok()
    }

    /// For `probe` and `simulate`, the flags given on the command line that they cannot honour
    /// (`--report`, `--report-fd`, `--findings`: no workload runs, so no report or finding of a
    /// run is written): the usage error's message.
    pub fn probe_cannot_honour(&self) -> Option<String> {
        let subcommand = match self.subcommand.as_ref()? {
            Command::Probe(_) => "probe",
            Command::Simulate(_) => "simulate",
        };
        let flag = [
            ("--report", self.boot.report.is_some()),
            ("--report-fd", self.boot.report_fd.is_some()),
            ("--findings", self.boot.findings.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)?
        .0;
        Some(format!(
            "{subcommand} writes no report or findings ({flag}): it runs no workload; its answer is on standard output (see --help)"
        ))
    }

    /// For `probe` and `simulate`, leaves aside the `--config` file's run-only keys (`report`,
    /// `report-fd`, `findings`), so that one file serves a run and a probe.
    pub fn leave_run_only_keys_aside(&mut self) {
        if self.subcommand.is_some() {
            self.boot.report = None;
            self.boot.report_fd = None;
            self.boot.findings = None;
        }
    }

    /// A mistake clap cannot see: the report and the findings on one descriptor (each owns and
    /// closes its descriptor).
    pub fn conflict(&self) -> Option<String> {
        match (self.boot.report_fd, &self.boot.findings) {
            (Some(report), Some(FindingsDest::Fd(findings))) if report == *findings => Some(format!(
                "sandbox-supervisor: error: --report-fd {report} and --findings fd:{findings} name the same descriptor; give each its own (see --help)"
            )),
            _ => None,
        }
    }

    /// The library's view of this command line (`probe` uses it too, without a command).
    ///
    /// Takes ownership of the descriptor named by `--report-fd`: call it once, on the `Cli` that
    /// parsed the process's own arguments.
    pub fn run_options(self) -> RunOptions {
        let boot = self.boot;
        let report = match (boot.report, boot.report_fd) {
            (Some(path), _) => Some(ReportSink::File(path)),
            (None, Some(fd)) => Some(ReportSink::Fd(
                // SAFETY: `parse_report_fd` checked that `fd` is open (and 3 or above, so not a
                // standard stream); the operator handed it over for the report, nothing else in
                // the supervisor owns it, and consuming this `Cli` makes this the only `OwnedFd`
                // built from it.
                unsafe { OwnedFd::from_raw_fd(fd) },
            )),
            (None, None) => None,
        };
        let findings = boot.findings.map(|dest| match dest {
            FindingsDest::File(path) => ReportSink::File(path),
            // SAFETY: `parse_report_fd` checked that `fd` is open and 3 or above; the operator
            // handed it over for the findings; `conflict` refused the report's descriptor, and
            // consuming this `Cli` makes this the only `OwnedFd` built from it.
            FindingsDest::Fd(fd) => ReportSink::Fd(unsafe { OwnedFd::from_raw_fd(fd) }),
        });
        RunOptions {
            config: self.config_file,
            handler_plugin: self.handler.handler_plugin,
            handler_config: self.handler.handler_config,
            handler_plugin_sha256: self.handler.handler_plugin_sha256,
            handler_timeout: self.handler.handler_timeout,
            outer_boundary: self.handler.outer_boundary,
            node_name: boot
                .node_name
                .or_else(|| std::env::var("NODE_NAME").ok())
                .filter(|name| !name.is_empty()),
            labels: boot.label,
            user: boot.user,
            allow_root: boot.allow_root,
            allow_groups: boot.allow_group,
            uid_range: boot.uid_range,
            seccomp_profile: boot.seccomp_profile,
            seccomp_profile_replaces_builtin: boot.seccomp_profile_replaces_builtin,
            no_userns: boot.no_userns,
            cap_add: boot.cap_add,
            disabled_steps: boot.disable_step,
            clear_env: boot.clear_env,
            env: boot.env,
            command: self.command,
            report,
            report_argv: boot.report_argv,
            findings,
            view: crate::view::ViewOptions {
                mode: match boot.fs {
                    FsArg::HostRo => crate::view::FsMode::HostRo,
                    FsArg::Minimal => crate::view::FsMode::Minimal,
                    FsArg::HostRw => crate::view::FsMode::HostRw,
                },
                workspaces: boot.workspace,
                binds: boot.bind.into_iter().chain(boot.ro_bind).collect(),
                masks: boot.mask,
                tmpfs_size: boot.tmpfs_size,
            },
            limits: crate::steps::cgroup::Limits {
                pids_max: boot.pids_max,
                memory_max: boot.memory_max,
                cpus: boot.cpus,
                cpu_max: boot.cpu_max,
            },
            rlimits: boot.rlimit,
            timeout: boot.timeout,
            kill_after: boot.kill_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// `--disable-step`'s help names exactly the tolerable steps of the catalogue, in boot order.
    #[test]
    fn disable_step_help_names_the_tolerable_steps() {
        use clap::CommandFactory;
        let command = Cli::command();
        let help = command
            .get_arguments()
            .find(|arg| arg.get_id() == "disable_step")
            .and_then(|arg| arg.get_help())
            .expect("--disable-step has help")
            .to_string();
        let tolerable: Vec<&str> = crate::steps::STEPS
            .iter()
            .filter(|info| info.kind.is_some())
            .map(|info| info.name)
            .collect();
        let listed = help
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(names, _)| names.split(", ").collect::<Vec<_>>())
            .unwrap_or_default();
        assert_eq!(listed, tolerable, "{help}");
    }

    /// A level, or `TARGET=LEVEL` directives with module paths; every other directive is refused
    /// and named.
    #[test]
    fn log_filters_are_levels_and_target_directives() {
        for accepted in [
            "off",
            "WARN",
            "trace",
            "info,sandbox_supervisor::boot=debug",
            "sandbox_supervisor=trace,warn",
        ] {
            assert!(parse_log_filter(accepted).is_ok(), "{accepted}");
        }
        for (refused, directive) in [
            ("wran", "wran"),
            ("", ""),
            ("info,", ""),
            ("3", "3"),
            ("sandbox_supervisor", "sandbox_supervisor"),
            ("x=loud", "x=loud"),
            ("a=b=c", "a=b=c"),
            ("=info", "=info"),
            ("[run]=debug", "[run]=debug"),
            ("boot[{step}]=debug", "boot[{step}]=debug"),
            ("a::=info", "a::=info"),
        ] {
            let err = parse_log_filter(refused).expect_err(refused);
            assert_eq!(err.1 .0, directive, "{refused}");
        }
    }

    /// `parse_run`'s command has the whole command's flags and workload, each defined alike (help
    /// and version aside: the whole command's own; the place in the help aside).
    #[test]
    fn run_parser_has_the_whole_commands_arguments() {
        use clap::CommandFactory;
        let defined = |command: &clap::Command| {
            let mut arguments: Vec<String> = command
                .get_arguments()
                .filter(|arg| !["help", "version"].contains(&arg.get_id().as_str()))
                // Where help lists it aside (the whole command counts its subcommands first).
                .map(|arg| format!("{:?}", arg.clone().display_order(None)))
                .collect();
            arguments.sort();
            arguments
        };
        let whole = defined(&Cli::command());
        assert!(whole.len() > 30, "{whole:#?}");
        assert_eq!(defined(&run_command()), whole);
    }

    /// A run's line parses by `parse_run` as by the whole command; every other line is left to
    /// the whole command (`None`).
    #[test]
    fn run_parser_agrees_with_clis() {
        let digest = "ab".repeat(32);
        let sha = format!("--handler-plugin /p.so --handler-plugin-sha256 {digest} -- x");
        let runs = [
            "-- true",
            "--log-level error -- /bin/true",
            "-- sh -c probe --help -V --version help --",
            "--user=probe --log-format=json --fs=minimal -- true",
            "--config /none.json --user nobody -- id",
            "--allow-group a --allow-group b --uid-range 100-200 -- id",
            "--allow-root --no-userns --clear-env --env A=1 -- env",
            "--cap-add NET_BIND_SERVICE --disable-step landlock -- true",
            "--seccomp-profile /p.json --seccomp-profile-replaces-builtin -- x",
            "--report /r --report-argv --findings /f --label job=1 -- x",
            "--node-name n --workspace /w --bind /a:/b --ro-bind /c -- x",
            "--mask /m --tmpfs-size 1m --pids-max 10 --memory-max 1G -- x",
            "--cpus 0.5 --rlimit nofile=10:20 --timeout 5s --kill-after 1s -- x",
            "--cpu-max 50000/100000 --outer-boundary vm --log-format text -- x",
            "--handler-plugin /p.so --handler-config /c --handler-timeout 2.5 -- x",
            &sha,
        ];
        let others = [
            "",
            "--",
            "true",
            "--no-such-flag -- true",
            "--log-format xml -- true",
            "--cpus 1 --cpu-max 1/2 -- true",
            "--handler-config /c -- true",
            "--seccomp-profile-replaces-builtin -- true",
            "--log-level --version",
            "--help",
            "-h",
            "-V",
            "-hV",
            "--version",
            "help",
            "help probe",
            "probe",
            "--user x probe --json",
            "simulate --handler-plugin /p.so network-namespace=EPERM",
            "--user probe -- true",
        ];
        let line = |words: &str| -> Vec<OsString> {
            std::iter::once("sandbox-supervisor")
                .chain(words.split_whitespace())
                .map(OsString::from)
                .collect()
        };
        for words in runs {
            let fast = Cli::parse_run(&line(words)).unwrap_or_else(|| panic!("{words}"));
            let whole = Cli::try_parse_from(line(words)).expect("a run's line");
            assert_eq!(format!("{fast:?}"), format!("{whole:?}"), "{words}");
        }
        for words in others {
            assert!(Cli::parse_run(&line(words)).is_none(), "{words}");
        }
    }

    fn line(args: &[&str]) -> String {
        let err = Cli::try_parse_from(args).expect_err("a usage error");
        usage_error_line(&err)
    }

    #[test]
    fn clap_errors_become_one_line() {
        assert_eq!(
            line(&["sandbox-supervisor", "--no-such-flag", "--", "true"]),
            "sandbox-supervisor: error: unexpected argument '--no-such-flag' found (see --help)"
        );
        assert_eq!(
            line(&["sandbox-supervisor"]),
            "sandbox-supervisor: error: the following required arguments were not provided: <COMMAND>... (see --help)"
        );
        let bad_format = line(&["sandbox-supervisor", "--log-format", "xml", "--", "true"]);
        assert!(
            bad_format.starts_with(
                "sandbox-supervisor: error: invalid value 'xml' for '--log-format <LOG_FORMAT>'"
            ),
            "{bad_format}"
        );
        assert!(!bad_format.contains('\n'));
    }

    #[test]
    fn report_fd_must_be_open_for_writing() {
        let (read, write) = nix::unistd::pipe().unwrap();
        assert_eq!(
            parse_report_fd(&read.as_raw_fd().to_string()),
            Err(format!(
                "descriptor {} is not open for writing",
                read.as_raw_fd()
            ))
        );
        assert_eq!(
            parse_report_fd(&write.as_raw_fd().to_string()),
            Ok(write.as_raw_fd())
        );
        assert!(parse_report_fd("2").is_err());
        assert!(parse_report_fd("three").is_err());
    }
}
