//! The workload's command: resolved like `execvp` in the parent, and its strings prepared for
//! `execve` before `clone`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The command could not be found or run before forking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not found (exit 127).
    #[error("command {0:?} not found")]
    NotFound(OsString),
    /// Found but not executable (exit 126).
    #[error("command {0} is not executable")]
    NotExecutable(PathBuf),
    /// No command was given (only possible when embedding).
    #[error("no command to run")]
    Empty,
    /// An argument or environment entry contains a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(OsString),
}

/// Finds `command` like `execvp` does: a name with a `/` is used as is, otherwise `PATH` is searched.
pub fn resolve_command(command: &OsStr) -> Result<PathBuf, CommandError> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if command.as_bytes().contains(&b'/') {
        vec![PathBuf::from(command)]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .collect()
    };
    let mut not_executable = None;
    for candidate in candidates {
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate)
            }
            Ok(_) => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    match not_executable {
        Some(path) => Err(CommandError::NotExecutable(path)),
        None => Err(CommandError::NotFound(command.to_owned())),
    }
}

pub(crate) fn cstring(text: &OsStr) -> Result<CString, CommandError> {
    CString::new(text.as_bytes()).map_err(|_| CommandError::Nul(text.to_owned()))
}

/// NUL-terminated strings and the NULL-terminated pointer array `execve` takes.
#[derive(Debug)]
pub(crate) struct CStrings {
    /// Owns the strings `pointers` points into; never read directly.
    _strings: Vec<CString>,
    pub(crate) pointers: Vec<*const libc::c_char>,
}

impl CStrings {
    pub(crate) fn new(items: impl IntoIterator<Item = OsString>) -> Result<Self, CommandError> {
        let strings = items
            .into_iter()
            .map(|item| cstring(&item))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pointers: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(CStrings {
            _strings: strings,
            pointers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_resolution() {
        assert!(resolve_command(OsStr::new("sh")).is_ok());
        assert!(matches!(
            resolve_command(OsStr::new("no-such-command-anywhere")),
            Err(CommandError::NotFound(_))
        ));
        assert!(matches!(
            resolve_command(OsStr::new("/etc/passwd")),
            Err(CommandError::NotExecutable(_))
        ));
    }
}
