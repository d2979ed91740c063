//! The sandbox's groups: made below the supervisor's own, limited, read back, signalled, and
//! removed.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use serde::Serialize;

use super::files::{errno_of, keyed, read_number, read_trimmed, write_file};
use super::{assign, group_name, needed, Hierarchy, Limits, Version};
use crate::steps::{Call, Refusal, Step};

/// One group the sandbox has.
#[derive(Debug)]
pub struct Group {
    /// v1 or v2.
    pub version: Version,
    /// The controllers it limits.
    pub controllers: Vec<&'static str>,
    /// Its directory.
    pub path: PathBuf,
    /// Its `cgroup.procs` (v2) or `tasks` (v1), open for writing: the init joins through it.
    procs: OwnedFd,
    /// The cgroup path the workload's `/proc/PID/cgroup` shows for this hierarchy.
    pub cgroup_path: String,
    /// v2: its directory (`O_PATH`), for `clone3(CLONE_INTO_CGROUP)`: the init born inside.
    dir: Option<OwnedFd>,
    /// v1: its hierarchy has `cpuacct` (a `cpuacct.usage`).
    cpuacct: bool,
}

/// The sandbox's groups.
#[derive(Debug, Default)]
pub struct SandboxGroup {
    /// The groups' name, `sandbox-supervisor-<pid>-<start time>` ([`group_name`]): the report's.
    pub name: String,
    /// One per hierarchy used.
    pub groups: Vec<Group>,
    /// A leaf the supervisor moved itself into (v2's no-internal-process rule), removed once the
    /// supervisor has left it (or found stale at a later start).
    pub supervisor_leaf: Option<PathBuf>,
    /// The limits written and read back.
    pub applied: Applied,
    /// Controllers the default limits need that no hierarchy offers (the group is made without
    /// them, for accounting and `cgroup.kill`; the supervisor's own group's limits apply).
    pub unavailable: Vec<&'static str>,
    /// Times the supervisor killed the sandbox because its v1 memory group was out of memory.
    supervisor_oom_kills: std::cell::Cell<u64>,
}

/// The limits in force and how, for the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// `pids.max` as read back.
    pub pids_max: Option<u64>,
    /// The memory limit as read back (bytes).
    pub memory_max: Option<u64>,
    /// Swap: `0` when the group may not swap (`memory.swap.max` or `memory.memsw`), else null.
    pub swap_max: Option<u64>,
    /// `memory.oom.group` (v2) : the whole group is killed together on OOM; on v1 the supervisor
    /// does it.
    pub oom_group: Option<bool>,
    /// The CPU quota as `QUOTA/PERIOD` microseconds.
    pub cpu_max: Option<String>,
}

/// Evidence of the cgroup step in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The group's name.
    pub name: String,
    /// Each group: version, controllers, path.
    pub groups: Vec<GroupRecord>,
    /// The limits, read back.
    pub limits: Applied,
    /// Whether the workload has a cgroup namespace of its own (its group is its root).
    pub cgroup_namespace: Option<bool>,
    /// The limits that bound the sandbox when it has no group of its own, or no controller for a
    /// default limit: the supervisor's own group's (the container's), read from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherited: Option<Applied>,
    /// Controllers of the default limits no hierarchy offers (the group has no such limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<&'static str>,
    /// The sandbox's process bound when no group's `pids.max` gives one and the sandbox takes the
    /// user-namespace route: the workload's `RLIMIT_NPROC`, which the kernel counts per user
    /// namespace (the sandbox's own, the supervisor and the init included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rlimit_nproc: Option<u64>,
}

/// One group, for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRecord {
    /// `v1` or `v2`.
    pub version: Version,
    /// The controllers it limits (empty: a v2 group for accounting and `cgroup.kill`).
    pub controllers: Vec<&'static str>,
    /// Its directory.
    pub path: String,
}

/// Why the group could not be made, as a refusal for the handler, or an error of the supervisor.
#[derive(Debug)]
pub enum CreateError {
    /// The kernel refused a call: the handler decides (explicit limits) or a WARN (defaults).
    Refused(Refusal),
    /// A limit was written but reads back differently.
    Unverified(String),
}

fn refused(call: Call, errno: Errno) -> CreateError {
    CreateError::Refused(Refusal {
        step: Step::Cgroup,
        call,
        errno,
    })
}

/// A limit that does not read back as `wanted` did not take effect; one that cannot be read for
/// want of descriptors or memory says nothing of the kind (a refusal the driver ends with 125).
fn read_back_error(file: &Path, wanted: &str) -> CreateError {
    match crate::procfs::read_file(file) {
        Err(err) if crate::error::out_of_resources(errno_of(&err)) => {
            refused(Call::CgroupLimit, errno_of(&err))
        }
        read => CreateError::Unverified(format!(
            "{} reads {:?} after {wanted} was written",
            file.display(),
            read.ok().map(|text| text.trim().to_owned())
        )),
    }
}

/// The limits of the supervisor's own groups (a container's), for a run without a group of its
/// own: what bounds the sandbox then.
pub fn inherited(hierarchies: &[Hierarchy]) -> Applied {
    let mut applied = Applied::default();
    let (served, _) = assign(hierarchies, &["pids", "memory", "cpu"]);
    for (controller, hierarchy) in served {
        let own = &hierarchy.own;
        match (controller, hierarchy.version) {
            ("pids", _) => applied.pids_max = read_number(&own.join("pids.max")),
            ("memory", Version::V1) => {
                applied.memory_max = read_number(&own.join("memory.limit_in_bytes"))
            }
            ("memory", Version::V2) => applied.memory_max = read_number(&own.join("memory.max")),
            ("cpu", Version::V1) => {
                let quota = read_trimmed(&own.join("cpu.cfs_quota_us"));
                let period = read_trimmed(&own.join("cpu.cfs_period_us"));
                if let (Some(quota), Some(period)) = (quota, period) {
                    if quota != "-1" {
                        applied.cpu_max = Some(format!("{quota}/{period}"));
                    }
                }
            }
            ("cpu", Version::V2) => {
                applied.cpu_max = read_trimmed(&own.join("cpu.max"))
                    .filter(|v| !v.starts_with("max"))
                    .map(|v| v.replace(' ', "/"))
            }
            _ => {}
        }
    }
    // "max" reads as u64::MAX: no limit.
    applied.pids_max = applied.pids_max.filter(|v| *v != u64::MAX);
    applied.memory_max = applied.memory_max.filter(|v| *v < (1 << 62));
    applied
}

impl SandboxGroup {
    /// Creates the sandbox's groups below the supervisor's own, writes `limits`, reads them back.
    /// On error, whatever was made is removed again.
    pub fn create(hierarchies: &[Hierarchy], limits: &Limits) -> Result<Self, CreateError> {
        let needed = needed(limits);
        let (served, missing) = assign(hierarchies, &needed);
        let v2 = hierarchies.iter().any(|h| h.version == Version::V2);
        // A limit asked for must be set; the default may go without a controller no hierarchy
        // offers, as long as a group can still be made (v2: accounting and cgroup.kill).
        if let Some(controller) = missing.first() {
            if limits.explicit() || (served.is_empty() && !v2) {
                tracing::debug!(controller, "no cgroup hierarchy offers this controller");
                return Err(refused(Call::CgroupController, Errno::EOPNOTSUPP));
            }
        }
        let name = group_name();
        let mut made = SandboxGroup::default();
        made.unavailable = missing;
        made.name = name.clone();
        let result = made.build(hierarchies, &served, &name, limits);
        match result {
            Ok(()) => Ok(made),
            Err(err) => {
                made.remove();
                Err(err)
            }
        }
    }

    fn build(
        &mut self,
        hierarchies: &[Hierarchy],
        served: &[(&'static str, &Hierarchy)],
        name: &str,
        limits: &Limits,
    ) -> Result<(), CreateError> {
        // One group per hierarchy used: those serving a controller, and the v2 hierarchy anyway.
        let mut used: Vec<(&Hierarchy, Vec<&'static str>)> = Vec::new();
        for (controller, hierarchy) in served {
            match used.iter_mut().find(|(h, _)| h.own == hierarchy.own) {
                Some((_, controllers)) => controllers.push(controller),
                None => used.push((hierarchy, vec![controller])),
            }
        }
        if let Some(v2) = hierarchies.iter().find(|h| h.version == Version::V2) {
            if !used.iter().any(|(h, _)| h.own == v2.own) {
                used.push((v2, Vec::new()));
            }
        }
        // Read once, before the supervisor may move into a leaf: its group is the parent.
        let own_groups =
            crate::procfs::read_file(Path::new("/proc/self/cgroup")).unwrap_or_default();
        for (hierarchy, controllers) in used {
            if hierarchy.version == Version::V2 && !controllers.is_empty() {
                self.enable_controllers(hierarchy, &controllers, name)?;
            }
            let path = hierarchy.own.join(name);
            fs::create_dir(&path).map_err(|err| refused(Call::CgroupCreate, errno_of(&err)))?;
            // v1: the init joins through `tasks`, moving only itself (a single thread, the
            // caller): the kernel then skips the global thread-group lock that a write to
            // `cgroup.procs` takes for writing (an RCU grace period, milliseconds under load).
            // The init is single-threaded, so its whole process is in the group either way.
            let join_file = match hierarchy.version {
                Version::V1 => "tasks",
                Version::V2 => "cgroup.procs",
            };
            let procs_path =
                CString::new(path.join(join_file).into_os_string().into_encoded_bytes())
                    .map_err(|_| refused(Call::CgroupCreate, Errno::EINVAL))?;
            // Opened before the limits are written so that a failure below still removes it.
            // SAFETY: `procs_path` is a NUL-terminated path; the flags take no pointer.
            let fd = unsafe { libc::open(procs_path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            let procs = match Errno::result(fd) {
                // SAFETY: open returned a new descriptor that nothing else owns.
                Ok(fd) => unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) },
                // mkdir said success, but there is no group: an outer filter answered it with 0.
                Err(Errno::ENOENT) if !path.exists() => {
                    return Err(CreateError::Unverified(format!(
                        "mkdir({}) returned success but there is no such group",
                        path.display()
                    )))
                }
                Err(errno) => {
                    let _ = fs::remove_dir(&path);
                    return Err(refused(Call::CgroupCreate, errno));
                }
            };
            let dir = match hierarchy.version {
                Version::V2 => open_path(&path),
                Version::V1 => None,
            };
            let own_cgroup = own_cgroup_path(hierarchy, &own_groups);
            self.groups.push(Group {
                version: hierarchy.version,
                controllers: controllers.clone(),
                path: path.clone(),
                procs,
                cgroup_path: format!("{}/{name}", own_cgroup.trim_end_matches('/')),
                dir,
                cpuacct: hierarchy.version == Version::V1
                    && hierarchy.controllers.iter().any(|c| c == "cpuacct"),
            });
            for controller in controllers {
                self.limit(hierarchy.version, controller, &path, limits)?;
            }
        }
        Ok(())
    }

    /// v2: enables `controllers` for the children of the supervisor's group, moving the
    /// supervisor into a leaf of its own when its group may not have processes and children with
    /// controllers at once.
    fn enable_controllers(
        &mut self,
        hierarchy: &Hierarchy,
        controllers: &[&'static str],
        name: &str,
    ) -> Result<(), CreateError> {
        let control = hierarchy.own.join("cgroup.subtree_control");
        let enabled = read_trimmed(&control).unwrap_or_default();
        let wanted: Vec<&str> = controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
            .copied()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let line = wanted
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        match write_file(&control, &line) {
            Ok(()) => return Ok(()),
            Err(Errno::EBUSY) if self.supervisor_leaf.is_none() => {}
            Err(errno) => return Err(refused(Call::CgroupLimit, errno)),
        }
        // The no-internal-process rule: the supervisor leaves its group for a leaf of its own.
        let leaf = hierarchy.own.join(format!("{name}.supervisor"));
        fs::create_dir(&leaf).map_err(|err| refused(Call::CgroupCreate, errno_of(&err)))?;
        self.supervisor_leaf = Some(leaf.clone());
        write_file(&leaf.join("cgroup.procs"), "0").map_err(|e| refused(Call::CgroupJoin, e))?;
        tracing::info!(leaf = %leaf.display(), "the supervisor moved into a leaf group of its own, so that its group may enable controllers for the sandbox's (cgroup v2's no-internal-process rule)");
        write_file(&control, &line).map_err(|errno| refused(Call::CgroupLimit, errno))
    }

    /// Writes one controller's limits and reads them back.
    fn limit(
        &mut self,
        version: Version,
        controller: &str,
        path: &Path,
        limits: &Limits,
    ) -> Result<(), CreateError> {
        let set = |file: &str, value: &str| {
            write_file(&path.join(file), value).map_err(|errno| refused(Call::CgroupLimit, errno))
        };
        let unverified = |file: &str, wanted: &str| read_back_error(&path.join(file), wanted);
        match controller {
            "pids" => {
                let pids = limits.pids();
                set("pids.max", &pids.to_string())?;
                if read_number(&path.join("pids.max")) != Some(pids) {
                    return Err(unverified("pids.max", &pids.to_string()));
                }
                self.applied.pids_max = Some(pids);
            }
            "memory" => {
                let bytes = limits
                    .memory_max
                    .expect("memory is needed only with a limit");
                let page = 4096;
                let (limit_file, swap_file) = match version {
                    Version::V1 => ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
                    Version::V2 => ("memory.max", "memory.swap.max"),
                };
                set(limit_file, &bytes.to_string())?;
                let read = read_number(&path.join(limit_file));
                if read != Some(bytes / page * page) && read != Some(bytes) {
                    return Err(unverified(limit_file, &bytes.to_string()));
                }
                self.applied.memory_max = read;
                // No swap around the limit: memsw (v1, memory + swap) equal to the limit, or
                // swap.max 0 (v2). Without swap accounting, swappiness 0 (v1).
                let swap_value = match version {
                    Version::V1 => bytes.to_string(),
                    Version::V2 => "0".to_owned(),
                };
                if path.join(swap_file).exists() {
                    set(swap_file, &swap_value)?;
                    self.applied.swap_max = Some(0);
                } else if version == Version::V1 && set("memory.swappiness", "0").is_ok() {
                    self.applied.swap_max = Some(0);
                }
                match version {
                    Version::V2 => {
                        set("memory.oom.group", "1")?;
                        self.applied.oom_group = Some(true);
                    }
                    Version::V1 => {
                        // v1 has no group kill: the kernel's OOM killer would kill one process
                        // and let the others go on. It is disabled for the group instead: a
                        // process at the limit waits (`under_oom 1`), and the supervisor kills
                        // the whole sandbox when it sees that.
                        set("memory.oom_control", "1")?;
                        if keyed(&path.join("memory.oom_control"), "oom_kill_disable") != Some(1) {
                            return Err(unverified("memory.oom_control", "1"));
                        }
                        self.applied.oom_group = Some(true);
                    }
                }
            }
            "cpu" => {
                let (quota, period) = limits
                    .cpu_max_us()
                    .expect("cpu is needed only with a limit");
                match version {
                    Version::V1 => {
                        set("cpu.cfs_period_us", &period.to_string())?;
                        set("cpu.cfs_quota_us", &quota.to_string())?;
                        if read_number(&path.join("cpu.cfs_period_us")) != Some(period) {
                            return Err(unverified("cpu.cfs_period_us", &period.to_string()));
                        }
                        if read_number(&path.join("cpu.cfs_quota_us")) != Some(quota) {
                            return Err(unverified("cpu.cfs_quota_us", &quota.to_string()));
                        }
                    }
                    Version::V2 => {
                        let value = format!("{quota} {period}");
                        set("cpu.max", &value)?;
                        if read_trimmed(&path.join("cpu.max")).as_deref() != Some(value.as_str()) {
                            return Err(unverified("cpu.max", &value));
                        }
                    }
                }
                self.applied.cpu_max = Some(format!("{quota}/{period}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// The descriptors of every group's join file (`cgroup.procs`, v1's `tasks`), for the init to
    /// join through.
    pub fn join_fds(&self) -> Vec<i32> {
        self.groups.iter().map(|g| g.procs.as_raw_fd()).collect()
    }

    /// The v2 group's directory and its join descriptor: the init is cloned into that group
    /// (`clone3(CLONE_INTO_CGROUP)`, the kernel's thread-group lock taken only for reading, as
    /// for any fork) and then skips that join; `None` without a v2 group.
    pub fn clone_into(&self) -> Option<(i32, i32)> {
        self.groups.iter().find_map(|g| {
            let dir = g.dir.as_ref()?;
            Some((dir.as_raw_fd(), g.procs.as_raw_fd()))
        })
    }

    /// Checks from `/proc/PID/cgroup` that `pid` is in every group.
    pub fn contains(&self, pid: nix::unistd::Pid) -> Result<(), String> {
        let text = crate::procfs::read_file(std::path::Path::new(&format!("/proc/{pid}/cgroup")))
            .map_err(|err| format!("failed to read /proc/{pid}/cgroup: {err}"))?;
        for group in &self.groups {
            if !text
                .lines()
                .any(|line| line.splitn(3, ':').nth(2) == Some(group.cgroup_path.as_str()))
            {
                return Err(format!(
                    "process {pid} is not in {} (its /proc/{pid}/cgroup: {})",
                    group.cgroup_path,
                    text.trim().replace('\n', "; ")
                ));
            }
        }
        Ok(())
    }

    /// The record of the groups.
    pub fn records(&self) -> Vec<GroupRecord> {
        self.groups
            .iter()
            .map(|g| GroupRecord {
                version: g.version,
                controllers: g.controllers.clone(),
                path: g.path.display().to_string(),
            })
            .collect()
    }

    fn group_with(&self, controller: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.controllers.contains(&controller))
    }

    /// Whether a v1 memory group is out of memory (`under_oom 1`: a process waits at the limit,
    /// the kernel's OOM killer being disabled for the group): the supervisor then kills the whole
    /// sandbox ([`record_oom_kill`](Self::record_oom_kill)).
    pub fn under_oom(&self) -> bool {
        self.group_with("memory")
            .filter(|group| group.version == Version::V1)
            .and_then(|group| keyed(&group.path.join("memory.oom_control"), "under_oom"))
            .is_some_and(|under| under > 0)
    }

    /// Notes that the supervisor killed the sandbox on an OOM (v1), for `usage.oom_kills`.
    pub fn record_oom_kill(&self) {
        self.supervisor_oom_kills
            .set(self.supervisor_oom_kills.get() + 1);
    }

    /// The OOM kills counted so far (v1: the kernel's `oom_kill` in `memory.oom_control` plus the
    /// supervisor's own group kills; v2: `memory.events`' `oom_kill`), when the group limits
    /// memory.
    pub fn oom_kills(&self) -> Option<u64> {
        let group = self.group_with("memory")?;
        if group.version == Version::V1 {
            let kernel = keyed(&group.path.join("memory.oom_control"), "oom_kill").unwrap_or(0);
            return Some(kernel + self.supervisor_oom_kills.get());
        }
        let file = match group.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        keyed(&group.path.join(file), "oom_kill")
    }

    /// What the sandbox used, read before the groups are removed.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        if let Some(group) = self.group_with("pids") {
            usage.pids_max_hits = keyed(&group.path.join("pids.events"), "max");
            usage.pids_peak = read_number(&group.path.join("pids.peak"));
        }
        if let Some(group) = self.group_with("memory") {
            match group.version {
                Version::V1 => {
                    usage.memory_peak_bytes =
                        read_number(&group.path.join("memory.max_usage_in_bytes"));
                    usage.memory_max_hits = read_number(&group.path.join("memory.failcnt"));
                }
                Version::V2 => {
                    usage.memory_peak_bytes = read_number(&group.path.join("memory.peak"));
                    usage.memory_max_hits = keyed(&group.path.join("memory.events"), "max");
                }
            }
            usage.oom_kills = self.oom_kills();
        }
        // CPU time: v2's cpu.stat exists in every group; v1's cpuacct.usage only with cpuacct.
        for group in &self.groups {
            if usage.cpu_usage_usec.is_some() {
                break;
            }
            usage.cpu_usage_usec = match group.version {
                Version::V2 => keyed(&group.path.join("cpu.stat"), "usage_usec"),
                Version::V1 if group.cpuacct => {
                    read_number(&group.path.join("cpuacct.usage")).map(|ns| ns / 1000)
                }
                Version::V1 => None,
            };
        }
        usage
    }

    /// Kills every process left in the groups (`cgroup.kill` on v2, else `SIGKILL` to each pid
    /// listed, a few rounds), then removes the groups, retrying while they are busy (the kernel
    /// frees a group a moment after its last process is reaped). Returns the groups that could not
    /// be removed.
    pub fn remove(&mut self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for group in self.groups.drain(..) {
            let path = group.path;
            drop(group.procs);
            drop(group.dir);
            if !remove_dir_retrying(&path) {
                left.push(path);
            }
        }
        if let Some(leaf) = self.supervisor_leaf.take() {
            // The supervisor leaves its leaf for its original group when it may (v2 refuses while
            // that group has controllers enabled for its children): else the leaf is removed as
            // stale by a later start, once this supervisor is gone.
            if let Some(parent) = leaf.parent() {
                if write_file(&parent.join("cgroup.procs"), "0").is_ok() {
                    let _ = fs::remove_dir(&leaf);
                }
            }
        }
        left
    }
}

impl Drop for SandboxGroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `path` opened `O_PATH | O_DIRECTORY` (a v2 group, for `CLONE_INTO_CGROUP`); `None` when it
/// cannot be (the init then joins by writing its `cgroup.procs`).
fn open_path(path: &Path) -> Option<OwnedFd> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `path` is a NUL-terminated path; the flags take no pointer.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    // SAFETY: open returned a new descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Kills what is in `path` and removes it, retrying for up to two seconds.
fn remove_dir_retrying(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    // The kernel frees a group a moment after its last process is reaped: retry soon, then
    // less often.
    let mut pause = Duration::from_micros(250);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return true,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if Instant::now() < deadline => {
                kill_all(path);
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(err) => {
                tracing::warn!(group = %path.display(), "failed to remove the sandbox's control group: {err}");
                return false;
            }
        }
    }
}

/// Sends `SIGKILL` to every process in the group at `path` (`cgroup.kill` where the kernel has
/// it). Best effort.
pub fn kill_all(path: &Path) {
    if write_file(&path.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    signal_all(path, nix::sys::signal::Signal::SIGKILL, None);
}

/// Sends `signal` to every process listed in the group at `path`, except `except`.
pub fn signal_all(path: &Path, signal: nix::sys::signal::Signal, except: Option<nix::unistd::Pid>) {
    if let Ok(procs) = fs::read_to_string(path.join("cgroup.procs")) {
        for pid in procs
            .lines()
            .filter_map(|line| line.trim().parse::<i32>().ok())
        {
            let pid = nix::unistd::Pid::from_raw(pid);
            if Some(pid) != except {
                let _ = nix::sys::signal::kill(pid, signal);
            }
        }
    }
}

/// The supervisor's own group in `hierarchy`, as `own_groups` (`/proc/self/cgroup`) shows it.
fn own_cgroup_path(hierarchy: &Hierarchy, own_groups: &str) -> String {
    for line in own_groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let matches = match hierarchy.version {
            Version::V2 => id == "0" && controllers.is_empty(),
            Version::V1 => {
                !controllers.is_empty()
                    && controllers
                        .split(',')
                        .all(|c| hierarchy.controllers.iter().any(|h| h == c))
            }
        };
        if matches {
            return path.to_owned();
        }
    }
    "/".to_owned()
}

/// What the sandbox used, in the final record (null where the kernel does not count it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The most memory the group used, in bytes (v1 `memory.max_usage_in_bytes`, v2
    /// `memory.peak`).
    pub memory_peak_bytes: Option<u64>,
    /// How often the memory limit was hit (v1 `memory.failcnt`, v2 `memory.events` `max`).
    pub memory_max_hits: Option<u64>,
    /// Processes the kernel's OOM killer killed in the group.
    pub oom_kills: Option<u64>,
    /// The most processes the group had (v2 `pids.peak`, where the kernel has it).
    pub pids_peak: Option<u64>,
    /// How often a fork failed at `pids.max` (`pids.events` `max`).
    pub pids_max_hits: Option<u64>,
    /// CPU time the group used, in microseconds.
    pub cpu_usage_usec: Option<u64>,
}
