//! What took effect in the paused sandbox, read once from `/proc`: every step's verification reads
//! this and nothing else, so a verification is a pure function of it that unit tests can feed
//! without root.

use nix::unistd::Pid;

use crate::procfs::{self, Capabilities, Mount, ProcError, Process, Status};
use crate::record::Evidence;
use crate::steps::identity::Identity;
use crate::steps::seccomp::WorkloadFilter;
use crate::steps::userns::Route;

/// One read of the paused sandbox and of the supervisor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// The workload's pid in the supervisor's PID namespace.
    pub workload: i32,
    /// The workload's pid as it sees itself (`getpid` in its own PID namespace).
    pub pid_inside: i32,
    /// The workload's `/proc/PID/status`.
    pub status: Status,
    /// The supervisor's own status, read before the sandbox was spawned.
    pub own: Status,
    /// The init's capabilities once it has hardened itself.
    pub init_caps: Capabilities,
    /// The init's descriptors above 2 once it has hardened itself (`N: target`, or `N` where
    /// the target may not be read): its status pipe alone; `None` where the supervisor may not
    /// list them (an unprivileged caller's non-dumpable init on the direct route).
    pub init_fds: Option<Vec<String>>,
    /// The workload's and the supervisor's PID namespace inodes (`None` where unknown).
    pub pid_namespaces: (Option<u64>, Option<u64>),
    /// The workload's and the supervisor's mount namespace inodes.
    pub mount_namespaces: (Option<u64>, Option<u64>),
    /// The file system instance (`major:minor`) of the supervisor's `/proc` (`statx`), which the
    /// workload's fresh `/proc` is not.
    pub own_proc_devices: Vec<String>,
    /// The workload's `proc` mounts, in order.
    pub proc_mounts: Vec<Mount>,
    /// Whether the workload's working directory is on the supervisor's `/proc`.
    pub cwd_on_host_proc: bool,
    /// The workload's session id and controlling terminal (`tty_nr`).
    pub session: (i32, i32),
    /// The route the namespaces took.
    pub route: Route,
    /// Whether the bounding set could be cleared: the caller holds `CAP_SETPCAP`, or the
    /// namespaces took the user-namespace route.
    pub setpcap: bool,
    /// The workload's mounts, its root and the host's sockets seen through it (for the view).
    pub view: crate::steps::view::ViewObserved,
    /// The Landlock status code the workload's `restrict_self` returned (0: none).
    pub landlock_status: u8,
    /// The caller's supplementary groups, read before any namespace: on the user-namespace route
    /// the workload holds them all, though `/proc` inside reads the unmapped ones as the
    /// overflow gid.
    pub caller_groups: Vec<u32>,
    /// The kernel's overflow gid (`/proc/sys/kernel/overflowgid`), what an unmapped group reads
    /// as inside a user namespace.
    pub overflow_gid: u32,
    /// The number of the pty the init opened for the workload, as it said (`None`: none).
    pub pty: Option<u32>,
    /// The workload's standard descriptors (`stat` of `/proc/PID/fd/N`).
    pub std_fds: [Option<crate::steps::session::FdIdentity>; 3],
    /// The path of the workload's first standard descriptor that is a pty slave, as it sees it.
    pub pty_path: Option<String>,
    /// The supervisor's own standard descriptors that are terminals: device and inode.
    pub own_terminals: Vec<(u64, u64)>,
    /// The device of the host's devpts (`/dev/pts`), when there is one.
    pub host_devpts: Option<u64>,
}

/// What the plan promised, for the verifications to compare with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Expected<'a> {
    /// The identity the workload drops to, when its ids are verified.
    pub identity: Option<&'a Identity>,
    /// Where the planned identity comes from (`None`: the caller's own).
    pub origin: Option<crate::steps::identity::Origin>,
    /// The capabilities the workload keeps (`--cap-add`).
    pub kept_capabilities: u64,
    /// The workload filter, when it was planned.
    pub filter: Option<&'a WorkloadFilter>,
    /// The filesystem view, when it was performed.
    pub view: Option<&'a crate::steps::view::View>,
    /// The Landlock ruleset, when it was performed.
    pub landlock: Option<&'a crate::steps::landlock::Prepared>,
    /// The standard descriptors that get a pty of the sandbox's own, when they do.
    pub terminal: Option<&'a crate::sandbox::pty::Planned>,
}

/// A step's verification: its evidence, and what shows it did not take effect, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// What was seen.
    pub evidence: Evidence,
    /// Why the step, had it been performed, did not take effect (`None`: it did).
    pub unverified: Option<String>,
}

/// A step's verification, as its catalogue row names it.
pub(crate) type Verify = fn(&Observed, &Expected<'_>) -> Verified;

/// The capability sets of `caps` that hold more than `allowed`, by name. The bounding set counts
/// only when `setpcap` (it can only be cleared with `CAP_SETPCAP`).
pub(crate) fn held_beyond(caps: &Capabilities, allowed: u64, setpcap: bool) -> Vec<&'static str> {
    caps.sets()
        .into_iter()
        .filter(|(name, mask)| {
            mask.is_some_and(|mask| mask & !allowed != 0) && (*name != "CapBnd" || setpcap)
        })
        .map(|(name, _)| name)
        .collect()
}

/// The kernel's default overflow gid.
pub(crate) const OVERFLOW_GID: u32 = 65534;

impl Observed {
    /// The workload's supplementary groups as the kernel grants them, and, on the user-namespace
    /// route, as `/proc` reads them inside the namespace. There the workload cannot change its
    /// groups (`setgroups` is denied) and the kernel keeps those the namespace does not map: they
    /// are the caller's, each read inside as itself or as the overflow gid. When what is read
    /// does not fit the caller's groups, what is read is all that is known.
    pub(crate) fn groups_in_effect(&self) -> (Vec<u32>, Option<Vec<u32>>) {
        let seen = &self.status.groups;
        if self.route != Route::UserNamespace {
            return (seen.clone(), None);
        }
        let mut caller = self.caller_groups.clone();
        caller.sort_unstable();
        caller.dedup();
        let fits = seen.len() == caller.len()
            && seen
                .iter()
                .all(|group| *group == self.overflow_gid || caller.contains(group));
        let in_effect = if fits { caller } else { seen.clone() };
        (in_effect, Some(seen.clone()))
    }
    /// Reads the paused sandbox: the workload `workload` (which sees itself as `pid_inside`), its
    /// init `init`, and the supervisor, whose status `own` was read before the spawn.
    pub(crate) fn read(
        workload: Pid,
        pid_inside: Pid,
        init: Pid,
        own: Status,
        route: Route,
    ) -> Result<Self, ProcError> {
        let this = Process::This;
        let child = Process::Pid(workload);
        let setpcap = own
            .caps
            .effective
            .is_some_and(|eff| eff & (1 << crate::steps::capabilities::CAP_SETPCAP) != 0)
            || route == Route::UserNamespace;
        use std::os::unix::fs::MetadataExt;
        // The supervisor's /proc, by its device: the file system instance a fresh /proc is not.
        let host_proc = std::fs::metadata("/proc").map(|meta| meta.dev()).ok();
        let cwd = std::fs::metadata(format!("/proc/{workload}/cwd")).map(|meta| meta.dev());
        let cwd_on_host_proc = matches!((cwd, host_proc), (Ok(cwd), Some(proc)) if cwd == proc);
        let mount_namespaces = (
            procfs::namespace_inode(child, "mnt").ok(),
            procfs::namespace_inode(this, "mnt").ok(),
        );
        // The workload's mountinfo is read once: the mount step and the view parse the same text.
        // The supervisor's is not read: its /proc's device and the workload's root mount
        // (`statx`) prove what its mount ids and proc devices did.
        let child_mounts = procfs::mountinfo(child)?;
        let std_fds = [0, 1, 2].map(|fd| fd_identity(&format!("/proc/{workload}/fd/{fd}")));
        let status = Status::read(child)?;
        let session = procfs::session(child)?;
        let view = crate::steps::view::ViewObserved::parse(
            workload.as_raw(),
            &child_mounts,
            mount_namespaces,
        );
        // Only the user-namespace route reads unmapped groups as the overflow gid.
        let overflow_gid = match route {
            Route::UserNamespace => {
                procfs::read_file(std::path::Path::new("/proc/sys/kernel/overflowgid"))
                    .ok()
                    .and_then(|text| text.trim().parse().ok())
                    .unwrap_or(OVERFLOW_GID)
            }
            Route::Direct => OVERFLOW_GID,
        };
        let mut observed = Observed {
            workload: workload.as_raw(),
            pid_inside: pid_inside.as_raw(),
            status,
            own,
            init_caps: Capabilities::default(),
            init_fds: None,
            // gVisor has no NSpid line and gives namespace links a new inode per read.
            pid_namespaces: (
                procfs::namespace_inode(child, "pid").ok(),
                procfs::namespace_inode(this, "pid").ok(),
            ),
            mount_namespaces,
            own_proc_devices: host_proc
                .map(|dev| format!("{}:{}", libc::major(dev), libc::minor(dev)))
                .into_iter()
                .collect(),
            proc_mounts: procfs::mounts_of_type_in(&child_mounts, "proc"),
            cwd_on_host_proc,
            session,
            route,
            setpcap,
            view,
            landlock_status: 0,
            caller_groups: Vec::new(),
            overflow_gid,
            pty: None,
            std_fds,
            pty_path: (0..3)
                .find(|&fd| {
                    std_fds[fd].is_some_and(|seen| (136..144).contains(&libc::major(seen.rdev)))
                })
                .and_then(|fd| std::fs::read_link(format!("/proc/{workload}/fd/{fd}")).ok())
                .map(|path| path.display().to_string()),
            own_terminals: (0..3)
                .filter(|&fd| nix::unistd::isatty(fd).unwrap_or(false))
                .filter_map(|fd| nix::sys::stat::fstat(fd).ok())
                .map(|stat| (stat.st_dev, stat.st_ino))
                .collect(),
            host_devpts: std::fs::metadata("/dev/pts").ok().map(|meta| meta.dev()),
        };
        (observed.init_caps, observed.init_fds) = read_init(init, setpcap)?;
        Ok(observed)
    }
}

/// The init's capabilities and descriptors once it has hardened itself. It hardens itself right
/// after the fork, concurrently with the workload's own steps: read last, it has had the time of
/// every read of the workload; else it is given a moment, until its capabilities are dropped and
/// its descriptors closed (an unprivileged caller's init holds no capability to drop: its
/// descriptors say when it is done).
fn read_init(init: Pid, setpcap: bool) -> Result<(Capabilities, Option<Vec<String>>), ProcError> {
    let allowed = 1u64 << crate::sandbox::INIT_CAPABILITY;
    let mut caps = Status::read(Process::Pid(init))?.caps;
    let mut fds = descriptors_above_2(init);
    for _ in 0..200 {
        let closed = fds.as_ref().map_or(true, |fds| fds.len() <= 1);
        if closed && held_beyond(&caps, allowed, setpcap).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(250));
        caps = Status::read(Process::Pid(init))?.caps;
        fds = descriptors_above_2(init);
    }
    Ok((caps, fds))
}

/// The descriptors of `pid` above 2, in order, each with what it names (`readlink` of
/// `/proc/PID/fd/N`) where the supervisor may read it (that takes ptrace access, which a
/// supervisor without `CAP_SYS_PTRACE` lacks for the non-dumpable init; listing them does not);
/// `None` when the directory cannot be listed.
fn descriptors_above_2(pid: Pid) -> Option<Vec<String>> {
    let dir = format!("/proc/{pid}/fd");
    let mut fds: Vec<u32> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    fds.sort_unstable();
    Some(
        fds.into_iter()
            .map(|fd| {
                std::fs::read_link(format!("{dir}/{fd}")).map_or_else(
                    |_| fd.to_string(),
                    |target| format!("{fd}: {}", target.display()),
                )
            })
            .collect(),
    )
}

/// What `stat` of `path` (a `/proc/PID/fd/N` link, followed) shows.
fn fd_identity(path: &str) -> Option<crate::steps::session::FdIdentity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|meta| crate::steps::session::FdIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            rdev: meta.rdev(),
        })
}
