//! Reports and findings the workload cannot forge.
//!
//! The supervisor rewrites the report through the descriptor it opened at boot. A workload that can
//! write the file, or write or rename in one of the directories on its path, could truncate it,
//! or rename it away and put its own file at the path. So a `--report`/`--findings` path is refused
//! (a usage error) when the workload's identity (and, for an unprivileged caller, whose workload
//! is itself on the user-namespace route, the caller) could; and before every rewrite the path is
//! checked to still name the file opened at boot ([`Opened::check`]).
//!
//! The check reads the mode bits and owners (ACLs are not read) and does not rely on a directory
//! the workload cannot search: it refuses whatever the bits would allow.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A uid and its groups: one identity the workload may run with, in the host's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The uid.
    pub uid: u32,
    /// The primary gid and every supplementary group.
    pub gids: Vec<u32>,
}

/// Why the workload could forge the file at a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Forgeable {
    /// The file is the workload's uid's: it can open it and truncate or rewrite it.
    #[error("the workload's uid {uid} owns the file the supervisor writes (its own uid), so the workload could rewrite it; use --report-fd N or fd:N (a pipe read by another uid)")]
    OwnsFile {
        /// The workload's uid.
        uid: u32,
    },
    /// A directory on the path is writable by the workload's identity.
    #[error("uid {uid} (the workload's) can write in {} (owner {owner}, group {group}, mode {mode:04o}), so the workload could rename the file away and put a forged one in its place; use a directory only the supervisor's user can write in, or --report-fd N or fd:N (a pipe read by another uid)", .dir.display())]
    WritableDirectory {
        /// The workload's uid.
        uid: u32,
        /// The directory.
        dir: PathBuf,
        /// Its owner, group and mode.
        owner: u32,
        /// Its group.
        group: u32,
        /// Its mode bits.
        mode: u32,
    },
    /// A directory on the path could not be read.
    #[error("cannot check {}: {reason}", .dir.display())]
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The identities the workload may have: the `--user` identity (or the uid allocated for a root
/// caller's run), and for a caller that is not root (whose workload keeps its uid on either route)
/// the caller itself.
pub(crate) fn writers(identity: Option<&crate::steps::identity::Identity>) -> Vec<Writer> {
    let mut writers = Vec::new();
    if let Some(identity) = identity {
        let mut gids: Vec<u32> = identity.groups.iter().map(|g| g.as_raw()).collect();
        gids.push(identity.gid.as_raw());
        writers.push(Writer {
            uid: identity.uid.as_raw(),
            gids,
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 || identity.is_none() {
        let mut gids: Vec<u32> = nix::unistd::getgroups()
            .unwrap_or_default()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        gids.push(nix::unistd::getegid().as_raw());
        gids.push(nix::unistd::getgid().as_raw());
        writers.push(Writer { uid: euid, gids });
    }
    writers
}

/// Whether `who` may create, remove or rename entries in the directory `dir` (mode bits only).
fn can_write(dir: &std::fs::Metadata, who: &Writer) -> bool {
    let mode = dir.mode();
    if dir.uid() == who.uid {
        mode & 0o200 != 0
    } else if who.gids.contains(&dir.gid()) {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}

/// Checks that none of `writers` can rewrite the file `path` (owned by `file_owner`), nor write
/// or rename in a directory on its path (`/` included). A sticky directory only counts when the
/// writer owns it or owns the entry on the path.
pub fn check(path: &Path, file_owner: u32, writers: &[Writer]) -> Result<(), Forgeable> {
    if let Some(who) = writers.iter().find(|who| who.uid == file_owner) {
        return Err(Forgeable::OwnsFile { uid: who.uid });
    }
    let unreadable = |dir: &Path, err: std::io::Error| Forgeable::Unreadable {
        dir: dir.to_owned(),
        reason: err.to_string(),
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let parent = std::fs::canonicalize(&parent).map_err(|err| unreadable(&parent, err))?;
    let mut entry_owner = file_owner;
    let mut dir = Some(parent.as_path());
    while let Some(current) = dir {
        let metadata =
            std::fs::symlink_metadata(current).map_err(|err| unreadable(current, err))?;
        let sticky = metadata.mode() & 0o1000 != 0;
        for who in writers {
            let counts = !sticky || metadata.uid() == who.uid || entry_owner == who.uid;
            if counts && can_write(&metadata, who) {
                return Err(Forgeable::WritableDirectory {
                    uid: who.uid,
                    dir: current.to_owned(),
                    owner: metadata.uid(),
                    group: metadata.gid(),
                    mode: metadata.mode() & 0o7777,
                });
            }
        }
        entry_owner = metadata.uid();
        dir = current.parent();
    }
    Ok(())
}

/// The file a writer opened at boot, to be found again at its path before every rewrite.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The path given.
    pub path: PathBuf,
    /// The open file's device and inode.
    pub dev: u64,
    /// Its inode.
    pub ino: u64,
}

impl Opened {
    /// Compares `fstat` of `file` (taken at boot, and again now) with `lstat` of the path: an
    /// error unless the path still names the file opened at boot.
    pub fn check(&self, file: &std::fs::File) -> std::io::Result<()> {
        let open = file.metadata()?;
        if (open.dev(), open.ino()) != (self.dev, self.ino) {
            return Err(std::io::Error::other("the report descriptor changed"));
        }
        let replaced = || {
            std::io::Error::other(format!(
                "{} no longer names the file opened at boot (it was renamed, removed or replaced): the file at that path is not the supervisor's",
                self.path.display()
            ))
        };
        match std::fs::symlink_metadata(&self.path) {
            Ok(now) if now.dev() == open.dev() && now.ino() == open.ino() => Ok(()),
            Ok(_) => Err(replaced()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(replaced()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn nobody() -> Vec<Writer> {
        vec![Writer {
            uid: 65534,
            gids: vec![65534],
        }]
    }

    #[test]
    fn a_directory_the_workload_can_write_is_refused() {
        let dir = std::env::temp_dir().join(format!("forgery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        std::fs::set_permissions(dir.as_path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let owner = std::fs::metadata(dir.as_path()).unwrap().uid();
        if owner == 65534 {
            std::fs::remove_dir(&dir).unwrap();
            return;
        }
        // /tmp is sticky and the temporary directory is not nobody's.
        check(&path, owner, &nobody()).unwrap();
        std::fs::set_permissions(dir.as_path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            check(&path, owner, &nobody()),
            Err(Forgeable::WritableDirectory { uid: 65534, .. })
        ));
        // Sticky, and neither the directory nor the file is nobody's: it cannot rename the file.
        std::fs::set_permissions(dir.as_path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        check(&path, owner, &nobody()).unwrap();
        assert!(matches!(
            check(&path, 65534, &nobody()),
            Err(Forgeable::OwnsFile { uid: 65534 })
        ));
        std::fs::remove_dir(&dir).unwrap();
    }
}
