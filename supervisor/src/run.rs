//! The orchestrator: every boot step in order, in one place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::exit;
use crate::failure::{
    decide, set_failure_handler, FailureReport, HandlerAlreadySet, Refused, SandboxFailureHandler,
    SandboxFailureKind,
};
use crate::identity::{DropStage, Identity, IdentityError};
use crate::netns::NetnsVerifyError;
use crate::plugin::{PluginFailure, PluginRequest, PluginSetupError};
use crate::report::{Decision, HardeningReport, ReportSink, ReportWriter};
use crate::seccomp::{SeccompCompileError, WorkloadFilter};
use crate::spawn::{ChildStage, CommandError, Plan, Released, SpawnError, Spawned};
use nix::unistd::Pid;
use serde_json::json;

/// What to run and how; the library's form of the command line.
#[derive(Debug, Clone, Default)]
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
    /// `--seccomp-profile`.
    pub seccomp_profile: Option<PathBuf>,
    /// The workload and its arguments.
    pub command: Vec<OsString>,
    /// `--report` or `--report-fd`.
    pub report: Option<ReportSink>,
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
    /// A seccomp program did not compile.
    #[error(transparent)]
    Seccomp(#[from] SeccompCompileError),
    /// The command could not be found or prepared.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The supervisor is not single-threaded before hardening.
    #[error("the supervisor has {0} threads before hardening; it must be single-threaded")]
    Threads(usize),
    /// A refused step that was not tolerated.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The network namespace did not verify.
    #[error("failed to verify the network namespace")]
    NetnsVerify(#[source] NetnsVerifyError),
    /// The paused workload's `/proc/PID/status` disagrees with what the steps reported.
    #[error("failed to verify the workload before exec: {0}")]
    ChildVerify(String),
    /// `--report` could not be opened.
    #[error("failed to open the hardening report {sink}")]
    ReportOpen {
        /// The sink, as given.
        sink: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be written.
    #[error("failed to write the hardening report")]
    Report(#[source] std::io::Error),
    /// The prelude did not verify.
    #[error("failed to verify the supervisor seccomp prelude: PR_GET_SECCOMP is {0}, expected 2")]
    PreludeVerify(i32),
    /// The privilege drop failed: always fatal.
    #[error("failed to drop privileges: {syscall} failed")]
    PrivilegeDrop {
        /// The failing call.
        syscall: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A child step other than the drop, the filter or exec failed.
    #[error("failed to prepare the workload: {step} failed")]
    ChildSetup {
        /// The failing step.
        step: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// `execve` failed.
    #[error("failed to execute {program}")]
    Exec {
        /// The program.
        program: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Forking or a parent-side call failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// Waiting for the workload failed.
    #[error("failed to supervise the workload")]
    Supervise(#[source] Errno),
}

impl SupervisorError {
    /// The documented exit code for this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::HandlerConfig { .. }
            | SupervisorError::Identity(_)
            | SupervisorError::ReportOpen { .. } => exit::USAGE,
            SupervisorError::Plugin(PluginSetupError::Load(_)) => exit::PLUGIN_LOAD,
            SupervisorError::Plugin(PluginSetupError::Failure(_)) => exit::PLUGIN_FAILURE,
            SupervisorError::Seccomp(
                SeccompCompileError::Arch(_) | SeccompCompileError::Builtin(_),
            ) => exit::INTERNAL,
            SupervisorError::Seccomp(_) => exit::USAGE,
            SupervisorError::Command(CommandError::NotFound(_)) => exit::NOT_FOUND,
            SupervisorError::Command(CommandError::NotExecutable(_)) => exit::NOT_EXECUTABLE,
            SupervisorError::Command(_) => exit::USAGE,
            SupervisorError::Refused(refused) if refused.by_strict_default() => {
                exit::REFUSED_STRICT
            }
            SupervisorError::Refused(Refused::Aborted { .. }) => exit::REFUSED_BY_PLUGIN,
            SupervisorError::Refused(_) => exit::PLUGIN_FAILURE,
            SupervisorError::NetnsVerify(_)
            | SupervisorError::PreludeVerify(_)
            | SupervisorError::ChildVerify(_) => exit::VERIFICATION,
            SupervisorError::PrivilegeDrop { .. } => exit::PRIVILEGE_DROP,
            SupervisorError::Exec { source, .. } => match source {
                Errno::ENOENT => exit::NOT_FOUND,
                _ => exit::NOT_EXECUTABLE,
            },
            SupervisorError::HandlerAlreadySet(_)
            | SupervisorError::Threads(_)
            | SupervisorError::ChildSetup { .. }
            | SupervisorError::Spawn(_)
            | SupervisorError::Supervise(_)
            | SupervisorError::Report(_) => exit::INTERNAL,
        }
    }
}

/// Boots the sandbox and runs `options.command` in it; returns the workload's exit code (128+N when
/// signal N killed it).
///
/// Call it from a single-threaded process. It registers the plugin's handler when
/// `options.handler_plugin` is set; an embedder that registered its own handler leaves it unset.
/// With `options.report` set, the hardening report is written before the workload execs, or when
/// the boot stops.
pub fn run(options: &RunOptions) -> Result<i32, SupervisorError> {
    let mut writer = match &options.report {
        Some(sink) => Some(sink.open().map_err(|source| SupervisorError::ReportOpen {
            sink: sink.to_string(),
            source,
        })?),
        None => None,
    };
    let mut report = HardeningReport::new(crate::context::detect(), &options.command);
    let booted = boot(options, &mut report, &mut writer);
    let workload = match booted {
        Ok(workload) => workload,
        Err(err) => {
            report.outcome = "aborted";
            report.error = Some(crate::exit::one_line(&err));
            if let Some(writer) = writer {
                // The boot already failed; a report that cannot be written is only logged.
                if let Err(write_err) = report.write(writer) {
                    tracing::error!("failed to write the hardening report: {write_err}");
                }
            }
            return Err(err);
        }
    };
    // 6. Supervise until the workload ends.
    let ended = crate::supervise::supervise(workload).map_err(SupervisorError::Supervise)?;
    Ok(ended.exit_code())
}

/// Steps 1 to 5: everything up to a running workload.
fn boot(
    options: &RunOptions,
    report: &mut HardeningReport,
    writer: &mut Option<ReportWriter>,
) -> Result<Pid, SupervisorError> {
    // 1. The handler comes first: it must be in place before the first step can be refused, and a
    //    plugin that fails to load must stop the boot before anything has changed.
    if let Some(path) = &options.handler_plugin {
        register_plugin(
            path,
            options.handler_config.as_deref(),
            options.handler_plugin_sha256,
            options.handler_timeout,
        )?;
    }
    let handler = crate::failure::failure_handler();
    report.handler = json!({
        "decider": handler.decider(),
        "declared": handler.declared_tolerances().iter().map(|kind| kind.name()).collect::<Vec<_>>(),
    });
    // Every refusal goes through the handler with the environment clues, and into the report.
    let context = report.environment.clone();
    let settle = |failure: FailureReport, report: &mut HardeningReport| match decide(
        failure.with_context(context.clone()),
    ) {
        Ok(tolerated) => {
            report.tolerated(&tolerated);
            Ok(())
        }
        Err(refused) => {
            report.refused(&refused);
            Err(SupervisorError::Refused(refused))
        }
    };

    // 2. Everything that allocates, reads files or asks NSS happens before hardening and before
    //    fork: the child may only make async-signal-safe calls, and NSS may need the network.
    let identity = resolve_identity(options.user.as_deref())?;
    if identity.is_none() {
        report.step("privilege-drop").requested = false;
        report.step("privilege-drop").decision = Decision::NotRequested;
    }
    let program =
        crate::spawn::resolve_command(options.command.first().ok_or(CommandError::Empty)?)?;
    let prelude = crate::seccomp::compile_prelude()?;
    let workload_filter = crate::seccomp::compile_workload(options.seccomp_profile.as_deref())?;
    let mut plan = Plan::new(
        &program,
        &options.command,
        identity.clone(),
        Some(workload_filter),
    )?;

    // unshare(CLONE_NEWNET) affects only the calling thread and fork copies only the calling
    // thread: both need a single-threaded supervisor.
    let threads = crate::plugin::thread_count();
    if threads != 1 {
        return Err(SupervisorError::Threads(threads));
    }

    // 3. The network namespace, before the prelude: the supervisor makes its own changes first and
    //    restricts itself after.
    match crate::netns::enter().map_err(SupervisorError::NetnsVerify)? {
        Ok(status) => {
            tracing::info!(
                inode = status.inode,
                parent_inode = status.parent_inode,
                "network-namespace enforced: new namespace with only lo up"
            );
            report.enforced(
                "network-namespace",
                json!({
                    "netns_inode": status.inode,
                    "parent_netns_inode": status.parent_inode,
                    "interfaces": status.interfaces,
                    "interfaces_up": ["lo"],
                }),
            );
        }
        Err(refusal) => settle(
            FailureReport::new(
                SandboxFailureKind::NetworkNamespace,
                refusal.syscall,
                refusal.errno as i32,
                "the kernel refused to give the workload its own network namespace",
            ),
            report,
        )?,
    }

    // 4. The supervisor's prelude, before the workload exists.
    match install_prelude(&prelude) {
        Ok(mode) => {
            tracing::info!("supervisor-seccomp enforced: PR_GET_SECCOMP is {mode}");
            report.enforced(
                "supervisor-seccomp",
                json!({"pr_get_seccomp": mode, "no_new_privs": true}),
            );
        }
        Err(PreludeError::Refused(failure)) => settle(failure, report)?,
        Err(PreludeError::Verify(mode)) => return Err(SupervisorError::PreludeVerify(mode)),
    }

    // 5. Spawn. The supervised signals are blocked first so that none arrives unseen between fork
    //    and supervision; the workload gets the original mask back just before exec.
    let mask = crate::supervise::block_signals().map_err(|source| SpawnError {
        what: "block signals",
        source,
    })?;
    crate::spawn::close_on_exec_all()?;
    let paused = loop {
        match crate::spawn::spawn(&mut plan, &mask)? {
            Spawned::Ready(paused) => break paused,
            Spawned::Failed { stage, errno } => {
                let failure = child_failure(&plan, &program, stage, errno)?;
                settle(failure, report)?;
                // Tolerated: spawn again without the filter; the workload has not run yet.
                plan.without_filter();
            }
        }
    };
    verify_child(paused.pid(), identity.as_ref(), plan.filter(), report)?;
    report.workload["pid"] = json!(paused.pid().as_raw());
    report.outcome = "running";
    if let Some(writer) = writer.take() {
        report.write(writer).map_err(SupervisorError::Report)?;
    }
    match paused.release()? {
        Released::Running(pid) => {
            tracing::debug!(pid = pid.as_raw(), "workload running");
            Ok(pid)
        }
        Released::ExecFailed(source) => Err(SupervisorError::Exec {
            program: program.display().to_string(),
            source,
        }),
    }
}

/// Re-reads the paused child's `/proc/PID/status` and records what took effect. A step that
/// reported success but shows no effect is a verification failure.
fn verify_child(
    pid: Pid,
    identity: Option<&Identity>,
    filter: Option<&WorkloadFilter>,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|err| {
        SupervisorError::ChildVerify(format!("failed to read /proc/{pid}/status: {err}"))
    })?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|value| value.split_whitespace().collect::<Vec<_>>())
    };
    let numbers = |name: &str| {
        field(name).map(|values| {
            values
                .iter()
                .filter_map(|v| v.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
    };
    // gVisor's status file has no NoNewPrivs or Seccomp_filters line: those stay unknown (null).
    let seccomp = numbers("Seccomp").and_then(|values| values.first().copied());
    let filters = numbers("Seccomp_filters").and_then(|values| values.first().copied());
    let no_new_privs = numbers("NoNewPrivs").and_then(|values| values.first().copied());
    if no_new_privs == Some(0) {
        return Err(SupervisorError::ChildVerify(
            "the workload does not have no_new_privs".to_owned(),
        ));
    }
    if let Some(filter) = filter {
        if seccomp != Some(2) {
            return Err(SupervisorError::ChildVerify(format!(
                "the workload filter was installed but Seccomp is {seccomp:?}, not 2"
            )));
        }
        tracing::info!(source = %filter.source, "workload-seccomp enforced: filter installed before exec");
        report.enforced(
            "workload-seccomp",
            json!({"source": filter.source, "seccomp": seccomp, "seccomp_filters": filters, "no_new_privs": no_new_privs}),
        );
    } else {
        report.step("workload-seccomp").verified =
            json!({"seccomp": seccomp, "seccomp_filters": filters, "no_new_privs": no_new_privs});
    }
    let uids = numbers("Uid").unwrap_or_default();
    let gids = numbers("Gid").unwrap_or_default();
    let groups = numbers("Groups").unwrap_or_default();
    let verified = json!({"uid": uids, "gid": gids, "groups": groups});
    match identity {
        Some(identity) => {
            let uid = u64::from(identity.uid.as_raw());
            let gid = u64::from(identity.gid.as_raw());
            let mut expected: Vec<u64> = identity
                .groups
                .iter()
                .map(|g| u64::from(g.as_raw()))
                .collect();
            let mut actual = groups.clone();
            expected.sort_unstable();
            actual.sort_unstable();
            actual.dedup();
            if uids.iter().any(|id| *id != uid)
                || gids.iter().any(|id| *id != gid)
                || actual != expected
            {
                return Err(SupervisorError::ChildVerify(format!(
                    "the workload's ids are not the requested ones: {verified}"
                )));
            }
            tracing::info!(uid, gid, "privilege-drop enforced");
            report.enforced("privilege-drop", verified);
        }
        None => report.step("privilege-drop").verified = verified,
    }
    Ok(())
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
    let declared: Vec<&str> = handler
        .declared_tolerances()
        .iter()
        .map(|kind| kind.name())
        .collect();
    let decider = handler.decider();
    tracing::info!(
        plugin = %path.display(),
        "failure handler loaded: {decider} may tolerate [{}]; every other refusal aborts",
        declared.join(", "),
    );
    set_failure_handler(Box::new(handler))?;
    Ok(())
}

/// Resolves `--user`, when given.
pub fn resolve_identity(user: Option<&str>) -> Result<Option<Identity>, SupervisorError> {
    user.map(crate::identity::resolve)
        .transpose()
        .map_err(SupervisorError::Identity)
}

/// Reads `--handler-config` and checks that it is JSON.
pub fn read_config(path: &Path) -> Result<String, SupervisorError> {
    let error = |source: Box<dyn std::error::Error + Send + Sync>| SupervisorError::HandlerConfig {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.into()))?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|err| error(err.into()))?;
    Ok(text)
}

/// Why the prelude is not in place.
pub enum PreludeError {
    /// The kernel refused it: a refusal to decide about.
    Refused(FailureReport),
    /// It reported success but `PR_GET_SECCOMP` says otherwise.
    Verify(i32),
}

/// Sets no_new_privs and installs the prelude on the supervisor; returns `PR_GET_SECCOMP`.
pub fn install_prelude(prelude: &seccompiler::BpfProgram) -> Result<i32, PreludeError> {
    let refused = |syscall: &str, errno: Errno| {
        PreludeError::Refused(FailureReport::new(
            SandboxFailureKind::SupervisorSeccomp,
            syscall,
            errno as i32,
            "the kernel refused the supervisor's own seccomp filter",
        ))
    };
    crate::seccomp::set_no_new_privs()
        .map_err(|errno| refused("prctl(PR_SET_NO_NEW_PRIVS)", errno))?;
    crate::seccomp::install(prelude)
        .map_err(|errno| refused("seccomp(SECCOMP_SET_MODE_FILTER)", errno))?;
    match crate::seccomp::seccomp_mode() {
        Ok(2) => Ok(2),
        Ok(mode) => Err(PreludeError::Verify(mode)),
        Err(errno) => Err(PreludeError::Verify(-(errno as i32))),
    }
}

/// Turns a child's `(stage, errno)` into the refusal to decide about (the workload filter only),
/// or into the error that stops the boot.
fn child_failure(
    plan: &Plan,
    program: &Path,
    stage: ChildStage,
    errno: Errno,
) -> Result<FailureReport, SupervisorError> {
    match stage {
        ChildStage::WorkloadSeccomp(_) if plan.filter().is_some() => Ok(FailureReport::new(
            SandboxFailureKind::WorkloadSeccomp,
            "seccomp(SECCOMP_SET_MODE_FILTER)",
            errno as i32,
            "the kernel refused the workload's seccomp filter",
        )),
        ChildStage::WorkloadSeccomp(_) | ChildStage::Ready => Err(SupervisorError::ChildSetup {
            step: "the child's handshake",
            source: errno,
        }),
        ChildStage::Drop(drop_stage) => Err(SupervisorError::PrivilegeDrop {
            syscall: drop_stage.syscall(),
            source: match drop_stage {
                DropStage::RegainedRoot => Errno::UnknownErrno,
                _ => errno,
            },
        }),
        ChildStage::NoNewPrivs => Err(SupervisorError::ChildSetup {
            step: "prctl(PR_SET_NO_NEW_PRIVS)",
            source: errno,
        }),
        ChildStage::SignalMask => Err(SupervisorError::ChildSetup {
            step: "sigprocmask",
            source: errno,
        }),
        ChildStage::Exec => Err(SupervisorError::Exec {
            program: program.display().to_string(),
            source: errno,
        }),
    }
}

impl From<PluginFailure> for SupervisorError {
    fn from(failure: PluginFailure) -> Self {
        SupervisorError::Plugin(PluginSetupError::Failure(failure))
    }
}
