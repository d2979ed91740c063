//! The view's verification: what the supervisor reads of the paused workload (its mounts, its
//! root) and the checks made on it.

use std::path::{Path, PathBuf};

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};

use super::{FsMode, View};

/// What the supervisor re-read of the view from the paused workload's `/proc` (the report's
/// evidence).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ViewEvidence {
    /// `host-ro` or `minimal`.
    pub mode: FsMode,
    /// The mount id of the workload's root (absent from the supervisor's mounts).
    pub root_mount_id: u64,
    /// How many mounts the workload's namespace has, and how many of them are read-only.
    pub mounts: usize,
    /// Read-only mounts among them.
    pub read_only_mounts: usize,
    /// The writable places, as the workload sees them (every other mount is read-only).
    pub writable: Vec<String>,
    /// The places mounted noexec.
    pub noexec: Vec<String>,
    /// The masked paths.
    pub masked: Vec<String>,
    /// Host Unix sockets (in /tmp, /run and the runtime directory) looked up through
    /// `/proc/PID/root`: every one absent.
    pub host_sockets_absent: usize,
    /// The host's other bound path sockets (`/proc/net/unix`) the view would show, masked with
    /// `/dev/null` before the workload was released; each looked up through `/proc/PID/root`:
    /// no longer a socket.
    pub host_sockets_masked: Vec<String>,
    /// Paths of `/proc/net/unix` that were not resolved to a socket (relative, or gone).
    pub host_sockets_unresolved: usize,
    /// What the masking does not cover.
    pub host_sockets_not_covered: &'static str,
}

/// What the socket masking does not cover, as the report says it.
pub const SOCKETS_NOT_COVERED: &str = "path sockets bound on the host after the view was built, path sockets renamed or hard-linked since they were bound (/proc/net/unix names the path at bind time; the socket's mode still applies), sockets of other network namespaces (absent from /proc/net/unix), sockets bound by a relative path, and sockets the operator binds by name; Landlock's path-socket right (ABI 9) restricts connect where the kernel has it";

/// One line of `mountinfo`.
#[derive(Debug, Clone)]
struct MountLine {
    id: u64,
    mount_point: String,
    options: Vec<String>,
    shared: bool,
}

fn mountinfo(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|line| {
            let (before, _) = line.split_once(" - ")?;
            let mut fields = before.split_whitespace();
            let id = fields.next()?.parse().ok()?;
            let _parent = fields.next()?;
            let _device = fields.next()?;
            let _root = fields.next()?;
            let mount_point = unescape(fields.next()?);
            let options = fields.next()?.split(',').map(str::to_owned).collect();
            let shared = fields.any(|field| field.starts_with("shared:"));
            Some(MountLine {
                id,
                mount_point,
                options,
                shared,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub(super) fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(value) = u8::from_str_radix(&code, 8) {
                out.push(value as char);
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

/// The mount id of what `path` names (`statx(STATX_MNT_ID)`, followed), `None` where the kernel
/// does not give it.
fn mount_id(path: &str) -> Option<u64> {
    let path = std::ffi::CString::new(path).ok()?;
    // SAFETY: all-zero bytes are a valid `statx`.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stx` is valid for the kernel to fill.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            0,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    (rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

/// `path` through `/proc/PID/root` is a socket.
fn socket_through(pid: i32, path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let through =
        Path::new(&format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap_or(path));
    std::fs::symlink_metadata(through).is_ok_and(|meta| meta.file_type().is_socket())
}

/// Host Unix sockets the workload must not reach: those directly in /tmp, /run and the runtime
/// directory (one directory read each: the check runs on every boot), at most 64.
fn host_sockets() -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut dirs: Vec<PathBuf> = vec!["/tmp".into(), "/run".into()];
    if let Some(runtime) = super::runtime_dir() {
        dirs.push(runtime.into());
    }
    dirs.iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_socket()))
        .map(|entry| entry.path())
        .take(64)
        .collect()
}

/// What the supervisor reads of the paused workload for the view: its mounts, the supervisor's
/// mount ids, and the host's sockets looked up through its root.
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewObserved {
    /// The workload's `mountinfo`, parsed.
    mounts: Vec<MountLine>,
    /// Why it could not be read, if it could not.
    error: Option<String>,
    /// The mount id of the workload's root (`statx(/proc/PID/root, STATX_MNT_ID)`), when the
    /// kernel gives it.
    root_mount: Option<u64>,
    /// Whether the workload's mount namespace is not the supervisor's (`None`: unknown).
    own_namespace: Option<bool>,
    /// The supervisor's own mount ids, read only where the two above are unknown.
    own_ids: std::collections::HashSet<u64>,
    /// How many host sockets were looked up.
    sockets_checked: usize,
    /// The host sockets found through the workload's root.
    reachable: Vec<String>,
    /// Masked paths that are not masked through the workload's root (neither an empty directory
    /// nor `/dev/null`).
    unmasked: Vec<String>,
    /// Without a view: Docker's masked paths the workload still sees (the mount namespace's).
    pub(crate) proc_unmasked: Vec<&'static str>,
    /// Whether the supervisor may look through `/proc/PID/root` at all: the paused workload has
    /// changed its ids, so it is not dumpable, and a supervisor without `CAP_SYS_PTRACE` (a
    /// container or pod granting only the capabilities the boot needs) is refused the link
    /// (`EACCES`). Then the lookups below are not made: the masks and the sockets are proved by
    /// the workload's `mountinfo` alone, as before the lookups existed.
    root_readable: bool,
}

impl ViewObserved {
    /// Reads what the view's verification needs about the paused workload `pid`: `child` is its
    /// `mountinfo`, read once for every check that needs it; `namespaces` the workload's and the
    /// supervisor's mount namespace inodes. Mount ids are unique on the system and a mount
    /// belongs to one namespace: a root whose mount is listed in the workload's `mountinfo`, in
    /// a namespace that is not the supervisor's, is none of the supervisor's mounts. Where the
    /// kernel gives no mount id (`statx`, Linux 5.8) or no namespace link, the supervisor's
    /// `mountinfo` is read for its mount ids, as before.
    pub(crate) fn parse(pid: i32, child: &str, namespaces: (Option<u64>, Option<u64>)) -> Self {
        let mounts = mountinfo(child);
        let root_mount = mount_id(&format!("/proc/{pid}/root"));
        let own_namespace = match namespaces {
            (Some(inside), Some(own)) => Some(inside != own),
            _ => None,
        };
        let own_ids = if root_mount.is_some() && own_namespace.is_some() {
            std::collections::HashSet::new()
        } else {
            crate::procfs::mountinfo(crate::procfs::Process::This)
                .map(|own| mountinfo(&own).into_iter().map(|mount| mount.id).collect())
                .unwrap_or_default()
        };
        let root_readable = std::fs::read_link(format!("/proc/{pid}/root")).is_ok();
        let sockets = if root_readable {
            host_sockets()
        } else {
            Vec::new()
        };
        let reachable = sockets
            .iter()
            .filter(|socket| socket_through(pid, socket))
            .map(|socket| socket.display().to_string())
            .collect();
        ViewObserved {
            mounts,
            error: None,
            root_mount,
            own_namespace,
            own_ids,
            sockets_checked: sockets.len(),
            reachable,
            unmasked: Vec::new(),
            proc_unmasked: Vec::new(),
            root_readable,
        }
    }
}

/// The size tmpfs gives an empty directory (`2 * BOGO_DIRENT_SIZE`: `.` and `..`).
const EMPTY_TMPFS_DIR: u64 = 40;

/// `path` is on a tmpfs (`statfs`).
fn is_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: all-zero bytes are a valid `statfs`.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `fs` is valid for the kernel to fill.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut fs) };
    rc == 0 && fs.f_type == libc::TMPFS_MAGIC
}

/// Whether `path` through `/proc/PID/root` is masked: an empty directory, or the character
/// device `/dev/null` is (a mask hidden beneath a later mount shows what it was to hide).
fn masked_through(pid: i32, path: &Path, null_rdev: Option<u64>) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let through =
        Path::new(&format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap_or(path));
    match std::fs::symlink_metadata(&through) {
        // tmpfs counts a directory's size as 20 bytes an entry, `.` and `..` included, so 40
        // bytes on a tmpfs (`statfs`) is an empty one: one call where listing it takes five.
        // Any other size or file system is listed.
        Ok(meta) if meta.is_dir() && meta.size() == EMPTY_TMPFS_DIR && is_tmpfs(&through) => true,
        Ok(meta) if meta.is_dir() => {
            std::fs::read_dir(&through).is_ok_and(|mut entries| entries.next().is_none())
        }
        Ok(meta) => meta.file_type().is_char_device() && Some(meta.rdev()) == null_rdev,
        Err(_) => false,
    }
}

impl ViewObserved {
    /// Looks the sockets the view masked up through the paused workload's root: none may still
    /// be a socket; and every masked path: each must really be masked. `view`: the view, when it
    /// was built; without one, Docker's masked paths the mount namespace hides are looked up (one
    /// the workload does not have at all is hidden too).
    pub(crate) fn look_up_masked(&mut self, pid: i32, view: Option<&View>) {
        use std::os::unix::fs::MetadataExt;
        if !self.root_readable {
            return;
        }
        let null_rdev = std::fs::metadata("/dev/null").ok().map(|meta| meta.rdev());
        if view.is_none() {
            self.proc_unmasked = super::MASKED
                .into_iter()
                .filter(|path| {
                    let through = Path::new(&format!("/proc/{pid}/root"))
                        .join(path.strip_prefix('/').unwrap_or(path));
                    std::fs::symlink_metadata(through)
                        .is_ok_and(|meta| !meta.file_type().is_symlink())
                        && !masked_through(pid, Path::new(path), null_rdev)
                })
                .collect();
        }
        for place in view.iter().flat_map(|view| &view.sockets) {
            if socket_through(pid, Path::new(place)) {
                self.reachable.push(place.clone());
            }
        }
        for place in view.iter().flat_map(|view| &view.masked) {
            if !masked_through(pid, Path::new(place), null_rdev) {
                self.unmasked.push(place.clone());
            }
        }
    }
}

impl View {
    /// Checks the view against what was read of the paused workload: its root is not the
    /// supervisor's, every mount is read-only but the declared writable places, scratch space is
    /// noexec, nothing propagates, the masks are in place, no host socket is reachable. `Err` says
    /// what does not hold.
    fn check(&self, seen: &ViewObserved) -> Result<ViewEvidence, String> {
        if let Some(error) = &seen.error {
            return Err(error.clone());
        }
        let mounts = &seen.mounts;
        let last = |point: &str| mounts.iter().rev().find(|mount| mount.mount_point == point);
        let root = last("/").ok_or("the workload has no root mount")?;
        match (seen.root_mount, seen.own_namespace) {
            (Some(id), _) if id != root.id => {
                return Err(format!(
                    "the workload's root is mount {id}, not the root mount {} of its namespace",
                    root.id
                ))
            }
            (Some(_), Some(false)) => {
                return Err("the workload shares the supervisor's mount namespace".to_owned())
            }
            _ if seen.own_ids.contains(&root.id) => {
                return Err(format!(
                    "the workload's root is the supervisor's mount {}",
                    root.id
                ))
            }
            _ => {}
        }
        let has = |mount: &MountLine, option: &str| mount.options.iter().any(|o| o == option);
        if !has(root, "ro") {
            return Err("the workload's root is writable".to_owned());
        }
        if let Some(shared) = mounts.iter().find(|mount| mount.shared) {
            return Err(format!("{} has shared propagation", shared.mount_point));
        }
        let beneath = |point: &str, dir: &str| {
            point == dir
                || point
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let writable_ok = |mount: &MountLine| {
            self.writable.iter().any(|place| {
                let bind = self
                    .writable_binds
                    .iter()
                    .any(|bind| Path::new(place) == bind.as_path());
                mount.mount_point == *place || (bind && beneath(&mount.mount_point, place))
            })
        };
        if let Some(mount) = mounts
            .iter()
            .find(|mount| !has(mount, "ro") && !writable_ok(mount))
        {
            return Err(format!(
                "{} is writable but is not a declared writable place",
                mount.mount_point
            ));
        }
        for place in &self.noexec {
            match last(place) {
                Some(mount) if has(mount, "noexec") => {}
                _ => return Err(format!("{place} is not mounted noexec")),
            }
        }
        for place in &self.masked {
            match last(place) {
                Some(mount) if has(mount, "ro") => {}
                _ => return Err(format!("{place} is not masked")),
            }
        }
        if let Some(place) = seen.unmasked.first() {
            return Err(format!(
                "{place} is not masked in the workload's root (neither an empty directory nor /dev/null)"
            ));
        }
        if let Some(socket) = seen.reachable.first() {
            return Err(format!("the host socket {socket} is reachable in the view"));
        }
        Ok(ViewEvidence {
            mode: self.mode,
            root_mount_id: root.id,
            mounts: mounts.len(),
            read_only_mounts: mounts.iter().filter(|mount| has(mount, "ro")).count(),
            writable: self.writable.clone(),
            noexec: self.noexec.clone(),
            masked: self.masked.clone(),
            host_sockets_absent: seen.sockets_checked,
            host_sockets_masked: self.sockets.clone(),
            host_sockets_unresolved: self.sockets_unresolved,
            host_sockets_not_covered: SOCKETS_NOT_COVERED,
        })
    }
}

/// Whether the workload shares the supervisor's PID namespace without a Landlock domain: then its
/// `/proc` lists the host's processes, and `/proc/PID/root` of one of its uid is the host's root,
/// outside the view (Landlock denies ptrace access, and so that link, out of its domain).
fn host_processes_lead_out(observed: &Observed) -> bool {
    let (inside, parent) = observed.pid_namespaces;
    inside.is_some() && inside == parent && !matches!(observed.landlock_status, 1 | 2)
}

/// What a view escapable through the host's processes is, as the verification says it.
const LEADS_OUT: &str = "the workload shares the supervisor's PID namespace without a Landlock domain: /proc/PID/root of the host's processes of its uid leads out of the view";

/// The view's verification, as its catalogue row names it.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let checked = expected.view.map(|view| {
        view.check(&observed.view).and_then(|evidence| {
            if host_processes_lead_out(observed) {
                Err(LEADS_OUT.to_owned())
            } else {
                Ok(evidence)
            }
        })
    });
    match checked {
        None => Verified {
            evidence: Evidence::Nothing {},
            unverified: None,
        },
        Some(Ok(evidence)) => Verified {
            evidence: Evidence::FilesystemView(evidence),
            unverified: None,
        },
        Some(Err(detail)) => Verified {
            evidence: Evidence::Nothing {},
            unverified: Some(detail),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            staging: std::ffi::CString::default(),
            ops: Vec::new(),
            writable: Vec::new(),
            noexec: Vec::new(),
            masked: Vec::new(),
            mode: FsMode::HostRo,
            writable_binds: Vec::new(),
            read_only_binds: Vec::new(),
            sockets: Vec::new(),
            sockets_unresolved: 0,
            mounts: Vec::new(),
        }
    }

    fn observed(pid_namespaces: (Option<u64>, Option<u64>), landlock_status: u8) -> Observed {
        let root = MountLine {
            id: 7,
            mount_point: "/".to_owned(),
            options: vec!["ro".to_owned()],
            shared: false,
        };
        Observed {
            pid_namespaces,
            landlock_status,
            view: ViewObserved {
                mounts: vec![root],
                ..ViewObserved::default()
            },
            ..Observed::default()
        }
    }

    /// The workload's root is proved none of the supervisor's mounts by its mount id
    /// (`statx`), listed as the root of a namespace that is not the supervisor's: another root,
    /// or the supervisor's namespace, fails.
    #[test]
    fn a_root_outside_the_workloads_namespace_is_not_a_verified_view() {
        let view = view();
        let checked = |root_mount, own_namespace| {
            let mut seen = observed((Some(5), Some(4)), 1).view;
            seen.root_mount = root_mount;
            seen.own_namespace = own_namespace;
            view.check(&seen).map(|evidence| evidence.root_mount_id)
        };
        assert_eq!(checked(Some(7), Some(true)), Ok(7));
        assert!(checked(Some(8), Some(true))
            .unwrap_err()
            .contains("not the root mount 7"));
        assert!(checked(Some(7), Some(false))
            .unwrap_err()
            .contains("shares the supervisor's mount namespace"));
    }

    /// The host's PID namespace without Landlock is a view with a way out; either one alone
    /// closes it.
    #[test]
    fn the_host_pid_namespace_without_landlock_is_not_a_verified_view() {
        let view = view();
        let expected = Expected {
            view: Some(&view),
            ..Expected::default()
        };
        let verified = |pids, status| verify(&observed(pids, status), &expected).unverified;
        let shared = (Some(4), Some(4));
        assert_eq!(verified(shared, 0).as_deref(), Some(LEADS_OUT));
        assert_eq!(verified(shared, 3).as_deref(), Some(LEADS_OUT));
        assert_eq!(verified(shared, 1), None);
        assert_eq!(verified((Some(5), Some(4)), 0), None);
    }
}
