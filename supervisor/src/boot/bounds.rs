//! The boot's hooks for the sandbox's bounds: the cgroup step (made in the parent, before any
//! namespace), the verification of the cgroup and the resource limits from the paused workload,
//! and the record of what the sandbox used. The mechanisms live in [`crate::steps::cgroup`],
//! [`crate::steps::rlimits`] and [`crate::sandbox::supervise`].

use crate::boot::{Driver, Prepared};
use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::record::{Decider, Decision, Evidence, HardeningReport};
use crate::sandbox::Paused;
use crate::steps::cgroup::{CreateError, SandboxGroup};
use crate::steps::Step;

/// The decider written when the group could not be made and no limit was asked for explicitly.
const DEFAULT_LIMITS: Decider = Decider::DefaultLimits;

/// The cgroup step: removes stale groups, makes the sandbox's group below the supervisor's own
/// and plans the init's joining it. A refusal goes to the handler when the operator asked for a
/// limit; without one it is a WARN, and the report says which limits apply (the supervisor's own
/// group's).
pub(crate) fn cgroup_step(
    options: &RunOptions,
    prepared: &mut Prepared,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let hierarchies = crate::steps::cgroup::discover();
    crate::steps::cgroup::remove_stale(&hierarchies);
    let refusal = match SandboxGroup::create(&hierarchies, &options.limits) {
        Ok(group) => {
            if !group.unavailable.is_empty() && driver.logs() {
                let inherited = crate::steps::cgroup::inherited(&hierarchies);
                tracing::warn!(
                    step = %Step::Cgroup,
                    unavailable = ?group.unavailable,
                    "the sandbox's control group has no {} limit: no cgroup hierarchy offers the controller; the supervisor's own group's limits apply (pids.max {})",
                    group.unavailable.join(", "),
                    show(inherited.pids_max),
                );
            }
            prepared.plan.join_cgroup(group);
            return Ok(());
        }
        Err(CreateError::Unverified(detail)) => {
            return Err(SupervisorError::Verify {
                step: Step::Cgroup,
                detail,
            })
        }
        Err(CreateError::Refused(refusal)) => refusal,
    };
    let inherited = crate::steps::cgroup::inherited(&hierarchies);
    let evidence = Evidence::Cgroup(crate::steps::cgroup::Evidence {
        name: crate::steps::cgroup::group_name(),
        groups: Vec::new(),
        limits: Default::default(),
        cgroup_namespace: None,
        inherited: Some(inherited.clone()),
        unavailable: Vec::new(),
        rlimit_nproc: None,
    });
    // Out of descriptors or memory is the machine's state, never tolerated by the default
    // limits either: the driver ends the boot with it (exit 125).
    if options.limits.explicit() || crate::error::out_of_resources(refusal.errno) {
        driver.on_refusal(refusal, None, report)?;
    } else if driver.logs() {
        let errno = crate::handler::errno_name(refusal.errno as i32);
        tracing::warn!(
            step = %Step::Cgroup,
            decision = "tolerated",
            syscall = refusal.call.name(),
            errno = refusal.errno as i32,
            errno_name = %errno,
            decider = DEFAULT_LIMITS.as_str(),
            inherited_pids_max = inherited.pids_max,
            inherited_memory_max = inherited.memory_max,
            inherited_cpu_max = inherited.cpu_max,
            "cgroup tolerated: {} failed with {errno} and no limit was asked for; the sandbox has no group of its own, the supervisor's own group's limits apply (pids.max {}, memory {}, cpu {})",
            refusal.call,
            show(inherited.pids_max),
            show(inherited.memory_max),
            inherited.cpu_max.as_deref().unwrap_or("none"),
        );
        report.refusal(
            &refusal,
            None,
            &DEFAULT_LIMITS,
            Some(
                "no limit was asked for explicitly; the limits of the supervisor's own group apply",
            ),
            Decision::Tolerated,
        );
    } else {
        report.refusal(
            &refusal,
            None,
            &DEFAULT_LIMITS,
            Some(
                "no limit was asked for explicitly; the limits of the supervisor's own group apply",
            ),
            Decision::Tolerated,
        );
    }
    report.step(Step::Cgroup).verified = evidence;
    Ok(())
}

/// The `RLIMIT_NPROC` planned as the sandbox's process bound ([`bound_processes`]), if any.
///
/// [`bound_processes`]: crate::steps::rlimits::bound_processes
fn process_bound(plan: &crate::sandbox::Plan) -> Option<u64> {
    plan.rlimits()
        .iter()
        .find(|limit| limit.source == crate::steps::rlimits::PROCESS_BOUND)
        .filter(|_| plan.performs(Step::Rlimits))
        .map(|limit| limit.hard)
}

/// A default run cannot exhaust the host's processes: where no group's `pids.max` bounds the
/// sandbox (no group could be made, none has the pids controller, or the step was disabled) and
/// the sandbox takes the user-namespace route, the workload gets `RLIMIT_NPROC` at most the pids
/// limit (`--pids-max`, default 1024): the kernel (5.14 and later) counts it per user namespace,
/// so it counts the sandbox's processes and no other process of the caller's. A WARN says which
/// bound applies; the cgroup step's record gets `rlimit_nproc`. Directly (a root caller) it would
/// count every process of the workload's uid on the host: no such bound, and the WARN says so.
pub(crate) fn bound_processes(
    options: &RunOptions,
    prepared: &mut Prepared,
    route: crate::steps::userns::Route,
    report: &mut HardeningReport,
    logs: bool,
) -> Result<(), SupervisorError> {
    let plan = &mut prepared.plan;
    let pids_max = plan
        .group()
        .as_ref()
        .filter(|_| plan.performs(Step::Cgroup))
        .and_then(|group| group.applied.pids_max);
    if pids_max.is_some() || !plan.performs(Step::Rlimits) {
        return Ok(());
    }
    let max = options.limits.pids();
    if route != crate::steps::userns::Route::UserNamespace {
        if logs {
            tracing::warn!(step = %Step::Cgroup, decider = DEFAULT_LIMITS.as_str(), process_bound = "none", "the sandbox's processes have no bound of their own: no control group's pids.max, and RLIMIT_NPROC would count every process of the workload's uid on the host (only the supervisor's own group's limits apply)");
        }
        return Ok(());
    }
    if !crate::steps::rlimits::nproc_per_user_namespace() {
        if logs {
            tracing::warn!(step = %Step::Cgroup, decider = DEFAULT_LIMITS.as_str(), process_bound = "none", "the sandbox's processes have no bound of their own: no control group's pids.max, and this kernel (before 5.14) counts RLIMIT_NPROC per uid across the host, not per user namespace");
        }
        return Ok(());
    }
    let mut rlimits = plan.rlimits().to_vec();
    let bound = crate::steps::rlimits::bound_processes(&mut rlimits, max)
        .map_err(SupervisorError::Supervise)?;
    plan.set_rlimits(rlimits);
    if logs {
        tracing::warn!(step = %Step::Cgroup, decider = DEFAULT_LIMITS.as_str(), process_bound = "RLIMIT_NPROC", rlimit_nproc = bound, "the sandbox's processes are bounded by RLIMIT_NPROC {bound} (no control group's pids.max): the kernel counts it in the sandbox's own user namespace, the supervisor and the init included");
    }
    if let Evidence::Cgroup(evidence) = &mut report.step(Step::Cgroup).verified {
        evidence.rlimit_nproc = Some(bound);
    }
    if report.step(Step::Cgroup).decider == Some(DEFAULT_LIMITS) {
        report.step(Step::Cgroup).reason = Some(format!(
            "no limit was asked for explicitly; the limits of the supervisor's own group apply, and the sandbox's processes are bounded by RLIMIT_NPROC {bound} in its user namespace"
        ));
    }
    Ok(())
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "none".to_owned(), |value| value.to_string())
}

/// Verifies the resource limits and the cgroup from the paused workload (and its init).
pub(crate) fn verify(
    paused: &Paused,
    prepared: &Prepared,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let plan = &prepared.plan;
    if plan.performs(Step::Rlimits) {
        let evidence =
            crate::steps::rlimits::verify(paused.workload(), plan.rlimits()).map_err(|detail| {
                SupervisorError::Verify {
                    step: Step::Rlimits,
                    detail,
                }
            })?;
        report.enforced(Step::Rlimits, Evidence::Rlimits(evidence));
    }
    if let Some(group) = plan
        .group()
        .as_ref()
        .filter(|_| plan.performs(Step::Cgroup))
    {
        for pid in [paused.init(), paused.workload()] {
            group
                .contains(pid)
                .map_err(|detail| SupervisorError::Verify {
                    step: Step::Cgroup,
                    detail,
                })?;
        }
        let namespace = |pid: String| {
            std::fs::read_link(format!("/proc/{pid}/ns/cgroup"))
                .ok()
                .map(|link| link.display().to_string())
        };
        let own = namespace("self".to_owned());
        let workload = namespace(paused.workload().to_string());
        let cgroup_namespace = match (own, workload) {
            (Some(own), Some(workload)) => Some(own != workload),
            _ => None,
        };
        report.enforced(
            Step::Cgroup,
            Evidence::Cgroup(crate::steps::cgroup::Evidence {
                // The name the groups were made with (reading it again costs a `getpid` and
                // the supervisor's `stat`).
                name: group.name.clone(),
                groups: group.records(),
                limits: group.applied.clone(),
                cgroup_namespace,
                inherited: (!group.unavailable.is_empty())
                    .then(|| crate::steps::cgroup::inherited(&crate::steps::cgroup::discover())),
                unavailable: group.unavailable.clone(),
                rlimit_nproc: process_bound(plan),
            }),
        );
    }
    Ok(())
}

/// Logs how the workload ended, with what it used (the final record's `exit` and `usage`), at
/// INFO, or WARN for a timeout or an OOM kill.
pub(crate) fn log_end(report: &HardeningReport) {
    let usage = report.usage.as_ref();
    let Some(exit) = &report.exit else {
        return;
    };
    let outcome = serde_json::to_value(exit.outcome)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let usage = usage.cloned().unwrap_or_default();
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(
                $level,
                outcome = %outcome,
                exit_code = exit.exit_code,
                duration_ms = exit.duration_ms,
                memory_peak_bytes = usage.memory_peak_bytes,
                memory_max_hits = usage.memory_max_hits,
                oom_kills = usage.oom_kills,
                pids_peak = usage.pids_peak,
                pids_max_hits = usage.pids_max_hits,
                cpu_usage_usec = usage.cpu_usage_usec,
                signal = exit.signal.as_deref(),
                signal_number = exit.signal_number,
                "workload ended: {outcome}{}, exit code {}",
                exit.signal.as_ref().map(|name| format!(" by {name}")).unwrap_or_default(),
                exit.exit_code
            )
        };
    }
    match outcome.as_str() {
        "timed-out" | "oom-killed" => event!(tracing::Level::WARN),
        _ => event!(tracing::Level::INFO),
    }
}
