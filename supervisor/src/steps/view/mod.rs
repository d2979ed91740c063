//! The workload's own filesystem: a read-only view of the host (or a minimal root), private
//! tmpfs scratch space, a minimal `/dev`, masked `/proc` and `/sys` paths, and `pivot_root`.
//!
//! Mounts are data. [`View::prepare`] runs in the parent: it checks every path the operator named
//! (absolute, no symbolic link in any component, opened `O_PATH|O_NOFOLLOW` one component at a
//! time, like the plugin path) and turns the options into an ordered list of [`Op`]s whose strings
//! and buffers are all allocated there. [`View::apply`] runs in the sandbox's init, after its mount
//! namespace is private, and makes only async-signal-safe system calls:
//!
//! 1. a tmpfs staging root is mounted on a directory of the host tree, and the init
//!    `pivot_root`s into it: the host's root is now at `/oldroot`, the view is built at
//!    `/newroot`;
//! 2. the operations: the host's `/` (or, for `--fs minimal`, each system directory) is cloned
//!    recursively from `/oldroot` with `open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)` and made
//!    read-only, nosuid and nodev for the whole tree with `mount_setattr(AT_RECURSIVE)` before it
//!    is attached with `move_mount`; workspaces and the operator's binds are cloned the same way
//!    from the descriptor `openat2(RESOLVE_NO_SYMLINKS)` gave, after checking it is the file the
//!    parent checked (same device and inode); fresh tmpfs on `/tmp`, `/var/tmp` and `/run`
//!    (noexec); a tmpfs `/dev` with six of the host's character devices bound in, a devpts of its
//!    own, shm and mqueue; a fresh `/proc` with its read-only parts; Docker's masked paths;
//! 3. `pivot_root(".", ".")` in `/newroot` makes the view the root; the staging root is
//!    detached, and the host's tree at `/oldroot` with it (one detach). There is no `chroot` fallback: a refused `pivot_root` is a
//!    refusal of the step.
//!
//! Why `open_tree` and not `mount(MS_BIND)` from the parent's descriptors: a descriptor opened
//! before the mount namespace was unshared belongs to the parent's namespace, and the kernel
//! refuses to bind a mount of another namespace (`EINVAL`); the clone from `/oldroot` is in ours.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use nix::errno::Errno;

pub use crate::options::{BindSpec, FsMode, ViewOptions};

mod host;
mod masks;
mod ops;
mod prepare;
mod verify;

use ops::Op;
pub(crate) use prepare::open_checked;
pub(crate) use verify::{verify, ViewEvidence, ViewObserved};

/// The calls of the filesystem view, as written in messages and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ViewCall {
    /// `mount(tmpfs)` of the staging root.
    Staging,
    /// `pivot_root` into the staging root or into the view.
    PivotRoot,
    /// `mkdir`, `symlink` or creating an empty file in the staging root.
    Create,
    /// `openat2(RESOLVE_NO_SYMLINKS)` of a bind's source or target.
    Open,
    /// `open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)`.
    OpenTree,
    /// `mount_setattr(AT_RECURSIVE)`.
    SetAttr,
    /// `move_mount`.
    MoveMount,
    /// `mount(tmpfs)` of a scratch directory or `/dev`.
    Tmpfs,
    /// `mount(devpts)`.
    Devpts,
    /// `mount(mqueue)`.
    Mqueue,
    /// `mount(sysfs)`.
    Sysfs,
    /// Masking a path (`mount(tmpfs)` or a bind of `/dev/null` over it).
    Mask,
    /// `umount2(MNT_DETACH)` of the staging root, with the old root beneath it.
    Detach,
    /// A bind source is no longer the file the parent checked (verification).
    VerifySource,
    /// `pivot_root` returned success but the root did not change (verification).
    VerifyPivot,
    /// `mount(tmpfs)` of the staging root returned success but it is no tmpfs (verification).
    VerifyStaging,
}

impl ViewCall {
    /// Every call, in code order.
    pub const ALL: [ViewCall; 16] = [
        ViewCall::Staging,
        ViewCall::PivotRoot,
        ViewCall::Create,
        ViewCall::Open,
        ViewCall::OpenTree,
        ViewCall::SetAttr,
        ViewCall::MoveMount,
        ViewCall::Tmpfs,
        ViewCall::Devpts,
        ViewCall::Mqueue,
        ViewCall::Sysfs,
        ViewCall::Mask,
        ViewCall::Detach,
        ViewCall::VerifySource,
        ViewCall::VerifyPivot,
        ViewCall::VerifyStaging,
    ];

    /// The call as written in messages and reports.
    pub const fn name(self) -> &'static str {
        match self {
            ViewCall::Staging => "mount(tmpfs, staging root)",
            ViewCall::PivotRoot => "pivot_root",
            ViewCall::Create => "mkdir, symlink or open(O_CREAT) in the staging root",
            ViewCall::Open => "openat2(RESOLVE_NO_SYMLINKS)",
            ViewCall::OpenTree => "open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)",
            ViewCall::SetAttr => "mount_setattr(AT_RECURSIVE)",
            ViewCall::MoveMount => "move_mount",
            ViewCall::Tmpfs => "mount(tmpfs)",
            ViewCall::Devpts => "mount(devpts)",
            ViewCall::Mqueue => "mount(mqueue)",
            ViewCall::Sysfs => "mount(sysfs)",
            ViewCall::Mask => "mount(tmpfs or /dev/null, masked path)",
            ViewCall::Detach => "umount2(MNT_DETACH)",
            ViewCall::VerifySource => "fstat(bind source) (verification)",
            ViewCall::VerifyPivot => "stat(/) after pivot_root (verification)",
            ViewCall::VerifyStaging => "statfs(staging root) after mount(tmpfs) (verification)",
        }
    }
}

/// The size limit of `/tmp` and `/var/tmp` without `--tmpfs-size`.
pub const DEFAULT_TMPFS_SIZE: u64 = 256 << 20;

/// The size limit of `/run`.
const RUN_SIZE: u64 = 16 << 20;

/// The size limit of `/dev/shm` (Docker's).
const SHM_SIZE: u64 = 64 << 20;

/// Parses `--tmpfs-size`: bytes, or a number with k, m or g (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&text[..text.len() - 1], 10),
        Some('m') => (&text[..text.len() - 1], 20),
        Some('g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (bytes, or a number with k, m or g)"))?;
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 4096 {
        return Err(format!("{text:?} is below one page (4096 bytes)"));
    }
    Ok(bytes)
}

/// The scratch directories that get a fresh tmpfs (noexec, nosuid, nodev).
pub const SCRATCH: [&str; 3] = ["/tmp", "/var/tmp", "/run"];

/// The host's character devices bound into the minimal `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The symbolic links of the minimal `/dev`.
const DEV_LINKS: [(&CStr, &str); 5] = [
    (c"/proc/self/fd", "fd"),
    (c"/proc/self/fd/0", "stdin"),
    (c"/proc/self/fd/1", "stdout"),
    (c"/proc/self/fd/2", "stderr"),
    (c"pts/ptmx", "ptmx"),
];

/// What Docker and the OCI runtime spec mask by default.
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The host's control groups: other groups' names, limits and members, read-only but shown by the
/// host's `/sys`. The view hides them (the workload's own group is in `/proc/self/cgroup`; the
/// supervisor sets and reads the group from its own side).
pub const HOST_CGROUPS: &str = "/sys/fs/cgroup";

/// The parts of the fresh `/proc` the workload may read but never write.
pub const READ_ONLY_PROC: [&str; 5] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// The host directories `--fs minimal` shows.
pub const MINIMAL: [&str; 9] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Where the staging tmpfs may be mounted (the first that is a directory).
const STAGING: [&str; 5] = ["/tmp", "/mnt", "/var/tmp", "/run", "/srv"];

/// An operator's path that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// Not absolute.
    #[error("{option} {path}: the path must be absolute")]
    Relative {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A component is `..`, or a symbolic link.
    #[error("{option} {path}: {why}")]
    Unsafe {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
    /// A component could not be opened.
    #[error("{option} {path}: failed to open it")]
    Open {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: Errno,
    },
    /// The path contains a NUL byte.
    #[error("{option} {path}: the path contains a NUL byte")]
    Nul {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A bind's source is on, or above, one of the kernel's pseudo-filesystems.
    #[error("{option} {path}: {} the host's {fs} (a pseudo-filesystem of the kernel); a bind would give the workload the host's {fs}, with the writes uid 0 may make there", .at.as_ref().map_or("is on".to_owned(), |at| format!("has beneath it, at {}, ", at.display())))]
    Pseudo {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
        /// The filesystem type.
        fs: &'static str,
        /// Where it is mounted beneath the path (`None`: the path is on it).
        at: Option<PathBuf>,
    },
    /// An option that only the view applies, without a view.
    #[error("{option} cannot be used with {why}: {what}")]
    Conflict {
        /// The option.
        option: &'static str,
        /// Why there is no view (`--fs host-rw`, `--disable-step filesystem-view`).
        why: String,
        /// What the option would do.
        what: &'static str,
    },
    /// No directory to mount the staging root on.
    #[error("none of {STAGING:?} is a directory to build the filesystem view on")]
    NoStaging,
}

/// Mount attribute bits (`MOUNT_ATTR_*`).
const ATTR_RDONLY: u64 = 0x1;
const ATTR_NOSUID: u64 = 0x2;
const ATTR_NODEV: u64 = 0x4;
const ATTR_NOEXEC: u64 = 0x8;

/// Where a failed operation is charged: the view, or the mount namespace (its `/proc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// The filesystem view.
    View,
    /// The fresh `/proc` and its read-only parts, which the mount namespace step promises.
    Proc,
}

/// A filesystem view, ready to be applied in the init.
#[derive(Debug)]
pub struct View {
    /// Where the staging tmpfs is mounted.
    staging: CString,
    ops: Vec<Op>,
    /// The places the view makes writable (as the workload sees them), for the verification.
    pub writable: Vec<String>,
    /// The places mounted noexec, for the verification.
    pub noexec: Vec<String>,
    /// The masked paths (as the workload sees them).
    pub masked: Vec<String>,
    /// The mode.
    pub mode: FsMode,
    /// Workspace and read-write bind destinations (as the workload sees them), for Landlock.
    pub writable_binds: Vec<PathBuf>,
    /// Read-only bind destinations, for Landlock.
    pub read_only_binds: Vec<PathBuf>,
    /// The host's path sockets the view masks (as the workload sees them).
    pub sockets: Vec<String>,
    /// Paths of `/proc/net/unix` that could not be resolved to a socket (relative, or gone).
    pub sockets_unresolved: usize,
    /// The supervisor's mounts, while the operations are prepared (the remounts that stand in
    /// for `mount_setattr` where the kernel has none).
    mounts: Vec<host::HostMount>,
}

/// The root the view is built in, after the first `pivot_root`.
const NEW: &str = "/newroot";
/// Where the host's root is, after the first `pivot_root`.
const OLD: &str = "/oldroot";

/// `$XDG_RUNTIME_DIR`, read once: the supervisor may clear its environment before the sandbox
/// is made, and the view's verification still looks for the host's sockets there.
pub(crate) fn runtime_dir() -> Option<&'static std::ffi::OsStr> {
    static DIR: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("XDG_RUNTIME_DIR"))
        .as_deref()
}

/// Why the operator's options leave no filesystem view, if they do.
pub(crate) fn without_view(options: &crate::options::RunOptions) -> Option<String> {
    if options.view.mode == FsMode::HostRw {
        return Some("--fs host-rw".to_owned());
    }
    [
        crate::steps::Step::MountNamespace,
        crate::steps::Step::FilesystemView,
    ]
    .into_iter()
    .find(|step| options.disabled_steps.contains(step))
    .map(|step| format!("--disable-step {step}"))
}

/// The options only the view applies are the operator's error without one (`why`), never
/// dropped in silence. A workspace still names Landlock's writable places when the view is
/// disabled but Landlock is not (with `--fs host-rw`, Landlock grants everything).
fn conflicts(options: &crate::options::RunOptions, why: &str) -> Result<(), ViewError> {
    let view = &options.view;
    let landlock_applies = options.view.mode != FsMode::HostRw
        && !options
            .disabled_steps
            .contains(&crate::steps::Step::Landlock);
    let conflict = if !view.masks.is_empty() {
        Some(("--mask", "there is no filesystem view to mask a path in"))
    } else if let Some(bind) = view.binds.first() {
        Some((
            if bind.writable { "--bind" } else { "--ro-bind" },
            "there is no filesystem view to bind a path into",
        ))
    } else if view.tmpfs_size.is_some() {
        Some((
            "--tmpfs-size",
            "there is no filesystem view with a private /tmp",
        ))
    } else if !view.workspaces.is_empty() && !landlock_applies {
        Some((
            "--workspace",
            "neither a filesystem view nor Landlock would make it the writable place",
        ))
    } else {
        None
    };
    conflict.map_or(Ok(()), |(option, what)| {
        Err(ViewError::Conflict {
            option,
            why: why.to_owned(),
            what,
        })
    })
}

/// Without a PID namespace of its own the workload's `/proc` lists the host's processes, and
/// `/proc/PID/root` of one of its uid is the host's root, outside the view; only Landlock (which
/// denies ptrace access, and so `/proc/PID/root`, to processes outside its domain) closes that.
/// The operator disabling both is the operator's error.
fn host_processes_shown(options: &crate::options::RunOptions) -> Result<(), ViewError> {
    let disabled = |step| options.disabled_steps.contains(&step);
    if disabled(crate::steps::Step::PidNamespace) && disabled(crate::steps::Step::Landlock) {
        return Err(ViewError::Conflict {
            option: "--disable-step pid-namespace",
            why: "--disable-step landlock and a filesystem view".to_owned(),
            what: "the workload's /proc would list the host's processes, and /proc/PID/root of one of its uid leads out of the view to the host's root; keep one of the two steps",
        });
    }
    Ok(())
}

/// The view's preparation: the operator's paths checked and the operations planned; uid 0 (or a
/// kept capability) is contained only by a view, so without one it is the operator's error.
pub(crate) fn prepare(
    options: &crate::options::RunOptions,
    plan: &mut crate::sandbox::Plan,
    fresh_sys: bool,
) -> Result<(), crate::error::SupervisorError> {
    if let Some(why) = without_view(options) {
        conflicts(options, &why)?;
    } else {
        host_processes_shown(options)?;
    }
    plan.set_view(View::prepare(&options.view, fresh_sys)?);
    if let Some(why) = without_view(options) {
        let root = plan.identity().is_some_and(|identity| {
            identity.uid.is_root()
                || identity.gid.as_raw() == 0
                || identity.groups.iter().any(|group| group.as_raw() == 0)
        });
        if root || plan.kept_capabilities() != 0 {
            return Err(crate::error::SupervisorError::RootWithoutView {
                what: if root {
                    "as uid 0 or gid 0"
                } else {
                    "with kept capabilities"
                },
                why,
            });
        }
    }
    Ok(())
}

/// The places the view mounts anew (scratch space, /dev, /proc, /sys) after the binds: no bind
/// may land beneath them.
const OWN_PLACES: [&str; 6] = ["/tmp", "/var/tmp", "/run", "/dev", "/proc", "/sys"];

/// A bind's destination beneath one of [`OWN_PLACES`] would be hidden: a usage error.
/// A `..` component is refused too.
pub(super) fn not_beneath_own_places(
    option: &'static str,
    dest: &std::path::Path,
) -> Result<(), ViewError> {
    if dest
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(ViewError::Unsafe {
            option,
            path: dest.to_owned(),
            why: "a `..` component is not allowed",
        });
    }
    if OWN_PLACES.iter().any(|place| dest.starts_with(place)) {
        return Err(ViewError::Unsafe {
            option,
            path: dest.to_owned(),
            why: "the sandbox mounts its own /tmp, /var/tmp, /run, /dev, /proc and /sys, \
                  which would hide a bind beneath them: choose a destination elsewhere",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::prepare::check_path;
    use super::*;
    use std::path::Path;

    #[test]
    fn sizes_and_binds_parse() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("8192"), Ok(8192));
        assert!(parse_size("12").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(
            BindSpec::parse("/a:/b", true),
            Ok(BindSpec {
                source: "/a".into(),
                dest: "/b".into(),
                writable: true
            })
        );
        assert_eq!(BindSpec::parse("/a", false).unwrap().dest, Path::new("/a"));
        assert!(BindSpec::parse(":/b", false).is_err());
    }

    #[test]
    fn paths_with_links_or_dots_are_refused() {
        let dir = std::env::temp_dir().join(format!("view-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        let _ = std::fs::remove_file(dir.join("link"));
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        assert!(check_path("--workspace", &dir.join("real")).is_ok());
        assert!(matches!(
            check_path("--workspace", &dir.join("link")),
            Err(ViewError::Unsafe { .. })
        ));
        assert!(matches!(
            check_path("--workspace", &dir.join("link/x")),
            Err(ViewError::Open { .. } | ViewError::Unsafe { .. })
        ));
        assert!(matches!(
            check_path("--workspace", &dir.join("real/../real")),
            Err(ViewError::Unsafe { .. })
        ));
        assert!(matches!(
            check_path("--workspace", Path::new("relative")),
            Err(ViewError::Relative { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
