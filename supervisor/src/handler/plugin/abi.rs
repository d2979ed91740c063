//! The ABI: the library loaded from the checked descriptor, its root module and its optional
//! extensions checked, version first, with one clear line on a mismatch.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use abi_stable::library::{
    AbiHeaderRef, LibraryError, RootModule, ROOT_MODULE_LOADER_NAME_WITH_NUL,
};
use sandbox_plugin_api::ffi::{
    check_extension_header, ExtensionHeader, HandlerExtV1Ref, HandlerModRef, EXTENSION_V1_SYMBOL,
};

use super::*;

/// The root module, the optional extension v1, and the sandbox-plugin-api version the plugin says
/// it was built with.
pub(crate) struct Loaded {
    pub(crate) module: HandlerModRef,
    pub(crate) extension_v1: Option<HandlerExtV1Ref>,
    pub(crate) api_version: String,
}

pub(crate) fn dlopen_module(path: &Path, file: &File) -> Result<Loaded, PluginLoadError> {
    let proc_path = OsString::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
    // SAFETY: loading a shared object runs its constructors. The file was checked above (owner,
    // mode, ELF magic, optional digest) on this very descriptor, which is the trust the operator
    // gives by naming it; nothing else can be done to make foreign constructors safe.
    let library =
        unsafe { libloading::os::unix::Library::open(Some(proc_path), flags) }.map_err(|err| {
            PluginLoadError::Dlopen {
                path: path.to_owned(),
                message: dlopen_message(&err),
            }
        })?;
    // SAFETY: the symbol, when present, is the `LibHeader` static written by `export_plugin!`
    // (or abi_stable's `export_root_module`), which starts with an `AbiHeader`; its address is
    // therefore an `AbiHeaderRef`, exactly as abi_stable itself reads this symbol. The library is
    // never unloaded, so the `'static` reference stays valid.
    let symbol =
        unsafe { library.get::<AbiHeaderRef>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) }
            .map_err(|_| PluginLoadError::NotAPlugin(path.to_owned()))?;
    let header: AbiHeaderRef = *symbol;
    let loaded = check_module(path, header, &library);
    // Never dlclose, not even after a refusal: the plugin's constructors ran, and its code and
    // statics must stay mapped for the process lifetime.
    std::mem::forget(library);
    loaded
}

/// Checks the root module's ABI line first (so that a plugin of another line gets the line that
/// names both versions, whatever it exports besides), then looks up the extensions, then lets
/// abi_stable check the root module's layout.
pub(crate) fn check_module(
    path: &Path,
    header: AbiHeaderRef,
    library: &libloading::os::unix::Library,
) -> Result<Loaded, PluginLoadError> {
    let host = format!(
        "{} (plugin ABI {})",
        sandbox_plugin_api::VERSION,
        HandlerModRef::VERSION_STRINGS.version.as_str()
    );
    let abi_error = |err: LibraryError| PluginLoadError::Abi {
        path: path.to_owned(),
        message: first_line(&err.to_string()),
    };
    let lib_header = header.upgrade().map_err(abi_error)?;
    let plugin = lib_header.version_strings().version.as_str().to_owned();
    // The promise in sandbox-plugin-api's documentation: same major version, and for 0.x the same
    // minor version. abi_stable alone would accept a newer minor and then fail on the layout.
    let incompatible = || PluginLoadError::IncompatibleVersion {
        path: path.to_owned(),
        plugin: plugin.clone(),
        host: host.clone(),
        line: crate::version::plugin_abi_line(),
    };
    let plugin_number = lib_header
        .version_strings()
        .parsed()
        .map_err(|_| incompatible())?;
    let host_number = HandlerModRef::VERSION_STRINGS
        .parsed()
        .map_err(|_| incompatible())?;
    if plugin_number.major != host_number.major
        || (host_number.major == 0 && plugin_number.minor != host_number.minor)
    {
        return Err(incompatible());
    }
    // Only now, with the plugin on this supervisor's ABI line, are its extensions looked up.
    let extension_v1 = find_extension_v1(path, library)?;
    let module = lib_header
        .init_root_module::<HandlerModRef>()
        .map_err(|err| match err {
            LibraryError::IncompatibleVersionNumber { .. } | LibraryError::ParseVersionError(_) => {
                incompatible()
            }
            LibraryError::AbiInstability(report) => {
                tracing::debug!(plugin = %path.display(), "layout report:\n{report}");
                PluginLoadError::IncompatibleLayout {
                    path: path.to_owned(),
                    plugin: plugin.clone(),
                    host: host.clone(),
                }
            }
            other => abi_error(other),
        })?;
    // A plugin built before extension v1 reports its crate version as the root module's version.
    let api_version = match extension_v1 {
        Some(extension) => extension.api_version().as_str().to_owned(),
        None => plugin,
    };
    Ok(Loaded {
        module,
        extension_v1,
        api_version,
    })
}

/// Looks up extension v1; `None` for a plugin built before it existed (0.1.0).
pub(crate) fn find_extension_v1(
    path: &Path,
    library: &libloading::os::unix::Library,
) -> Result<Option<HandlerExtV1Ref>, PluginLoadError> {
    let name = format!("{EXTENSION_V1_SYMBOL}\0");
    // SAFETY: a symbol with this name is, by the plugin API's contract, the `ExtensionHeader`
    // static written by `export_plugin!`; its address is read as a pointer to it. The library is
    // never unloaded, so the pointer stays valid.
    let Ok(symbol) =
        (unsafe { library.get::<*const ExtensionHeader<HandlerExtV1Ref>>(name.as_bytes()) })
    else {
        return Ok(None);
    };
    let pointer: *const ExtensionHeader<HandlerExtV1Ref> = *symbol;
    if pointer.is_null() {
        return Ok(None);
    }
    // The header's own layout first: the exported object must be exactly the frozen header (its
    // ELF symbol's size), aligned, start with abi_stable's header and hold a valid layout pointer;
    // only then is that pointer followed.
    let symbol_size = exported_size(pointer.cast()).unwrap_or(0);
    // SAFETY: the address of an exported object of `symbol_size` bytes in a library that is never
    // unloaded; `check_extension_header` reads nothing beyond it.
    let header = unsafe { check_extension_header(pointer, symbol_size) }.map_err(|problem| {
        PluginLoadError::Abi {
            path: path.to_owned(),
            message: format!("its extension {EXTENSION_V1_SYMBOL}: {problem}"),
        }
    })?;
    if let Err(report) = abi_stable::abi_stability::abi_checking::check_layout_compatibility(
        <HandlerExtV1Ref as abi_stable::StableAbi>::LAYOUT,
        header.layout,
    ) {
        tracing::debug!(plugin = %path.display(), "extension layout report:\n{report}");
        return Err(PluginLoadError::IncompatibleExtension {
            path: path.to_owned(),
            symbol: EXTENSION_V1_SYMBOL,
        });
    }
    Ok(Some(header.module))
}

/// The size of the exported object at `address`, from the dynamic symbol the loader finds for it
/// (`dladdr1` with `RTLD_DL_SYMENT`); `None` when no symbol covers the address.
pub(crate) fn exported_size(address: *const libc::c_void) -> Option<usize> {
    /// glibc's `RTLD_DL_SYMENT`: `dladdr1` returns the matching `ElfW(Sym)`.
    const RTLD_DL_SYMENT: libc::c_int = 1;
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let mut symbol: *mut libc::c_void = std::ptr::null_mut();
    // SAFETY: `info` and `symbol` are valid for writes; glibc only reads the dynamic symbol tables
    // of loaded objects to answer.
    let found = unsafe {
        libc::dladdr1(
            address,
            info.as_mut_ptr(),
            &mut symbol as *mut *mut libc::c_void,
            RTLD_DL_SYMENT,
        )
    };
    if found == 0 || symbol.is_null() {
        return None;
    }
    // SAFETY: `dladdr1` succeeded, so it filled `info`.
    let info = unsafe { info.assume_init() };
    // Only the symbol that starts at this address, not one that merely covers it.
    if info.dli_saddr.cast_const() != address {
        return None;
    }
    // SAFETY: with `RTLD_DL_SYMENT`, a non-null `symbol` points to the object's `Elf64_Sym` in
    // the loaded object's dynamic symbol table, mapped while the object is.
    let symbol = unsafe { &*symbol.cast::<libc::Elf64_Sym>() };
    usize::try_from(symbol.st_size).ok()
}

/// The loader's message without the `/proc/self/fd/N: ` prefix, which names no file a user knows.
pub(crate) fn dlopen_message(err: &libloading::Error) -> String {
    let text = match err {
        libloading::Error::DlOpen { desc } => format!("{desc:?}"),
        other => other.to_string(),
    };
    let text = text.trim_matches('"');
    let text = match text.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("/proc/self/fd/") => rest,
        _ => text,
    };
    first_line(text)
}

pub(crate) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}
