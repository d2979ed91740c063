//! The types that cross the shared-object boundary.
//!
//! Plugin authors do not use this module: [`export_plugin!`](crate::export_plugin) builds the root
//! module from a [`FailurePolicy`]. It is public for the supervisor (the loading side) and for tests
//! that build deliberately broken plugins.
//!
//! # What is frozen and how the ABI grows
//!
//! abi_stable refuses a library whose prefix type has *fewer* fields than the loading side's copy,
//! and compares, for every type, the defining package's name and (semver-compatible) version. A
//! supervisor must keep loading plugins built against any earlier 0.1 release, so:
//!
//! - [`HandlerMod`] (the root module) and [`FailureReportFfi`] are **frozen** exactly as released
//!   in sandbox-plugin-api 0.1.0: no field is ever added, removed or changed, and the root module's
//!   version string is [`ABI_VERSION`], not the crate's version.
//! - Later capabilities are reached through **extensions**: separately exported symbols, each a
//!   [`ExtensionHeader`] naming its own layout, checked on its own and optional. A plugin built
//!   before an extension existed simply lacks the symbol, and the supervisor uses the documented
//!   default. Once released, an extension is frozen too; the next capability is a new extension
//!   (`..._v2`), never a field appended to an old one.
//! - Host-to-plugin data grows only inside the report's JSON context.
//!
//! Extension v1 ([`HandlerExtV1`], symbol [`EXTENSION_V1_SYMBOL`], since 0.1.1) adds
//! [`decide`](HandlerExtV1::decide): a verdict with a short reason, and the API version the plugin
//! was built with. Default for a plugin without it: the frozen `handle`, with no reason.
//!
//! Kinds and verdicts cross as plain integers, so a value one side does not know is representable
//! and is decided as `Abort`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use abi_stable::library::{AbiHeader, RootModule};
use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use abi_stable::type_layout::TypeLayout;
use abi_stable::{sabi_types::VersionStrings, StableAbi};

use crate::{FailurePolicy, FailureReport, Ruling, SandboxFailureKind};

/// The plugin ABI line the root module declares (its abi_stable version string). It changes only
/// when a release breaks the ABI (then every plugin must be rebuilt); compatible releases of the
/// crate keep it, whatever their own version.
pub const ABI_VERSION: &str = "0.1.0";

/// The root module a plugin exports. **Frozen** as released in 0.1.0: never change it.
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
    /// Decides one refusal; the result is a [`Verdict`](crate::Verdict) code. Only valid after `init` succeeded.
    #[sabi(last_prefix_field)]
    pub handle: extern "C" fn(report: FailureReportRef) -> RResult<u32, PluginError>,
}

impl RootModule for HandlerModRef {
    abi_stable::declare_root_module_statics! {HandlerModRef}
    const BASE_NAME: &'static str = "sandbox_handler";
    const NAME: &'static str = "sandbox failure handler";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION);
}

/// One refusal as it crosses the boundary. **Frozen** as released in 0.1.0: never change it.
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

/// The symbol under which a plugin exports extension v1 (a [`ExtensionHeader`] whose module is a
/// [`HandlerExtV1Ref`]).
pub const EXTENSION_V1_SYMBOL: &str = "sandbox_handler_ext_v1";

/// What an extension symbol points to. **Frozen** for every extension: abi_stable's header (to
/// check the abi_stable version), the layout of the module as the plugin compiled it (checked
/// against the supervisor's with abi_stable's layout checker) and the module itself.
#[repr(C)]
pub struct ExtensionHeader<M: 'static> {
    /// abi_stable's magic string and ABI version, as in a root module's header.
    pub abi: AbiHeader,
    /// The layout of `M` in the plugin.
    pub layout: &'static TypeLayout,
    /// The extension module.
    pub module: M,
}

impl<M: 'static> ExtensionHeader<M> {
    /// The header's frozen size in bytes: abi_stable's [`AbiHeader`] (40 bytes), the layout
    /// pointer and the module's prefix reference (one pointer each), on a 64-bit target.
    pub const SIZE: usize = std::mem::size_of::<Self>();
}

/// Why an exported extension header cannot be read (see [`check_extension_header`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionHeaderProblem {
    /// The exported object is not the size of the frozen header: another header layout.
    Size {
        /// The size of the exported object (its ELF symbol's size).
        found: usize,
        /// [`ExtensionHeader::SIZE`].
        expected: usize,
    },
    /// The address is not aligned for the header.
    Misaligned,
    /// abi_stable's magic string or ABI version in the header is not this abi_stable's.
    AbiHeader,
    /// The layout pointer is null or misaligned.
    Layout,
}

impl std::fmt::Display for ExtensionHeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtensionHeaderProblem::Size { found, expected } => write!(
                f,
                "its header is {found} bytes, not the frozen extension header's {expected}"
            ),
            ExtensionHeaderProblem::Misaligned => f.write_str("its header is misaligned"),
            ExtensionHeaderProblem::AbiHeader => {
                f.write_str("its header was built with an incompatible abi_stable")
            }
            ExtensionHeaderProblem::Layout => f.write_str("its header's layout pointer is invalid"),
        }
    }
}

/// Checks the header itself before anything it points to is followed: the exported object's size
/// (`symbol_size`, the size of the ELF symbol the loader found) against the frozen
/// [`ExtensionHeader::SIZE`], its alignment, abi_stable's header at its start, and the layout
/// pointer. Only after this returns may the caller compare `header.layout` with its own layout
/// (abi_stable's layout checker), and only after that use `header.module`.
///
/// # Safety
/// `pointer` must be the address of an exported object of `symbol_size` bytes that stays mapped
/// and unchanged for `'static` (a library that is never unloaded).
pub unsafe fn check_extension_header<M: 'static>(
    pointer: *const ExtensionHeader<M>,
    symbol_size: usize,
) -> Result<&'static ExtensionHeader<M>, ExtensionHeaderProblem> {
    let expected = ExtensionHeader::<M>::SIZE;
    if symbol_size != expected {
        return Err(ExtensionHeaderProblem::Size {
            found: symbol_size,
            expected,
        });
    }
    if pointer.is_null() || !pointer.is_aligned() {
        return Err(ExtensionHeaderProblem::Misaligned);
    }
    // SAFETY: non-null, aligned, and an object of exactly the header's size that stays mapped
    // (the caller's contract); every bit pattern is valid for `AbiHeader` (bytes and integers),
    // and nothing behind the layout pointer or the module is read here.
    let abi: AbiHeader = unsafe { std::ptr::addr_of!((*pointer).abi).read() };
    if !abi.is_valid() {
        return Err(ExtensionHeaderProblem::AbiHeader);
    }
    // SAFETY: as above; a pointer-sized field read as a raw address, not yet dereferenced.
    let layout: *const TypeLayout = unsafe {
        std::ptr::addr_of!((*pointer).layout)
            .cast::<*const TypeLayout>()
            .read()
    };
    if layout.is_null() || !layout.is_aligned() {
        return Err(ExtensionHeaderProblem::Layout);
    }
    // SAFETY: size, alignment, abi_stable's header and the layout pointer are checked; the rest
    // is the caller's contract.
    Ok(unsafe { &*pointer })
}

/// Extension v1 (sandbox-plugin-api 0.1.1). **Frozen** once released: a later capability is a
/// new extension, not a field appended here.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HandlerExtV1Ref)))]
pub struct HandlerExtV1 {
    /// The sandbox-plugin-api version the plugin was built with ([`crate::VERSION`]).
    pub api_version: RStr<'static>,
    /// Decides one refusal, with an optional reason ([`FailurePolicy::decide`]). Only valid after
    /// `init` succeeded.
    #[sabi(last_prefix_field)]
    pub decide: extern "C" fn(report: FailureReportRef) -> RResult<RulingFfi, PluginError>,
}

/// A verdict with its reason, as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct RulingFfi {
    /// [`Verdict::code`](crate::Verdict::code); any other value means `Abort`.
    pub verdict: u32,
    /// A short sentence, shown in the supervisor's WARN or abort line and in the report.
    pub reason: ROption<RString>,
}

/// Builds the extension-v1 export for `P`; used by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub struct ExtensionV1For<P>(std::marker::PhantomData<P>);

impl<P: PolicySlot> ExtensionV1For<P> {
    const WITH_METADATA: &'static WithMetadata<HandlerExtV1> = &WithMetadata::new(HandlerExtV1 {
        api_version: RStr::from_str(crate::VERSION),
        decide: decide::<P>,
    });

    /// The header the macro exports under [`EXTENSION_V1_SYMBOL`].
    pub const HEADER: ExtensionHeader<HandlerExtV1Ref> = ExtensionHeader {
        abi: AbiHeader::VALUE,
        layout: <HandlerExtV1Ref as StableAbi>::LAYOUT,
        module: HandlerExtV1Ref(Self::WITH_METADATA.static_as_prefix()),
    };
}

// SAFETY: the header only holds `'static` shared data (abi_stable's header, a layout and a prefix
// reference to a static module of function pointers and string slices); nothing in it is mutable.
unsafe impl<M: Sync> Sync for ExtensionHeader<M> {}

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
        // Key by key: one key of another shape must not reset the others (see
        // `FailureContext::from_json`).
        context: crate::FailureContext::from_json(report.context_json().as_str()),
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
    guarded(|| Ok(ruling::<P>(report)?.verdict.code()))
}

extern "C" fn decide<P: PolicySlot>(report: FailureReportRef) -> RResult<RulingFfi, PluginError> {
    guarded(|| {
        let ruling = ruling::<P>(report)?;
        Ok(RulingFfi {
            verdict: ruling.verdict.code(),
            reason: ruling.reason.map(RString::from).into(),
        })
    })
}

/// The policy's ruling; `handle` (frozen, no reason) and `decide` (extension v1) both use it, so
/// a plugin decides the same in an old supervisor and a new one.
fn ruling<P: PolicySlot>(report: FailureReportRef) -> Result<Ruling, PluginError> {
    let policy = initialised::<P>()?;
    // A kind this plugin was built without is never handed to its policy.
    Ok(match report_from_ffi(report) {
        Some(report) => policy.decide(&report),
        None => Ruling::abort("a kind this plugin was built without"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

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
