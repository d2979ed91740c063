//! The view's operations, applied in the init with raw, async-signal-safe system calls: every
//! string and buffer was prepared by the parent.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;

use super::{Charge, FsMode, View, ViewCall, ATTR_NODEV, ATTR_NOEXEC, ATTR_NOSUID, ATTR_RDONLY};

/// A remount by path (`mount(MS_REMOUNT|MS_BIND)` with `flags`), where the kernel has no
/// `mount_setattr` (before Linux 5.12): each mount of a cloned tree in turn, keeping the flags
/// the kernel may have locked (`nosuid`, `nodev`, `noexec`, `ro`, the atime mode).
#[derive(Debug)]
pub(super) struct Remount {
    pub path: CString,
    pub flags: libc::c_ulong,
}

/// One mount operation, applied in the init. Every string is prepared by the parent.
#[derive(Debug)]
pub(super) enum Op {
    /// `mkdir(path, mode)`; an existing directory is fine.
    Mkdir { path: CString, mode: u32 },
    /// `symlink(target, link)`.
    Symlink { target: CString, link: CString },
    /// Clones `source` (recursively), sets and clears attributes on the clone, attaches it on
    /// `target`. With `expect`, the source must still be that device and inode. With `create`,
    /// `target` is created as an empty file first, by the same `openat2` that opens it.
    Bind {
        source: CString,
        target: CString,
        create: bool,
        set: u64,
        clear: u64,
        expect: Option<(u64, u64)>,
        optional: bool,
        fallback: Vec<Remount>,
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
    /// Sets `set` on `target` and every mount beneath it, and makes them private, in one
    /// `mount_setattr(AT_RECURSIVE)`; without it (before Linux 5.12), each mount of `fallback`
    /// is remounted (an empty path is `target`).
    SetAttrTree {
        target: CString,
        set: u64,
        fallback: Vec<Remount>,
    },
    /// A bind of `target` on itself, read-only, nosuid, nodev, noexec (a `/proc` part).
    ReadOnlySelf { target: CString, charge: Charge },
    /// Hides `target`: an empty read-only tmpfs on a directory, a clone of the view's
    /// `/dev/null` (read-only, nosuid, noexec, which the clone keeps) on anything else.
    Mask { target: CString, dir: bool },
}

impl View {
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
        // An outer runtime can answer the mount with 0 without doing it: then the staging root is
        // still the host's directory, and what follows would fail in ways that look like refusals.
        if !is_tmpfs(&self.staging) {
            return Err((Charge::View, ViewCall::VerifyStaging, Errno::UnknownErrno));
        }
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
        // The view's `/dev/null`, opened once for every mask of a file.
        let mut null: Option<RawFd> = None;
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
            if let Err(failed) = apply_op(op, &mut null) {
                close_null(null);
                return Err(failed);
            }
        }
        close_null(null);
        if self.mode == FsMode::Minimal {
            let fallback = libc::MS_NOSUID | libc::MS_NODEV;
            read_only(c"/newroot", fallback).map_err(view(ViewCall::SetAttr))?;
        }
        chdir(c"/newroot").map_err(view(ViewCall::PivotRoot))?;
        let view_root = stat(c".").map_err(view(ViewCall::PivotRoot))?;
        pivot_root(c".", c".").map_err(view(ViewCall::PivotRoot))?;
        // The staging root, now stacked on the view's, is detached with everything beneath it,
        // the host's tree at `/oldroot` included: one detach, so one wait for the kernel's RCU
        // grace period (each `umount2` that frees mounts waits for one), where detaching
        // `/oldroot` first took two. Every mount is private: nothing propagates either way.
        umount_detach(c".").map_err(view(ViewCall::Detach))?;
        chdir(c"/").map_err(view(ViewCall::PivotRoot))?;
        if stat(c"/").ok() != Some(view_root) {
            return Err((Charge::View, ViewCall::VerifyPivot, Errno::UnknownErrno));
        }
        Ok(())
    }
}

fn close_null(null: Option<RawFd>) {
    if let Some(fd) = null {
        close(fd);
    }
}

/// Applies one operation; `null` is the view's `/dev/null`, opened by the first mask of a file.
fn apply_op(op: &Op, null: &mut Option<RawFd>) -> Result<(), (Charge, ViewCall, Errno)> {
    match op {
        Op::Mkdir { path, mode } => match mkdir(path, *mode) {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(errno) => Err((Charge::View, ViewCall::Create, errno)),
        },
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
            create,
            set,
            clear,
            expect,
            optional,
            fallback,
        } => {
            let source_fd = match open_no_symlinks(source) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if *optional => return Ok(()),
                Err(errno) => return Err((Charge::View, ViewCall::Open, errno)),
            };
            let target_fd = if *create {
                // The empty file the clone is attached on, created and opened in one call.
                match open_no_symlinks_how(target, CREATE_FLAGS, 0o644) {
                    Ok(fd) => Some(fd),
                    Err(errno) => {
                        close(source_fd);
                        return Err((Charge::View, ViewCall::Create, errno));
                    }
                }
            } else {
                None
            };
            let result = bind_from(
                source_fd,
                (target, target_fd),
                (*set, *clear),
                *expect,
                fallback,
            );
            if let Some(fd) = target_fd {
                close(fd);
            }
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
        Op::SetAttrTree {
            target,
            set,
            fallback,
        } => match set_attr_private(target, *set) {
            Err(Errno::ENOSYS) if !fallback.is_empty() => remount_each(target, fallback),
            other => other,
        }
        .map_err(|errno| (Charge::View, ViewCall::SetAttr, errno)),
        Op::ReadOnlySelf { target, charge } => {
            let fd = match open_no_symlinks(target) {
                Ok(fd) => fd,
                // A kernel (or runtime) without this file has nothing to protect there.
                Err(Errno::ENOENT) => return Ok(()),
                Err(errno) => return Err((*charge, ViewCall::Open, errno)),
            };
            // A fresh /proc of the init's own: no flag is locked.
            let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            let fallback = [Remount {
                path: CString::default(),
                flags,
            }];
            let set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC;
            // The descriptor is the clone's source and its target both: the same place.
            let result = bind_from(fd, (target, Some(fd)), (set, 0), None, &fallback)
                .map_err(|(_, call, errno)| (*charge, call, errno));
            close(fd);
            result
        }
        Op::Mask { target, dir } => mask(target, *dir, null),
    }
}

/// Hides `target`: an empty read-only tmpfs on a directory, `/dev/null` on anything else.
fn mask(
    target: &CStr,
    dir: bool,
    null: &mut Option<RawFd>,
) -> Result<(), (Charge, ViewCall, Errno)> {
    let masking = |errno| (Charge::View, ViewCall::Mask, errno);
    // The parent checked the path has no symbolic link; `mount` would follow one.
    let target_fd = match open_no_symlinks(target) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => return Err(masking(errno)),
    };
    if dir {
        close(target_fd);
        return match mount(
            c"tmpfs",
            target,
            c"tmpfs",
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(c"mode=0555,size=4k"),
        ) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(masking(errno)),
        };
    }
    let result = (|| {
        let null = match *null {
            Some(fd) => fd,
            None => {
                let fd = open_no_symlinks(c"/newroot/dev/null").map_err(masking)?;
                *null = Some(fd);
                fd
            }
        };
        // A clone keeps its source's per-mount flags and propagation: the view's `/dev/null`
        // is read-only, nosuid and noexec (not nodev: it must still open) and private, so the
        // clone needs no `mount_setattr` (nor, before Linux 5.12, a remount). The verification
        // reads both facts back: the mask's mount is read-only, and the path is `/dev/null`.
        let tree = open_tree_clone(null).map_err(masking)?;
        let attached = move_mount(tree, target_fd).map_err(masking);
        close(tree);
        attached
    })();
    close(target_fd);
    result
}

/// Clones the mount tree at `source_fd`, sets its attributes (`set`, `clear`), checks it is still
/// `expect`, and attaches it on `target` (resolved without symbolic links). Where the kernel has
/// no `mount_setattr` (`ENOSYS`, before Linux 5.12) the clone is attached first and each of its
/// mounts remounted by path (`fallback`: an empty path is `target` itself), then made private.
fn bind_from(
    source_fd: RawFd,
    (target, target_fd): (&CStr, Option<RawFd>),
    (set, clear): (u64, u64),
    expect: Option<(u64, u64)>,
    fallback: &[Remount],
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
    let tree = open_tree_clone(source_fd).map_err(view(ViewCall::OpenTree))?;
    let result = (|| {
        // Nothing to set: the clone keeps its source's flags (a later `SetAttrTree` sets them).
        let remount = set | clear != 0
            && match set_attr_fd(tree, set, clear) {
                Ok(()) => false,
                // Without a prepared list (the parent saw `mount_setattr`), ENOSYS is a refusal.
                Err(Errno::ENOSYS) if !fallback.is_empty() => true,
                Err(errno) => return Err((Charge::View, ViewCall::SetAttr, errno)),
            };
        let attached = match target_fd {
            Some(fd) => move_mount(tree, fd),
            None => {
                let fd = open_no_symlinks(target).map_err(view(ViewCall::Open))?;
                let attached = move_mount(tree, fd);
                close(fd);
                attached
            }
        };
        attached.map_err(view(ViewCall::MoveMount))?;
        if remount {
            remount_each(target, fallback).map_err(view(ViewCall::SetAttr))?;
        }
        Ok(())
    })();
    close(tree);
    result
}

/// `open_tree(fd, "", OPEN_TREE_CLONE|AT_RECURSIVE)`: a detached clone of the tree at `fd`.
fn open_tree_clone(fd: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: open_tree takes a descriptor, a NUL-terminated (empty) path and flags.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            fd,
            c"".as_ptr(),
            (1 /* OPEN_TREE_CLONE */
                | libc::O_CLOEXEC as u32
                | libc::AT_EMPTY_PATH as u32
                | 0x8000/* AT_RECURSIVE */) as libc::c_uint,
        )
    };
    Errno::result(tree).map(|fd| fd as RawFd)
}

/// `move_mount(tree, "", target, "")`: attaches the detached `tree` on what `target` names.
fn move_mount(tree: RawFd, target: RawFd) -> Result<(), Errno> {
    // SAFETY: move_mount takes two descriptors, two NUL-terminated (empty) paths and flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            (0x4 /* MOVE_MOUNT_F_EMPTY_PATH */ | 0x40/* MOVE_MOUNT_T_EMPTY_PATH */) as libc::c_uint,
        )
    };
    Errno::result(rc).map(drop)
}

/// The fallback without `mount_setattr`: each mount remounted by path (`MS_REMOUNT|MS_BIND`, its
/// flags prepared by the parent; an empty path is `target`), then the tree made private.
fn remount_each(target: &CStr, remounts: &[Remount]) -> Result<(), Errno> {
    for remount in remounts {
        let path = if remount.path.is_empty() {
            target
        } else {
            &remount.path
        };
        mount(
            c"none",
            path,
            c"none",
            libc::MS_REMOUNT | libc::MS_BIND | remount.flags,
            None,
        )?;
    }
    mount(
        c"none",
        target,
        c"none",
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
}

/// Makes the mount at `path` read-only (not recursive): `mount_setattr`, or where the kernel has
/// none a remount keeping `fallback`, its other flags.
fn read_only(path: &CStr, fallback: libc::c_ulong) -> Result<(), Errno> {
    match set_attr(path, ATTR_RDONLY, 0, false) {
        Err(Errno::ENOSYS) => mount(
            c"none",
            path,
            c"none",
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | fallback,
            None,
        ),
        other => other,
    }
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

/// `mount_setattr(path, AT_RECURSIVE)` setting `set` and making every mount private.
fn set_attr_private(path: &CStr, set: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed; `path` is NUL-terminated.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            0x8000 /* AT_RECURSIVE */ as libc::c_uint,
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
    open_no_symlinks_how(path, libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW, 0)
}

/// The flags that create (or open) an empty file to attach a clone on.
const CREATE_FLAGS: libc::c_int =
    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;

/// `openat2(path, flags, mode, RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`.
fn open_no_symlinks_how(path: &CStr, flags: libc::c_int, mode: u32) -> Result<RawFd, Errno> {
    let how = OpenHow {
        flags: flags as u64,
        mode: u64::from(mode),
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

/// `path` is on a tmpfs (`statfs`).
fn is_tmpfs(path: &CStr) -> bool {
    // SAFETY: all-zero bytes are a valid `statfs`.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `fs` is valid for the kernel to fill.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut fs) };
    rc == 0 && fs.f_type == libc::TMPFS_MAGIC
}

fn close(fd: RawFd) {
    // SAFETY: `fd` was opened by the caller and is closed once.
    unsafe { libc::close(fd) };
}
