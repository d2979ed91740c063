//! Failure kinds, the handler trait, the strict default and the set-once handler slot.
//!
//! Every refusal of a tolerable step becomes a [`FailureReport`] (the handler's question), which
//! [`ask`] puts to a handler ([`failure_handler`], the registered one) with the host's floor: a
//! handler may only tolerate the kinds it declared, and a handler that cannot answer is fatal.
//! Privilege drop and the supervisor's own errors never come here: they are fatal by construction.

pub mod context;
pub(crate) mod plugin;
pub(crate) mod simulate;

use std::sync::OnceLock;

pub use sandbox_plugin_api::{errno_name, FailureReport, Ruling, SandboxFailureKind, Verdict};

use crate::record::Decider;

/// Decides whether a refused hardening step aborts the boot or is tolerated.
///
/// Embedders register their own implementation once with [`set_failure_handler`]; the binary does
/// the same with a plugin named by `--handler-plugin`.
pub trait SandboxFailureHandler: Send + Sync {
    /// Who decides, as written in logs and reports: `strict` or `plugin:NAME@VERSION`.
    fn decider(&self) -> String;

    /// The kinds this handler may ever tolerate. A `Tolerate` for any other kind is refused.
    fn declared(&self) -> Vec<SandboxFailureKind>;

    /// Decide about one refusal. `Err` means the handler could not answer (a plugin panicked or
    /// answered out of range); the supervisor treats that as fatal.
    fn handle(&self, report: &FailureReport) -> Result<Verdict, HandlerFailure>;

    /// Decide about one refusal and say why. The default is [`handle`](Self::handle) with no
    /// reason; the supervisor asks this one.
    fn decide(&self, report: &FailureReport) -> Result<Ruling, HandlerFailure> {
        self.handle(report).map(Ruling::from)
    }
}

/// A handler that could not give a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{decider} failed: {reason}")]
pub struct HandlerFailure {
    /// Who failed (`plugin:NAME@VERSION`).
    pub decider: String,
    /// One sentence.
    pub reason: String,
}

/// The default handler: every refusal aborts. This is the hardening contract on bare metal.
#[derive(Debug, Clone, Copy, Default)]
pub struct StrictHandler;

impl SandboxFailureHandler for StrictHandler {
    fn decider(&self) -> String {
        Decider::STRICT.to_owned()
    }

    fn declared(&self) -> Vec<SandboxFailureKind> {
        Vec::new()
    }

    fn handle(&self, _report: &FailureReport) -> Result<Verdict, HandlerFailure> {
        Ok(Verdict::Abort)
    }
}

static HANDLER: OnceLock<Box<dyn SandboxFailureHandler>> = OnceLock::new();

/// [`set_failure_handler`] was called when a handler was already registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a failure handler is already registered ({existing}); it stays in place")]
pub struct HandlerAlreadySet {
    /// The decider of the handler that stays registered.
    pub existing: String,
}

/// Registers the process-wide failure handler. Call it once, at process start, before any
/// hardening step; a second call returns an error and changes nothing.
pub fn set_failure_handler(
    handler: Box<dyn SandboxFailureHandler>,
) -> Result<(), HandlerAlreadySet> {
    HANDLER.set(handler).map_err(|_| HandlerAlreadySet {
        existing: failure_handler().decider(),
    })
}

/// Whether a handler was registered (a plugin's or an embedder's): one that may run code of its
/// own, fork a child to decide, or count the supervisor's threads.
pub(crate) fn handler_registered() -> bool {
    HANDLER.get().is_some()
}

/// The registered handler, or [`StrictHandler`] when none was registered.
pub fn failure_handler() -> &'static dyn SandboxFailureHandler {
    match HANDLER.get() {
        Some(handler) => handler.as_ref(),
        None => &StrictHandler,
    }
}

/// The outcome of asking the handler about a refusal that may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tolerated {
    /// The refusal.
    pub report: FailureReport,
    /// Who tolerated it.
    pub decider: Decider,
    /// Why, when the handler said.
    pub reason: Option<String>,
}

/// A refusal that stops the boot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTolerated {
    /// The handler answered `Abort`.
    #[error("{} refused: {} failed with {} ({}); aborted by {decider}{}", .report.kind, .report.syscall, .report.errno_name, .report.message, because(.reason))]
    Aborted {
        /// The refusal.
        report: FailureReport,
        /// `strict` or `plugin:NAME@VERSION`.
        decider: Decider,
        /// Why, when the handler said.
        reason: Option<String>,
    },
    /// The handler answered `Tolerate` for a kind it did not declare.
    #[error("{} refused: {} failed with {}; {decider} answered tolerate but did not declare {}, so the supervisor aborts", .report.kind, .report.syscall, .report.errno_name, .report.kind)]
    Undeclared {
        /// The refusal.
        report: FailureReport,
        /// The plugin that broke its declaration.
        decider: Decider,
    },
    /// The handler could not answer.
    #[error("{} refused: {} failed with {}; {failure}", .report.kind, .report.syscall, .report.errno_name)]
    HandlerFailed {
        /// The refusal.
        report: FailureReport,
        /// What went wrong in the handler.
        failure: HandlerFailure,
    },
}

/// `: REASON` for a reason, nothing without one.
fn because(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|reason| format!(": {reason}"))
        .unwrap_or_default()
}

impl NotTolerated {
    /// The reason the handler gave, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            NotTolerated::Aborted { reason, .. } => reason.as_deref(),
            NotTolerated::Undeclared { .. } | NotTolerated::HandlerFailed { .. } => None,
        }
    }

    /// True when the strict default (no plugin) made the decision.
    pub fn by_strict_default(&self) -> bool {
        matches!(
            self,
            NotTolerated::Aborted {
                decider: Decider::Strict,
                ..
            }
        )
    }

    /// Who decided: the handler, or the plugin that failed.
    pub fn decider(&self) -> Decider {
        match self {
            NotTolerated::Aborted { decider, .. } | NotTolerated::Undeclared { decider, .. } => {
                decider.clone()
            }
            NotTolerated::HandlerFailed { failure, .. } => {
                Decider::of_handler(failure.decider.clone())
            }
        }
    }

    /// The handler's question.
    pub fn question(&self) -> &FailureReport {
        match self {
            NotTolerated::Aborted { report, .. }
            | NotTolerated::Undeclared { report, .. }
            | NotTolerated::HandlerFailed { report, .. } => report,
        }
    }
}

/// What `handler` decides about `report`, with the host's floor applied, without logging (`probe`
/// uses it to say what a run would do).
pub fn ask(
    handler: &dyn SandboxFailureHandler,
    report: FailureReport,
) -> Result<Tolerated, NotTolerated> {
    let decider = Decider::of_handler(handler.decider());
    match handler.decide(&report) {
        Err(failure) => Err(NotTolerated::HandlerFailed { report, failure }),
        Ok(Ruling {
            verdict: Verdict::Abort,
            reason,
        }) => Err(NotTolerated::Aborted {
            report,
            decider,
            reason,
        }),
        Ok(Ruling {
            verdict: Verdict::Tolerate,
            ..
        }) if !handler.declared().contains(&report.kind) => {
            Err(NotTolerated::Undeclared { report, decider })
        }
        Ok(Ruling {
            verdict: Verdict::Tolerate,
            reason,
        }) => Ok(Tolerated {
            report,
            decider,
            reason,
        }),
    }
}

/// [`ask`], and a WARN line for a tolerated refusal.
pub fn ask_and_warn(
    handler: &dyn SandboxFailureHandler,
    report: FailureReport,
) -> Result<Tolerated, NotTolerated> {
    let tolerated = ask(handler, report)?;
    let Tolerated {
        report,
        decider,
        reason,
    } = &tolerated;
    match reason {
        Some(reason) => tracing::warn!(
            step = %report.kind,
            decision = "tolerated",
            syscall = %report.syscall,
            errno = report.errno,
            errno_name = %report.errno_name,
            decider = %decider,
            reason = %reason,
            "hardening step tolerated: {} failed with {}; {}; tolerated by {decider}: {reason}",
            report.syscall,
            report.errno_name,
            report.kind.lost_protection(),
        ),
        None => tracing::warn!(
            step = %report.kind,
            decision = "tolerated",
            syscall = %report.syscall,
            errno = report.errno,
            errno_name = %report.errno_name,
            decider = %decider,
            "hardening step tolerated: {} failed with {}; {}; tolerated by {decider}",
            report.syscall,
            report.errno_name,
            report.kind.lost_protection(),
        ),
    }
    Ok(tolerated)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        verdict: Result<Verdict, HandlerFailure>,
        declared: Vec<SandboxFailureKind>,
    }

    impl SandboxFailureHandler for Fixed {
        fn decider(&self) -> String {
            "plugin:fixed@1".to_owned()
        }
        fn declared(&self) -> Vec<SandboxFailureKind> {
            self.declared.clone()
        }
        fn handle(&self, _report: &FailureReport) -> Result<Verdict, HandlerFailure> {
            self.verdict.clone()
        }
    }

    fn netns_eperm() -> FailureReport {
        FailureReport::new(
            SandboxFailureKind::NetworkNamespace,
            "unshare(CLONE_NEWNET)",
            1,
            "the kernel refused a new network namespace",
        )
    }

    #[test]
    fn strict_aborts_and_says_so() {
        let refused = ask_and_warn(&StrictHandler, netns_eperm()).unwrap_err();
        assert!(refused.by_strict_default());
        assert_eq!(
            refused.to_string(),
            "network-namespace refused: unshare(CLONE_NEWNET) failed with EPERM \
             (the kernel refused a new network namespace); aborted by strict"
        );
    }

    #[test]
    fn declared_tolerate_is_tolerated() {
        let handler = Fixed {
            verdict: Ok(Verdict::Tolerate),
            declared: vec![SandboxFailureKind::NetworkNamespace],
        };
        let tolerated = ask_and_warn(&handler, netns_eperm()).unwrap();
        assert_eq!(tolerated.decider.as_str(), "plugin:fixed@1");
    }

    #[test]
    fn undeclared_tolerate_aborts() {
        let handler = Fixed {
            verdict: Ok(Verdict::Tolerate),
            declared: vec![SandboxFailureKind::WorkloadSeccomp],
        };
        let refused = ask_and_warn(&handler, netns_eperm()).unwrap_err();
        assert!(matches!(refused, NotTolerated::Undeclared { .. }));
        assert!(!refused.by_strict_default());
    }

    #[test]
    fn handler_failure_aborts() {
        let handler = Fixed {
            verdict: Err(HandlerFailure {
                decider: "plugin:fixed@1".to_owned(),
                reason: "panicked: boom".to_owned(),
            }),
            declared: SandboxFailureKind::ALL.to_vec(),
        };
        let refused = ask_and_warn(&handler, netns_eperm()).unwrap_err();
        assert!(matches!(refused, NotTolerated::HandlerFailed { .. }));
    }

    #[test]
    fn slot_is_set_once() {
        assert_eq!(failure_handler().decider(), "strict");
        let first = Fixed {
            verdict: Ok(Verdict::Abort),
            declared: vec![],
        };
        set_failure_handler(Box::new(first)).unwrap();
        let err = set_failure_handler(Box::new(StrictHandler)).unwrap_err();
        assert_eq!(err.existing, "plugin:fixed@1");
        assert_eq!(failure_handler().decider(), "plugin:fixed@1");
    }
}
