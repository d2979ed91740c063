//! What a lost step really costs: the kind table's sentence (`lost_protection`) says what one
//! step guards against alone; what the workload can do without it depends on its identity and on
//! the steps that still hold. The final plan, once the sandbox is ready, gives both.
//!
//! uid 0 (or a kept capability) never runs without the mount namespace or the view: the boot
//! stops with a usage error first (`boot::root_needs_mount_namespace`, `boot::root_needs_view`),
//! and the record of that stopped boot says what it would have cost.

use crate::sandbox::Plan;
use crate::steps::Step;

/// Without the mount namespace.
pub(crate) const NO_MOUNT_NAMESPACE: &str = "the workload sees the host's /proc and /sys: it can read, and write the memory of, every host process of its uid, whatever its PID namespace, and read what they show any uid (every host process's command line, kernel settings, devices); the supervisor's and the init's environments were cleared before the sandbox was made";

/// Without the PID namespace, the mount namespace kept.
pub(crate) const NO_PID_NAMESPACE: &str = "the workload shares the supervisor's PID and IPC namespaces: it can signal the host's processes of its uid, reach their shared memory, outlive the supervisor, and read in its /proc what every host process shows any uid (the supervisor's and the init's environments were cleared before the sandbox was made)";

/// Without the mount namespace, as uid 0 or with kept capabilities (the boot stops first).
pub(crate) const NO_MOUNT_NAMESPACE_PRIVILEGED: &str = "the workload would see the host's /proc and /sys as uid 0 or with kept capabilities: it could write kernel settings (/proc/sys), write /sys, and move itself out of its control group through a parent's cgroup.procs; the boot stops before it runs";

/// Without Landlock and without the view.
pub(crate) const NO_LANDLOCK_NOR_VIEW: &str = "no Landlock domain and no filesystem view bound the workload: only file permissions limit the files it may write or execute, and it may reach abstract Unix sockets and signal processes outside the sandbox";

/// What is missing without `step` in the sandbox `plan` ends with, when it says more than the
/// step's own sentence; `None`: the kind table's sentence is the whole cost.
pub(crate) fn missing_protection(step: Step, plan: &Plan) -> Option<&'static str> {
    match step {
        Step::MountNamespace if privileged(plan).is_some() => Some(NO_MOUNT_NAMESPACE_PRIVILEGED),
        Step::MountNamespace => Some(NO_MOUNT_NAMESPACE),
        Step::PidNamespace if plan.performs(Step::MountNamespace) => Some(NO_PID_NAMESPACE),
        Step::Landlock if !plan.performs(Step::FilesystemView) => Some(NO_LANDLOCK_NOR_VIEW),
        _ => None,
    }
}

/// What makes the workload `plan` runs privileged: uid 0 (or gid 0, or group 0), or kept
/// capabilities; `None` when neither.
pub(crate) fn privileged(plan: &Plan) -> Option<&'static str> {
    let root = plan.identity().is_some_and(|identity| {
        identity.uid.is_root()
            || identity.gid.as_raw() == 0
            || identity.groups.iter().any(|group| group.as_raw() == 0)
    });
    if root {
        Some("as uid 0 or gid 0")
    } else if plan.kept_capabilities() != 0 {
        Some("with kept capabilities")
    } else {
        None
    }
}

/// Rewrites the `missing_protection` of every step the report says is missing with what it
/// costs in the sandbox `plan` ends with.
pub(crate) fn record(plan: &Plan, report: &mut crate::record::HardeningReport) {
    for step in Step::ALL {
        let record = report.step(step);
        if record.missing_protection.is_none() {
            continue;
        }
        if let Some(cost) = missing_protection(step, plan) {
            record.missing_protection = Some(cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let filter = crate::steps::seccomp::compile_workload(&Default::default()).unwrap();
        Plan::new(
            std::path::Path::new("/bin/true"),
            &["true".into()],
            Vec::new(),
            None,
            filter,
            nix::sys::signal::SigSet::empty(),
        )
        .unwrap()
    }

    #[test]
    fn a_lost_pid_namespace_costs_more_with_the_mount_namespace_kept() {
        let mut plan = plan();
        let _ = plan.skip(Step::PidNamespace, crate::sandbox::Skip::Lost);
        assert_eq!(
            missing_protection(Step::PidNamespace, &plan),
            Some(NO_PID_NAMESPACE)
        );
        let _ = plan.skip(Step::MountNamespace, crate::sandbox::Skip::Lost);
        assert_eq!(missing_protection(Step::PidNamespace, &plan), None);
        assert_eq!(
            missing_protection(Step::MountNamespace, &plan),
            Some(NO_MOUNT_NAMESPACE)
        );
        // This plan has no view: Landlock lost leaves nothing but file permissions.
        assert_eq!(
            missing_protection(Step::Landlock, &plan),
            Some(NO_LANDLOCK_NOR_VIEW)
        );
        assert_eq!(missing_protection(Step::WorkloadSeccomp, &plan), None);
    }
}
