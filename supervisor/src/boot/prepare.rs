//! Step 1 of the boot: every input read and checked, the identity resolved, every program
//! compiled, in the parent, before any step.

use std::path::PathBuf;

use nix::sys::signal::SigSet;

use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::sandbox::Plan;
use crate::steps::identity::Identity;

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
}

/// The identity the workload runs as: `--user`, else nobody for a root caller, else the caller.
pub(crate) fn workload_identity(options: &RunOptions) -> Result<Option<Identity>, SupervisorError> {
    let identity = match &options.user {
        Some(spec) => {
            Some(crate::steps::identity::resolve(spec).map_err(SupervisorError::Identity)?)
        }
        // Root without capabilities still owns the host's root-owned files and sockets.
        None if nix::unistd::geteuid().is_root() => Some(nobody()),
        None => None,
    };
    if let Some(identity) = &identity {
        if (identity.uid.is_root()
            || identity.gid.as_raw() == 0
            || identity.groups.iter().any(|g| g.as_raw() == 0))
            && !options.allow_root
        {
            return Err(SupervisorError::RootNotAllowed);
        }
    }
    Ok(identity)
}

/// uid and gid 65534, the identity a root caller's workload gets without `--user`.
pub(crate) fn nobody() -> Identity {
    let nobody = nix::unistd::Gid::from_raw(65534);
    Identity {
        uid: nix::unistd::Uid::from_raw(65534),
        gid: nobody,
        groups: vec![nobody],
    }
}

/// Step 1: reads and checks every input, resolves the identity, compiles every program.
pub(crate) fn prepare(
    options: &RunOptions,
    program: Option<PathBuf>,
    mask: SigSet,
) -> Result<Prepared, SupervisorError> {
    let identity = workload_identity(options)?;
    let program = match program {
        Some(program) => program,
        None => crate::sandbox::resolve_command(
            options
                .command
                .first()
                .ok_or(crate::sandbox::CommandError::Empty)?,
        )?,
    };
    let prelude = crate::steps::seccomp::compile_prelude()?;
    let profile = match &options.seccomp_profile {
        Some(path) => Some((
            path.display().to_string(),
            crate::input::read_capped(path, "seccomp profile")
                .map_err(SupervisorError::SeccompProfile)?,
        )),
        None => None,
    };
    let filter =
        crate::steps::seccomp::compile_workload(&crate::steps::seccomp::WorkloadOptions {
            profile: profile
                .as_ref()
                .map(|(name, json)| crate::steps::seccomp::Profile { name, json }),
            replace_builtin: options.seccomp_profile_replaces_builtin,
        })?;
    if filter.source.replaces_builtin() {
        tracing::warn!(source = %filter.source, "the operator's seccomp profile replaces the built-in workload filter: only the profile's rules apply");
    }
    let env = options.workload_env();
    let env_names = crate::options::env_names(&env);
    let mut plan = Plan::new(&program, &options.command, env, identity, filter, mask)?;
    let keep = options
        .cap_add
        .iter()
        .fold(0u64, |mask, cap| mask | 1 << cap);
    let privileged = plan.identity().map_or_else(
        || nix::unistd::geteuid().is_root(),
        |identity| {
            identity.uid.is_root()
                || identity.gid.as_raw() == 0
                || identity.groups.iter().any(|group| group.as_raw() == 0)
        },
    );
    plan.fresh_sys(privileged || keep != 0);
    // The filesystem view: the operator's paths are checked here, before any step.
    plan.set_view(crate::steps::view::View::prepare(
        &options.view,
        privileged || keep != 0,
    )?);
    // uid 0 (or a kept capability) is contained only by a view: never without one.
    if let Some(why) = crate::boot::without_view(options) {
        let root = plan.identity().is_some_and(|identity| {
            identity.uid.is_root()
                || identity.gid.as_raw() == 0
                || identity.groups.iter().any(|group| group.as_raw() == 0)
        });
        if root || keep != 0 {
            return Err(SupervisorError::RootWithoutView {
                what: if root {
                    "as uid 0 or gid 0"
                } else {
                    "with kept capabilities"
                },
                why,
            });
        }
    }
    if keep != 0 {
        tracing::warn!(
            capabilities = ?crate::steps::capabilities::names(keep),
            "the workload keeps capabilities the operator added (--cap-add)"
        );
        plan.keep_capabilities(keep);
    }
    let caller_groups = nix::unistd::getgroups().map_err(SupervisorError::Supervise)?;
    Ok(Prepared {
        plan,
        prelude,
        program,
        env_names,
        caller_groups,
        wants_landlock: true,
    })
}
