//! The types that cross the shared-object boundary.
//!
//! Plugin authors do not use this module: [`export_plugin!`](crate::export_plugin) builds the root
//! module from a [`FailurePolicy`]. It is public for the supervisor (the loading side) and for tests
//! that build deliberately broken plugins.
//!
//! Both the root module and the report are abi_stable *prefix types*: fields up to the one marked
//! `last_prefix_field` exist in every version; later minor versions only append fields after it.
//! Kinds and verdicts cross as plain integers, so a value one side does not know is representable
//! and is decided as `Abort`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use abi_stable::library::RootModule;
use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use abi_stable::{package_version_strings, sabi_types::VersionStrings, StableAbi};

use crate::{FailurePolicy, FailureReport, SandboxFailureKind, Verdict};

/// The root module a plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HandlerModRef)))]
#[sabi(missing_field(panic))]
pub struct HandlerMod {
    /// The plugin's name ([`FailurePolicy::NAME`]).
    pub name: RStr<'static>,
    /// The plugin's own version ([`FailurePolicy::VERSION`]).
    pub version: RStr<'static>,
    /// Called once with the operator's configuration as JSON text (empty: none given).
    pub init: extern "C" fn(config: RStr<'_>) -> RResult<(), PluginError>,
    /// The kind codes the plugin may tolerate ([`FailurePolicy::tolerates`]), asked after `init`.
    pub tolerates: extern "C" fn() -> RResult<RVec<u32>, PluginError>,
    /// Decides one refusal; the result is a [`Verdict`] code. Only valid after `init` succeeded.
    #[sabi(last_prefix_field)]
    pub handle: extern "C" fn(report: FailureReportRef) -> RResult<u32, PluginError>,
}

impl RootModule for HandlerModRef {
    abi_stable::declare_root_module_statics! {HandlerModRef}
    const BASE_NAME: &'static str = "sandbox_handler";
    const NAME: &'static str = "sandbox failure handler";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// One refusal as it crosses the boundary.
///
/// The string fields borrow the supervisor's memory for the duration of one `handle` call only; a
/// plugin must copy what it wants to keep (the generated glue does).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FailureReportRef)))]
pub struct FailureReportFfi {
    /// [`SandboxFailureKind::code`].
    pub kind: u32,
    /// The raw errno.
    pub errno: i32,
    /// The system call that failed.
    pub syscall: RStr<'static>,
    /// The errno's symbolic name.
    pub errno_name: RStr<'static>,
    /// One human sentence.
    pub message: RStr<'static>,
    /// [`FailureContext`](crate::FailureContext) as a JSON object, so that later clues need no
    /// new field.
    #[sabi(last_prefix_field)]
    pub context_json: RStr<'static>,
}

/// Why a plugin could not answer.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// True when the plugin panicked (the message is the panic's), false when it refused.
    pub panicked: bool,
    /// One sentence from the plugin.
    pub message: RString,
}

impl PluginError {
    fn rejected(message: String) -> Self {
        PluginError {
            panicked: false,
            message: message.into(),
        }
    }

    fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "a panic with a non-string payload".to_owned()
        };
        PluginError {
            panicked: true,
            message: message.into(),
        }
    }
}

/// Calls `report`'s handler with a borrowed [`FailureReportRef`] built from `report`.
///
/// This is how the supervisor passes a report across the boundary; the reference it hands to
/// `call` must not escape the call.
pub fn with_report_ffi<R>(report: &FailureReport, call: impl FnOnce(FailureReportRef) -> R) -> R {
    // SAFETY: the strings live in `report`, which outlives `call`; the reference built from them
    // is only handed to `call`, and the type's documented contract forbids keeping it longer.
    let syscall: RStr<'static> = unsafe { extend(report.syscall.as_str()) };
    // SAFETY: as above.
    let errno_name: RStr<'static> = unsafe { extend(report.errno_name.as_str()) };
    // SAFETY: as above.
    let message: RStr<'static> = unsafe { extend(report.message.as_str()) };
    let context = serde_json::to_string(&report.context).unwrap_or_default();
    // SAFETY: `context` lives on this stack frame until after `call` returns.
    let context_json: RStr<'static> = unsafe { extend(context.as_str()) };
    let with_metadata = WithMetadata::new(FailureReportFfi {
        kind: report.kind.code(),
        errno: report.errno,
        syscall,
        errno_name,
        message,
        context_json,
    });
    // SAFETY: `with_metadata` lives on this stack frame until after `call` returns, and the prefix
    // reference is only used inside `call`.
    let prefix = unsafe { with_metadata.as_prefix() };
    call(FailureReportRef(prefix))
}

/// # Safety
/// The caller must not let the returned value outlive `text`.
unsafe fn extend(text: &str) -> RStr<'static> {
    // SAFETY: pointer and length come from a valid `&str`; the lifetime contract is the caller's.
    unsafe { RStr::from_raw_parts(text.as_ptr(), text.len()) }
}

fn report_from_ffi(report: FailureReportRef) -> Option<FailureReport> {
    let kind = SandboxFailureKind::from_code(report.kind())?;
    Some(FailureReport {
        kind,
        syscall: report.syscall().as_str().to_owned(),
        errno: report.errno(),
        errno_name: report.errno_name().as_str().to_owned(),
        message: report.message().as_str().to_owned(),
        context: serde_json::from_str(report.context_json().as_str()).unwrap_or_default(),
    })
}

/// Where a plugin keeps its policy once `init` succeeded; implemented by
/// [`export_plugin!`](crate::export_plugin) with a `static` in the plugin.
#[doc(hidden)]
pub trait PolicySlot: FailurePolicy {
    fn slot() -> &'static OnceLock<Self>;
}

/// Builds the root module for `P`; called by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn root_module<P: PolicySlot>() -> HandlerModRef {
    HandlerMod {
        name: RStr::from_str(P::NAME),
        version: RStr::from_str(P::VERSION),
        init: init::<P>,
        tolerates: tolerates::<P>,
        handle: handle::<P>,
    }
    .leak_into_prefix()
}

fn guarded<T>(body: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    // The panic becomes the supervisor's one error line; the default hook would print it (and a
    // backtrace) a second time. The plugin has its own copy of std, so this hook is the plugin's.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(body));
    std::panic::set_hook(previous);
    match result {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::from_panic(payload)),
    }
}

fn initialised<P: PolicySlot>() -> Result<&'static P, PluginError> {
    P::slot()
        .get()
        .ok_or_else(|| PluginError::rejected("called before init".to_owned()))
}

extern "C" fn tolerates<P: PolicySlot>() -> RResult<RVec<u32>, PluginError> {
    guarded(|| {
        let policy = initialised::<P>()?;
        Ok(policy
            .tolerates()
            .into_iter()
            .map(SandboxFailureKind::code)
            .collect())
    })
}

extern "C" fn init<P: PolicySlot>(config: RStr<'_>) -> RResult<(), PluginError> {
    guarded(|| {
        let config = match config.as_str() {
            "" => None,
            text => Some(serde_json::from_str(text).map_err(|err| {
                PluginError::rejected(format!("configuration is not valid JSON: {err}"))
            })?),
        };
        let policy = P::init(config).map_err(PluginError::rejected)?;
        P::slot()
            .set(policy)
            .map_err(|_| PluginError::rejected("init was called twice".to_owned()))
    })
}

extern "C" fn handle<P: PolicySlot>(report: FailureReportRef) -> RResult<u32, PluginError> {
    guarded(|| {
        let policy = initialised::<P>()?;
        // A kind this plugin was built without is never handed to its policy.
        let verdict = match report_from_ffi(report) {
            Some(report) => policy.handle(&report),
            None => Verdict::Abort,
        };
        Ok(verdict.code())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct AlwaysTolerate;

    impl FailurePolicy for AlwaysTolerate {
        const NAME: &'static str = "always";
        const VERSION: &'static str = "0";
        fn init(_config: Option<serde_json::Value>) -> Result<Self, String> {
            Ok(AlwaysTolerate)
        }
        fn tolerates(&self) -> Vec<SandboxFailureKind> {
            SandboxFailureKind::ALL.to_vec()
        }
        fn handle(&self, _report: &FailureReport) -> Verdict {
            Verdict::Tolerate
        }
    }

    impl PolicySlot for AlwaysTolerate {
        fn slot() -> &'static OnceLock<Self> {
            static SLOT: OnceLock<AlwaysTolerate> = OnceLock::new();
            &SLOT
        }
    }

    fn call_with_kind(kind: u32) -> RResult<u32, PluginError> {
        let with_metadata = WithMetadata::new(FailureReportFfi {
            kind,
            errno: 1,
            syscall: RStr::from_str("unshare(CLONE_NEWNET)"),
            errno_name: RStr::from_str("EPERM"),
            message: RStr::from_str(""),
            context_json: RStr::from_str("{}"),
        });
        // SAFETY: `with_metadata` outlives the call.
        let report = FailureReportRef(unsafe { with_metadata.as_prefix() });
        handle::<AlwaysTolerate>(report)
    }

    #[test]
    fn glue_decides_unknown_kinds_as_abort_and_catches_order_errors() {
        // Before init: an error, not a verdict.
        assert!(matches!(
            call_with_kind(1),
            RResult::RErr(PluginError {
                panicked: false,
                ..
            })
        ));
        assert_eq!(init::<AlwaysTolerate>(RStr::from_str("")), RResult::ROk(()));
        assert_eq!(call_with_kind(1), RResult::ROk(Verdict::Tolerate.code()));
        // A kind this plugin was built without never reaches the policy.
        assert_eq!(call_with_kind(99), RResult::ROk(Verdict::Abort.code()));
        // A second init is refused.
        assert!(matches!(
            init::<AlwaysTolerate>(RStr::from_str("")),
            RResult::RErr(_)
        ));
    }
}
