//! `run`: the library's entry point. It prepares the inputs, drives the boot sequence
//! ([`crate::boot`]) with "decide and stop", releases the verified workload, writes the report
//! and supervises the sandbox until the workload ends.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::boot::{DecideAndStop, Prepared};
use crate::exit;
use crate::failure::{set_failure_handler, HandlerAlreadySet, NotTolerated, SandboxFailureHandler};
use crate::identity::IdentityError;
use crate::netns::NetnsVerifyError;
use crate::plugin::{PluginFailure, PluginRequest, PluginSetupError};
use crate::procfs::ProcError;
use crate::report::{Decider, HandlerRecord, HardeningReport, Outcome, ReportSink};
use crate::seccomp::SeccompCompileError;
use crate::spawn::{CommandError, Released, SpawnError};
use crate::step::{Refusal, Step};

/// What to run and how; the library's form of the command line.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// `--handler-plugin`.
    pub handler_plugin: Option<PathBuf>,
    /// `--handler-config`.
    pub handler_config: Option<PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--handler-timeout` (default [`crate::plugin::DEFAULT_TIMEOUT`]).
    pub handler_timeout: Option<std::time::Duration>,
    /// `--user`.
    pub user: Option<String>,
    /// `--allow-root`: the workload may run as uid 0 or gid 0 (still without capabilities).
    pub allow_root: bool,
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

/// Why the supervisor stopped before or while running the workload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// `--handler-config` could not be read or is not JSON.
    #[error("failed to read handler configuration {path}")]
    HandlerConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Loading or initialising the plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginSetupError),
    /// A handler was already registered (only possible when embedding).
    #[error(transparent)]
    HandlerAlreadySet(#[from] HandlerAlreadySet),
    /// `--user` could not be resolved.
    #[error("failed to resolve --user")]
    Identity(#[source] IdentityError),
    /// The workload would run as uid 0 or gid 0 without `--allow-root`.
    #[error("the workload would run as uid 0 or gid 0; pass --allow-root to allow it (it still gets no capabilities)")]
    RootNotAllowed,
    /// uid 0 or a kept capability without an enforced filesystem view.
    #[error("the workload would run {what} without an enforced filesystem view ({why}): it could write the host's files; drop --allow-root/--cap-add or keep the view")]
    RootWithoutView {
        /// `as uid 0 or gid 0`, or `with kept capabilities`.
        what: &'static str,
        /// Why there is no view.
        why: String,
    },
    /// A path of the filesystem view cannot be used.
    #[error(transparent)]
    View(#[from] crate::view::ViewError),
    /// A path of a Landlock rule cannot be opened.
    #[error(transparent)]
    Landlock(crate::landlock::LandlockError),
    /// `--user` names another identity on the user-namespace route.
    #[error("failed to drop privileges: --user names another identity than the caller's (or fewer groups), but the namespaces took the user-namespace route, where the workload keeps the caller's uid, gid and groups; run as that user, or pass --no-userns")]
    UserOnUserNamespace,
    /// A seccomp program did not compile.
    #[error(transparent)]
    Seccomp(#[from] SeccompCompileError),
    /// `--seccomp-profile` could not be read.
    #[error("failed to read the seccomp profile")]
    SeccompProfile(#[source] crate::input::InputError),
    /// The command could not be found or prepared.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A refused step that was not tolerated.
    #[error("{0}")]
    NotTolerated(NotTolerated),
    /// A step that no handler may tolerate was refused (session, capabilities, ids, NNP).
    #[error("failed to {}: {} failed: {}", .0.step.action(), .0.call, crate::failure::errno_name(.0.errno as i32))]
    Fatal(Refusal),
    /// A step's call failed for want of memory, processes or descriptors: not a refusal, never
    /// asked of a handler.
    #[error("failed to {}: {} failed: {}", .0.step.action(), .0.call, crate::failure::errno_name(.0.errno as i32))]
    Exhausted(Refusal),
    /// The network namespace did not verify.
    #[error("failed to verify the network namespace")]
    NetnsVerify(#[source] NetnsVerifyError),
    /// A step reported success but what took effect disagrees.
    #[error("failed to verify {step}: {detail}")]
    Verify {
        /// The step.
        step: Step,
        /// What was seen.
        detail: String,
    },
    /// A `/proc` file the verification needs could not be read.
    #[error("failed to verify the sandbox")]
    Proc(#[from] ProcError),
    /// `--report` could not be opened.
    #[error("failed to open the hardening report {sink}")]
    ReportOpen {
        /// The sink, as given.
        sink: String,
        /// Why.
        #[source]
        source: crate::report::ReportOpenError,
    },
    /// The report could not be written.
    #[error("failed to write the hardening report")]
    Report(#[source] std::io::Error),
    /// `--findings` could not be opened.
    #[error("failed to open the findings destination {sink}")]
    FindingsOpen {
        /// The destination, as given.
        sink: String,
        /// Why.
        #[source]
        source: crate::report::ReportOpenError,
    },
    /// The findings could not be written.
    #[error("failed to write the findings")]
    Findings(#[source] std::io::Error),
    /// No random run id could be drawn.
    #[error("failed to draw a random run id (getrandom and /dev/urandom)")]
    RunId(#[source] std::io::Error),
    /// `execve` failed.
    #[error("failed to execute {program}")]
    Exec {
        /// The program.
        program: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Spawning the sandbox failed, or a signal stopped the boot.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// Waiting for the sandbox failed.
    #[error("failed to supervise the workload")]
    Supervise(#[source] Errno),
}

/// The refusal behind an error, as log fields: the step, the decision, the raw errno and who
/// decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalFields {
    /// The step's name.
    pub step: &'static str,
    /// Always `aborted`: a refusal that became an error stopped the boot.
    pub decision: &'static str,
    /// The raw errno, when a call was refused.
    pub errno: Option<i32>,
    /// `strict`, `plugin:NAME@VERSION`, `never tolerable` or `verification`.
    pub decider: Decider,
}

impl SupervisorError {
    /// The step, errno and decider of a refusal or failed verification that stopped the boot.
    pub fn refusal_fields(&self) -> Option<RefusalFields> {
        let aborted = |step: &'static str, errno, decider: Decider| RefusalFields {
            step,
            decision: "aborted",
            errno,
            decider,
        };
        match self {
            SupervisorError::NotTolerated(refused) => Some(aborted(
                refused.report().kind.name(),
                Some(refused.report().errno),
                refused.decider(),
            )),
            SupervisorError::Fatal(refusal) => Some(aborted(
                refusal.step.name(),
                Some(refusal.errno as i32),
                Decider::NeverTolerable,
            )),
            _ => self
                .unverified_step()
                .map(|step| aborted(step.name(), None, Decider::Verification)),
        }
    }

    /// The step a verification failure is about.
    pub fn unverified_step(&self) -> Option<Step> {
        match self {
            SupervisorError::Verify { step, .. } => Some(*step),
            SupervisorError::NetnsVerify(_) => Some(Step::NetworkNamespace),
            _ => None,
        }
    }

    /// The documented exit code for this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::HandlerConfig { .. }
            | SupervisorError::Identity(_)
            | SupervisorError::RootNotAllowed
            | SupervisorError::RootWithoutView { .. }
            | SupervisorError::View(_)
            | SupervisorError::Landlock(_)
            | SupervisorError::ReportOpen { .. }
            | SupervisorError::FindingsOpen { .. } => exit::USAGE,
            SupervisorError::Plugin(PluginSetupError::Load(_)) => exit::PLUGIN_LOAD,
            SupervisorError::Plugin(PluginSetupError::Failure(_)) => exit::PLUGIN_FAILURE,
            SupervisorError::Seccomp(error) if error.is_operator_error() => exit::USAGE,
            SupervisorError::Seccomp(_) => exit::INTERNAL,
            SupervisorError::SeccompProfile(_) => exit::USAGE,
            SupervisorError::Command(CommandError::NotFound(_)) => exit::NOT_FOUND,
            SupervisorError::Command(CommandError::NotExecutable(_)) => exit::NOT_EXECUTABLE,
            SupervisorError::Command(_) => exit::USAGE,
            SupervisorError::NotTolerated(refused) if refused.by_strict_default() => {
                exit::REFUSED_STRICT
            }
            SupervisorError::NotTolerated(NotTolerated::Aborted { .. }) => exit::REFUSED_BY_PLUGIN,
            SupervisorError::NotTolerated(_) => exit::PLUGIN_FAILURE,
            SupervisorError::Fatal(_) | SupervisorError::UserOnUserNamespace => {
                exit::NEVER_TOLERABLE
            }
            SupervisorError::NetnsVerify(_)
            | SupervisorError::Verify { .. }
            | SupervisorError::Spawn(SpawnError::FakedClone) => exit::VERIFICATION,
            SupervisorError::Exec { source, .. } => match source {
                Errno::ENOENT => exit::NOT_FOUND,
                _ => exit::NOT_EXECUTABLE,
            },
            SupervisorError::Spawn(SpawnError::Interrupted(signal)) => 128 + *signal as i32,
            SupervisorError::HandlerAlreadySet(_)
            | SupervisorError::Exhausted(_)
            | SupervisorError::Proc(_)
            | SupervisorError::Spawn(_)
            | SupervisorError::Supervise(_)
            | SupervisorError::Report(_)
            | SupervisorError::RunId(_)
            | SupervisorError::Findings(_) => exit::INTERNAL,
        }
    }
}

/// Boots the sandbox and runs `options.command` in it; returns the workload's exit code (128+N when
/// signal N killed it).
///
/// Call it from a single-threaded process. It registers the plugin's handler when
/// `options.handler_plugin` is set; an embedder that registered its own handler leaves it unset.
/// With `options.report` set, the hardening report is written once the workload's `execve`
/// succeeded, or when the boot stops.
pub fn run(options: RunOptions) -> Result<i32, SupervisorError> {
    // The supervised signals are blocked first: a SIGTERM during the boot stops it cleanly (the
    // sandbox killed, the report written) instead of killing the supervisor half-way.
    let mask = crate::supervise::block_signals().map_err(SupervisorError::Supervise)?;
    let signals = crate::spawn::signal_fd()?;
    let mut options = options;
    let mut report = HardeningReport::new(crate::context::detect(), &options.command);
    report.run_id = crate::report::run_id().map_err(SupervisorError::RunId)?;
    report.redact_argv(options.report_argv);
    let writer = match options.report.take() {
        Some(sink) => {
            let name = sink.to_string();
            Some(
                sink.open()
                    .map_err(|source| SupervisorError::ReportOpen { sink: name, source })?,
            )
        }
        None => None,
    };
    let findings = match options.findings.take() {
        Some(sink) => {
            let name = sink.to_string();
            Some(
                sink.open()
                    .map_err(|source| SupervisorError::FindingsOpen { sink: name, source })?,
            )
        }
        None => None,
    };
    // The plugin's digest is only for the records: a run that writes none does not hash it.
    let recorded = writer.is_some() || findings.is_some();
    let booted = start(&options, recorded, mask, &signals, &mut report);
    let result = match booted {
        Ok(sandbox) => {
            report.outcome = Outcome::Running;
            Ok(sandbox)
        }
        Err(err) => {
            report.error = Some(exit::one_line(&err));
            if let Some(step) = err.unverified_step() {
                let record = report.step(step);
                record.decision = crate::report::Decision::Aborted;
                record.decider = Some(Decider::Verification);
            }
            report.finish(None);
            Err(err)
        }
    };
    if let Some(findings) = findings {
        let found = crate::findings::findings(&report, crate::report::Timestamp::now());
        match crate::findings::write(&found, findings) {
            Ok(()) => {}
            Err(write_err) if result.is_err() => {
                tracing::error!("failed to write the findings: {write_err}")
            }
            Err(write_err) => {
                let sandbox = result.expect("checked");
                let _ = nix::sys::signal::kill(sandbox.init, Signal::SIGKILL);
                return Err(SupervisorError::Findings(write_err));
            }
        }
    }
    let mut writer = writer;
    if let Some(writer) = &mut writer {
        match report.write(writer) {
            Ok(()) => {}
            // The boot already failed: a report that cannot be written is only logged.
            Err(write_err) if result.is_err() => {
                tracing::error!("failed to write the hardening report: {write_err}")
            }
            Err(write_err) => {
                let sandbox = result.expect("checked");
                let _ = nix::sys::signal::kill(sandbox.init, Signal::SIGKILL);
                return Err(SupervisorError::Report(write_err));
            }
        }
    }
    let ended = crate::supervise::supervise(result?).map_err(SupervisorError::Supervise)?;
    if let Some(writer) = &mut writer {
        report.finish(Some(ended));
        // The workload has ended: its exit code is passed on whatever happens to the report.
        if let Err(write_err) = report.write(writer) {
            tracing::error!("failed to write the final hardening report: {write_err}");
        }
    }
    Ok(ended.exit_code())
}

/// Registers the handler, prepares, boots, releases: everything up to a running workload.
fn start(
    options: &RunOptions,
    recorded: bool,
    mask: nix::sys::signal::SigSet,
    signals: &nix::sys::signalfd::SignalFd,
    report: &mut HardeningReport,
) -> Result<crate::spawn::Sandbox, SupervisorError> {
    // The handler comes first: it must be in place before the first step can be refused, and a
    // plugin that fails to load must stop the boot before anything has changed.
    if let Some(path) = &options.handler_plugin {
        register_plugin(
            path,
            options.handler_config.as_deref(),
            options.handler_plugin_sha256,
            options.handler_timeout,
        )?;
    }
    report.handler = handler_record();
    if let Some(path) = options.handler_plugin.as_ref().filter(|_| recorded) {
        report.handler.plugin = Some(plugin_file_record(path)?);
    }
    let mut prepared: Prepared = crate::boot::prepare(options, None, mask)?;
    report.workload.env = prepared.env_names.clone();
    report.workload.program = Some(prepared.program.display().to_string());
    let paused = crate::boot::boot(options, &mut prepared, &mut DecideAndStop, report, signals)?;
    match paused.release()? {
        Released::Running(sandbox) => {
            tracing::debug!(pid = sandbox.workload.as_raw(), "workload running");
            Ok(sandbox)
        }
        Released::ExecFailed(source) => Err(SupervisorError::Exec {
            program: prepared.program.display().to_string(),
            source,
        }),
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

/// The registered handler as the report and `probe` describe it.
pub(crate) fn handler_record() -> HandlerRecord {
    let handler = crate::failure::failure_handler();
    HandlerRecord {
        decider: handler.decider(),
        declared: handler.declared().iter().map(|kind| kind.name()).collect(),
        plugin: None,
    }
}

/// The loaded plugin's path and SHA-256, for the report.
///
/// The digest is taken from the file at `path`, opened again without following links, and that
/// file is checked to be the one mapped into this process (same device and inode in
/// `/proc/self/maps`): a file replaced since the load is an error, never a wrong digest.
// TODO(lead): `plugin::load` already hashes the descriptor it loads when the digest is pinned;
// returning that digest (always computed) from `load` would make this second read unnecessary.
// plugin.rs belongs to the plugin-side helper.
pub(crate) fn plugin_file_record(
    path: &Path,
) -> Result<crate::report::PluginFileRecord, SupervisorError> {
    use sha2::Digest;
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let error = |source: std::io::Error| {
        SupervisorError::Plugin(PluginSetupError::Load(
            crate::plugin::PluginLoadError::Read {
                path: path.to_owned(),
                source,
            },
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(error)?;
    let metadata = file.metadata().map_err(error)?;
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(error)?;
    let device = format!(
        "{:02x}:{:02x}",
        libc::major(metadata.dev()),
        libc::minor(metadata.dev())
    );
    let inode = metadata.ino().to_string();
    let mapped = maps.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(3) == Some(&device.as_str()) && fields.get(4) == Some(&inode.as_str())
    });
    if !mapped {
        return Err(error(std::io::Error::other(
            "the file at this path is no longer the plugin that was loaded",
        )));
    }
    let mut hasher = sha2::Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(crate::report::PluginFileRecord {
        path: path.display().to_string(),
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Loads the plugin at `path`, prints its declaration and registers it as the failure handler.
pub fn register_plugin(
    path: &Path,
    config: Option<&Path>,
    sha256: Option<[u8; 32]>,
    timeout: Option<std::time::Duration>,
) -> Result<(), SupervisorError> {
    let config = config.map(read_config).transpose()?;
    let handler = crate::plugin::load(&PluginRequest {
        path: path.to_owned(),
        sha256,
        config,
        timeout: timeout.unwrap_or(crate::plugin::DEFAULT_TIMEOUT),
    })?;
    let declared: Vec<&str> = handler.declared().iter().map(|kind| kind.name()).collect();
    let decider = handler.decider();
    tracing::info!(
        plugin = %path.display(),
        "failure handler loaded: {decider} may tolerate [{}]; every other refusal aborts",
        declared.join(", "),
    );
    set_failure_handler(Box::new(handler))?;
    Ok(())
}

/// Reads `--handler-config` and checks that it is JSON.
pub fn read_config(path: &Path) -> Result<String, SupervisorError> {
    let error = |source: Box<dyn std::error::Error + Send + Sync>| SupervisorError::HandlerConfig {
        path: path.to_owned(),
        source,
    };
    let bytes = crate::input::read_capped(path, "handler configuration")
        .map_err(|err| error(err.into_fault().into()))?;
    let text = String::from_utf8(bytes).map_err(|err| error(err.into()))?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|err| error(err.into()))?;
    Ok(text)
}

impl From<NotTolerated> for SupervisorError {
    fn from(refused: NotTolerated) -> Self {
        SupervisorError::NotTolerated(refused)
    }
}

impl From<PluginFailure> for SupervisorError {
    fn from(failure: PluginFailure) -> Self {
        SupervisorError::Plugin(PluginSetupError::Failure(failure))
    }
}
