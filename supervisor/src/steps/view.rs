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
//! 3. the old root is detached, and `pivot_root(".", ".")` in `/newroot` makes the view the root;
//!    the staging root is detached. There is no `chroot` fallback: a refused `pivot_root` is a
//!    refusal of the step.
//!
//! Why `open_tree` and not `mount(MS_BIND)` from the parent's descriptors: a descriptor opened
//! before the mount namespace was unshared belongs to the parent's namespace, and the kernel
//! refuses to bind a mount of another namespace (`EINVAL`); the clone from `/oldroot` is in ours.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};

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
    /// `umount2(MNT_DETACH)` of the old root or the staging root.
    Detach,
    /// A bind source is no longer the file the parent checked (verification).
    VerifySource,
    /// `pivot_root` returned success but the root did not change (verification).
    VerifyPivot,
}

impl ViewCall {
    /// Every call, in code order.
    pub const ALL: [ViewCall; 15] = [
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
        }
    }
}

/// `--fs`: what the view shows of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsMode {
    /// The host's whole tree, read-only, nosuid, nodev (the default).
    #[default]
    HostRo,
    /// Only /usr, /bin, /sbin, /lib*, /etc and /opt of the host, read-only.
    Minimal,
    /// No view: the workload shares the host's filesystem (the protection given up).
    HostRw,
}

impl FsMode {
    /// The name used on the command line and in the report.
    pub const fn name(self) -> &'static str {
        match self {
            FsMode::HostRo => "host-ro",
            FsMode::Minimal => "minimal",
            FsMode::HostRw => "host-rw",
        }
    }
}

/// A `--bind` or `--ro-bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    /// The host path.
    pub source: PathBuf,
    /// Where the workload sees it (the same path when not given).
    pub dest: PathBuf,
    /// `--bind` (read-write) rather than `--ro-bind`.
    pub writable: bool,
}

impl BindSpec {
    /// Parses `SRC[:DST]`.
    pub fn parse(text: &str, writable: bool) -> Result<Self, String> {
        let (source, dest) = match text.split_once(':') {
            Some((source, dest)) => (source, dest),
            None => (text, text),
        };
        if source.is_empty() || dest.is_empty() {
            return Err("expected SRC[:DST]".to_owned());
        }
        Ok(BindSpec {
            source: source.into(),
            dest: dest.into(),
            writable,
        })
    }
}

/// The view the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// `--fs`.
    pub mode: FsMode,
    /// `--workspace`: bound read-write at the same path, nosuid, nodev, exec allowed.
    pub workspaces: Vec<PathBuf>,
    /// `--bind` and `--ro-bind`, in order.
    pub binds: Vec<BindSpec>,
    /// `--mask`.
    pub masks: Vec<PathBuf>,
    /// `--tmpfs-size` in bytes (default [`DEFAULT_TMPFS_SIZE`]).
    pub tmpfs_size: Option<u64>,
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
    /// No directory to mount the staging root on.
    #[error("none of {STAGING:?} is a directory to build the filesystem view on")]
    NoStaging,
}

/// What the parent saw of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    dev: u64,
    ino: u64,
    dir: bool,
}

/// Opens `path` one component at a time with `O_PATH|O_NOFOLLOW`: a symbolic link in any
/// component is refused. Returns the device and inode of the last component.
fn check_path(option: &'static str, path: &Path) -> Result<Checked, ViewError> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{fstat, Mode, SFlag};
    if !path.is_absolute() {
        return Err(ViewError::Relative {
            option,
            path: path.to_owned(),
        });
    }
    let open_error = |source| ViewError::Open {
        option,
        path: path.to_owned(),
        source,
    };
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir: OwnedFd = nix::fcntl::open("/", flags | OFlag::O_DIRECTORY, Mode::empty())
        .map(|fd| {
            // SAFETY: `open` returned a new descriptor that nothing else owns.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .map_err(open_error)?;
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ViewError::Unsafe {
                    option,
                    path: path.to_owned(),
                    why: "a `..` component is not allowed",
                })
            }
            Component::Normal(name) => {
                let stat = fstat(dir.as_raw_fd()).map_err(open_error)?;
                if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
                    return Err(ViewError::Unsafe {
                        option,
                        path: path.to_owned(),
                        why: "a component before the last is not a directory",
                    });
                }
                let fd = openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())
                    .map_err(open_error)?;
                // SAFETY: `openat` returned a new descriptor that nothing else owns.
                dir = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                let stat = fstat(dir.as_raw_fd()).map_err(open_error)?;
                if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
                    return Err(ViewError::Unsafe {
                        option,
                        path: path.to_owned(),
                        why: "a component is a symbolic link (name the real path)",
                    });
                }
            }
        }
    }
    let stat = fstat(dir.as_raw_fd()).map_err(open_error)?;
    Ok(Checked {
        dev: stat.st_dev,
        ino: stat.st_ino,
        dir: SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
    })
}

fn cpath(option: &'static str, path: &Path) -> Result<CString, ViewError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ViewError::Nul {
        option,
        path: path.to_owned(),
    })
}

/// `prefix` followed by the absolute `path` (`/newroot` + `/usr`).
fn under(prefix: &str, path: &Path) -> CString {
    let mut bytes = prefix.as_bytes().to_vec();
    if path != Path::new("/") {
        bytes.extend_from_slice(path.as_os_str().as_bytes());
    }
    CString::new(bytes).expect("checked paths have no NUL byte")
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

/// One mount operation, applied in the init. Every string is prepared by the parent.
#[derive(Debug)]
enum Op {
    /// `mkdir(path, mode)`; an existing directory is fine.
    Mkdir { path: CString, mode: u32 },
    /// Creates an empty file (a bind target).
    Touch { path: CString },
    /// `symlink(target, link)`.
    Symlink { target: CString, link: CString },
    /// Clones `source` (recursively), sets and clears attributes on the clone, attaches it on
    /// `target`. With `expect`, the source must still be that device and inode.
    Bind {
        source: CString,
        target: CString,
        set: u64,
        clear: u64,
        expect: Option<(u64, u64)>,
        optional: bool,
    },
    /// `mount(fstype, target, flags, data)`; a missing target is skipped when `optional`.
    Mount {
        fstype: &'static CStr,
        target: CString,
        flags: libc::c_ulong,
        data: Option<CString>,
        call: ViewCall,
        charge: Charge,
        optional: bool,
    },
    /// Makes `target` read-only (not recursive), keeping its other flags.
    ReadOnly { target: CString, call: ViewCall },
    /// A bind of `target` on itself, read-only, nosuid, nodev, noexec (a `/proc` part).
    ReadOnlySelf { target: CString, charge: Charge },
    /// Hides `target`: an empty read-only tmpfs on a directory, `/dev/null` on anything else.
    Mask { target: CString, dir: bool },
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
}

/// The root the view is built in, after the first `pivot_root`.
const NEW: &str = "/newroot";
/// Where the host's root is, after the first `pivot_root`.
const OLD: &str = "/oldroot";

impl View {
    /// Checks the operator's paths and prepares the operations. `fresh_sys`: mount a fresh
    /// read-only sysfs (a workload that may write root-owned files). `None` for `--fs host-rw`.
    pub fn prepare(options: &ViewOptions, fresh_sys: bool) -> Result<Option<View>, ViewError> {
        if options.mode == FsMode::HostRw {
            // The paths are still checked: a typo is an error whatever the mode.
            for path in &options.workspaces {
                check_path("--workspace", path)?;
            }
            for bind in &options.binds {
                check_path("--bind", &bind.source)?;
            }
            return Ok(None);
        }
        let staging = STAGING
            .into_iter()
            .find(|dir| {
                std::fs::symlink_metadata(dir)
                    .map(|meta| meta.is_dir())
                    .unwrap_or(false)
            })
            .ok_or(ViewError::NoStaging)?;
        let mut view = View {
            staging: CString::new(staging).expect("no NUL"),
            ops: Vec::new(),
            writable: Vec::new(),
            noexec: Vec::new(),
            masked: Vec::new(),
            mode: options.mode,
            writable_binds: Vec::new(),
            read_only_binds: Vec::new(),
        };
        let minimal = options.mode == FsMode::Minimal;
        let exists = |path: &str| std::fs::symlink_metadata(path).ok();
        let ro = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV;

        // The root.
        if minimal {
            view.ops.push(Op::Mount {
                fstype: c"tmpfs",
                target: under(NEW, Path::new("/")),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
                data: Some(CString::new("mode=0755,size=1m").expect("no NUL")),
                call: ViewCall::Tmpfs,
                charge: Charge::View,
                optional: false,
            });
            for dir in MINIMAL {
                let Some(meta) = exists(dir) else { continue };
                let target = under(NEW, Path::new(dir));
                if meta.file_type().is_symlink() {
                    // /bin -> usr/bin on a merged /usr: the same link in the view.
                    let link = std::fs::read_link(dir).map_err(|err| ViewError::Open {
                        option: "--fs minimal",
                        path: dir.into(),
                        source: Errno::from_raw(err.raw_os_error().unwrap_or(0)),
                    })?;
                    view.ops.push(Op::Symlink {
                        target: CString::new(link.as_os_str().as_bytes()).expect("no NUL"),
                        link: target,
                    });
                } else if meta.is_dir() {
                    view.ops.push(Op::Mkdir {
                        path: target.clone(),
                        mode: 0o755,
                    });
                    view.ops.push(Op::Bind {
                        source: under(OLD, Path::new(dir)),
                        target,
                        set: ro,
                        clear: 0,
                        expect: None,
                        optional: false,
                    });
                }
            }
            for dir in ["/dev", "/proc", "/sys", "/tmp", "/var", "/var/tmp", "/run"] {
                view.ops.push(Op::Mkdir {
                    path: under(NEW, Path::new(dir)),
                    mode: 0o755,
                });
            }
        } else {
            view.ops.push(Op::Bind {
                source: CString::new(OLD).expect("no NUL"),
                target: CString::new(NEW).expect("no NUL"),
                set: ro,
                clear: 0,
                expect: None,
                optional: false,
            });
        }

        // Workspaces and binds, cloned from the host at the same (or the named) path.
        let mut binds: Vec<(&'static str, &Path, &Path, bool)> = options
            .workspaces
            .iter()
            .map(|path| ("--workspace", path.as_path(), path.as_path(), true))
            .collect();
        binds.extend(options.binds.iter().map(|bind| {
            let option = if bind.writable { "--bind" } else { "--ro-bind" };
            (
                option,
                bind.source.as_path(),
                bind.dest.as_path(),
                bind.writable,
            )
        }));
        for (option, source, dest, writable) in binds {
            let checked = check_path(option, source)?;
            if option == "--workspace" && !checked.dir {
                return Err(ViewError::Unsafe {
                    option,
                    path: source.to_owned(),
                    why: "a workspace must be a directory",
                });
            }
            cpath(option, dest)?;
            if !dest.is_absolute() {
                return Err(ViewError::Relative {
                    option,
                    path: dest.to_owned(),
                });
            }
            if dest.components().any(|c| c == Component::ParentDir) {
                return Err(ViewError::Unsafe {
                    option,
                    path: dest.to_owned(),
                    why: "a `..` component is not allowed",
                });
            }
            if minimal {
                // Create the mount point (and its parents) in the tmpfs root.
                let mut prefix = PathBuf::from("/");
                let parts: Vec<_> = dest.components().skip(1).collect();
                for (index, part) in parts.iter().enumerate() {
                    prefix.push(part);
                    let last = index + 1 == parts.len();
                    if last && !checked.dir {
                        view.ops.push(Op::Touch {
                            path: under(NEW, &prefix),
                        });
                    } else {
                        view.ops.push(Op::Mkdir {
                            path: under(NEW, &prefix),
                            mode: 0o755,
                        });
                    }
                }
            } else {
                // The host's tree is shown as it is: the destination must exist there, of the
                // same type (nothing is ever created on the host).
                let target = check_path(option, dest)?;
                if target.dir != checked.dir {
                    return Err(ViewError::Unsafe {
                        option,
                        path: dest.to_owned(),
                        why: "the destination is not of the source's type (directory or file)",
                    });
                }
            }
            view.ops.push(Op::Bind {
                source: under(OLD, source),
                target: under(NEW, dest),
                set: if writable {
                    ATTR_NOSUID | ATTR_NODEV
                } else {
                    ro
                },
                clear: 0,
                expect: Some((checked.dev, checked.ino)),
                optional: false,
            });
            let shown = dest.display().to_string();
            if writable {
                view.writable.push(shown);
                view.writable_binds.push(dest.to_owned());
            } else {
                view.read_only_binds.push(dest.to_owned());
            }
        }

        // Scratch space of the sandbox's own, never executable.
        let size = options.tmpfs_size.unwrap_or(DEFAULT_TMPFS_SIZE);
        for dir in SCRATCH {
            if !minimal && !exists(dir).is_some_and(|meta| meta.is_dir()) {
                continue;
            }
            let (mode, size) = if dir == "/run" {
                ("0755", RUN_SIZE)
            } else {
                ("1777", size)
            };
            view.ops.push(Op::Mount {
                fstype: c"tmpfs",
                target: under(NEW, Path::new(dir)),
                flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: Some(CString::new(format!("mode={mode},size={size}")).expect("no NUL")),
                call: ViewCall::Tmpfs,
                charge: Charge::View,
                optional: false,
            });
            view.writable.push(dir.to_owned());
            view.noexec.push(dir.to_owned());
        }

        // A minimal /dev.
        let dev = |name: &str| under(NEW, &Path::new("/dev").join(name));
        view.ops.push(Op::Mount {
            fstype: c"tmpfs",
            target: under(NEW, Path::new("/dev")),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(CString::new("mode=0755,size=64k").expect("no NUL")),
            call: ViewCall::Tmpfs,
            charge: Charge::View,
            optional: false,
        });
        for name in DEVICES {
            if exists(&format!("/dev/{name}")).is_none() {
                continue;
            }
            view.ops.push(Op::Touch { path: dev(name) });
            view.ops.push(Op::Bind {
                source: under(OLD, &Path::new("/dev").join(name)),
                target: dev(name),
                set: ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC,
                clear: 0,
                expect: None,
                optional: false,
            });
        }
        for (target, link) in DEV_LINKS {
            view.ops.push(Op::Symlink {
                target: target.to_owned(),
                link: dev(link),
            });
        }
        for dir in ["pts", "shm", "mqueue"] {
            view.ops.push(Op::Mkdir {
                path: dev(dir),
                mode: 0o755,
            });
        }
        view.ops.push(Op::Mount {
            fstype: c"devpts",
            target: dev("pts"),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(CString::new("newinstance,ptmxmode=0666,mode=620").expect("no NUL")),
            call: ViewCall::Devpts,
            charge: Charge::View,
            optional: false,
        });
        view.ops.push(Op::Mount {
            fstype: c"tmpfs",
            target: dev("shm"),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: Some(CString::new(format!("mode=1777,size={SHM_SIZE}")).expect("no NUL")),
            call: ViewCall::Tmpfs,
            charge: Charge::View,
            optional: false,
        });
        view.ops.push(Op::Mount {
            fstype: c"mqueue",
            target: dev("mqueue"),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
            call: ViewCall::Mqueue,
            charge: Charge::View,
            optional: false,
        });
        view.ops.push(Op::ReadOnly {
            target: under(NEW, Path::new("/dev")),
            call: ViewCall::Tmpfs,
        });
        view.writable.extend(
            ["/dev/pts", "/dev/shm", "/dev/mqueue"]
                .into_iter()
                .map(str::to_owned),
        );
        view.noexec.push("/dev/shm".to_owned());

        // A fresh /proc and its read-only parts.
        view.ops.push(Op::Mount {
            fstype: c"proc",
            target: under(NEW, Path::new("/proc")),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
            call: ViewCall::Tmpfs,
            charge: Charge::Proc,
            optional: false,
        });
        view.writable.push("/proc".to_owned());
        for path in READ_ONLY_PROC {
            view.ops.push(Op::ReadOnlySelf {
                target: under(NEW, Path::new(path)),
                charge: Charge::Proc,
            });
        }
        if fresh_sys && !minimal {
            view.ops.push(Op::Mount {
                fstype: c"sysfs",
                target: under(NEW, Path::new("/sys")),
                flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: None,
                call: ViewCall::Sysfs,
                charge: Charge::View,
                optional: false,
            });
        }

        // Masked paths: Docker's, the operator's, and host socket directories the scratch tmpfs
        // does not cover.
        let mut masks: Vec<PathBuf> = MASKED.iter().map(PathBuf::from).collect();
        if !minimal {
            if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
                let runtime = PathBuf::from(runtime);
                let covered = SCRATCH
                    .iter()
                    .any(|dir| runtime.starts_with(dir) && exists(dir).is_some());
                if runtime.is_absolute() && !covered {
                    masks.push(runtime);
                }
            }
            if exists("/var/run").is_some_and(|meta| meta.is_dir()) {
                masks.push("/var/run".into());
            }
        }
        for path in &options.masks {
            if !path.is_absolute() {
                return Err(ViewError::Relative {
                    option: "--mask",
                    path: path.clone(),
                });
            }
            cpath("--mask", path)?;
            masks.push(path.clone());
        }
        for path in masks {
            let Some(meta) = std::fs::symlink_metadata(&path).ok() else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            if minimal && !MINIMAL.iter().any(|dir| path.starts_with(dir)) {
                // A minimal root has a fresh /proc but no /sys.
                let shown = path.starts_with("/proc");
                if !shown {
                    continue;
                }
            }
            view.ops.push(Op::Mask {
                target: under(NEW, &path),
                dir: meta.is_dir(),
            });
            view.masked.push(path.display().to_string());
        }
        Ok(Some(view))
    }

    /// Applies the view in the init, whose mount namespace is new and private. Makes only
    /// async-signal-safe calls; returns the failed call, its errno, and the step it is charged to.
    /// `own_ipc`: the sandbox has its own IPC namespace (its `/dev/mqueue` is mounted only then).
    pub fn apply(&self, own_ipc: bool) -> Result<(), (Charge, ViewCall, Errno)> {
        let view = |call| move |errno| (Charge::View, call, errno);
        mount(
            c"tmpfs",
            &self.staging,
            c"tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(c"mode=0755,size=64k"),
        )
        .map_err(view(ViewCall::Staging))?;
        chdir(&self.staging).map_err(view(ViewCall::PivotRoot))?;
        mkdir(c"newroot", 0o755).map_err(view(ViewCall::Create))?;
        mkdir(c"oldroot", 0o755).map_err(view(ViewCall::Create))?;
        let staging = stat(c".").map_err(view(ViewCall::PivotRoot))?;
        pivot_root(c".", c"oldroot").map_err(view(ViewCall::PivotRoot))?;
        chdir(c"/").map_err(view(ViewCall::PivotRoot))?;
        // A call answered with 0 without effect must not go unnoticed: the root is now the
        // staging tmpfs.
        if stat(c"/").ok() != Some(staging) {
            return Err((Charge::View, ViewCall::VerifyPivot, Errno::UnknownErrno));
        }
        for op in &self.ops {
            if !own_ipc
                && matches!(
                    op,
                    Op::Mount {
                        call: ViewCall::Mqueue,
                        ..
                    }
                )
            {
                continue;
            }
            apply_op(op)?;
        }
        if self.mode == FsMode::Minimal {
            set_attr(c"/newroot", ATTR_RDONLY, 0, false).map_err(view(ViewCall::SetAttr))?;
        }
        umount_detach(c"/oldroot").map_err(view(ViewCall::Detach))?;
        chdir(c"/newroot").map_err(view(ViewCall::PivotRoot))?;
        let view_root = stat(c".").map_err(view(ViewCall::PivotRoot))?;
        pivot_root(c".", c".").map_err(view(ViewCall::PivotRoot))?;
        umount_detach(c".").map_err(view(ViewCall::Detach))?;
        chdir(c"/").map_err(view(ViewCall::PivotRoot))?;
        if stat(c"/").ok() != Some(view_root) {
            return Err((Charge::View, ViewCall::VerifyPivot, Errno::UnknownErrno));
        }
        Ok(())
    }
}

fn apply_op(op: &Op) -> Result<(), (Charge, ViewCall, Errno)> {
    let view = |call| move |errno| (Charge::View, call, errno);
    match op {
        Op::Mkdir { path, mode } => match mkdir(path, *mode) {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(errno) => Err((Charge::View, ViewCall::Create, errno)),
        },
        Op::Touch { path } => {
            // SAFETY: `path` is a NUL-terminated string prepared by the parent.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                )
            };
            let fd = Errno::result(fd).map_err(view(ViewCall::Create))?;
            close(fd);
            Ok(())
        }
        Op::Symlink { target, link } => {
            // SAFETY: both are NUL-terminated strings prepared by the parent.
            let rc = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
            match Errno::result(rc) {
                Ok(_) | Err(Errno::EEXIST) => Ok(()),
                Err(errno) => Err((Charge::View, ViewCall::Create, errno)),
            }
        }
        Op::Bind {
            source,
            target,
            set,
            clear,
            expect,
            optional,
        } => {
            let source_fd = match open_no_symlinks(source) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if *optional => return Ok(()),
                Err(errno) => return Err((Charge::View, ViewCall::Open, errno)),
            };
            let result = bind_from(source_fd, target, *set, *clear, *expect);
            close(source_fd);
            result
        }
        Op::Mount {
            fstype,
            target,
            flags,
            data,
            call,
            charge,
            optional,
        } => match mount(fstype, target, fstype, *flags, data.as_deref()) {
            Ok(()) => Ok(()),
            Err(Errno::ENOENT) if *optional => Ok(()),
            Err(errno) => Err((*charge, *call, errno)),
        },
        Op::ReadOnly { target, call } => {
            set_attr(target, ATTR_RDONLY, 0, false).map_err(|errno| (Charge::View, *call, errno))
        }
        Op::ReadOnlySelf { target, charge } => {
            let fd = match open_no_symlinks(target) {
                Ok(fd) => fd,
                // A kernel (or runtime) without this file has nothing to protect there.
                Err(Errno::ENOENT) => return Ok(()),
                Err(errno) => return Err((*charge, ViewCall::Open, errno)),
            };
            let result = bind_from(
                fd,
                target,
                ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC,
                0,
                None,
            )
            .map_err(|(_, call, errno)| (*charge, call, errno));
            close(fd);
            result
        }
        Op::Mask { target, dir } => {
            if *dir {
                match mount(
                    c"tmpfs",
                    target,
                    c"tmpfs",
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"mode=0555,size=4k"),
                ) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(()),
                    Err(errno) => Err((Charge::View, ViewCall::Mask, errno)),
                }
            } else {
                let null = open_no_symlinks(c"/newroot/dev/null")
                    .map_err(|errno| (Charge::View, ViewCall::Mask, errno))?;
                let result = match open_no_symlinks(target) {
                    Ok(fd) => {
                        close(fd);
                        // Not nodev: /dev/null must still open.
                        bind_from(
                            null,
                            target,
                            ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC,
                            0,
                            None,
                        )
                        .map_err(|(charge, _, errno)| (charge, ViewCall::Mask, errno))
                    }
                    Err(Errno::ENOENT) => Ok(()),
                    Err(errno) => Err((Charge::View, ViewCall::Mask, errno)),
                };
                close(null);
                result
            }
        }
    }
}

/// Clones the mount tree at `source_fd`, sets its attributes, checks it is still `expect`, and
/// attaches it on `target` (resolved without symbolic links).
fn bind_from(
    source_fd: RawFd,
    target: &CStr,
    set: u64,
    clear: u64,
    expect: Option<(u64, u64)>,
) -> Result<(), (Charge, ViewCall, Errno)> {
    let view = |call| move |errno| (Charge::View, call, errno);
    if let Some((dev, ino)) = expect {
        // SAFETY: all-zero bytes are a valid `stat`.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `source_fd` is open and `stat` is valid for the kernel to fill.
        let rc = unsafe { libc::fstat(source_fd, &mut stat) };
        Errno::result(rc).map_err(view(ViewCall::VerifySource))?;
        if stat.st_dev != dev || stat.st_ino != ino {
            return Err((Charge::View, ViewCall::VerifySource, Errno::UnknownErrno));
        }
    }
    // SAFETY: open_tree takes a descriptor, a NUL-terminated (empty) path and flags.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            source_fd,
            c"".as_ptr(),
            (1 /* OPEN_TREE_CLONE */
                | libc::O_CLOEXEC as u32
                | libc::AT_EMPTY_PATH as u32
                | 0x8000/* AT_RECURSIVE */) as libc::c_uint,
        )
    };
    let tree = Errno::result(tree).map_err(view(ViewCall::OpenTree))? as RawFd;
    let result = (|| {
        set_attr_fd(tree, set, clear).map_err(view(ViewCall::SetAttr))?;
        let target_fd = open_no_symlinks(target).map_err(view(ViewCall::Open))?;
        // SAFETY: move_mount takes two descriptors, two NUL-terminated (empty) paths and flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree,
                c"".as_ptr(),
                target_fd,
                c"".as_ptr(),
                (0x4 /* MOVE_MOUNT_F_EMPTY_PATH */ | 0x40/* MOVE_MOUNT_T_EMPTY_PATH */)
                    as libc::c_uint,
            )
        };
        close(target_fd);
        Errno::result(rc)
            .map(drop)
            .map_err(view(ViewCall::MoveMount))
    })();
    close(tree);
    result
}

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH|AT_RECURSIVE)` setting `set`, clearing `clear`, and
/// making every mount of the tree private.
fn set_attr_fd(fd: RawFd, set: u64, clear: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed; the path is an empty C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | 0x8000/* AT_RECURSIVE */) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// `mount_setattr(path)`, recursive or not.
fn set_attr(path: &CStr, set: u64, clear: u64, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { 0x8000 } else { 0 };
    // SAFETY: `attr` is a valid mount_attr of the size passed; `path` is NUL-terminated.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// `struct open_how`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(path, O_PATH|O_CLOEXEC|O_NOFOLLOW, RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`.
fn open_no_symlinks(path: &CStr) -> Result<RawFd, Errno> {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
        mode: 0,
        resolve: 0x04 /* RESOLVE_NO_SYMLINKS */ | 0x02, /* RESOLVE_NO_MAGICLINKS */
    };
    // SAFETY: `how` is a valid open_how of the size passed; `path` is NUL-terminated.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    Errno::result(rc).map(|fd| fd as RawFd)
}

fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: every string is NUL-terminated; data is NULL or a NUL-terminated option string.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.map_or(std::ptr::null(), |data| data.as_ptr().cast()),
        )
    };
    Errno::result(rc).map(drop)
}

fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    Errno::result(unsafe { libc::mkdir(path.as_ptr(), mode) }).map(drop)
}

fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    Errno::result(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    Errno::result(rc).map(drop)
}

fn umount_detach(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    Errno::result(unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

/// The device and inode of `path`.
fn stat(path: &CStr) -> Result<(u64, u64), Errno> {
    // SAFETY: all-zero bytes are a valid `stat`.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` is valid for the kernel to fill.
    Errno::result(unsafe { libc::stat(path.as_ptr(), &mut stat) })?;
    Ok((stat.st_dev, stat.st_ino))
}

fn close(fd: RawFd) {
    // SAFETY: `fd` was opened by the caller and is closed once.
    unsafe { libc::close(fd) };
}

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
}

/// One line of `mountinfo`.
#[derive(Debug, Clone)]
struct MountLine {
    id: u64,
    mount_point: String,
    options: Vec<String>,
    shared: bool,
}

fn mountinfo(pid: Option<i32>) -> std::io::Result<Vec<MountLine>> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/mountinfo"),
        None => "/proc/self/mountinfo".to_owned(),
    };
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
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
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(text: &str) -> String {
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

/// Host Unix sockets the workload must not reach: in /tmp and /run (two levels) and the runtime
/// directory, at most 64.
fn host_sockets() -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    let mut dirs: Vec<(PathBuf, u32)> = vec![("/tmp".into(), 0), ("/run".into(), 0)];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push((runtime.into(), 0));
    }
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten().take(256) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_socket() {
                found.push(entry.path());
                if found.len() >= 64 {
                    return found;
                }
            } else if kind.is_dir() && depth < 1 {
                dirs.push((entry.path(), depth + 1));
            }
        }
    }
    found
}

/// What the supervisor reads of the paused workload for the view: its mounts, the supervisor's
/// mount ids, and the host's sockets looked up through its root.
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewObserved {
    /// The workload's `mountinfo`, parsed.
    mounts: Vec<MountLine>,
    /// Why it could not be read, if it could not.
    error: Option<String>,
    /// The supervisor's own mount ids.
    own_ids: std::collections::HashSet<u64>,
    /// How many host sockets were looked up.
    sockets_checked: usize,
    /// The host sockets found through the workload's root.
    reachable: Vec<String>,
}

impl ViewObserved {
    /// Reads what the view's verification needs about the paused workload `pid`.
    pub(crate) fn read(pid: i32) -> Self {
        let mounts = match mountinfo(Some(pid)) {
            Ok(mounts) => mounts,
            Err(err) => {
                return ViewObserved {
                    error: Some(format!("failed to read the workload's mountinfo: {err}")),
                    ..ViewObserved::default()
                }
            }
        };
        let own_ids = mountinfo(None)
            .map(|own| own.into_iter().map(|mount| mount.id).collect())
            .unwrap_or_default();
        let sockets = host_sockets();
        let reachable = sockets
            .iter()
            .filter(|socket| {
                let through = Path::new(&format!("/proc/{pid}/root"))
                    .join(socket.strip_prefix("/").unwrap_or(socket));
                std::fs::symlink_metadata(through).is_ok()
            })
            .map(|socket| socket.display().to_string())
            .collect();
        ViewObserved {
            mounts,
            error: None,
            own_ids,
            sockets_checked: sockets.len(),
            reachable,
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
        if seen.own_ids.contains(&root.id) {
            return Err(format!(
                "the workload's root is the supervisor's mount {}",
                root.id
            ));
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
        })
    }
}

/// The view's verification, as its catalogue row names it.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    match expected.view.map(|view| view.check(&observed.view)) {
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
