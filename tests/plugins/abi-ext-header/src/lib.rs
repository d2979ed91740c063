//! A test plugin whose extension v1 symbol is not the frozen `ExtensionHeader`: the header as
//! exported has one more field at its end (as if the header had been changed), while the module
//! behind it and its layout are the real extension v1. The supervisor must refuse it on the
//! header's own size, before it follows the header's layout pointer; the layout checker alone
//! would accept it.

use abi_stable::library::AbiHeader;
use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use abi_stable::StableAbi;
use sandbox_plugin_api::ffi::{
    ExtensionHeader, FailureReportRef, HandlerExtV1, HandlerExtV1Ref, HandlerMod, HandlerModRef,
    PluginError, RulingFfi,
};

extern "C" fn init(_config: RStr<'_>) -> RResult<(), PluginError> {
    RResult::ROk(())
}

extern "C" fn tolerates() -> RResult<RVec<u32>, PluginError> {
    RResult::ROk(RVec::from(vec![1]))
}

extern "C" fn handle(_report: FailureReportRef) -> RResult<u32, PluginError> {
    RResult::ROk(1)
}

extern "C" fn decide(_report: FailureReportRef) -> RResult<RulingFfi, PluginError> {
    RResult::ROk(RulingFfi {
        verdict: 1,
        reason: ROption::RSome(RString::from("answered through a changed header")),
    })
}

#[abi_stable::export_root_module]
fn root_module() -> HandlerModRef {
    HandlerMod {
        name: RStr::from_str("abi-ext-header"),
        version: RStr::from_str("0.1.0"),
        init,
        tolerates,
        handle,
    }
    .leak_into_prefix()
}

const EXTENSION: &WithMetadata<HandlerExtV1> = &WithMetadata::new(HandlerExtV1 {
    api_version: RStr::from_str("0.1.1"),
    decide,
});

/// The frozen header with a field appended.
#[repr(C)]
pub struct LongerHeader {
    pub header: ExtensionHeader<HandlerExtV1Ref>,
    pub appended: u64,
}

/// The extension symbol, exporting the longer header.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static sandbox_handler_ext_v1: LongerHeader = LongerHeader {
    header: ExtensionHeader {
        abi: AbiHeader::VALUE,
        layout: <HandlerExtV1Ref as StableAbi>::LAYOUT,
        module: HandlerExtV1Ref(EXTENSION.static_as_prefix()),
    },
    appended: 7,
};
