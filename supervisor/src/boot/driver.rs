//! The two drivers of the one boot sequence: `run`'s "decide and stop" and `probe`'s "record,
//! decide, continue". Both decide a refusal the same way ([`decide_refusal`]).

use crate::error::SupervisorError;
use crate::handler::{ask, FailureReport, NotTolerated, SandboxFailureHandler};
use crate::record::{Decider, Decision, HardeningReport};
use crate::steps::Refusal;

/// How a driver answers a refusal.
pub(crate) trait Driver {
    /// `Ok` to go on without the refused step, `Err` to stop the boot. Records the decision.
    fn on_refusal(
        &mut self,
        refusal: Refusal,
        fallback: Option<Refusal>,
        report: &mut HardeningReport,
    ) -> Result<(), SupervisorError>;

    /// Whether decisions are logged (`run`) or only recorded (`probe`).
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
            crate::handler::errno_name(fallback.errno as i32)
        ));
    }
    Some(
        FailureReport::new(kind, refusal.call.name(), refusal.errno as i32, message)
            .with_context(report.environment.clone()),
    )
}

/// Decides about `refusal` with `ask` (the handler, through the host's floor), records the
/// decision in the report, and returns the error a run stops with when it is not tolerated. With
/// `log`, the decision is also logged at DEBUG with structured fields (`step`, `decision`,
/// `syscall`, `errno`, `decider`): at the default level each decided refusal is one line, the
/// handler's WARN for a tolerated one, the fatal error that ends the run for an aborted one (both
/// carry the same fields).
fn decide_refusal(
    refusal: Refusal,
    fallback: Option<Refusal>,
    report: &mut HardeningReport,
    log: bool,
    ask: impl FnOnce(FailureReport) -> Result<crate::handler::Tolerated, NotTolerated>,
) -> Result<(), SupervisorError> {
    // Out of memory, processes or descriptors is the machine's state, not a runtime's refusal:
    // no handler is asked about it.
    let exhausted = crate::error::out_of_resources(refusal.errno);
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
        let errno_name = crate::handler::errno_name(refusal.errno as i32);
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
        event!(tracing::Level::DEBUG);
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
            crate::handler::ask_and_warn(crate::handler::failure_handler(), question)
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
