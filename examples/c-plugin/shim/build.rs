//! Links the C plugin (a static library named by `SANDBOX_C_PLUGIN_LIB`, an absolute path to
//! `libNAME.a`) into the shim, and passes its name and version (`SANDBOX_C_PLUGIN_NAME`,
//! `SANDBOX_C_PLUGIN_VERSION`; default `c-plugin` and this crate's version) to the code.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=SANDBOX_C_PLUGIN_LIB");
    println!("cargo:rerun-if-env-changed=SANDBOX_C_PLUGIN_NAME");
    println!("cargo:rerun-if-env-changed=SANDBOX_C_PLUGIN_VERSION");
    let lib = std::env::var("SANDBOX_C_PLUGIN_LIB").unwrap_or_else(|_| {
        panic!("set SANDBOX_C_PLUGIN_LIB to the absolute path of the C plugin's static library (libNAME.a)")
    });
    let lib = Path::new(&lib);
    let (Some(dir), Some(name)) = (lib.parent(), lib.file_name().and_then(|name| name.to_str()))
    else {
        panic!(
            "SANDBOX_C_PLUGIN_LIB={} is not a path to a file",
            lib.display()
        );
    };
    let Some(name) = name
        .strip_prefix("lib")
        .and_then(|name| name.strip_suffix(".a"))
    else {
        panic!("SANDBOX_C_PLUGIN_LIB must name a static library libNAME.a, not {name}");
    };
    assert!(
        lib.is_absolute() && lib.is_file(),
        "SANDBOX_C_PLUGIN_LIB={} is not an absolute path to a file",
        lib.display()
    );
    println!("cargo:rerun-if-changed={}", lib.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static={name}");
    let plugin_name =
        std::env::var("SANDBOX_C_PLUGIN_NAME").unwrap_or_else(|_| "c-plugin".to_owned());
    let version = std::env::var("SANDBOX_C_PLUGIN_VERSION")
        .unwrap_or_else(|_| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    println!("cargo:rustc-env=SANDBOX_C_PLUGIN_NAME={plugin_name}");
    println!("cargo:rustc-env=SANDBOX_C_PLUGIN_VERSION={version}");
}
