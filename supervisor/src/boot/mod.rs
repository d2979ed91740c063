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
//! 6. After the workload is reaped (or the boot stopped), the teardown: the steps that clean up
//!    do, in reverse order, and add to the final record ([`teardown()`]).
//!
//! The kernel is reached through [`Syscalls`] ([`Linux`] in a run, a recording fake in the unit
//! tests below), so the decisions above are tested without root.

pub(crate) mod bounds;
mod driver;
mod environ;
mod prepare;
pub(crate) mod probe;
pub(crate) mod run;
mod syscalls;
mod teardown;
mod verify;

pub(crate) use syscalls::{Linux, Syscalls};
pub(crate) use teardown::teardown;

pub(crate) use driver::{DecideAndStop, Driver, RecordAndContinue};
pub(crate) use prepare::{prepare, Prepared};

use nix::errno::Errno;
use nix::sys::signalfd::SignalFd;

use crate::error::SupervisorError;
use crate::options::RunOptions;
use crate::procfs::{Process, Status};
use crate::record::{Decider, Decision, Evidence, HardeningReport};
use crate::sandbox::{Paused, Skip, Spawned};
use crate::steps::network::NetnsError;
use crate::steps::observed::Observed;
use crate::steps::userns::Route;
use crate::steps::{Refusal, Step};

/// Leaves `step` out of the plan, and records and logs (with `log`: a run, not `probe`) every
/// step lost with it (the steps that require it). The WARN line names the refused call, the
/// decision and who decided, like the handler's own line for the step it was lost with.
fn leave_out(
    plan: &mut crate::sandbox::Plan,
    step: Step,
    why: Skip,
    report: &mut HardeningReport,
    log: bool,
) {
    for lost in plan.skip(step, why) {
        report.lost_with(lost, step);
        if !log {
            continue;
        }
        let cause = report.step(step).clone();
        let decision = cause.decision.name();
        let decider = cause
            .decider
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let missing = lost
            .kind()
            .map_or(lost.protection(), |kind| kind.lost_protection());
        let reason = cause
            .reason
            .as_deref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default();
        match (&cause.syscall, &cause.errno_name) {
            (Some(syscall), Some(errno_name)) => tracing::warn!(
                step = %lost,
                lost_with = %step,
                decision,
                syscall = %syscall,
                errno_name = %errno_name,
                decider = %decider,
                "hardening step {decision}: {lost} lost with {step}, which it requires: {syscall} failed with {errno_name}; {missing}; {decision} by {decider}{reason}"
            ),
            _ => tracing::warn!(
                step = %lost,
                lost_with = %step,
                decision,
                decider = %decider,
                "hardening step {decision}: {lost} lost with {step}, which it requires ({decision} by {decider}): {missing}"
            ),
        }
    }
    // What each missing step costs now that this one is missing too.
    crate::steps::costs::record(plan, report);
}

/// Builds the Landlock ruleset for the view the plan will build (or for the host's paths when it
/// builds none). A refusal is decided by the driver; a path that cannot be opened is the
/// operator's error; an ABI query answered with 0 is a faked success.
fn prepare_landlock(
    view_options: &crate::steps::view::ViewOptions,
    plan: &mut crate::sandbox::Plan,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    use crate::steps::landlock::LandlockError;
    let view = plan.view().filter(|_| plan.performs(Step::FilesystemView));
    match crate::steps::landlock::prepare(view_options, view) {
        Ok(prepared) => plan.set_landlock(Some(prepared)),
        Err(LandlockError::Refused(call, errno)) => {
            plan.set_landlock(None);
            let refusal = Refusal {
                step: Step::Landlock,
                call: crate::steps::Call::Landlock(call),
                errno,
            };
            driver.on_refusal(refusal, None, report)?;
            leave_out(plan, Step::Landlock, Skip::Lost, report, driver.logs());
        }
        Err(err @ LandlockError::Faked(_)) => {
            return Err(unverified(Step::Landlock, err.to_string()))
        }
        Err(err) => return Err(SupervisorError::Landlock(err)),
    }
    Ok(())
}

/// `--fs host-rw` recorded as the view given up, and the Landlock ruleset built in the parent,
/// before any namespace (only `restrict_self` happens in the workload).
fn view_and_landlock(
    options: &RunOptions,
    prepared: &mut Prepared,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    if options.view.mode == crate::steps::view::FsMode::HostRw
        && !options.disabled_steps.contains(&Step::FilesystemView)
    {
        let lost = crate::handler::SandboxFailureKind::FilesystemView.lost_protection();
        tracing::warn!(step = %Step::FilesystemView, decision = Decision::DisabledByOperator.name(), decider = %Decider::Operator, "hardening step given up by the operator (--fs host-rw): {lost}");
        report.disabled(Step::FilesystemView);
        report.step(Step::FilesystemView).reason = Some("--fs host-rw".to_owned());
        report.step(Step::Landlock).protection = crate::steps::landlock::HOST_RW_PROTECTION;
    }

    if prepared.wants_landlock && !options.disabled_steps.contains(&Step::Landlock) {
        prepare_landlock(&options.view, &mut prepared.plan, driver, report)?;
    }
    Ok(())
}

/// uid 0 or a kept capability is contained only by an enforced view: the run stops with a usage
/// error before the workload runs when the view is not there.
fn root_needs_view(plan: &crate::sandbox::Plan, why: String) -> Result<(), SupervisorError> {
    match crate::steps::costs::privileged(plan) {
        Some(what) => Err(SupervisorError::RootWithoutView { what, why }),
        None => Ok(()),
    }
}

/// uid 0 or a kept capability without the sandbox's own mount namespace would have the host's
/// /proc and /sys (kernel settings, the cgroup tree): the run stops with a usage error before the
/// workload runs when the mount namespace was left out (`why`: how; disabled, it stopped in
/// `prepare`).
pub(crate) fn root_needs_mount_namespace(
    plan: &crate::sandbox::Plan,
    why: impl FnOnce() -> String,
) -> Result<(), SupervisorError> {
    if plan.performs(Step::MountNamespace) {
        return Ok(());
    }
    match crate::steps::costs::privileged(plan) {
        Some(what) => Err(SupervisorError::RootWithoutMountNamespace { what, why: why() }),
        None => Ok(()),
    }
}

/// Marks the view lost when the host's processes lead out of it (no PID namespace, no Landlock),
/// then refuses uid 0 (or a kept capability) without the sandbox's mount namespace and an enforced
/// view: the run stops with a usage error when a decision left either out.
fn mark_escapable_view_lost_and_refuse_uncontained_root(
    plan: &mut crate::sandbox::Plan,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let left_out = |report: &mut HardeningReport, step: Step| {
        let record = report.step(step);
        let decider = record.decider.as_ref().map(ToString::to_string);
        let decision = record.decision.name();
        format!("{step} was {decision} by {}", decider.unwrap_or_default())
    };
    root_needs_mount_namespace(plan, || left_out(report, Step::MountNamespace))?;
    // A view the workload could leave through /proc/PID/root of the host's processes: neither a
    // PID namespace of its own nor a Landlock domain (tolerated refusals; the operator disabling
    // both is refused in the view's preparation). The view does not hold: it is lost with them.
    if plan.view().is_some()
        && plan.performs(Step::FilesystemView)
        && !plan.performs(Step::PidNamespace)
        && !plan.performs(Step::Landlock)
    {
        for lost in plan.skip(Step::FilesystemView, Skip::Lost) {
            report.lost_with(lost, Step::Landlock);
        }
        report.lost_with(Step::FilesystemView, Step::Landlock);
        let decision = report.step(Step::Landlock).decision.name();
        tracing::warn!(
            step = %Step::FilesystemView,
            lost_with = %Step::Landlock,
            decision,
            "hardening step {decision}: filesystem-view lost with landlock and pid-namespace: without a PID namespace of its own or a Landlock domain, /proc/PID/root of the host's processes of the workload's uid leads out of the view"
        );
    }
    if plan.view().is_some() && !plan.performs(Step::FilesystemView) {
        let record = report.step(Step::FilesystemView);
        let why = format!("{} was {}", Step::FilesystemView, record.decision.name());
        root_needs_view(plan, why)?;
    }
    Ok(())
}

/// What really took effect, read from the paused sandbox: its `/proc` entries, the Landlock
/// status the workload sent, and the host sockets the view masked, looked up through its root.
fn observe(
    paused: &Paused,
    own: Status,
    route: Route,
    plan: &crate::sandbox::Plan,
) -> Result<Observed, SupervisorError> {
    let workload = paused.workload();
    let mut observed = Observed::read(workload, paused.own_pid(), paused.init(), own, route)?;
    observed.landlock_status = paused.landlock_status();
    let view = plan.view().filter(|_| plan.performs(Step::FilesystemView));
    observed.view.look_up_masked(workload.as_raw(), view);
    Ok(observed)
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
    sys: &mut dyn Syscalls,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
    signals: &SignalFd,
) -> Result<Paused, SupervisorError> {
    for &step in &options.disabled_steps {
        tracing::warn!(step = %step, decision = Decision::DisabledByOperator.name(), decider = %Decider::Operator, "hardening step disabled by the operator: {}", step.kind().map_or("", |kind| kind.lost_protection()));
        report.disabled(step);
        leave_out(&mut prepared.plan, step, Skip::Lost, report, driver.logs());
    }
    // 1b. The sandbox's control group, made by the supervisor below its own before any namespace
    // (the init joins it through descriptors opened here).
    if !options.disabled_steps.contains(&Step::Cgroup) {
        bounds::cgroup_step(options, prepared, driver, report)?;
    }

    // The view given up (--fs host-rw), and the Landlock ruleset, after the cgroup.
    view_and_landlock(options, prepared, driver, report)?;

    // 2. The network namespace.
    check_signals(signals)?;
    let mut route = Route::Direct;
    if !sys.is_root() {
        // The user-namespace route (`unshare(CLONE_NEWUSER)`) requires a single-threaded
        // process. Only a root caller's uid is allocated, so there is no scan to wait for here;
        // settled all the same, should that ever change.
        prepared.plan.settle_uid().map_err(SupervisorError::Uid)?;
    }
    if prepared.plan.performs(Step::NetworkNamespace) {
        route = network_namespace(options, &prepared.caller_groups, sys, driver, report)?;
        if report.step(Step::NetworkNamespace).decision != Decision::Enforced {
            leave_out(
                &mut prepared.plan,
                Step::NetworkNamespace,
                Skip::Lost,
                report,
                driver.logs(),
            );
        }
    }
    if route == Route::UserNamespace {
        ids_on_the_route(prepared, report, driver.logs())?;
    }
    bounds::bound_processes(options, prepared, route, report, driver.logs())?;

    // The allocated uid proved free of the host's tasks and of the user database: the scan's
    // thread ran while the steps above did (the network namespace is the main thread's own: the
    // thread, which asks the database again for the uid it takes instead of one found taken,
    // still reaches the host's network, where a source of the database may be). The spawn
    // needs the uid, and a single-threaded process.
    prepared.plan.settle_uid().map_err(SupervisorError::Uid)?;

    // 3. The sandbox, spawned again without a step whose refusal was tolerated.
    let own = Status::read(Process::This)?;
    let paused = spawn_until_ready(
        &mut prepared.plan,
        &options.view,
        sys,
        driver,
        report,
        signals,
    )?;
    mark_escapable_view_lost_and_refuse_uncontained_root(&mut prepared.plan, report)?;
    crate::steps::costs::record(&prepared.plan, report);
    report.workload.pid = Some(paused.workload().as_raw());

    // 4. What really took effect.
    let mut observed = observe(&paused, own, route, &prepared.plan)?;
    observed.caller_groups = prepared.caller_groups.iter().map(|g| g.as_raw()).collect();
    observed.pty = paused.terminal_number();
    verify::verify_sandbox(&observed, &prepared.plan, report)?;
    bounds::verify(&paused, prepared, report)?;

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

/// On the user-namespace route only the caller's own uid and gid exist: `--user` may name only
/// the caller, whose ids then already hold (the drop is left out, and still verified).
fn ids_on_the_route(
    prepared: &mut Prepared,
    report: &mut HardeningReport,
    log: bool,
) -> Result<(), SupervisorError> {
    let Some(identity) = prepared.plan.identity() else {
        return Ok(());
    };
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
    leave_out(
        &mut prepared.plan,
        Step::PrivilegeDrop,
        Skip::Holds,
        report,
        log,
    );
    Ok(())
}

/// Step 2, with the user-namespace route. Returns the route the namespaces took. `groups`: the
/// caller's supplementary groups, which the workload keeps on that route.
fn network_namespace(
    options: &RunOptions,
    groups: &[nix::unistd::Gid],
    sys: &mut dyn Syscalls,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<Route, SupervisorError> {
    let plain = match sys.enter_network_namespace() {
        Ok(status) => {
            record_network(status, Route::Direct, report);
            return Ok(Route::Direct);
        }
        Err(NetnsError::Unverified(detail)) => {
            return Err(unverified(Step::NetworkNamespace, detail))
        }
        Err(NetnsError::Refused(refusal)) => refusal,
    };
    let route_applies = plain.errno == Errno::EPERM && !options.no_userns && !sys.is_root();
    if !route_applies {
        driver.on_refusal(plain, None, report)?;
        return Ok(Route::Direct);
    }
    match sys.enter_user_namespace() {
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
    let kept: Vec<u32> = groups.iter().map(|group| group.as_raw()).collect();
    tracing::info!(groups = ?kept, "namespaces take the user-namespace route: unshare(CLONE_NEWNET) failed with EPERM and the caller is not root; the workload keeps the caller's groups {kept:?}, in effect though unmapped ones read as the overflow gid inside (the kernel keeps the groups a user namespace does not map)");
    match sys.enter_network_namespace() {
        Ok(status) => record_network(status, Route::UserNamespace, report),
        Err(NetnsError::Unverified(detail)) => {
            return Err(unverified(Step::NetworkNamespace, detail))
        }
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

/// Step 3: spawns the sandbox until every planned step up to `execve` succeeded; a refused step
/// is decided and, when the boot goes on, left out of the next spawn (the workload has not run
/// yet, so nothing is lost).
fn spawn_until_ready(
    plan: &mut crate::sandbox::Plan,
    view_options: &crate::steps::view::ViewOptions,
    sys: &mut dyn Syscalls,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
    signals: &SignalFd,
) -> Result<Paused, SupervisorError> {
    let mut cleared = false;
    loop {
        check_signals(signals)?;
        if !cleared && environ::exposed(plan) {
            let count = sys.clear_environment();
            cleared = true;
            tracing::info!(variables = count, "the supervisor's environment cleared ({count} variables): the sandbox has no mount or PID namespace of its own, so the workload could read the supervisor's and the init's /proc/PID/environ");
        }
        match sys.spawn(plan, signals)? {
            Spawned::Ready(paused) => return Ok(paused),
            Spawned::Unverified { step, detail } => {
                return Err(unverified(step, detail.to_owned()))
            }
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
                leave_out(plan, refusal.step, Skip::Lost, report, driver.logs());
                // Without the view, Landlock's rules are the host's paths.
                if matches!(refusal.step, Step::MountNamespace | Step::FilesystemView)
                    && plan.landlock().is_some()
                {
                    prepare_landlock(view_options, plan, driver, report)?;
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nix::errno::Errno;
    use nix::sys::signal::SigSet;

    use super::*;
    use crate::exit::ExitCode;
    use crate::handler::{
        FailureReport, HandlerFailure, SandboxFailureHandler, SandboxFailureKind, StrictHandler,
        Verdict,
    };
    use crate::sandbox::{Plan, SpawnError};
    use crate::steps::network::NetnsStatus;
    use crate::steps::userns::UsernsError;
    use crate::steps::Call;

    /// A recording fake of the kernel: answers from a script, and writes down every call.
    #[derive(Default)]
    struct Recording {
        root: bool,
        network: VecDeque<Result<NetnsStatus, NetnsError>>,
        user: VecDeque<Result<(), UsernsError>>,
        spawns: VecDeque<Spawned>,
        calls: Vec<String>,
    }

    impl Syscalls for Recording {
        fn enter_network_namespace(&mut self) -> Result<NetnsStatus, NetnsError> {
            self.calls.push("unshare(CLONE_NEWNET)".to_owned());
            self.network.pop_front().expect("a scripted answer")
        }

        fn enter_user_namespace(&mut self) -> Result<(), UsernsError> {
            self.calls.push("unshare(CLONE_NEWUSER)".to_owned());
            self.user.pop_front().expect("a scripted answer")
        }

        fn is_root(&self) -> bool {
            self.root
        }

        fn clear_environment(&mut self) -> usize {
            self.calls.push("clear the environment".to_owned());
            0
        }

        fn spawn(&mut self, plan: &mut Plan, _: &SignalFd) -> Result<Spawned, SpawnError> {
            let left_out: Vec<&str> = Step::ALL
                .into_iter()
                .filter(|step| !plan.performs(*step))
                .map(Step::name)
                .collect();
            self.calls.push(format!("spawn without {left_out:?}"));
            // The end of the script: a supervisor error stops the loop.
            self.spawns.pop_front().ok_or(SpawnError::Threads(2))
        }
    }

    /// A handler that tolerates every kind, and counts the questions.
    #[derive(Default)]
    struct Tolerating {
        asked: AtomicUsize,
    }

    impl SandboxFailureHandler for Tolerating {
        fn decider(&self) -> String {
            "plugin:tolerating@1".to_owned()
        }
        fn declared(&self) -> Vec<SandboxFailureKind> {
            SandboxFailureKind::ALL.to_vec()
        }
        fn handle(&self, _: &FailureReport) -> Result<Verdict, HandlerFailure> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Ok(Verdict::Tolerate)
        }
    }

    fn refused(step: Step, call: Call, errno: Errno) -> Refusal {
        Refusal { step, call, errno }
    }

    fn network() -> NetnsStatus {
        NetnsStatus {
            netns_inode: 2,
            parent_netns_inode: 1,
            interfaces: vec!["lo".to_owned()],
            interfaces_up: vec!["lo".to_owned()],
        }
    }

    fn report() -> HardeningReport {
        HardeningReport::new(Default::default(), &[])
    }

    fn plan() -> Plan {
        let filter = crate::steps::seccomp::compile_workload(&Default::default()).unwrap();
        Plan::new(
            std::path::Path::new("/bin/true"),
            &["true".into()],
            Vec::new(),
            None,
            filter,
            SigSet::empty(),
        )
        .unwrap()
    }

    #[test]
    fn eperm_from_unshare_net_takes_the_user_namespace_route_for_a_caller_not_root() {
        let mut sys = Recording {
            network: VecDeque::from([
                Err(NetnsError::Refused(refused(
                    Step::NetworkNamespace,
                    Call::UnshareNet,
                    Errno::EPERM,
                ))),
                Ok(network()),
            ]),
            user: VecDeque::from([Ok(())]),
            ..Recording::default()
        };
        let handler = StrictHandler;
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let mut report = report();
        let route = network_namespace(
            &RunOptions::default(),
            &[],
            &mut sys,
            &mut driver,
            &mut report,
        )
        .unwrap();
        assert_eq!(route, Route::UserNamespace);
        assert_eq!(
            sys.calls,
            [
                "unshare(CLONE_NEWNET)",
                "unshare(CLONE_NEWUSER)",
                "unshare(CLONE_NEWNET)"
            ]
        );
        assert_eq!(driver.would_exit, None);
        let record = report.step(Step::NetworkNamespace);
        assert_eq!(record.decision, Decision::Enforced);
        for step in [
            Step::NetworkNamespace,
            Step::PidNamespace,
            Step::MountNamespace,
        ] {
            assert_eq!(
                report.step(step).route,
                Some(Route::UserNamespace),
                "{step}"
            );
        }
    }

    /// Root, `--no-userns`, or an errno other than EPERM: the refusal is decided as it is.
    #[test]
    fn the_route_is_only_for_eperm_without_root_and_without_no_userns() {
        let no_userns = RunOptions {
            no_userns: true,
            ..RunOptions::default()
        };
        for (root, options, errno) in [
            (true, RunOptions::default(), Errno::EPERM),
            (false, no_userns, Errno::EPERM),
            (false, RunOptions::default(), Errno::ENOSYS),
        ] {
            let mut sys = Recording {
                root,
                network: VecDeque::from([Err(NetnsError::Refused(refused(
                    Step::NetworkNamespace,
                    Call::UnshareNet,
                    errno,
                )))]),
                ..Recording::default()
            };
            let handler = StrictHandler;
            let mut driver = RecordAndContinue {
                handler: &handler,
                would_exit: None,
            };
            let mut report = report();
            let route =
                network_namespace(&options, &[], &mut sys, &mut driver, &mut report).unwrap();
            assert_eq!(route, Route::Direct);
            assert_eq!(sys.calls, ["unshare(CLONE_NEWNET)"], "root {root} {errno}");
            assert_eq!(driver.would_exit, Some(ExitCode::RefusedStrict.code()));
            assert_eq!(
                report.step(Step::NetworkNamespace).decision,
                Decision::Aborted
            );
        }
    }

    #[test]
    fn a_refused_route_is_recorded_as_the_fallback() {
        let mut sys = Recording {
            network: VecDeque::from([Err(NetnsError::Refused(refused(
                Step::NetworkNamespace,
                Call::UnshareNet,
                Errno::EPERM,
            )))]),
            user: VecDeque::from([Err(UsernsError::Refused(Call::UnshareUser, Errno::EPERM))]),
            ..Recording::default()
        };
        let handler = Tolerating::default();
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let mut report = report();
        let route = network_namespace(
            &RunOptions::default(),
            &[],
            &mut sys,
            &mut driver,
            &mut report,
        )
        .unwrap();
        assert_eq!(route, Route::Direct);
        let record = report.step(Step::NetworkNamespace);
        assert_eq!(record.decision, Decision::Tolerated);
        assert_eq!(
            record.fallback.as_ref().map(|call| call.syscall),
            Some("unshare(CLONE_NEWUSER)")
        );
        assert_eq!(handler.asked.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_unchanged_user_namespace_is_a_verification_failure() {
        let mut sys = Recording {
            network: VecDeque::from([Err(NetnsError::Refused(refused(
                Step::NetworkNamespace,
                Call::UnshareNet,
                Errno::EPERM,
            )))]),
            user: VecDeque::from([Err(UsernsError::Unchanged)]),
            ..Recording::default()
        };
        let handler = Tolerating::default();
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let err = network_namespace(
            &RunOptions::default(),
            &[],
            &mut sys,
            &mut driver,
            &mut report(),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Verification.code());
        assert_eq!(err.unverified_step(), Some(Step::NetworkNamespace));
        assert_eq!(handler.asked.load(Ordering::Relaxed), 0);
    }

    /// A tolerated refusal leaves its step out of the next spawn; a check that found a call
    /// without effect is never a handler's question.
    #[test]
    fn a_tolerated_step_is_left_out_of_the_next_spawn() {
        let mut sys = Recording {
            spawns: VecDeque::from([
                Spawned::Refused(refused(Step::PidNamespace, Call::ClonePid, Errno::EPERM)),
                Spawned::Refused(refused(
                    Step::MountNamespace,
                    Call::MountProc,
                    Errno::EACCES,
                )),
                Spawned::Refused(refused(
                    Step::Capabilities,
                    Call::VerifyCapabilities,
                    Errno::UnknownErrno,
                )),
            ]),
            ..Recording::default()
        };
        let handler = Tolerating::default();
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let mut report = report();
        let mut plan = plan();
        let signals = crate::sandbox::signal_fd().unwrap();
        let err = spawn_until_ready(
            &mut plan,
            &Default::default(),
            &mut sys,
            &mut driver,
            &mut report,
            &signals,
        )
        .unwrap_err();
        assert_eq!(
            sys.calls,
            // This plan has no filesystem view and no Landlock ruleset: never performed.
            [
                "spawn without [\"cgroup\", \"filesystem-view\", \"privilege-drop\", \"landlock\"]",
                // The next sandbox could read the supervisor's /proc: its environment goes first.
                "clear the environment",
                "spawn without [\"cgroup\", \"pid-namespace\", \"filesystem-view\", \"privilege-drop\", \"landlock\"]",
                "spawn without [\"cgroup\", \"pid-namespace\", \"mount-namespace\", \"filesystem-view\", \"privilege-drop\", \"landlock\"]",
            ]
        );
        assert_eq!(handler.asked.load(Ordering::Relaxed), 2);
        assert_eq!(err.unverified_step(), Some(Step::Capabilities));
        assert_eq!(
            report.step(Step::PidNamespace).decision,
            Decision::Tolerated
        );
    }

    /// uid 0 (or a kept capability) whose mount namespace was left out stops with the usage error
    /// naming the host's /proc and /sys; nobody goes on; with the mount namespace, uid 0 goes on.
    #[test]
    fn uid_0_without_the_mount_namespace_is_a_usage_error() {
        for (uid, skip, stops) in [(0, true, true), (65534, true, false), (0, false, false)] {
            let identity = crate::steps::identity::Identity {
                uid: nix::unistd::Uid::from_raw(uid),
                gid: nix::unistd::Gid::from_raw(uid),
                groups: Vec::new(),
                origin: crate::steps::identity::Origin::Named,
                group_names: Vec::new(),
                every_task_seen: None,
            };
            let filter = crate::steps::seccomp::compile_workload(&Default::default()).unwrap();
            let mut plan = Plan::new(
                std::path::Path::new("/bin/true"),
                &["true".into()],
                Vec::new(),
                Some(identity),
                filter,
                SigSet::empty(),
            )
            .unwrap();
            if skip {
                let _ = plan.skip(Step::MountNamespace, Skip::Lost);
            }
            let result = root_needs_mount_namespace(&plan, || "tolerated".to_owned());
            assert_eq!(result.is_err(), stops, "{uid} {skip}");
            if let Err(err) = result {
                assert_eq!(err.exit_code(), ExitCode::Usage.code());
                let text = err.to_string();
                assert!(text.contains("as uid 0 or gid 0"), "{text}");
                assert!(
                    text.contains("/proc/sys") && text.contains("cgroup.procs"),
                    "{text}"
                );
            }
        }
    }

    /// Out of memory, processes or descriptors is the machine's state: no handler is asked.
    #[test]
    fn an_exhausted_machine_is_never_a_handlers_question() {
        let mut sys = Recording {
            spawns: VecDeque::from([Spawned::Refused(refused(
                Step::PidNamespace,
                Call::ClonePid,
                Errno::ENOMEM,
            ))]),
            ..Recording::default()
        };
        let handler = Tolerating::default();
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let mut report = report();
        let mut plan = plan();
        let signals = crate::sandbox::signal_fd().unwrap();
        let _ = spawn_until_ready(
            &mut plan,
            &Default::default(),
            &mut sys,
            &mut driver,
            &mut report,
            &signals,
        );
        assert_eq!(handler.asked.load(Ordering::Relaxed), 0);
        assert_eq!(driver.would_exit, Some(ExitCode::Internal.code()));
        assert_eq!(
            report.step(Step::PidNamespace).decider,
            Some(Decider::OutOfResources)
        );
    }

    /// A faked network namespace and a faked `clone` are verification failures of their steps,
    /// in the one shape (`failed to verify STEP: DETAIL`, exit 123), never a handler's question.
    #[test]
    fn faked_successes_are_verification_failures_of_their_steps() {
        let handler = Tolerating::default();
        let mut driver = RecordAndContinue {
            handler: &handler,
            would_exit: None,
        };
        let mut sys = Recording {
            network: VecDeque::from([Err(NetnsError::Unverified("what was seen".to_owned()))]),
            ..Recording::default()
        };
        let err = network_namespace(
            &RunOptions::default(),
            &[],
            &mut sys,
            &mut driver,
            &mut report(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to verify network-namespace: what was seen"
        );
        assert_eq!(err.exit_code(), ExitCode::Verification.code());
        let mut sys = Recording {
            spawns: VecDeque::from([Spawned::Unverified {
                step: Step::PidNamespace,
                detail: "clone returned 0",
            }]),
            ..Recording::default()
        };
        let signals = crate::sandbox::signal_fd().unwrap();
        let err = spawn_until_ready(
            &mut plan(),
            &Default::default(),
            &mut sys,
            &mut driver,
            &mut report(),
            &signals,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to verify pid-namespace: clone returned 0"
        );
        assert_eq!(err.exit_code(), ExitCode::Verification.code());
        assert_eq!(handler.asked.load(Ordering::Relaxed), 0);
    }
}
