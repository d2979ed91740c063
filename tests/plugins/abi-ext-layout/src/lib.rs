//! A test plugin with a valid root module and an extension v1 symbol whose module has another
//! layout than the supervisor's `HandlerExtV1`: the supervisor must refuse it rather than call
//! through it.

use abi_stable::library::AbiHeader;
use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
use abi_stable::std_types::{RResult, RStr, RVec};
use abi_stable::StableAbi;
use sandbox_plugin_api::ffi::{
    ExtensionHeader, FailureReportRef, HandlerMod, HandlerModRef, PluginError,
};

extern "C" fn init(_config: RStr<'_>) -> RResult<(), PluginError> {
    RResult::ROk(())
}

extern "C" fn tolerates() -> RResult<RVec<u32>, PluginError> {
    RResult::ROk(RVec::from(vec![1]))
}

extern "C" fn handle(_report: FailureReportRef) -> RResult<u32, PluginError> {
    RResult::ROk(0)
}

#[abi_stable::export_root_module]
fn root_module() -> HandlerModRef {
    HandlerMod {
        name: RStr::from_str("abi-ext-layout"),
        version: RStr::from_str("0.1.0"),
        init,
        tolerates,
        handle,
    }
    .leak_into_prefix()
}

/// Not `HandlerExtV1`: one field, of another type.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = OtherExtRef)))]
pub struct OtherExt {
    #[sabi(last_prefix_field)]
    pub answer: u64,
}

const OTHER: &WithMetadata<OtherExt> = &WithMetadata::new(OtherExt { answer: 42 });

/// The extension symbol, with the wrong module behind it.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static sandbox_handler_ext_v1: ExtensionHeader<OtherExtRef> = ExtensionHeader {
    abi: AbiHeader::VALUE,
    layout: <OtherExtRef as StableAbi>::LAYOUT,
    module: OtherExtRef(OTHER.static_as_prefix()),
};
