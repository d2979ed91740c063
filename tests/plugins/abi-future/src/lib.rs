//! A plugin of a future ABI line, as a real sandbox-plugin-api 0.2.0 would build one: the root
//! module and extension v1 have the shapes they have today, but every type is defined by a crate
//! of version 0.2.0 (this one) and the root module declares the ABI line 0.2.0. abi_stable would
//! refuse either layout (another minor version of the defining package); the supervisor must
//! refuse the plugin for its ABI line first, with the line that names both versions, and never
//! look at the extension.

use abi_stable::library::{AbiHeader, RootModule};
use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use abi_stable::{package_version_strings, StableAbi};
use sandbox_plugin_api::ffi::ExtensionHeader;

/// The error type of the 0.2 line.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginError {
    pub panicked: bool,
    pub message: RString,
}

/// The report of the 0.2 line.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FailureReportRef)))]
pub struct FailureReportFfi {
    pub kind: u32,
    pub errno: i32,
    pub syscall: RStr<'static>,
    pub errno_name: RStr<'static>,
    pub message: RStr<'static>,
    #[sabi(last_prefix_field)]
    pub context_json: RStr<'static>,
}

/// The root module of the 0.2 line.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureModRef)))]
#[sabi(missing_field(panic))]
pub struct FutureMod {
    pub name: RStr<'static>,
    pub version: RStr<'static>,
    pub init: extern "C" fn(config: RStr<'_>) -> RResult<(), PluginError>,
    pub tolerates: extern "C" fn() -> RResult<RVec<u32>, PluginError>,
    #[sabi(last_prefix_field)]
    pub handle: extern "C" fn(report: FailureReportRef) -> RResult<u32, PluginError>,
}

impl RootModule for FutureModRef {
    abi_stable::declare_root_module_statics! {FutureModRef}
    const BASE_NAME: &'static str = "sandbox_handler";
    const NAME: &'static str = "sandbox failure handler";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

extern "C" fn init(_config: RStr<'_>) -> RResult<(), PluginError> {
    RResult::ROk(())
}

extern "C" fn tolerates() -> RResult<RVec<u32>, PluginError> {
    RResult::ROk(RVec::from(vec![1]))
}

extern "C" fn handle(_report: FailureReportRef) -> RResult<u32, PluginError> {
    RResult::ROk(1)
}

#[abi_stable::export_root_module]
fn root_module() -> FutureModRef {
    FutureMod {
        name: RStr::from_str("abi-future"),
        version: RStr::from_str("0.2.0"),
        init,
        tolerates,
        handle,
    }
    .leak_into_prefix()
}

/// A verdict with its reason, in the 0.2 line.
#[repr(C)]
#[derive(StableAbi)]
pub struct RulingFfi {
    pub verdict: u32,
    pub reason: ROption<RString>,
}

/// Extension v1 of the 0.2 line.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureExtV1Ref)))]
pub struct FutureExtV1 {
    pub api_version: RStr<'static>,
    #[sabi(last_prefix_field)]
    pub decide: extern "C" fn(report: FailureReportRef) -> RResult<RulingFfi, PluginError>,
}

extern "C" fn decide(_report: FailureReportRef) -> RResult<RulingFfi, PluginError> {
    RResult::ROk(RulingFfi {
        verdict: 1,
        reason: ROption::RSome(RString::from("a future plugin tolerates everything")),
    })
}

const EXTENSION: &WithMetadata<FutureExtV1> = &WithMetadata::new(FutureExtV1 {
    api_version: RStr::from_str("0.2.0"),
    decide,
});

/// Extension v1, exported under its real symbol.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static sandbox_handler_ext_v1: ExtensionHeader<FutureExtV1Ref> = ExtensionHeader {
    abi: AbiHeader::VALUE,
    layout: <FutureExtV1Ref as StableAbi>::LAYOUT,
    module: FutureExtV1Ref(EXTENSION.static_as_prefix()),
};
