//! The mount namespace: the init enters a new one, makes every mount private and mounts what the
//! sandbox sees of its own. Async-signal-safe.

use nix::errno::Errno;
use serde::Serialize;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};
use crate::steps::Call;

/// The mount namespace and its `/proc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Inode of the workload's mount namespace (`null` where unknown).
    pub mount_namespace_inode: Option<u64>,
    /// Inode of the supervisor's.
    pub parent_mount_namespace_inode: Option<u64>,
    /// Mount id of the fresh `/proc` (absent from the supervisor's mounts).
    pub proc_mount_id: Option<u64>,
}

/// In the parent: whether the sandbox gets a fresh read-only sysfs over `/sys`, for a workload
/// that may write root-owned files (uid or gid 0, or a kept capability), since `/sys` and the
/// cgroup file systems below it are the host's. Without an identity the workload runs as the
/// caller.
pub(crate) fn prepare(identity: Option<&crate::steps::identity::Identity>, kept: u64) -> bool {
    let privileged = identity.map_or_else(
        || nix::unistd::geteuid().is_root(),
        |identity| {
            identity.uid.is_root()
                || identity.gid.as_raw() == 0
                || identity.groups.iter().any(|group| group.as_raw() == 0)
        },
    );
    privileged || kept != 0
}

/// A private mount namespace whose `/proc` is a fresh instance (a copied mount keeps its file
/// system instance), with its kernel settings read-only and (without a view, which masks them
/// itself) Docker's masked paths masked, and a working directory off the supervisor's `/proc`.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let (inode, parent) = observed.mount_namespaces;
    let mounts = &observed.proc_mounts;
    let fresh_proc = mounts
        .iter()
        .rev()
        .find(|mount| {
            mount.mount_point == "/proc" && !observed.own_proc_devices.contains(&mount.device)
        })
        .map(|mount| mount.id);
    // The last mount at each read-only path is the one the workload sees.
    let writable = READ_ONLY_PROC.into_iter().any(|path| {
        mounts
            .iter()
            .rev()
            .find(|mount| mount.mount_point == path)
            .is_some_and(|mount| !mount.read_only)
    });
    // Without a view, Docker's masked paths are the mount namespace's to hide.
    let unmasked = expected.view.is_none() && !observed.view.proc_unmasked.is_empty();
    let evidence = Mount {
        mount_namespace_inode: inode,
        parent_mount_namespace_inode: parent,
        proc_mount_id: fresh_proc,
    };
    let unverified = ((inode.is_some() && inode == parent)
        || fresh_proc.is_none()
        || writable
        || unmasked
        || observed.cwd_on_host_proc)
        .then(|| {
            let masked = if unmasked {
                format!(", masked paths it still sees: {:?}", observed.view.proc_unmasked)
            } else {
                String::new()
            };
            format!("the mount steps returned success but the workload has no private mount namespace with a fresh /proc ({evidence:?}{masked})")
        });
    Verified {
        evidence: Evidence::Mount(evidence),
        unverified,
    }
}

/// The inode of the calling process's mount namespace. Async-signal-safe.
fn mount_namespace_inode() -> Result<u64, Errno> {
    // SAFETY: all-zero bytes are a valid `stat`.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated literal and `stat` is valid for the kernel to fill.
    let rc = unsafe { libc::stat(c"/proc/self/ns/mnt".as_ptr(), &mut stat) };
    Errno::result(rc).map(|_| stat.st_ino)
}

/// Whether any mount of the calling process's mount namespace is still shared (a `shared:` tag in
/// its `mountinfo`). Async-signal-safe: reads in chunks into a stack buffer.
fn any_mount_shared() -> Result<bool, Errno> {
    const TAG: &[u8] = b" shared:";
    // SAFETY: the path is a NUL-terminated literal; the flags take no pointer.
    let fd = unsafe {
        libc::open(
            c"/proc/self/mountinfo".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    let mut buffer = [0u8; 4096];
    // Bytes kept from the previous chunk, so a tag split between two reads is still found.
    let mut kept = 0;
    let found = loop {
        // SAFETY: `buffer[kept..]` is valid for writes of its length.
        let read =
            unsafe { libc::read(fd, buffer[kept..].as_mut_ptr().cast(), buffer.len() - kept) };
        if read < 0 {
            let errno = Errno::last();
            if errno == Errno::EINTR {
                continue;
            }
            // SAFETY: `fd` was opened above and is closed once.
            unsafe { libc::close(fd) };
            return Err(errno);
        }
        let filled = kept + read as usize;
        if buffer[..filled]
            .windows(TAG.len())
            .any(|window| window == TAG)
        {
            break true;
        }
        if read == 0 {
            break false;
        }
        kept = (TAG.len() - 1).min(filled);
        buffer.copy_within(filled - kept..filled, 0);
    };
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    Ok(found)
}

/// A new mount namespace with every mount private (the filesystem view builds the rest). Each call
/// is checked before the next, so that a call answered with 0 without effect never lets a mount
/// reach the parent's namespace. Async-signal-safe.
pub(crate) fn private() -> Result<(), (Call, Errno)> {
    use nix::mount::{mount, MsFlags};
    // Where the kernel has no namespace link (gVisor), the check below the next mount still holds.
    let before = mount_namespace_inode().ok();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|errno| (Call::UnshareMount, errno))?;
    if before.is_some() && mount_namespace_inode().ok() == before {
        return Err((Call::VerifyMountNamespace, Errno::UnknownErrno));
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|errno| (Call::MountPrivate, errno))?;
    match any_mount_shared() {
        Ok(false) => {}
        Ok(true) => return Err((Call::VerifyMountsPrivate, Errno::UnknownErrno)),
        Err(errno) => return Err((Call::VerifyMountsPrivate, errno)),
    }
    Ok(())
}

/// When a mount of [`MOUNTS`] is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Always.
    Always,
    /// When the sandbox has an IPC namespace of its own (it goes with the PID namespace).
    OwnIpc,
    /// When the plan asks for a fresh sysfs ([`prepare`]).
    FreshSys,
}

/// What a mount of [`MOUNTS`] puts on its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum What {
    /// `mount(fstype, target, fstype, flags, data)`: a fresh instance of a file system.
    Fresh {
        /// The file system type, also the source.
        fstype: &'static str,
        /// The `MS_*` flags.
        flags: libc::c_ulong,
        /// The options, if any.
        data: Option<&'static str>,
    },
    /// The target bound on itself (recursively), then remounted read-only, nosuid, nodev and
    /// noexec.
    ReadOnly,
}

/// One mount of the mount namespace, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MountOp {
    /// Where.
    pub(crate) target: &'static str,
    /// What.
    pub(crate) what: What,
    /// The call a refusal names.
    pub(crate) call: Call,
    /// A target that does not exist is skipped: a kernel (or runtime) without it has nothing to
    /// protect there.
    pub(crate) optional: bool,
    /// When it is made.
    pub(crate) when: When,
}

const NOSUID_NODEV_NOEXEC: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

const fn read_only(target: &'static str) -> MountOp {
    MountOp {
        target,
        what: What::ReadOnly,
        call: Call::MountProcReadOnly,
        optional: true,
        when: When::Always,
    }
}

/// What the mount namespace mounts after every mount was made private, in order: one loop
/// applies it ([`apply`]).
pub(crate) const MOUNTS: [MountOp; 9] = [
    // A fresh /proc for the new PID namespace (a copied mount keeps its file system instance).
    MountOp {
        target: "/proc",
        what: What::Fresh {
            fstype: "proc",
            flags: NOSUID_NODEV_NOEXEC,
            data: None,
        },
        call: Call::MountProc,
        optional: false,
        when: When::Always,
    },
    // Kernel settings are files whose writes check the uid, not a capability: a workload that
    // runs as uid 0 (--allow-root) could write /proc/sys/kernel/core_pattern. Read-only, as
    // Docker does.
    read_only(READ_ONLY_PROC[0]),
    read_only(READ_ONLY_PROC[1]),
    read_only(READ_ONLY_PROC[2]),
    read_only(READ_ONLY_PROC[3]),
    read_only(READ_ONLY_PROC[4]),
    // Shared memory of its own: the host's /dev/shm holds other processes' segments.
    MountOp {
        target: "/dev/shm",
        what: What::Fresh {
            fstype: "tmpfs",
            flags: NOSUID_NODEV_NOEXEC,
            data: Some("mode=1777,size=65536k"),
        },
        call: Call::MountShm,
        optional: true,
        when: When::Always,
    },
    // POSIX message queues of the sandbox's own IPC namespace (the host's /dev/mqueue shows the
    // host's). In the host's IPC namespace there is nothing to hide: a new mount would show the
    // same queues, and the kernel refuses it (EBUSY) where the host already mounted them there,
    // as systemd does.
    MountOp {
        target: "/dev/mqueue",
        what: What::Fresh {
            fstype: "mqueue",
            flags: NOSUID_NODEV_NOEXEC,
            data: None,
        },
        call: Call::MountShm,
        optional: true,
        when: When::OwnIpc,
    },
    // A fresh read-only sysfs for a workload that may write root-owned files ([`prepare`]).
    MountOp {
        target: "/sys",
        what: What::Fresh {
            fstype: "sysfs",
            flags: libc::MS_RDONLY | NOSUID_NODEV_NOEXEC,
            data: None,
        },
        call: Call::MountSys,
        optional: false,
        when: When::FreshSys,
    },
];

impl MountOp {
    /// Makes this mount. Async-signal-safe (nix passes the paths through a stack buffer).
    fn apply(&self) -> Result<(), Errno> {
        use nix::mount::{mount, MsFlags};
        let first = match self.what {
            What::Fresh {
                fstype,
                flags,
                data,
            } => mount(
                Some(fstype),
                self.target,
                Some(fstype),
                MsFlags::from_bits_retain(flags),
                data,
            ),
            What::ReadOnly => mount(
                Some(self.target),
                self.target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            ),
        };
        match first {
            Err(Errno::ENOENT) if self.optional => return Ok(()),
            other => other?,
        }
        if self.what == What::ReadOnly {
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::from_bits_retain(NOSUID_NODEV_NOEXEC);
            mount(None::<&str>, self.target, None::<&str>, flags, None::<&str>)?;
        }
        Ok(())
    }
}

/// A new mount namespace, every mount private, then every mount of [`MOUNTS`] the sandbox gets.
/// Each call is checked before the next, so that a call answered with 0 without effect never
/// lets a mount reach the parent's namespace. `own_ipc`: the sandbox has an IPC namespace of its
/// own, whose message queues get a `/dev/mqueue` of their own. Async-signal-safe.
pub(crate) fn apply(fresh_sys: bool, own_ipc: bool) -> Result<(), (Call, Errno)> {
    private()?;
    for op in &MOUNTS {
        let wanted = match op.when {
            When::Always => true,
            When::OwnIpc => own_ipc,
            When::FreshSys => fresh_sys,
        };
        if wanted {
            op.apply().map_err(|errno| (op.call, errno))?;
        }
    }
    // Docker's masked paths, after the fresh /proc (and /sys) they lie on.
    for path in crate::steps::view::MASKED {
        mask(path).map_err(|errno| (Call::MountMask, errno))?;
    }
    Ok(())
}

/// The parts of the fresh `/proc` the workload may read but never write: the OCI runtime spec's
/// (and Docker's) `readonlyPaths`, the same with or without the filesystem view.
pub(crate) const READ_ONLY_PROC: [&str; 5] = crate::steps::view::READ_ONLY_PROC;

/// Hides `path` as Docker's `maskedPaths` do: an empty read-only tmpfs on a directory, a
/// read-only bind of `/dev/null` on anything else; a path the kernel does not have is skipped.
/// Async-signal-safe (`lstat` and `mount` take the path through a stack buffer).
fn mask(path: &'static str) -> Result<(), Errno> {
    use nix::mount::{mount, MsFlags};
    let kind = match nix::sys::stat::lstat(path) {
        Ok(stat) => stat.st_mode & libc::S_IFMT,
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => return Err(errno),
    };
    if kind == libc::S_IFLNK {
        return Ok(());
    }
    if kind == libc::S_IFDIR {
        return mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::from_bits_retain(NOSUID_NODEV_NOEXEC),
            Some("mode=0555,size=4k"),
        );
    }
    mount(
        Some("/dev/null"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NOEXEC;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fresh `/proc` comes before its read-only parts (bound before it, they would be the
    /// host's), and every part is made read-only.
    #[test]
    fn the_fresh_proc_comes_first_and_every_part_of_it_is_read_only() {
        assert_eq!(MOUNTS[0].target, "/proc");
        assert_eq!(MOUNTS[0].call, Call::MountProc);
        let parts: Vec<&str> = MOUNTS
            .iter()
            .filter(|op| op.what == What::ReadOnly)
            .map(|op| op.target)
            .collect();
        assert_eq!(parts, READ_ONLY_PROC);
        assert!(MOUNTS
            .iter()
            .any(|op| op.target == "/sys" && op.when == When::FreshSys));
    }
}
