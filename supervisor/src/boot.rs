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
//!    user-namespace route is tried first ([`crate::userns`]).
//! 3. The sandbox: the init in a new PID namespace, a private mount namespace with a fresh
//!    `/proc`, then the workload: a new session, no capabilities, the ids, no_new_privs and the
//!    workload filter ([`crate::spawn`]). A refused step there is decided, and a tolerated one is
//!    left out of a fresh spawn: the workload has not run yet.
//! 4. Everything the sandbox reported is verified from the paused workload's `/proc` entries.
//! 5. The supervisor's own prelude, last: it denies `mount`, which step 3 needs, and the workload
//!    must not inherit it (its filter is a superset, and each inherited program costs every call).

use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::sys::signalfd::SignalFd;

use crate::failure::{ask, FailureReport, NotTolerated, SandboxFailureHandler, SandboxFailureKind};
use crate::identity::Identity;
use crate::netns::NetnsError;
use crate::procfs::{self, Process, Status};
use crate::report::{Decider, Decision, Evidence, HardeningReport};
use crate::run::{RunOptions, SupervisorError};
use crate::spawn::{Paused, Plan, Spawned};
use crate::step::{Call, Refusal, Step};
use crate::userns::Route;

/// How a driver answers a refusal.
pub(crate) trait Driver {
    /// `Ok` to go on without the refused step, `Err` to stop the boot. Records the decision.
    fn on_refusal(
        &mut self,
        refusal: Refusal,
        fallback: Option<Refusal>,
        report: &mut HardeningReport,
    ) -> Result<(), SupervisorError>;

    /// Whether decisions are logged (a run), or only recorded (`probe`).
    fn logs(&self) -> bool {
        true
    }
}

/// The handler's question for a refusal: kind, call, errno, a sentence, and the fallback's errno.
pub(crate) fn question_for(
    refusal: &Refusal,
    fallback: Option<&Refusal>,
    report: &HardeningReport,
) -> Option<FailureReport> {
    let kind = refusal.step.kind()?;
    let mut message = refusal.step.refused_sentence().to_owned();
    if let Some(fallback) = fallback {
        message.push_str(&format!(
            "; the user-namespace route was refused too: {} failed with {}",
            fallback.call,
            crate::failure::errno_name(fallback.errno as i32)
        ));
    }
    Some(
        FailureReport::new(kind, refusal.call.name(), refusal.errno as i32, message)
            .with_context(report.environment.clone()),
    )
}

/// Decides about `refusal` with `ask` (the handler, through the host's floor), records the
/// decision in the report, and returns the error a run stops with when it is not tolerated. With
/// `log`, the decision is also logged with structured fields (`step`, `decision`, `syscall`,
/// `errno`, `decider`): a tolerated one at INFO (next to the handler's WARN line), an aborted one at
/// DEBUG (the fatal error that ends the run carries the same fields).
fn decide_refusal(
    refusal: Refusal,
    fallback: Option<Refusal>,
    report: &mut HardeningReport,
    log: bool,
    ask: impl FnOnce(FailureReport) -> Result<crate::failure::Tolerated, NotTolerated>,
) -> Result<(), SupervisorError> {
    // Out of memory, processes or descriptors is the machine's state, not a runtime's refusal:
    // no handler is asked about it.
    let exhausted = matches!(
        refusal.errno,
        Errno::ENOMEM | Errno::EAGAIN | Errno::EMFILE | Errno::ENFILE
    );
    let (decider, reason, decision, error) = match question_for(&refusal, fallback.as_ref(), report)
    {
        _ if exhausted => (
            Decider::OutOfResources,
            None,
            Decision::Aborted,
            Some(SupervisorError::Exhausted(refusal)),
        ),
        None => (
            Decider::NeverTolerable,
            None,
            Decision::Aborted,
            Some(SupervisorError::Fatal(refusal)),
        ),
        Some(question) => match ask(question) {
            Ok(tolerated) => (
                tolerated.decider,
                tolerated.reason,
                Decision::Tolerated,
                None,
            ),
            Err(refused) => (
                refused.decider(),
                refused.reason().map(str::to_owned),
                Decision::Aborted,
                Some(SupervisorError::NotTolerated(refused)),
            ),
        },
    };
    if log {
        let errno_name = crate::failure::errno_name(refusal.errno as i32);
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    step = %refusal.step,
                    decision = decision.name(),
                    syscall = refusal.call.name(),
                    errno = refusal.errno as i32,
                    errno_name = %errno_name,
                    decider = %decider,
                    "{} {}: {} failed with {errno_name}; decided by {decider}",
                    refusal.step,
                    decision.name(),
                    refusal.call,
                )
            };
        }
        match decision {
            Decision::Tolerated => event!(tracing::Level::INFO),
            _ => event!(tracing::Level::DEBUG),
        }
    }
    report.refusal(
        &refusal,
        fallback.as_ref(),
        &decider,
        reason.as_deref(),
        decision,
    );
    error.map_or(Ok(()), Err)
}

/// `run`'s driver: ask the handler (which logs a WARN for a tolerated refusal), stop on abort.
pub(crate) struct DecideAndStop;

impl Driver for DecideAndStop {
    fn on_refusal(
        &mut self,
        refusal: Refusal,
        fallback: Option<Refusal>,
        report: &mut HardeningReport,
    ) -> Result<(), SupervisorError> {
        decide_refusal(refusal, fallback, report, true, |question| {
            crate::failure::ask_and_warn(crate::failure::failure_handler(), question)
        })
    }
}

/// `probe`'s driver: ask the handler without logging, record the first code a run would stop
/// with, and go on as if the step were tolerated.
pub(crate) struct RecordAndContinue<'a> {
    /// The handler to ask.
    pub handler: &'a dyn SandboxFailureHandler,
    /// The exit code of the first refusal a run would stop at.
    pub would_exit: Option<i32>,
}

impl Driver for RecordAndContinue<'_> {
    fn on_refusal(
        &mut self,
        refusal: Refusal,
        fallback: Option<Refusal>,
        report: &mut HardeningReport,
    ) -> Result<(), SupervisorError> {
        let handler = self.handler;
        if let Err(stop) = decide_refusal(refusal, fallback, report, false, |question| {
            ask(handler, question)
        }) {
            self.would_exit.get_or_insert(stop.exit_code());
        }
        Ok(())
    }

    fn logs(&self) -> bool {
        false
    }
}

/// Everything read, resolved and compiled before the first step.
pub(crate) struct Prepared {
    /// The sandbox's plan.
    pub plan: Plan,
    /// The supervisor's prelude.
    pub prelude: crate::seccomp::CheckedProgram,
    /// The program that will be exec'd.
    pub program: PathBuf,
    /// The names of the workload's environment variables, for the report.
    pub env_names: Vec<String>,
    /// The caller's supplementary groups, read before any step (inside a user namespace the
    /// groups it cannot map read as the overflow gid).
    pub caller_groups: Vec<nix::unistd::Gid>,
}

/// The identity the workload runs as: `--user`, else nobody for a root caller, else the caller.
pub(crate) fn workload_identity(options: &RunOptions) -> Result<Option<Identity>, SupervisorError> {
    let identity = match &options.user {
        Some(spec) => Some(crate::identity::resolve(spec).map_err(SupervisorError::Identity)?),
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
        None => crate::spawn::resolve_command(
            options
                .command
                .first()
                .ok_or(crate::spawn::CommandError::Empty)?,
        )?,
    };
    let prelude = crate::seccomp::compile_prelude()?;
    let profile = match &options.seccomp_profile {
        Some(path) => Some((
            path.display().to_string(),
            crate::input::read_capped(path, "seccomp profile")
                .map_err(SupervisorError::SeccompProfile)?,
        )),
        None => None,
    };
    let filter = crate::seccomp::compile_workload(&crate::seccomp::WorkloadOptions {
        profile: profile
            .as_ref()
            .map(|(name, json)| crate::seccomp::Profile { name, json }),
        replace_builtin: options.seccomp_profile_replaces_builtin,
        interactive: false,
    })?;
    if filter.source.replaces_builtin() {
        tracing::warn!(source = %filter.source, "the operator's seccomp profile replaces the built-in workload filter: only the profile's rules apply");
    }
    let env = options.workload_env();
    let env_names = crate::run::env_names(&env);
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
    plan.set_view(crate::view::View::prepare(
        &options.view,
        privileged || keep != 0,
    )?);
    // uid 0 (or a kept capability) is contained only by a view: never without one.
    if let Some(why) = without_view(options) {
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
            capabilities = ?crate::caps::names(keep),
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
    })
}

/// Why the operator's options leave no filesystem view, if they do.
fn without_view(options: &RunOptions) -> Option<String> {
    if options.view.mode == crate::view::FsMode::HostRw {
        return Some("--fs host-rw".to_owned());
    }
    [Step::MountNamespace, Step::FilesystemView]
        .into_iter()
        .find(|step| options.disabled_steps.contains(step))
        .map(|step| format!("--disable-step {step}"))
}

/// Builds the Landlock ruleset for the view the plan will build (or for the host's paths when
/// it builds none). A refusal is decided by the driver; a path that cannot be opened is the
/// operator's error.
fn prepare_landlock(
    options: &RunOptions,
    plan: &mut Plan,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let view = plan.view().filter(|_| plan.performs(Step::FilesystemView));
    match crate::landlock::prepare(&options.view, view) {
        Ok(prepared) => plan.set_landlock(Some(prepared)),
        Err(crate::landlock::LandlockError::Refused(call, errno)) => {
            plan.set_landlock(None);
            let refusal = Refusal {
                step: Step::Landlock,
                call: Call::Landlock(call),
                errno,
            };
            driver.on_refusal(refusal, None, report)?;
            plan.skip(Step::Landlock);
        }
        Err(err @ crate::landlock::LandlockError::Faked(_)) => {
            return Err(unverified(Step::Landlock, err.to_string()))
        }
        Err(err) => return Err(SupervisorError::Landlock(err)),
    }
    Ok(())
}

/// Returns `Err` when a signal asked the supervisor to stop.
fn check_signals(signals: &SignalFd) -> Result<(), SupervisorError> {
    match crate::spawn::take_stop_signal(signals)? {
        Some(signal) => Err(SupervisorError::Spawn(
            crate::spawn::SpawnError::Interrupted(signal),
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
        prepared.plan.skip(step);
    }

    view_lost_with_mount_namespace(&prepared.plan, report, driver.logs());
    if options.view.mode == crate::view::FsMode::HostRw
        && !options.disabled_steps.contains(&Step::FilesystemView)
    {
        let lost = SandboxFailureKind::FilesystemView.lost_protection();
        tracing::warn!(step = %Step::FilesystemView, decision = "disabled-by-operator", decider = "operator", "hardening step given up by the operator (--fs host-rw): {lost}");
        report.disabled(Step::FilesystemView);
        report.step(Step::FilesystemView).reason = Some("--fs host-rw".to_owned());
    }

    // The Landlock ruleset is built in the parent, before any namespace (only restrict_self
    // happens in the workload).
    if !options.disabled_steps.contains(&Step::Landlock) {
        prepare_landlock(options, &mut prepared.plan, driver, report)?;
    }

    // 2. The network namespace.
    check_signals(signals)?;
    let mut route = Route::Direct;
    if !options.disabled_steps.contains(&Step::NetworkNamespace) {
        route = network_namespace(options, driver, report)?;
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
        match crate::spawn::spawn(&mut prepared.plan, signals)? {
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
                prepared.plan.skip(refusal.step);
                view_lost_with_mount_namespace(&prepared.plan, report, driver.logs());
                // Without the view, Landlock's rules are the host's paths.
                if matches!(refusal.step, Step::MountNamespace | Step::FilesystemView)
                    && prepared.plan.landlock().is_some()
                {
                    prepare_landlock(options, &mut prepared.plan, driver, report)?;
                }
            }
        }
    };
    if prepared.plan.view().is_some() && !prepared.plan.performs(Step::FilesystemView) {
        let root = prepared.plan.identity().is_some_and(|identity| {
            identity.uid.is_root()
                || identity.gid.as_raw() == 0
                || identity.groups.iter().any(|group| group.as_raw() == 0)
        });
        if root || prepared.plan.kept_capabilities() != 0 {
            return Err(SupervisorError::RootWithoutView {
                what: if root {
                    "as uid 0 or gid 0"
                } else {
                    "with kept capabilities"
                },
                why: format!(
                    "{} was {}",
                    Step::FilesystemView,
                    report.get(Step::FilesystemView).decision.name()
                ),
            });
        }
    }
    report.workload.pid = Some(paused.workload().as_raw());

    // 4. What really took effect.
    verify_sandbox(&paused, &prepared.plan, route, &own, report)?;

    // 5. The supervisor's own prelude.
    check_signals(signals)?;
    if !options.disabled_steps.contains(&Step::SupervisorSeccomp) {
        match install_prelude(&prepared.prelude)? {
            Ok(evidence) => {
                report.enforced(Step::SupervisorSeccomp, evidence);
            }
            Err(refusal) => driver.on_refusal(refusal, None, report)?,
        }
    }
    Ok(paused)
}

/// The view requires the mount namespace: when that was tolerated or disabled, the view is
/// recorded (and logged) as lost with it.
fn view_lost_with_mount_namespace(plan: &Plan, report: &mut HardeningReport, log: bool) {
    if plan.view().is_none()
        || plan.performs(Step::MountNamespace)
        || report.get(Step::FilesystemView).decision != Decision::NotReached
    {
        return;
    }
    let mount = report.get(Step::MountNamespace).clone();
    let lost = SandboxFailureKind::FilesystemView.lost_protection();
    let decider = mount
        .decider
        .as_ref()
        .map(|decider| decider.to_string())
        .unwrap_or_default();
    match (&mount.syscall, &mount.errno_name) {
        _ if !log => {}
        (Some(syscall), Some(errno_name)) => tracing::warn!(
            step = %Step::FilesystemView,
            decision = mount.decision.name(),
            syscall = %syscall,
            errno_name = %errno_name,
            decider = %decider,
            "hardening step {}: {} lost with {}, which it requires: {syscall} failed with {errno_name}; {lost}; {} by {decider}{}",
            mount.decision.name(),
            Step::FilesystemView,
            Step::MountNamespace,
            mount.decision.name(),
            mount.reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default(),
        ),
        _ => tracing::warn!(
            step = %Step::FilesystemView,
            decision = mount.decision.name(),
            decider = %decider,
            "hardening step {}: {} lost with {}, which it requires ({} by {decider}): {lost}",
            mount.decision.name(),
            Step::FilesystemView,
            Step::MountNamespace,
            mount.decision.name(),
        ),
    }
    let record = report.step(Step::FilesystemView);
    record.decision = mount.decision;
    record.requested = mount.requested;
    record.decider = mount.decider;
    // The refused call that took the view with it.
    record.syscall = mount.syscall;
    record.errno = mount.errno;
    record.errno_name = mount.errno_name;
    record.fallback = mount.fallback;
    record.reason = Some(format!(
        "requires {}, which was {}",
        Step::MountNamespace,
        mount.decision.name()
    ));
    record.missing_protection = Some(lost);
}

/// Step 2, with the user-namespace route. Returns the route the namespaces took.
fn network_namespace(
    options: &RunOptions,
    driver: &mut dyn Driver,
    report: &mut HardeningReport,
) -> Result<Route, SupervisorError> {
    let plain = match crate::netns::enter() {
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
    match crate::userns::enter() {
        Ok(()) => {}
        Err(crate::userns::UsernsError::Refused(call, errno)) => {
            let fallback = Refusal {
                step: Step::NetworkNamespace,
                call,
                errno,
            };
            driver.on_refusal(plain, Some(fallback), report)?;
            return Ok(Route::Direct);
        }
        Err(crate::userns::UsernsError::Unchanged) => {
            return Err(unverified(
                Step::NetworkNamespace,
                "unshare(CLONE_NEWUSER) returned success but the user namespace is unchanged"
                    .to_owned(),
            ))
        }
    }
    tracing::info!("namespaces take the user-namespace route: unshare(CLONE_NEWNET) failed with EPERM and the caller is not root");
    match crate::netns::enter() {
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

fn record_network(status: crate::netns::NetnsStatus, route: Route, report: &mut HardeningReport) {
    report.enforced(Step::NetworkNamespace, Evidence::Network(status));
    report.step(Step::NetworkNamespace).route = Some(route);
}

/// Sets no_new_privs and installs the prelude on the supervisor, then verifies it by counting.
pub(crate) fn install_prelude(
    prelude: &crate::seccomp::CheckedProgram,
) -> Result<Result<Evidence, Refusal>, SupervisorError> {
    let refusal = |call, errno| Refusal {
        step: Step::SupervisorSeccomp,
        call,
        errno,
    };
    let before = Status::read(Process::This)?.seccomp_filters;
    if let Err(errno) = crate::seccomp::set_no_new_privs() {
        return Ok(Err(refusal(Call::NoNewPrivs, errno)));
    }
    // A faked success would make the installation fail with EACCES, which is no refusal.
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer and reads only this thread's state.
    if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } != 1 {
        return Err(SupervisorError::Verify {
            step: Step::SupervisorSeccomp,
            detail: "prctl(PR_SET_NO_NEW_PRIVS) returned success but PR_GET_NO_NEW_PRIVS is not 1"
                .to_owned(),
        });
    }
    if let Err(errno) = crate::seccomp::install(prelude) {
        return Ok(Err(refusal(Call::Seccomp, errno)));
    }
    let after = Status::read(Process::This)?;
    let mode = crate::seccomp::seccomp_mode().unwrap_or(-1);
    let counted = match (before, after.seccomp_filters) {
        (Some(before), Some(after)) => after == before + 1,
        _ => true,
    };
    if mode != 2 || !counted || after.no_new_privs == Some(0) {
        return Err(SupervisorError::Verify {
            step: Step::SupervisorSeccomp,
            detail: format!(
                "seccomp() returned success but PR_GET_SECCOMP is {mode} and Seccomp_filters went from {before:?} to {:?}",
                after.seccomp_filters
            ),
        });
    }
    Ok(Ok(Evidence::Seccomp {
        source: "prelude".to_owned(),
        programs: 1,
        seccomp: after.seccomp,
        seccomp_filters: after.seccomp_filters,
        seccomp_filters_before: before,
    }))
}

fn unverified(step: Step, detail: String) -> SupervisorError {
    SupervisorError::Verify { step, detail }
}

/// Step 4: re-reads the paused workload's `/proc` entries and records what took effect. A step
/// that reported success but shows no effect is a verification failure (exit 123).
fn verify_sandbox(
    paused: &Paused,
    plan: &Plan,
    route: Route,
    own: &Status,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let workload = paused.workload();
    let status = Status::read(Process::Pid(workload))?;
    let this = Process::This;
    let child = Process::Pid(workload);

    // PID namespace.
    // The workload sees itself as pid 2 (its init is 1) where the supervisor sees another pid.
    // (gVisor has no NSpid line and gives namespace links a new inode per read.)
    let pid_ns = procfs::namespace_inode(child, "pid").ok();
    let own_pid_ns = procfs::namespace_inode(this, "pid").ok();
    let evidence = Evidence::Pid {
        pid_namespace_inode: pid_ns,
        parent_pid_namespace_inode: own_pid_ns,
        nspid: status.nspid.clone(),
        pid_inside: paused.own_pid().as_raw(),
    };
    if plan.performs(Step::PidNamespace) {
        let nested = status.nspid.is_empty() || status.nspid.len() == own.nspid.len() + 1;
        let inside = paused.own_pid().as_raw() == 2 && workload.as_raw() != 2;
        if (pid_ns.is_some() && pid_ns == own_pid_ns) || !nested || !inside {
            return Err(unverified(Step::PidNamespace, format!("clone(CLONE_NEWPID|CLONE_NEWIPC) returned success but the workload is in the supervisor's PID namespace ({evidence:?})")));
        }
        report.enforced(Step::PidNamespace, evidence);
        report.step(Step::PidNamespace).route = Some(route);
    } else {
        report.step(Step::PidNamespace).verified = evidence;
    }

    // Mount namespace and /proc.
    let mnt_ns = procfs::namespace_inode(child, "mnt").ok();
    let own_mnt_ns = procfs::namespace_inode(this, "mnt").ok();
    // A copied mount keeps its file system instance; a fresh /proc is a new instance.
    let own_procs: Vec<String> = procfs::mounts_of_type(this, "proc")?
        .into_iter()
        .map(|mount| mount.device)
        .collect();
    let child_procs = procfs::mounts_of_type(child, "proc")?;
    let fresh_proc = child_procs
        .iter()
        .rev()
        .find(|mount| mount.mount_point == "/proc" && !own_procs.contains(&mount.device))
        .map(|mount| mount.id);
    // The last mount at each read-only path is the one the workload sees.
    let writable: Vec<&str> = crate::spawn::READ_ONLY_PROC
        .into_iter()
        .filter(|path| {
            child_procs
                .iter()
                .rev()
                .find(|mount| mount.mount_point == *path)
                .is_some_and(|mount| !mount.read_only)
        })
        .collect();
    let evidence = Evidence::Mount {
        mount_namespace_inode: mnt_ns,
        parent_mount_namespace_inode: own_mnt_ns,
        proc_mount_id: fresh_proc,
    };
    // The workload's working directory must not be on the supervisor's /proc.
    let on_host_proc = {
        use std::os::unix::fs::MetadataExt;
        let cwd = std::fs::metadata(format!("/proc/{workload}/cwd")).map(|meta| meta.dev());
        let host_proc = std::fs::metadata("/proc").map(|meta| meta.dev());
        matches!((cwd, host_proc), (Ok(cwd), Ok(proc)) if cwd == proc)
    };
    if plan.performs(Step::MountNamespace) {
        if (mnt_ns.is_some() && mnt_ns == own_mnt_ns)
            || fresh_proc.is_none()
            || !writable.is_empty()
            || on_host_proc
        {
            return Err(unverified(Step::MountNamespace, format!("the mount steps returned success but the workload has no private mount namespace with a fresh /proc ({evidence:?})")));
        }
        report.enforced(Step::MountNamespace, evidence);
        report.step(Step::MountNamespace).route = Some(route);
    } else {
        report.step(Step::MountNamespace).verified = evidence;
    }

    // The filesystem view: the root, every mount read-only but the declared places, noexec
    // scratch space, no shared propagation, the masks, no host socket.
    if let Some(view) = plan.view().filter(|_| plan.performs(Step::FilesystemView)) {
        match view.verify(workload.as_raw()) {
            Ok(evidence) => {
                report.enforced(Step::FilesystemView, Evidence::FilesystemView(evidence));
                report.step(Step::FilesystemView).route = Some(route);
            }
            Err(detail) => return Err(unverified(Step::FilesystemView, detail)),
        }
    }

    // Session.
    let (session, tty_nr) = procfs::session(child)?;
    let evidence = Evidence::Session { session, tty_nr };
    if plan.performs(Step::Session) {
        if session != workload.as_raw() || tty_nr != 0 {
            return Err(unverified(Step::Session, format!("setsid returned success but the workload's session is {session} (its pid is {workload}) with terminal {tty_nr}")));
        }
        report.enforced(Step::Session, evidence);
    } else {
        report.step(Step::Session).verified = evidence;
    }

    // Capabilities. The bounding set can only be emptied with CAP_SETPCAP (the direct route as
    // root, or any caller inside its own user namespace).
    let setpcap = own
        .caps
        .effective
        .is_some_and(|eff| eff & (1 << crate::caps::CAP_SETPCAP) != 0)
        || route == Route::UserNamespace;
    let caps = status.caps;
    let evidence = Evidence::Capabilities {
        sets: caps.into(),
        bounding: if !setpcap {
            "kept: the caller lacks CAP_SETPCAP; no_new_privs keeps exec from raising any"
        } else if plan.kept_capabilities() != 0 {
            "cleared but for the capabilities kept with --cap-add"
        } else {
            "cleared"
        },
    };
    if plan.performs(Step::Capabilities) {
        // Every set holds at most what the operator kept (nothing by default); the bounding
        // set only when the caller could clear it.
        let kept = plan.kept_capabilities();
        let held: Vec<&str> = caps
            .sets()
            .into_iter()
            .filter(|(name, mask)| {
                mask.is_some_and(|mask| mask & !kept != 0) && (*name != "CapBnd" || setpcap)
            })
            .map(|(name, _)| name)
            .collect();
        if !held.is_empty() {
            return Err(unverified(Step::Capabilities, format!("the capability drop returned success but the workload still holds {held:?}: {evidence:?}")));
        }
        report.enforced(Step::Capabilities, evidence);
    } else {
        report.step(Step::Capabilities).verified = evidence;
    }

    // The init keeps only CAP_KILL once the workload exists (it hardens itself right after the
    // fork, concurrently with the workload's own steps: give it a moment).
    let init_caps = {
        let allowed = 1u64 << crate::spawn::INIT_CAPABILITY;
        let mut held = Vec::new();
        for _ in 0..200 {
            let caps = Status::read(Process::Pid(paused.init()))?.caps;
            held = caps
                .sets()
                .into_iter()
                .filter(|(name, mask)| {
                    mask.is_some_and(|mask| mask & !allowed != 0) && (*name != "CapBnd" || setpcap)
                })
                .map(|(name, _)| name)
                .collect::<Vec<_>>();
            if held.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(250));
        }
        held
    };
    if !init_caps.is_empty() {
        return Err(unverified(
            Step::Capabilities,
            format!("the sandbox's init still holds more than CAP_KILL in {init_caps:?}"),
        ));
    }

    // Ids.
    let evidence = Evidence::Ids {
        uid: status.uid.clone(),
        gid: status.gid.clone(),
        groups: status.groups.clone(),
    };
    match plan.identity().filter(|_| plan.verifies_identity()) {
        Some(identity) => {
            let uid = identity.uid.as_raw();
            let gid = identity.gid.as_raw();
            let target: Vec<u32> = identity.groups.iter().map(|g| g.as_raw()).collect();
            // A caller that already holds fewer groups than the target keeps its smaller set.
            let groups_ok = status.groups.iter().all(|group| target.contains(group));
            if status.uid.iter().any(|id| *id != uid)
                || status.gid.iter().any(|id| *id != gid)
                || status.uid.is_empty()
                || !groups_ok
            {
                return Err(unverified(
                    Step::PrivilegeDrop,
                    format!("the workload's ids are not the requested ones: {evidence:?}"),
                ));
            }
            report.enforced(Step::PrivilegeDrop, evidence);
        }
        None => {
            if plan.identity().is_none() {
                report.not_requested(Step::PrivilegeDrop);
            }
            report.step(Step::PrivilegeDrop).verified = evidence;
        }
    }

    // no_new_privs.
    let evidence = Evidence::NoNewPrivs {
        no_new_privs: status.no_new_privs,
    };
    if plan.performs(Step::NoNewPrivs) {
        if status.no_new_privs == Some(0) {
            return Err(unverified(
                Step::NoNewPrivs,
                "prctl(PR_SET_NO_NEW_PRIVS) returned success but NoNewPrivs is 0".to_owned(),
            ));
        }
        report.enforced(Step::NoNewPrivs, evidence);
    } else {
        report.step(Step::NoNewPrivs).verified = evidence;
    }

    // Landlock: the status the crate's restrict_self returned in the workload.
    if let Some(landlock) = plan.landlock().filter(|_| plan.performs(Step::Landlock)) {
        let code = paused.landlock_status();
        let evidence = Evidence::Landlock {
            status: crate::landlock::status_name(code),
            kernel_abi: landlock.kernel_abi,
            requested_abi: crate::landlock::TARGET as i32,
            handled: landlock.handled.clone(),
            not_handled: landlock.not_handled.clone(),
            scopes: landlock.scopes.clone(),
            host_rules: landlock.parent_rules,
        };
        if !matches!(code, 1 | 2) {
            return Err(unverified(
                Step::Landlock,
                format!("landlock_restrict_self left the workload {evidence:?}"),
            ));
        }
        report.enforced(Step::Landlock, evidence);
    }

    // The workload filter, verified by counting: an outer runtime can answer seccomp() with 0
    // without installing anything.
    let programs = plan.filter().map_or(0, |filter| filter.programs.len());
    let evidence = Evidence::Seccomp {
        source: plan
            .filter()
            .map_or_else(|| "none".to_owned(), |filter| filter.source.to_string()),
        programs,
        seccomp: status.seccomp,
        seccomp_filters: status.seccomp_filters,
        seccomp_filters_before: own.seccomp_filters,
    };
    if plan.performs(Step::WorkloadSeccomp) {
        let counted = match (own.seccomp_filters, status.seccomp_filters) {
            (Some(before), Some(after)) => after == before + programs as u64,
            _ => true,
        };
        if status.seccomp.is_some_and(|mode| mode != 2) || !counted {
            return Err(unverified(
                Step::WorkloadSeccomp,
                format!("seccomp() returned success but the workload shows {evidence:?}"),
            ));
        }
        report.enforced(Step::WorkloadSeccomp, evidence);
    } else {
        report.step(Step::WorkloadSeccomp).verified = evidence;
    }
    Ok(())
}
