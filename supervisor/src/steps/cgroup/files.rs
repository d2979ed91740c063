//! The control files of a group: written whole, read in one `read`.

use std::fs;
use std::io::Write;
use std::path::Path;

use nix::errno::Errno;

/// The errno of an I/O error (`EIO` when it carries none).
pub(super) fn errno_of(err: &std::io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

pub(super) fn write_file(path: &Path, value: &str) -> Result<(), Errno> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|err| errno_of(&err))?;
    file.write_all(value.as_bytes())
        .map_err(|err| errno_of(&err))
}

/// A file of one value or flat `key value` lines, rendered whole: one `read`, where
/// `read_to_string` made a `statx` and two or three. Not for `cgroup.procs` (a page a time).
pub(super) fn read_trimmed(path: &Path) -> Option<String> {
    crate::procfs::read_file(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

pub(super) fn read_number(path: &Path) -> Option<u64> {
    match read_trimmed(path)?.as_str() {
        "max" => Some(u64::MAX),
        value => value.parse().ok(),
    }
}

/// The value of `key` in a flat keyed file (`key value` lines).
pub(super) fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = crate::procfs::read_file(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
