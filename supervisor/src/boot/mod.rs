//! The boot sequence: every hardening step in order, in one place, driven by `run` ("decide and
//! stop") and by `probe` ("record, decide, continue").
//!
//! The order, and why:
//!
//! 1. Inputs are read and checked, the identity resolved (NSS may allocate and talk to daemons)
//!    and every BPF program compiled and its length checked, in the parent, before any step: the
//!    children may only make async-signal-safe calls, and an operator's mistake must stop the boot
//!    before anything changed (`prepare`).
//! 2. The network namespace, entered by the supervisor itself: the sandbox inherits it. When the
//!    plain `unshare` is refused for lack of privilege and the caller is not root, the
//!    user-namespace route is tried first ([`crate::steps::userns`]).
//! 3. The sandbox: the init in a new PID namespace, a private mount namespace with a fresh
//!    `/proc`, then the workload: a new session, no capabilities, the ids, no_new_privs and the
//!    workload filter ([`crate::sandbox`]). A refused step there is decided, and a tolerated one is
//!    left out of a fresh spawn: the workload has not run yet.
//! 4. Everything the sandbox reported is verified from the paused workload's `/proc` entries.
//! 5. The supervisor's own prelude, last: it denies `mount`, which step 3 needs, and the workload
//!    must not inherit it (its filter is a superset, and each inherited program costs every call).

mod driver;
mod prepare;
pub(crate) mod probe;
pub(crate) mod run;
mod verify;

pub(crate) use driver::{DecideAndStop, Driver, RecordAndContinue};
pub(crate) use prepare::{prepare, Prepared};

use nix::errno::Errno;
use nix::sys::signalfd::SignalFd;

use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::procfs::{Process, Status};
use crate::record::{Decider, Decision, Evidence, HardeningReport};
use crate::sandbox::{Paused, Spawned};
use crate::steps::network::NetnsError;
use crate::steps::observed::Observed;
use crate::steps::userns::Route;
use crate::steps::{Refusal, Step};

/// Leaves `step` out of the plan, and records and logs every step lost with it (the steps that
/// require it).
fn leave_out(plan: &mut crate::sandbox::Plan, step: Step, report: &mut HardeningReport) {
    for lost in plan.skip(step) {
        tracing::warn!(step = %lost, lost_with = %step, "{lost} is lost with {step}, which it requires: {}", lost.protection());
        report.lost_with(lost, step);
    }
}

/// Returns `Err` when a signal asked the supervisor to stop.
fn check_signals(signals: &SignalFd) -> Result<(), SupervisorError> {
    match crate::sandbox::take_stop_signal(signals)? {
        Some(signal) => Err(SupervisorError::Spawn(
            crate::sandbox::SpawnError::Interrupted(signal),
        )),
        None => Ok(()),
    }
}

/// Steps 2 to 5: the namespaces, the sandbox, its verification and the prelude. Returns the
/// paused workload, verified, ready for release.
pub(crate) fn boot(
    options: &RunOptions,
    prepared: &mut Prepared,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
    signals: &SignalFd,
) -> Result<Paused, SupervisorError> {
    for &step in &options.disabled_steps {
        tracing::warn!(step = %step, decision = Decision::DisabledByOperator.name(), decider = %Decider::Operator, "hardening step disabled by the operator: {}", step.kind().map_or("", |kind| kind.lost_protection()));
        report.disabled(step);
        leave_out(&mut prepared.plan, step, report);
    }

    // 2. The network namespace.
    check_signals(signals)?;
    let mut route = Route::Direct;
    if prepared.plan.performs(Step::NetworkNamespace) {
        route = network_namespace(options, driver, report)?;
        if report.step(Step::NetworkNamespace).decision != Decision::Enforced {
            leave_out(&mut prepared.plan, Step::NetworkNamespace, report);
        }
    }
    if route == Route::UserNamespace {
        // Inside the user namespace only the caller's own uid and gid exist.
        if let Some(identity) = prepared.plan.identity() {
            let more_groups = prepared
                .caller_groups
                .iter()
                .any(|group| !identity.groups.contains(group));
            if identity.uid != nix::unistd::geteuid()
                || identity.gid != nix::unistd::getegid()
                || more_groups
            {
                return Err(SupervisorError::UserOnUserNamespace);
            }
            prepared.plan.identity_in_place();
        }
    }

    // 3. The sandbox, spawned again without a step whose refusal was tolerated.
    let own = Status::read(Process::This)?;
    let paused = loop {
        check_signals(signals)?;
        match crate::sandbox::spawn(&mut prepared.plan, signals)? {
            Spawned::Ready(paused) => break paused,
            // The child's own checks (ids, capabilities) found a call that returned success
            // without effect: a verification failure, not a refusal.
            Spawned::Refused(refusal) if refusal.call.is_verification() => {
                return Err(unverified(
                    refusal.step,
                    format!(
                        "{} shows that an earlier call returned success without effect",
                        refusal.call
                    ),
                ));
            }
            Spawned::Refused(refusal) => {
                driver.on_refusal(refusal, None, report)?;
                leave_out(&mut prepared.plan, refusal.step, report);
            }
        }
    };
    report.workload.pid = Some(paused.workload().as_raw());

    // 4. What really took effect.
    let observed = Observed::read(
        paused.workload(),
        paused.own_pid(),
        paused.init(),
        own,
        route,
    )?;
    verify::verify_sandbox(&observed, &prepared.plan, report)?;

    // 5. The supervisor's own prelude.
    check_signals(signals)?;
    if prepared.plan.performs(Step::SupervisorSeccomp) {
        match crate::steps::prelude::install(&prepared.prelude)? {
            Ok(evidence) => {
                report.enforced(Step::SupervisorSeccomp, evidence);
            }
            Err(refusal) => driver.on_refusal(refusal, None, report)?,
        }
    }
    Ok(paused)
}

/// Step 2, with the user-namespace route. Returns the route the namespaces took.
fn network_namespace(
    options: &RunOptions,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<Route, SupervisorError> {
    let plain = match crate::steps::network::enter() {
        Ok(status) => {
            record_network(status, Route::Direct, report);
            return Ok(Route::Direct);
        }
        Err(NetnsError::Verify(err)) => return Err(SupervisorError::NetnsVerify(err)),
        Err(NetnsError::Refused(refusal)) => refusal,
    };
    let route_applies =
        plain.errno == Errno::EPERM && !options.no_userns && !nix::unistd::geteuid().is_root();
    if !route_applies {
        driver.on_refusal(plain, None, report)?;
        return Ok(Route::Direct);
    }
    match crate::steps::userns::enter() {
        Ok(()) => {}
        Err(crate::steps::userns::UsernsError::Refused(call, errno)) => {
            let fallback = Refusal {
                step: Step::NetworkNamespace,
                call,
                errno,
            };
            driver.on_refusal(plain, Some(fallback), report)?;
            return Ok(Route::Direct);
        }
        Err(crate::steps::userns::UsernsError::Unchanged) => {
            return Err(unverified(
                Step::NetworkNamespace,
                "unshare(CLONE_NEWUSER) returned success but the user namespace is unchanged"
                    .to_owned(),
            ))
        }
    }
    tracing::info!("namespaces take the user-namespace route: unshare(CLONE_NEWNET) failed with EPERM and the caller is not root");
    match crate::steps::network::enter() {
        Ok(status) => record_network(status, Route::UserNamespace, report),
        Err(NetnsError::Verify(err)) => return Err(SupervisorError::NetnsVerify(err)),
        Err(NetnsError::Refused(inside)) => driver.on_refusal(inside, None, report)?,
    }
    for step in [
        Step::NetworkNamespace,
        Step::PidNamespace,
        Step::MountNamespace,
    ] {
        report.step(step).route = Some(Route::UserNamespace);
    }
    Ok(Route::UserNamespace)
}

fn record_network(
    status: crate::steps::network::NetnsStatus,
    route: Route,
    report: &mut HardeningReport,
) {
    report.enforced(Step::NetworkNamespace, Evidence::Network(status));
    report.step(Step::NetworkNamespace).route = Some(route);
}

fn unverified(step: Step, detail: String) -> SupervisorError {
    SupervisorError::Verify { step, detail }
}
