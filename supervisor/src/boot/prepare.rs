//! Step 1 of the boot: every input read and checked, the identity resolved, every program
//! ready (an operator's profile compiled; the built-in programs are the build's tables), in the
//! parent, before any step.

use std::path::PathBuf;

use nix::sys::signal::SigSet;

use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::sandbox::Plan;

/// Everything read, resolved and compiled before the first step.
pub(crate) struct Prepared {
    /// The sandbox's plan.
    pub plan: Plan,
    /// The supervisor's prelude.
    pub prelude: crate::steps::seccomp::CheckedProgram,
    /// The program that will be exec'd.
    pub program: PathBuf,
    /// The names of the workload's environment variables, for the report.
    pub env_names: Vec<String>,
    /// The caller's supplementary groups, read before any step (inside a user namespace the
    /// groups it cannot map read as the overflow gid).
    pub caller_groups: Vec<nix::unistd::Gid>,
    /// Whether the boot builds a Landlock ruleset (the prepared inputs of a real boot do).
    pub wants_landlock: bool,
    /// The `--seccomp-profile` file (path and SHA-256 of the bytes compiled), for the report.
    pub seccomp_profile: Option<crate::options::FileDigest>,
}

/// Step 1: reads and checks every input, resolves the identity, compiles every program.
/// `identity` is `crate::steps::identity::prepare`'s (the caller may need it before: `run` checks
/// the report's path against it); the plan holds its uid's lock.
pub(crate) fn prepare(
    options: &RunOptions,
    program: Option<PathBuf>,
    mask: SigSet,
    identity: crate::steps::identity::Prepared,
) -> Result<Prepared, SupervisorError> {
    // Each step's preparation: a mistake here is the operator's, found before anything changed.
    let crate::steps::identity::Prepared { identity, lease } = identity;
    crate::steps::capabilities::check_caller(identity.as_ref())?;
    let program = match program {
        Some(program) => program,
        None => crate::sandbox::resolve_command(
            options
                .command
                .first()
                .ok_or(crate::sandbox::CommandError::Empty)?,
        )?,
    };
    let prelude = crate::steps::prelude::prepare()?;
    let (filter, seccomp_profile) = crate::steps::seccomp::prepare(options)?;
    // The built-in programs are the build's tables: only an operator's profile is compiled.
    let compiled = crate::steps::seccomp::programs_compiled();
    tracing::debug!(
        seccomp_programs_compiled = compiled,
        "seccomp programs ready: the built-in ones from the build's tables, {compiled} compiled"
    );
    let env = options.workload_env();
    let env_names = crate::options::env_names(&env);
    let mut plan = Plan::new(&program, &options.command, env, identity, filter, mask)?;
    plan.hold_uid(lease);
    let keep = crate::steps::capabilities::prepare(options);
    let fresh_sys = crate::steps::mount::prepare(plan.identity(), keep);
    plan.fresh_sys(fresh_sys);
    plan.keep_capabilities(keep);
    let no_mount_namespace = options
        .disabled_steps
        .contains(&crate::steps::Step::MountNamespace);
    if let Some(what) = crate::steps::costs::privileged(&plan).filter(|_| no_mount_namespace) {
        return Err(SupervisorError::RootWithoutMountNamespace {
            what,
            why: "--disable-step mount-namespace".to_owned(),
        });
    }
    crate::steps::view::prepare(options, &mut plan, fresh_sys)?;
    let caller_groups = nix::unistd::getgroups().map_err(SupervisorError::Supervise)?;
    let rlimits =
        crate::steps::rlimits::plan(&options.rlimits).map_err(SupervisorError::Supervise)?;
    for limit in rlimits.iter().filter(|limit| limit.clamped) {
        let name = limit.resource.name();
        tracing::warn!(rlimit = name, soft = limit.soft, hard = limit.hard, "--rlimit {name} asks for more than the supervisor has: lowered to its own limits, soft {}, hard {} (a limit is never raised)", show_limit(limit.soft), show_limit(limit.hard));
    }
    plan.set_rlimits(rlimits);
    Ok(Prepared {
        plan,
        prelude,
        program,
        env_names,
        caller_groups,
        wants_landlock: true,
        seccomp_profile,
    })
}

/// A limit as the WARN line writes it.
fn show_limit(value: u64) -> String {
    match value {
        crate::steps::rlimits::UNLIMITED => "unlimited".to_owned(),
        value => value.to_string(),
    }
}
