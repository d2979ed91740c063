//! Teardown: once the workload has been reaped (or the boot stopped), the steps that must clean up
//! after themselves do, in reverse boot order, and add what they found to the final record (a
//! cgroup removed, its peaks recorded). A step takes part by naming a teardown in its catalogue
//! row; none of today's steps needs one.

use crate::record::HardeningReport;
use crate::sandbox::Plan;
use crate::steps::{StepInfo, STEPS};

/// Runs the teardown of every step that has one, in reverse boot order.
pub(crate) fn teardown(plan: &Plan, report: &mut HardeningReport) {
    teardown_in(&STEPS, plan, report);
}

fn teardown_in(catalogue: &[StepInfo], plan: &Plan, report: &mut HardeningReport) {
    for info in catalogue.iter().rev() {
        if let Some(teardown) = info.teardown {
            teardown(plan, report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::Step;

    #[test]
    fn teardowns_run_in_reverse_boot_order_and_add_to_the_record() {
        fn first(_: &Plan, report: &mut HardeningReport) {
            report.step(Step::NetworkNamespace).reason = Some("torn down second".to_owned());
            assert!(report.step(Step::MountNamespace).reason.is_some());
        }
        fn last(_: &Plan, report: &mut HardeningReport) {
            report.step(Step::MountNamespace).reason = Some("torn down first".to_owned());
        }
        let mut catalogue = STEPS;
        catalogue[Step::NetworkNamespace as usize].teardown = Some(first);
        catalogue[Step::MountNamespace as usize].teardown = Some(last);
        let filter = crate::steps::seccomp::compile_workload(&Default::default()).unwrap();
        let plan = Plan::new(
            std::path::Path::new("/bin/true"),
            &["true".into()],
            Vec::new(),
            None,
            filter,
            nix::sys::signal::SigSet::empty(),
        )
        .unwrap();
        let mut report = HardeningReport::new(Default::default(), &[]);
        teardown_in(&catalogue, &plan, &mut report);
        assert_eq!(
            report.step(Step::NetworkNamespace).reason.as_deref(),
            Some("torn down second")
        );
        // Today only the cgroup step tears something down (its group, and the usage it records).
        assert!(STEPS
            .iter()
            .all(|info| info.teardown.is_none() || info.step == Step::Cgroup));
    }
}
