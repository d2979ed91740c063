//! A test plugin that claims a future plugin API version (0.2.0, this crate's version).

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RStr;
use abi_stable::{package_version_strings, StableAbi};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureModRef)))]
#[sabi(missing_field(panic))]
pub struct FutureMod {
    #[sabi(last_prefix_field)]
    pub name: RStr<'static>,
}

impl RootModule for FutureModRef {
    abi_stable::declare_root_module_statics! {FutureModRef}
    const BASE_NAME: &'static str = "sandbox_handler";
    const NAME: &'static str = "sandbox failure handler";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

#[abi_stable::export_root_module]
fn root_module() -> FutureModRef {
    FutureMod {
        name: RStr::from_str("abi-future"),
    }
    .leak_into_prefix()
}
