//! Verification: every step the sandbox took is checked against one read of the paused
//! sandbox's `/proc` ([`Observed`]), in catalogue order, with one error shape. A step that
//! reported success but shows no effect stops the boot (exit 123).

use crate::error::SupervisorError;
use crate::record::HardeningReport;
use crate::sandbox::Plan;
use crate::steps::observed::{Expected, Observed};
use crate::steps::{Phase, STEPS};

/// Checks every step of the catalogue that names a verification against `observed`, and records
/// what took effect: a performed step is enforced or the boot stops; a step left out is recorded
/// with what was seen.
pub(crate) fn verify_sandbox(
    observed: &Observed,
    plan: &Plan,
    report: &mut HardeningReport,
) -> Result<(), SupervisorError> {
    let expected = Expected {
        identity: plan
            .identity()
            .filter(|_| plan.verifies(crate::steps::Step::PrivilegeDrop)),
        origin: plan.identity().map(|identity| identity.origin),
        kept_capabilities: plan.kept_capabilities(),
        filter: plan.filter(),
        view: plan
            .view()
            .filter(|_| plan.performs(crate::steps::Step::FilesystemView)),
        landlock: plan
            .landlock()
            .filter(|_| plan.performs(crate::steps::Step::Landlock)),
        terminal: plan.terminal(),
    };
    for info in &STEPS {
        let Some(verify) = info.verify else { continue };
        let step = info.step;
        let verified = verify(observed, &expected);
        if !plan.verifies(step) {
            if !plan.requested(step) {
                report.not_requested(step);
            }
            report.step(step).verified = verified.evidence;
            continue;
        }
        if let Some(detail) = verified.unverified {
            return Err(SupervisorError::Verify { step, detail });
        }
        report.enforced(step, verified.evidence);
        // The namespaces the init enters took the network namespace's route.
        if info.phase == Phase::Init {
            report.step(step).route = Some(observed.route);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nix::unistd::{Gid, Uid};

    use super::*;
    use crate::procfs::{Capabilities, Mount};
    use crate::record::Decision;
    use crate::steps::identity::Identity;
    use crate::steps::mount::READ_ONLY_PROC;
    use crate::steps::userns::Route;
    use crate::steps::Step;

    const WORKLOAD: i32 = 4321;

    fn plan() -> Plan {
        let nobody = Identity {
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
            groups: vec![Gid::from_raw(65534)],
            origin: crate::steps::identity::Origin::Named,
            group_names: Vec::new(),
            every_task_seen: None,
        };
        let filter = crate::steps::seccomp::compile_workload(&Default::default()).unwrap();
        Plan::new(
            std::path::Path::new("/bin/true"),
            &["true".into()],
            Vec::new(),
            Some(nobody),
            filter,
            nix::sys::signal::SigSet::empty(),
        )
        .unwrap()
    }

    /// A root caller's paused sandbox as `/proc` shows it when every step took effect.
    fn enforced() -> Observed {
        let empty = Some(0);
        let none = Capabilities {
            inheritable: empty,
            permitted: empty,
            effective: empty,
            bounding: empty,
            ambient: empty,
        };
        let kill = Some(1 << crate::sandbox::INIT_CAPABILITY);
        let mut observed = Observed {
            workload: WORKLOAD,
            pid_inside: 2,
            init_caps: Capabilities {
                permitted: kill,
                effective: kill,
                bounding: kill,
                ..none
            },
            pid_namespaces: (Some(2), Some(1)),
            mount_namespaces: (Some(4), Some(3)),
            own_proc_devices: vec!["0:20".to_owned()],
            proc_mounts: std::iter::once("/proc")
                .chain(READ_ONLY_PROC)
                .enumerate()
                .map(|(id, path)| Mount {
                    id: 100 + id as u64,
                    device: "0:50".to_owned(),
                    mount_point: path.to_owned(),
                    read_only: path != "/proc",
                })
                .collect(),
            cwd_on_host_proc: false,
            session: (WORKLOAD, 0),
            route: Route::Direct,
            setpcap: true,
            ..Observed::default()
        };
        observed.own.nspid = vec![1];
        observed.own.seccomp_filters = Some(0);
        let status = &mut observed.status;
        status.nspid = vec![WORKLOAD as u32, 2];
        status.caps = none;
        status.uid = vec![65534; 4];
        status.gid = vec![65534; 4];
        status.groups = vec![65534];
        status.no_new_privs = Some(1);
        status.seccomp = Some(2);
        status.seccomp_filters = Some(1);
        observed
    }

    #[test]
    fn a_sandbox_whose_steps_took_effect_is_enforced_step_by_step() {
        let mut report = HardeningReport::new(Default::default(), &[]);
        verify_sandbox(&enforced(), &plan(), &mut report).unwrap();
        for step in [
            Step::PidNamespace,
            Step::MountNamespace,
            Step::Session,
            Step::Capabilities,
            Step::PrivilegeDrop,
            Step::NoNewPrivs,
            Step::WorkloadSeccomp,
        ] {
            assert_eq!(report.step(step).decision, Decision::Enforced, "{step}");
        }
        assert_eq!(report.step(Step::MountNamespace).route, Some(Route::Direct));
        assert_eq!(report.step(Step::Session).route, None);
    }

    /// Each step's verification stops the boot when what it promised did not take effect: a
    /// check removed from any of them fails here.
    #[test]
    fn a_step_without_effect_fails_its_own_verification() {
        type Break = fn(&mut Observed);
        let breaks: [(Step, Break); 9] = [
            (Step::PidNamespace, |o| o.pid_inside = WORKLOAD),
            (Step::PidNamespace, |o| {
                o.pid_namespaces = (Some(1), Some(1))
            }),
            (Step::MountNamespace, |o| {
                o.proc_mounts[0].device = "0:20".to_owned()
            }),
            (Step::MountNamespace, |o| o.proc_mounts[1].read_only = false),
            (Step::Session, |o| o.session = (1, 0)),
            (Step::Capabilities, |o| o.status.caps.effective = Some(1)),
            (Step::PrivilegeDrop, |o| o.status.uid[1] = 0),
            (Step::NoNewPrivs, |o| o.status.no_new_privs = Some(0)),
            (Step::WorkloadSeccomp, |o| {
                o.status.seccomp_filters = Some(0)
            }),
        ];
        for (step, break_it) in breaks {
            let mut observed = enforced();
            break_it(&mut observed);
            let mut report = HardeningReport::new(Default::default(), &[]);
            let err = verify_sandbox(&observed, &plan(), &mut report).unwrap_err();
            assert_eq!(err.unverified_step(), Some(step), "{err}");
            assert_eq!(err.exit_code(), crate::exit::ExitCode::Verification.code());
        }
    }

    /// A step left out of the plan is not verified, only recorded with what was seen.
    #[test]
    fn a_step_left_out_is_recorded_not_verified() {
        let mut plan = plan();
        assert!(plan
            .skip(Step::PidNamespace, crate::sandbox::Skip::Lost)
            .is_empty());
        let mut observed = enforced();
        observed.pid_inside = WORKLOAD;
        let mut report = HardeningReport::new(Default::default(), &[]);
        verify_sandbox(&observed, &plan, &mut report).unwrap();
        let record = report.step(Step::PidNamespace);
        assert_eq!(record.decision, Decision::NotReached);
        assert!(matches!(record.verified, crate::record::Evidence::Pid(_)));
    }

    /// A step whose protection already holds (the ids on the user-namespace route) is left out
    /// of the spawn, loses nothing, and is still verified: ids other than the plan's stop the boot.
    #[test]
    fn a_step_that_holds_is_left_out_and_still_verified() {
        let mut plan = plan();
        assert!(plan
            .skip(Step::PrivilegeDrop, crate::sandbox::Skip::Holds)
            .is_empty());
        assert!(!plan.performs(Step::PrivilegeDrop));
        assert!(plan.verifies(Step::PrivilegeDrop));
        let mut report = HardeningReport::new(Default::default(), &[]);
        verify_sandbox(&enforced(), &plan, &mut report).unwrap();
        assert_eq!(
            report.step(Step::PrivilegeDrop).decision,
            Decision::Enforced
        );
        let mut observed = enforced();
        observed.status.uid[0] = 0;
        let err = verify_sandbox(&observed, &plan, &mut report).unwrap_err();
        assert_eq!(err.unverified_step(), Some(Step::PrivilegeDrop), "{err}");
        // A step lost later (probe going on after a fatal one) is no longer verified.
        let _ = plan.skip(Step::PrivilegeDrop, crate::sandbox::Skip::Lost);
        assert!(!plan.verifies(Step::PrivilegeDrop));
    }
}
