//! A shared object that exports a function but no plugin root module.

/// Returns 42.
#[no_mangle]
pub extern "C" fn not_a_plugin_answer() -> i32 {
    42
}
