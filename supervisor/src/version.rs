//! What `--version` prints and the report records: the supervisor's version, the plugin API it
//! speaks (the crate version and the ABI line it loads plugins of) and the build id.
//!
//! The build id is the GNU build-id note the linker writes into the executable (the one
//! `readelf -n`, `file` and debuginfod show), read from the running program's own headers:
//! two binaries with the same version but different builds tell apart by it.

use std::sync::OnceLock;

use abi_stable::library::RootModule;
use sandbox_plugin_api::ffi::HandlerModRef;

/// This supervisor's version (`0.1.0`).
pub const SUPERVISOR: &str = env!("CARGO_PKG_VERSION");

/// The sandbox-plugin-api version this supervisor was built with (`0.1.2`).
pub const PLUGIN_API: &str = sandbox_plugin_api::VERSION;

/// The plugin ABI line: the releases of sandbox-plugin-api whose plugins this supervisor loads
/// (`0.1.x` for ABI 0.1.0, `1.x` for 1.0.0).
pub fn plugin_abi_line() -> String {
    match HandlerModRef::VERSION_STRINGS.parsed() {
        Ok(version) if version.major == 0 => format!("0.{}.x", version.minor),
        Ok(version) => format!("{}.x", version.major),
        Err(_) => HandlerModRef::VERSION_STRINGS.version.as_str().to_owned(),
    }
}

/// The text after `sandbox-supervisor ` in `--version`.
pub fn long() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{SUPERVISOR}\nplugin API: sandbox-plugin-api {PLUGIN_API} (loads plugins built for {})\nbuild id: {}",
            plugin_abi_line(),
            build_id().unwrap_or_else(|| "unknown".to_owned())
        )
    })
}

/// The GNU build-id of the running executable, in lowercase hexadecimal, from its `PT_NOTE`
/// segments as mapped in memory; `None` when the linker wrote none.
pub fn build_id() -> Option<String> {
    static ID: OnceLock<Option<String>> = OnceLock::new();
    ID.get_or_init(|| {
        let mut found: Option<String> = None;
        // SAFETY: `dl_iterate_phdr` calls `first_object` with the loader's description of each
        // loaded object; `found` outlives the call and is only written through the callback.
        unsafe {
            libc::dl_iterate_phdr(
                Some(first_object),
                (&mut found as *mut Option<String>).cast(),
            );
        }
        found
    })
    .clone()
}

/// `NT_GNU_BUILD_ID`.
const NT_GNU_BUILD_ID: u32 = 3;

/// The callback for `dl_iterate_phdr`: reads the build id of the first object (the executable)
/// and stops.
unsafe extern "C" fn first_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader hands a valid `dl_phdr_info` and `data` is the `Option<String>` passed
    // to `dl_iterate_phdr` above.
    let (info, found) = unsafe { (&*info, &mut *data.cast::<Option<String>>()) };
    if info.dlpi_phdr.is_null() {
        return 1;
    }
    // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers of the mapped object.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    for header in headers
        .iter()
        .filter(|header| header.p_type == libc::PT_NOTE)
    {
        let start = (info.dlpi_addr + header.p_vaddr) as *const u8;
        // SAFETY: a PT_NOTE segment is mapped (it lies inside a loaded PT_LOAD segment) for
        // `p_memsz` bytes at the object's base plus `p_vaddr`, and stays mapped: it is the
        // running executable.
        let notes = unsafe { std::slice::from_raw_parts(start, header.p_memsz as usize) };
        if let Some(id) = gnu_build_id(notes) {
            *found = Some(id);
            break;
        }
    }
    // Only the first object is the executable.
    1
}

/// The GNU build-id in a note segment's bytes (`namesz`, `descsz`, `type`, name, descriptor,
/// each padded to 4 bytes).
fn gnu_build_id(mut notes: &[u8]) -> Option<String> {
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let padded = |length: usize| length.div_ceil(4) * 4;
    while notes.len() >= 12 {
        let name_size = word(notes, 0)? as usize;
        let desc_size = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let name = notes.get(12..12 + name_size)?;
        let desc_start = 12 + padded(name_size);
        let desc = notes.get(desc_start..desc_start + desc_size)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.iter().map(|byte| format!("{byte:02x}")).collect());
        }
        notes = notes.get(desc_start + padded(desc_size)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_gnu_build_id_note() {
        let mut notes = Vec::new();
        // Another note first, then the build id.
        for (name, kind, desc) in [
            (&b"XYZ\0"[..], 1u32, &[9u8, 9, 9][..]),
            (&b"GNU\0"[..], 3, &[0xab, 0xcd, 0x01][..]),
        ] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
            notes.resize(notes.len().div_ceil(4) * 4, 0);
        }
        assert_eq!(super::gnu_build_id(&notes).as_deref(), Some("abcd01"));
        assert_eq!(super::gnu_build_id(&notes[..20]), None);
    }

    #[test]
    fn this_test_binary_has_a_build_id() {
        let id = super::build_id().expect("the linker writes a build id");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}
