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
        identity: plan.identity().filter(|_| plan.verifies_identity()),
        kept_capabilities: plan.kept_capabilities(),
        filter: plan.filter(),
        view: plan
            .view()
            .filter(|_| plan.performs(crate::steps::Step::FilesystemView)),
        landlock: plan
            .landlock()
            .filter(|_| plan.performs(crate::steps::Step::Landlock)),
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
