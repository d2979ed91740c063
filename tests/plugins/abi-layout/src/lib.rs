//! A test plugin that claims the current plugin API version (0.1.0) with another layout.

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RStr;
use abi_stable::{package_version_strings, StableAbi};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = OtherModRef)))]
#[sabi(missing_field(panic))]
pub struct OtherMod {
    #[sabi(last_prefix_field)]
    pub name: RStr<'static>,
}

impl RootModule for OtherModRef {
    abi_stable::declare_root_module_statics! {OtherModRef}
    const BASE_NAME: &'static str = "sandbox_handler";
    const NAME: &'static str = "sandbox failure handler";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

#[abi_stable::export_root_module]
fn root_module() -> OtherModRef {
    OtherMod {
        name: RStr::from_str("abi-layout"),
    }
    .leak_into_prefix()
}
