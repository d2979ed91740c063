//! A test plugin written against the raw ABI that answers verdict 7, which is neither abort (0)
//! nor tolerate (1), for every kind it declares (all of them).

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RVec};
use sandbox_plugin_api::ffi::{FailureReportRef, HandlerMod, HandlerModRef, PluginError};

extern "C" fn init(_config: RStr<'_>) -> RResult<(), PluginError> {
    RResult::ROk(())
}

extern "C" fn tolerates() -> RResult<RVec<u32>, PluginError> {
    RResult::ROk(RVec::from(vec![1, 2, 3]))
}

extern "C" fn handle(_report: FailureReportRef) -> RResult<u32, PluginError> {
    RResult::ROk(7)
}

#[abi_stable::export_root_module]
fn root_module() -> HandlerModRef {
    HandlerMod {
        name: RStr::from_str("raw-verdict"),
        version: RStr::from_str("0.1.0"),
        init,
        tolerates,
        handle,
    }
    .leak_into_prefix()
}
