//! The orchestrator: every boot step in order, in one place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::exit;
use crate::failure::{
    decide, set_failure_handler, FailureReport, HandlerAlreadySet, Refused, SandboxFailureKind,
};
use crate::identity::{DropStage, Identity, IdentityError};
use crate::netns::NetnsVerifyError;
use crate::plugin::{PluginFailure, PluginRequest, PluginSetupError};
use crate::seccomp::SeccompCompileError;
use crate::spawn::{ChildStage, CommandError, Plan, SpawnError, Spawned};

/// What to run and how; the library's form of the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--handler-plugin`.
    pub handler_plugin: Option<PathBuf>,
    /// `--handler-config`.
    pub handler_config: Option<PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--user`.
    pub user: Option<String>,
    /// `--seccomp-profile`.
    pub seccomp_profile: Option<PathBuf>,
    /// The workload and its arguments.
    pub command: Vec<OsString>,
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
            SupervisorError::HandlerConfig { .. } | SupervisorError::Identity(_) => exit::USAGE,
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
            SupervisorError::NetnsVerify(_) | SupervisorError::PreludeVerify(_) => {
                exit::VERIFICATION
            }
            SupervisorError::PrivilegeDrop { .. } => exit::PRIVILEGE_DROP,
            SupervisorError::Exec { source, .. } => match source {
                Errno::ENOENT => exit::NOT_FOUND,
                _ => exit::NOT_EXECUTABLE,
            },
            SupervisorError::HandlerAlreadySet(_)
            | SupervisorError::Threads(_)
            | SupervisorError::ChildSetup { .. }
            | SupervisorError::Spawn(_)
            | SupervisorError::Supervise(_) => exit::INTERNAL,
        }
    }
}

/// Boots the sandbox and runs `options.command` in it; returns the workload's exit code (128+N when
/// signal N killed it).
///
/// Call it from a single-threaded process. It registers the plugin's handler when
/// `options.handler_plugin` is set; an embedder that registered its own handler leaves it unset.
pub fn run(options: &RunOptions) -> Result<i32, SupervisorError> {
    // 1. The handler comes first: it must be in place before the first step can be refused, and a
    //    plugin that fails to load must stop the boot before anything has changed.
    if let Some(path) = &options.handler_plugin {
        register_plugin(path, options)?;
    }
    let handler = crate::failure::failure_handler();
    tracing::debug!(decider = %handler.decider(), "failure handler in place");

    // 2. Everything that allocates, reads files or asks NSS happens before hardening and before
    //    fork: the child may only make async-signal-safe calls, and NSS may need the network.
    let identity = options
        .user
        .as_deref()
        .map(crate::identity::resolve)
        .transpose()
        .map_err(SupervisorError::Identity)?;
    let program = crate::spawn::resolve_command(&options.command[0])?;
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

    // 3. The network namespace, before the prelude: nothing the prelude denies is needed for it,
    //    but keeping the supervisor's own changes ahead of its self-restriction keeps the order
    //    obvious.
    match crate::netns::enter().map_err(SupervisorError::NetnsVerify)? {
        Ok(status) => tracing::info!(
            inode = status.inode,
            parent_inode = status.parent_inode,
            "network-namespace enforced: new namespace with only lo up"
        ),
        Err(refusal) => {
            decide(FailureReport::new(
                SandboxFailureKind::NetworkNamespace,
                refusal.syscall,
                refusal.errno as i32,
                "the kernel refused to give the workload its own network namespace",
            ))?;
        }
    }

    // 4. The supervisor's prelude, after every step that needs mount-like powers and before the
    //    workload exists.
    install_prelude(&prelude)?;

    // 5. Spawn. The supervised signals are blocked first so that none arrives unseen between fork
    //    and supervision; the workload gets the original mask back just before exec.
    let mask = crate::supervise::block_signals().map_err(|source| SpawnError {
        what: "block signals",
        source,
    })?;
    crate::spawn::close_on_exec_all()?;
    let workload = loop {
        match crate::spawn::spawn(&mut plan, &mask)? {
            Spawned::Running(pid) => break pid,
            Spawned::Failed { stage, errno } => {
                child_failure(&mut plan, &program, identity.as_ref(), stage, errno)?
            }
        }
    };
    if let Some(filter) = plan.filter() {
        tracing::info!(source = %filter.source, "workload-seccomp enforced: filter installed before exec");
    }
    tracing::debug!(pid = workload.as_raw(), "workload running");

    // 6. Supervise until the workload ends.
    let ended = crate::supervise::supervise(workload).map_err(SupervisorError::Supervise)?;
    Ok(ended.exit_code())
}

fn register_plugin(path: &Path, options: &RunOptions) -> Result<(), SupervisorError> {
    let config = options
        .handler_config
        .as_deref()
        .map(read_config)
        .transpose()?;
    let handler = crate::plugin::load(&PluginRequest {
        path: path.to_owned(),
        sha256: options.handler_plugin_sha256,
        config,
    })?;
    let declared: Vec<&str> = handler.declared().iter().map(|kind| kind.name()).collect();
    tracing::info!(
        plugin = %path.display(),
        decider = %crate::failure::SandboxFailureHandler::decider(&handler),
        may_tolerate = ?declared,
        "failure handler loaded: {} may tolerate [{}]; every other refusal aborts",
        crate::failure::SandboxFailureHandler::decider(&handler),
        declared.join(", "),
    );
    set_failure_handler(Box::new(handler))?;
    Ok(())
}

fn read_config(path: &Path) -> Result<String, SupervisorError> {
    let error = |source: Box<dyn std::error::Error + Send + Sync>| SupervisorError::HandlerConfig {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.into()))?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|err| error(err.into()))?;
    Ok(text)
}

fn install_prelude(prelude: &seccompiler::BpfProgram) -> Result<(), SupervisorError> {
    let refused = |syscall: &str, errno: Errno| {
        decide(FailureReport::new(
            SandboxFailureKind::SupervisorSeccomp,
            syscall,
            errno as i32,
            "the kernel refused the supervisor's own seccomp filter",
        ))
        .map(drop)
        .map_err(SupervisorError::from)
    };
    if let Err(errno) = crate::seccomp::set_no_new_privs() {
        return refused("prctl(PR_SET_NO_NEW_PRIVS)", errno);
    }
    if let Err(errno) = crate::seccomp::install(prelude) {
        return refused("seccomp(SECCOMP_SET_MODE_FILTER)", errno);
    }
    match crate::seccomp::seccomp_mode() {
        Ok(2) => {
            tracing::info!("supervisor-seccomp enforced: PR_GET_SECCOMP is 2");
            Ok(())
        }
        Ok(mode) => Err(SupervisorError::PreludeVerify(mode)),
        Err(errno) => Err(SupervisorError::PreludeVerify(-(errno as i32))),
    }
}

/// Turns a child's `(stage, errno)` into an error, or, for a tolerated workload-filter refusal,
/// drops the filter from the plan so the caller spawns again (the workload has not run yet).
fn child_failure(
    plan: &mut Plan,
    program: &Path,
    identity: Option<&Identity>,
    stage: ChildStage,
    errno: Errno,
) -> Result<(), SupervisorError> {
    match stage {
        ChildStage::WorkloadSeccomp(_) => {
            decide(FailureReport::new(
                SandboxFailureKind::WorkloadSeccomp,
                "seccomp(SECCOMP_SET_MODE_FILTER)",
                errno as i32,
                "the kernel refused the workload's seccomp filter",
            ))?;
            plan.without_filter();
            Ok(())
        }
        ChildStage::Drop(drop_stage) => {
            let syscall = drop_stage.syscall();
            tracing::debug!(?identity, ?drop_stage, "privilege drop failed");
            let source = match drop_stage {
                DropStage::RegainedRoot => Errno::UnknownErrno,
                _ => errno,
            };
            Err(SupervisorError::PrivilegeDrop { syscall, source })
        }
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
