//! The view's preparation, in the parent: the operator's paths checked (no symbolic link in any
//! component), the mount operations built in order, every string allocated here.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use super::ops::{Op, Remount};
use super::{
    host, Charge, FsMode, View, ViewCall, ViewError, ViewOptions, ATTR_NODEV, ATTR_NOEXEC,
    ATTR_NOSUID, ATTR_RDONLY, DEFAULT_TMPFS_SIZE, DEVICES, DEV_LINKS, MINIMAL, NEW, OLD,
    READ_ONLY_PROC, RUN_SIZE, SCRATCH, SHM_SIZE, STAGING,
};

/// What the parent saw of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    dev: u64,
    ino: u64,
    pub(crate) dir: bool,
}

/// Opens `path` one component at a time with `O_PATH|O_NOFOLLOW`: a symbolic link in any
/// component is refused. Returns the device and inode of the last component.
pub(super) fn check_path(option: &'static str, path: &Path) -> Result<Checked, ViewError> {
    open_checked(option, path).map(|(_, checked)| checked)
}

/// A bind's source: [`check_path`], and neither on nor above one of the kernel's
/// pseudo-filesystems (by the `statfs` magic of the opened descriptor, or its mount's type):
/// a bind of the host's `/proc`, `/sys` or `/dev` would give the workload the host's.
fn check_source(
    option: &'static str,
    path: &Path,
    mounts: &[host::HostMount],
) -> Result<Checked, ViewError> {
    let (fd, checked) = open_checked(option, path)?;
    if let Some(fs) = host::pseudo_of(fd.as_raw_fd(), mounts) {
        return Err(ViewError::Pseudo {
            option,
            path: path.to_owned(),
            fs,
            at: None,
        });
    }
    if let Some((at, fs)) = host::pseudo_beneath(path, mounts).filter(|_| checked.dir) {
        return Err(ViewError::Pseudo {
            option,
            path: path.to_owned(),
            fs,
            at: Some(at.to_owned()),
        });
    }
    Ok(checked)
}

/// [`check_path`], keeping the descriptor of the last component (`O_PATH`): Landlock's rules are
/// built from it, so that a path swapped for a symbolic link after the checks grants nothing.
pub(crate) fn open_checked(
    option: &'static str,
    path: &Path,
) -> Result<(OwnedFd, Checked), ViewError> {
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
    // What the descriptor in `dir` is: each component is looked at once, when it is opened.
    let mut stat = fstat(dir.as_raw_fd()).map_err(open_error)?;
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
                stat = fstat(dir.as_raw_fd()).map_err(open_error)?;
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
    let checked = Checked {
        dev: stat.st_dev,
        ino: stat.st_ino,
        dir: SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
    };
    Ok((dir, checked))
}

pub(super) fn cpath(option: &'static str, path: &Path) -> Result<CString, ViewError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ViewError::Nul {
        option,
        path: path.to_owned(),
    })
}

/// Attribute bits (`MOUNT_ATTR_*`) as `mount(2)` flags.
pub(super) fn attr_flags(set: u64) -> libc::c_ulong {
    [
        (ATTR_RDONLY, libc::MS_RDONLY),
        (ATTR_NOSUID, libc::MS_NOSUID),
        (ATTR_NODEV, libc::MS_NODEV),
        (ATTR_NOEXEC, libc::MS_NOEXEC),
    ]
    .into_iter()
    .filter(|(attr, _)| set & attr != 0)
    .fold(0, |flags, (_, flag)| flags | flag)
}

/// The remounts that stand in for `mount_setattr(set)` on a clone of the host's `source` attached
/// at `dest` in the view, where the kernel has none: the clone's top (an empty path) and, for a
/// recursive clone, each mount beneath `source`, each keeping its own flags and adding `set`.
/// Empty where the kernel has `mount_setattr` (the mounts were not read): the init then treats an
/// `ENOSYS` as the refusal it is, never as a remount it has no list for.
fn remounts(mounts: &[host::HostMount], source: &Path, dest: &Path, set: u64) -> Vec<Remount> {
    if mounts.is_empty() {
        return Vec::new();
    }
    let add = attr_flags(set);
    let recursive = source.is_dir();
    let top = host::mount_of(source, mounts).map_or(0, |mount| mount.flags);
    let mut remounts = vec![Remount {
        path: CString::default(),
        flags: top | add,
    }];
    for mount in mounts {
        let Ok(rest) = mount.point.strip_prefix(source) else {
            continue;
        };
        if rest == Path::new("") || !recursive {
            continue;
        }
        let place = dest.join(rest);
        if CString::new(place.as_os_str().as_bytes()).is_ok() {
            remounts.push(Remount {
                path: under(NEW, &place),
                flags: mount.flags | add,
            });
        }
    }
    remounts
}

/// `prefix` followed by the absolute `path` (`/newroot` + `/usr`).
pub(super) fn under(prefix: &str, path: &Path) -> CString {
    let mut bytes = prefix.as_bytes().to_vec();
    if path != Path::new("/") {
        bytes.extend_from_slice(path.as_os_str().as_bytes());
    }
    CString::new(bytes).expect("checked paths have no NUL byte")
}

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
            sockets: Vec::new(),
            sockets_unresolved: 0,
            // Read only where the remount fallback needs them (a kernel before 5.12).
            mounts: if host::has_mount_setattr() {
                Vec::new()
            } else {
                host::mounts()
            },
        };

        for section in [
            root_ops,
            bind_ops,
            scratch_ops,
            dev_ops,
            proc_ops,
            super::masks::mask_ops,
            super::masks::socket_ops,
        ] {
            section(&mut view, options, fresh_sys)?;
        }
        view.mounts = Vec::new();
        Ok(Some(view))
    }
}

/// The root: the host's tree cloned read-only, or a tmpfs with the system directories.
fn root_ops(view: &mut View, options: &ViewOptions, _fresh_sys: bool) -> Result<(), ViewError> {
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
                let fallback = remounts(&view.mounts, Path::new(dir), Path::new(dir), ro);
                view.ops.push(Op::Bind {
                    source: under(OLD, Path::new(dir)),
                    target,
                    create: false,
                    set: ro,
                    clear: 0,
                    expect: None,
                    optional: false,
                    fallback,
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
        let root = Path::new("/");
        view.ops.push(Op::Bind {
            source: CString::new(OLD).expect("no NUL"),
            target: CString::new(NEW).expect("no NUL"),
            create: false,
            set: ro,
            clear: 0,
            expect: None,
            optional: false,
            fallback: remounts(&view.mounts, root, root, ro),
        });
    }
    Ok(())
}

/// Workspaces and binds, cloned from the host at the same (or the named) path.
fn bind_ops(view: &mut View, options: &ViewOptions, _fresh_sys: bool) -> Result<(), ViewError> {
    let minimal = options.mode == FsMode::Minimal;
    let ro = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV;
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
    let mounts = if binds.is_empty() {
        Vec::new()
    } else {
        host::mounts()
    };
    for (option, source, dest, writable) in binds {
        let checked = check_source(option, source, &mounts)?;
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
        super::not_beneath_own_places(option, dest)?;
        if minimal {
            // Create the mount point (and its parents) in the tmpfs root.
            let mut prefix = PathBuf::from("/");
            let parts: Vec<_> = dest.components().skip(1).collect();
            for (index, part) in parts.iter().enumerate() {
                prefix.push(part);
                let last = index + 1 == parts.len();
                // A file's mount point is created by the bind itself (`create`).
                if !last || checked.dir {
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
        let set = if writable {
            ATTR_NOSUID | ATTR_NODEV
        } else {
            ro
        };
        view.ops.push(Op::Bind {
            source: under(OLD, source),
            target: under(NEW, dest),
            create: minimal && !checked.dir,
            set,
            clear: 0,
            expect: Some((checked.dev, checked.ino)),
            optional: false,
            fallback: remounts(&view.mounts, source, dest, set),
        });
        let shown = dest.display().to_string();
        if writable {
            view.writable.push(shown);
            view.writable_binds.push(dest.to_owned());
        } else {
            view.read_only_binds.push(dest.to_owned());
        }
    }
    Ok(())
}

/// Scratch space of the sandbox's own, never executable.
fn scratch_ops(view: &mut View, options: &ViewOptions, _fresh_sys: bool) -> Result<(), ViewError> {
    let minimal = options.mode == FsMode::Minimal;
    let exists = |path: &str| std::fs::symlink_metadata(path).ok();
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
    Ok(())
}

/// A minimal `/dev`: a tmpfs, six of the host's devices, links, its own devpts, shm and mqueue.
fn dev_ops(view: &mut View, _options: &ViewOptions, _fresh_sys: bool) -> Result<(), ViewError> {
    let exists = |path: &str| std::fs::symlink_metadata(path).ok();
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
    // The devices are cloned as they are and made read-only, nosuid and noexec with `/dev`
    // itself, in one recursive call once the links and directories are made (not nodev: they
    // must still open); devpts, shm and mqueue are mounted after it, writable.
    let set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC;
    let mut fallback = Vec::new();
    if !view.mounts.is_empty() {
        fallback.push(Remount {
            path: CString::default(),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY,
        });
    }
    for name in DEVICES {
        if exists(&format!("/dev/{name}")).is_none() {
            continue;
        }
        let host = Path::new("/dev").join(name);
        view.ops.push(Op::Bind {
            source: under(OLD, &host),
            target: dev(name),
            create: true,
            set: 0,
            clear: 0,
            expect: None,
            optional: false,
            fallback: Vec::new(),
        });
        fallback.extend(
            remounts(&view.mounts, &host, &host, set)
                .into_iter()
                .map(|remount| Remount {
                    path: dev(name),
                    flags: remount.flags,
                }),
        );
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
    view.ops.push(Op::SetAttrTree {
        target: under(NEW, Path::new("/dev")),
        set,
        fallback,
    });
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
    view.writable.extend(
        ["/dev/pts", "/dev/shm", "/dev/mqueue"]
            .into_iter()
            .map(str::to_owned),
    );
    view.noexec.push("/dev/shm".to_owned());
    Ok(())
}

/// A fresh `/proc`, its read-only parts, and a fresh sysfs when asked.
fn proc_ops(view: &mut View, options: &ViewOptions, fresh_sys: bool) -> Result<(), ViewError> {
    let minimal = options.mode == FsMode::Minimal;
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
    Ok(())
}
