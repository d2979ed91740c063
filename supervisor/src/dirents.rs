//! A directory's entries read with `getdents64` from a descriptor the caller opened: each entry's
//! name and type (`d_type`) as the kernel gives them, without the `fstat` that `opendir` makes to
//! size its buffer, and without a `stat` per entry. It allocates nothing (the caller gives the
//! buffer): the sandbox's init lists its descriptors with it after the fork.

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

/// Enough for a few hundred entries per call (a `/dev`, a `/proc` of a quiet host: one call, then
/// the call that says the end).
pub(crate) const BUFFER: usize = 32 * 1024;

/// The bytes before a `linux_dirent64`'s name: `d_ino` (8), `d_off` (8), `d_reclen` (2),
/// `d_type` (1).
const HEADER: usize = 19;

/// Calls `visit` with the name and the `d_type` (`libc::DT_*`) of every entry of the directory
/// open on `dir` but `.` and `..`, reading into `buffer`, until the end or the first error.
pub(crate) fn each(
    dir: RawFd,
    buffer: &mut [u8],
    mut visit: impl FnMut(&CStr, u8),
) -> Result<(), Errno> {
    loop {
        // SAFETY: `dir` is an open descriptor and `buffer` is live and writable for
        // `buffer.len()` bytes; getdents64 writes whole records into it and returns their length.
        let got =
            unsafe { libc::syscall(libc::SYS_getdents64, dir, buffer.as_mut_ptr(), buffer.len()) };
        let got = usize::try_from(got).map_err(|_| Errno::last())?;
        if got == 0 {
            return Ok(());
        }
        let mut at = 0;
        while at + HEADER <= got {
            let reclen = usize::from(u16::from_ne_bytes([buffer[at + 16], buffer[at + 17]]));
            if reclen <= HEADER || at + reclen > got {
                return Err(Errno::EIO);
            }
            let kind = buffer[at + 18];
            if let Ok(name) = CStr::from_bytes_until_nul(&buffer[at + HEADER..at + reclen]) {
                if name != c"." && name != c".." {
                    visit(name, kind);
                }
            }
            at += reclen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A directory removed when the test ends.
    struct Removed(std::path::PathBuf);

    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_entry_is_seen_with_its_type() {
        let path = std::env::temp_dir().join(format!("dirents-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        let dir = Removed(path);
        let mut names: Vec<String> = (0..300).map(|i| format!("file-{i:03}")).collect();
        for name in &names {
            std::fs::write(dir.0.as_path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.0.as_path().join("sub")).unwrap();
        std::os::unix::fs::symlink("sub", dir.0.as_path().join("link")).unwrap();
        names.push("link".into());
        names.push("sub".into());
        names.sort();
        let open = std::fs::File::open(dir.0.as_path()).unwrap();
        let mut seen = Vec::new();
        // A buffer smaller than the directory: several calls.
        let mut buffer = vec![0u8; 1024];
        each(open.as_raw_fd(), &mut buffer, |name, kind| {
            seen.push((name.to_str().unwrap().to_owned(), kind));
        })
        .unwrap();
        seen.sort();
        let listed: Vec<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(listed, names);
        let kind = |wanted: &str| seen.iter().find(|(name, _)| name == wanted).unwrap().1;
        // tmpfs and the usual disk file systems give the type; DT_UNKNOWN is allowed anywhere.
        for (name, expected) in [
            ("sub", libc::DT_DIR),
            ("link", libc::DT_LNK),
            ("file-000", libc::DT_REG),
        ] {
            assert!([expected, libc::DT_UNKNOWN].contains(&kind(name)), "{name}");
        }
    }
}
