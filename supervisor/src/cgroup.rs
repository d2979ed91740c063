//! The sandbox's control group: a group of its own below the supervisor's own group, in each
//! hierarchy that carries a controller it needs (cgroup v1, the v1/hybrid layout, or v2), with
//! its limits written, read back and verified before the workload is released.
//!
//! - **Where.** Only below the supervisor's own group of each hierarchy, read from
//!   `/proc/self/cgroup` and `/proc/self/mountinfo`; never anywhere else.
//! - **Which hierarchy.** Each controller (`pids` always, `memory` for `--memory-max`, `cpu` for
//!   `--cpus`) from the v1 hierarchy that carries it, else from the v2 hierarchy when the
//!   supervisor's v2 group offers it (`cgroup.controllers`). A v2 hierarchy gets a group even
//!   without a controller: it counts the CPU time (`cpu.stat`) and kills the whole group at once
//!   (`cgroup.kill`).
//! - **Name.** `sandbox-supervisor-<pid>-<start time>` (the supervisor's pid and its start time in
//!   clock ticks since boot), so that a group left behind by a supervisor that was SIGKILLed is
//!   recognised at the next start: [`remove_stale`] removes every empty group of that pattern in
//!   the supervisor's own groups whose supervisor no longer runs (no process with that pid and
//!   start time). It never kills anything: a group with processes is left alone.
//! - **v2's "no internal processes" rule.** A controller can be enabled for the children of a
//!   group (its `cgroup.subtree_control`) only while that group has no processes of its own, unless
//!   it is the root. When enabling is refused with `EBUSY` because the supervisor itself sits
//!   there, the supervisor moves itself into a leaf group of its own
//!   (`sandbox-supervisor-<pid>-<start>.supervisor`, the same pattern) and tries again, as nsjail
//!   does.
//! - **Joining.** The descriptors of each group's `cgroup.procs` are opened here, in the parent;
//!   the sandbox's init writes `0` (itself) into each before it forks the workload
//!   ([`join`], async-signal-safe), so the init is counted and the workload is born inside.
//! - **Teardown.** After the sandbox is reaped, [`SandboxGroup::remove`] kills anything left
//!   (`cgroup.kill`, or `SIGKILL` to every pid listed) and removes the groups, retrying while the
//!   kernel still reports them busy.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use serde::Serialize;

use crate::step::{Call, Refusal, Step};

/// The prefix of every group this supervisor makes.
pub const PREFIX: &str = "sandbox-supervisor-";

/// The default `--pids-max`.
pub const DEFAULT_PIDS_MAX: u64 = 1024;

/// The CFS period used for `--cpus` (100 ms, as Docker and systemd use).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The limits the operator asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// `--pids-max`; [`DEFAULT_PIDS_MAX`] when not given.
    pub pids_max: Option<u64>,
    /// `--memory-max`, in bytes.
    pub memory_max: Option<u64>,
    /// `--cpus`, in CPUs (a fraction of one is allowed).
    pub cpus: Option<f64>,
}

impl Limits {
    /// Whether the operator asked for any limit explicitly: then a refusal to create the group or
    /// set a limit goes to the failure handler; otherwise it is a WARN.
    pub fn explicit(&self) -> bool {
        self.pids_max.is_some() || self.memory_max.is_some() || self.cpus.is_some()
    }

    /// The pids limit in force: the operator's or the default.
    pub fn pids(&self) -> u64 {
        self.pids_max.unwrap_or(DEFAULT_PIDS_MAX)
    }

    /// The CPU quota per [`CPU_PERIOD_US`], in microseconds.
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpus
            .map(|cpus| ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000))
    }
}

/// Parses a size: bytes, or a number with a `K`, `M`, `G` or `T` suffix (powers of 1024; `KiB`,
/// `MB` and lower case accepted).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (bytes, or a number with K, M, G or T)"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit {suffix:?} (K, M, G or T)"
            ))
        }
    };
    let bytes = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!(
            "{text:?} is below 1M: the workload could not even start"
        ));
    }
    Ok(bytes)
}

/// Parses `--cpus` (a positive number of CPUs, 0.01 or more).
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(cpus) if (0.01..=1e6).contains(&cpus) => Ok(cpus),
        _ => Err(format!("{text:?} is not a number of CPUs (0.01 or more)")),
    }
}

/// Parses `--pids-max` (1 or more).
pub fn parse_pids(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(pids) if pids >= 1 => Ok(pids),
        _ => Err(format!("{text:?} is not a number of processes (1 or more)")),
    }
}

/// A cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Version {
    /// A v1 hierarchy (one or more controllers of its own).
    V1,
    /// The v2 (unified) hierarchy.
    V2,
}

/// One hierarchy the supervisor is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: Version,
    /// Its controllers (v1: those it was mounted with; v2: those the supervisor's group offers).
    pub controllers: Vec<String>,
    /// The supervisor's own group, as a directory.
    pub own: PathBuf,
}

/// Finds the hierarchies the supervisor is in and its own group in each, from
/// `/proc/self/cgroup` and `/proc/self/mountinfo`. A hierarchy whose group is not visible through
/// a mount (a mount of another part of the tree), or whose mount is covered by another file
/// system (a container's fresh sysfs over a bind of the host's tree), is left out: the group's
/// directory must be on a cgroup file system.
pub fn discover() -> Vec<Hierarchy> {
    let (Ok(cgroup), Ok(mountinfo)) = (
        fs::read_to_string("/proc/self/cgroup"),
        fs::read_to_string("/proc/self/mountinfo"),
    ) else {
        return Vec::new();
    };
    discover_from(&cgroup, &mountinfo)
        .into_iter()
        .filter(|hierarchy| on_cgroup_fs(&hierarchy.own))
        .collect()
}

/// Whether `path` is a directory of a cgroup (v1 or v2) file system.
fn on_cgroup_fs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    statfs(path).is_ok_and(|fs| {
        let kind = fs.filesystem_type();
        kind == CGROUP_SUPER_MAGIC || kind == CGROUP2_SUPER_MAGIC
    })
}

/// [`discover`] from the two texts.
pub fn discover_from(cgroup: &str, mountinfo: &str) -> Vec<Hierarchy> {
    // (fstype, root, mount point, super options) of every cgroup mount.
    let mounts: Vec<(String, String, String, Vec<String>)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split_whitespace().collect();
            let right: Vec<&str> = right.split_whitespace().collect();
            let fstype = *right.first()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let options = right
                .get(2)
                .map(|opts| opts.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            Some((
                fstype.to_owned(),
                unescape(left.get(3)?),
                unescape(left.get(4)?),
                options,
            ))
        })
        .collect();
    let mut found = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v2 = id == "0" && controllers.is_empty();
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        let mount = mounts.iter().find(|(fstype, _, _, options)| {
            if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && wanted.iter().all(|c| options.iter().any(|o| o == c))
            }
        });
        let Some((_, root, point, _)) = mount else {
            continue;
        };
        let Some(relative) = path.strip_prefix(root.as_str()) else {
            continue;
        };
        let relative = relative.trim_start_matches('/');
        let own = match relative {
            "" => PathBuf::from(point),
            relative => Path::new(point).join(relative),
        };
        let controllers = if v2 {
            fs::read_to_string(own.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        } else {
            wanted.iter().map(|c| (*c).to_owned()).collect()
        };
        found.push(Hierarchy {
            version: if v2 { Version::V2 } else { Version::V1 },
            controllers,
            own,
        });
    }
    found
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(value) = u8::from_str_radix(&text[i + 1..i + 4], 8) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The controllers a run needs for `limits`.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut needed = vec!["pids"];
    if limits.memory_max.is_some() {
        needed.push("memory");
    }
    if limits.cpus.is_some() {
        needed.push("cpu");
    }
    needed
}

/// Which hierarchy serves each controller, and which have no hierarchy.
fn assign<'a>(
    hierarchies: &'a [Hierarchy],
    needed: &[&'static str],
) -> (Vec<(&'static str, &'a Hierarchy)>, Vec<&'static str>) {
    let mut served = Vec::new();
    let mut missing = Vec::new();
    for controller in needed {
        let v1 = hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller));
        let v2 = hierarchies
            .iter()
            .find(|h| h.version == Version::V2 && h.controllers.iter().any(|c| c == controller));
        match v1.or(v2) {
            Some(hierarchy) => served.push((*controller, hierarchy)),
            None => missing.push(*controller),
        }
    }
    (served, missing)
}

/// The supervisor's start time in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time(pid: &str) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This supervisor's group name: `sandbox-supervisor-<pid>-<start time>`.
pub fn group_name() -> String {
    let pid = std::process::id();
    let start = start_time("self").unwrap_or(0);
    format!("{PREFIX}{pid}-{start}")
}

/// The pid and start time a group name of the pattern carries.
fn owner(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix(".supervisor").unwrap_or(rest);
    let (pid, start) = rest.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// Whether the supervisor that made a group of this name still runs.
fn owner_alive(name: &str) -> bool {
    match owner(name) {
        Some((pid, start)) => start_time(&pid.to_string()) == Some(start),
        // Not ours: treat as alive, never touch it.
        None => true,
    }
}

/// Removes the empty groups of the [`PREFIX`] pattern, below the supervisor's own groups, whose
/// supervisor no longer runs (a supervisor that was SIGKILLed could not remove its own; its
/// sandbox died with it). Returns the paths removed.
pub fn remove_stale(hierarchies: &[Hierarchy]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for hierarchy in hierarchies {
        let Ok(entries) = fs::read_dir(&hierarchy.own) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(PREFIX) || owner_alive(&name) {
                continue;
            }
            let path = entry.path();
            let empty = fs::read_to_string(path.join("cgroup.procs"))
                .map(|procs| procs.trim().is_empty())
                .unwrap_or(false);
            if empty && fs::remove_dir(&path).is_ok() {
                tracing::info!(group = %path.display(), "removed a control group left behind by a supervisor that no longer runs");
                removed.push(path);
            }
        }
    }
    removed
}

/// One group the sandbox has.
#[derive(Debug)]
pub struct Group {
    /// v1 or v2.
    pub version: Version,
    /// The controllers it limits.
    pub controllers: Vec<&'static str>,
    /// Its directory.
    pub path: PathBuf,
    /// Its `cgroup.procs`, open for writing: the init joins through it.
    procs: OwnedFd,
    /// The cgroup path the workload's `/proc/PID/cgroup` shows for this hierarchy.
    pub cgroup_path: String,
}

/// The sandbox's groups.
#[derive(Debug, Default)]
pub struct SandboxGroup {
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

fn errno_of(err: &std::io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

fn write_file(path: &Path, value: &str) -> Result<(), Errno> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|err| errno_of(&err))?;
    file.write_all(value.as_bytes())
        .map_err(|err| errno_of(&err))
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_number(path: &Path) -> Option<u64> {
    match read_trimmed(path)?.as_str() {
        "max" => Some(u64::MAX),
        value => value.parse().ok(),
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

/// The controllers the operator needs that no hierarchy of this host offers the supervisor.
pub fn missing(hierarchies: &[Hierarchy], limits: &Limits) -> Vec<&'static str> {
    assign(hierarchies, &needed(limits)).1
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
        for (hierarchy, controllers) in used {
            if hierarchy.version == Version::V2 && !controllers.is_empty() {
                self.enable_controllers(hierarchy, &controllers, name)?;
            }
            let path = hierarchy.own.join(name);
            fs::create_dir(&path).map_err(|err| refused(Call::CgroupCreate, errno_of(&err)))?;
            let procs_path = CString::new(
                path.join("cgroup.procs")
                    .into_os_string()
                    .into_encoded_bytes(),
            )
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
            let own_cgroup = own_cgroup_path(hierarchy);
            self.groups.push(Group {
                version: hierarchy.version,
                controllers: controllers.clone(),
                path: path.clone(),
                procs,
                cgroup_path: format!("{}/{name}", own_cgroup.trim_end_matches('/')),
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
        let unverified = |file: &str, wanted: &str| {
            CreateError::Unverified(format!(
                "{} reads {:?} after {wanted} was written",
                path.join(file).display(),
                read_trimmed(&path.join(file))
            ))
        };
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
                let quota = limits
                    .cpu_quota_us()
                    .expect("cpu is needed only with a limit");
                match version {
                    Version::V1 => {
                        set("cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                        set("cpu.cfs_quota_us", &quota.to_string())?;
                        if read_number(&path.join("cpu.cfs_quota_us")) != Some(quota) {
                            return Err(unverified("cpu.cfs_quota_us", &quota.to_string()));
                        }
                    }
                    Version::V2 => {
                        let value = format!("{quota} {CPU_PERIOD_US}");
                        set("cpu.max", &value)?;
                        if read_trimmed(&path.join("cpu.max")).as_deref() != Some(value.as_str()) {
                            return Err(unverified("cpu.max", &value));
                        }
                    }
                }
                self.applied.cpu_max = Some(format!("{quota}/{CPU_PERIOD_US}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// The descriptors of every group's `cgroup.procs`, for the init to join through.
    pub fn join_fds(&self) -> Vec<i32> {
        self.groups.iter().map(|g| g.procs.as_raw_fd()).collect()
    }

    /// Checks from `/proc/PID/cgroup` that `pid` is in every group.
    pub fn contains(&self, pid: nix::unistd::Pid) -> Result<(), String> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
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
        // CPU time: v2's cpu.stat exists in every group; v1's cpuacct where cpu is co-mounted.
        for group in &self.groups {
            if usage.cpu_usage_usec.is_some() {
                break;
            }
            usage.cpu_usage_usec = match group.version {
                Version::V2 => keyed(&group.path.join("cpu.stat"), "usage_usec"),
                Version::V1 => read_number(&group.path.join("cpuacct.usage")).map(|ns| ns / 1000),
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

/// Kills what is in `path` and removes it, retrying for up to two seconds.
fn remove_dir_retrying(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return true,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if Instant::now() < deadline => {
                kill_all(path);
                std::thread::sleep(Duration::from_millis(10));
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
    if let Some(procs) = read_trimmed(&path.join("cgroup.procs")) {
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

/// The value of `key` in a flat keyed file (`key value` lines).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The cgroup path of the supervisor's own group in `hierarchy`, as `/proc/PID/cgroup` shows it.
fn own_cgroup_path(hierarchy: &Hierarchy) -> String {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
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

/// The sandbox's init joins every group: writes `0` (itself) into each descriptor. Async-signal
/// -safe.
pub fn join(fds: &[i32]) -> Result<(), Errno> {
    for fd in fds {
        // SAFETY: `fd` is an open descriptor of a `cgroup.procs` file; the buffer is a literal.
        let written = unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) };
        if written != 1 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_CGROUP: &str = "9:name=systemd:/\n8:pids:/user.slice\n4:memory:/process_api/898f\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    const HYBRID_MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
31 25 0:27 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
33 25 0:29 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
34 25 0:30 / /sys/fs/cgroup/cpuacct rw,nosuid - cgroup cgroup rw,cpuacct
35 25 0:31 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
";

    #[test]
    fn finds_own_groups_in_a_hybrid_layout() {
        let found = discover_from(HYBRID_CGROUP, HYBRID_MOUNTS);
        let pids = found
            .iter()
            .find(|h| h.controllers == ["pids"])
            .expect("pids");
        assert_eq!(pids.own, Path::new("/sys/fs/cgroup/pids/user.slice"));
        let memory = found.iter().find(|h| h.controllers == ["memory"]).unwrap();
        assert_eq!(
            memory.own,
            Path::new("/sys/fs/cgroup/memory/process_api/898f")
        );
        assert!(found.iter().any(|h| h.version == Version::V2));
        let (served, missing) = assign(&found, &["pids", "memory", "cpu"]);
        assert!(missing.is_empty());
        assert!(served.iter().all(|(_, h)| h.version == Version::V1));
    }

    #[test]
    fn a_group_outside_the_mount_is_left_out() {
        let mounts = "31 25 0:27 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert!(discover_from("8:pids:/other\n", mounts).is_empty());
        let found = discover_from("8:pids:/docker/abc/x\n", mounts);
        assert_eq!(found[0].own, Path::new("/sys/fs/cgroup/pids/x"));
    }

    #[test]
    fn stale_names_carry_their_supervisor() {
        assert_eq!(owner("sandbox-supervisor-12-345"), Some((12, 345)));
        assert_eq!(
            owner("sandbox-supervisor-12-345.supervisor"),
            Some((12, 345))
        );
        assert_eq!(owner("sandbox-supervisor-x"), None);
        assert!(owner_alive(&group_name()));
        assert!(!owner_alive("sandbox-supervisor-999999999-1"));
        assert!(owner_alive("someone-else"));
    }

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2097152"), Ok(2 << 20));
        assert!(parse_size("64X").is_err());
        assert!(parse_size("12").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("lots").is_err());
        let limits = Limits {
            cpus: Some(1.5),
            ..Limits::default()
        };
        assert_eq!(limits.cpu_quota_us(), Some(150_000));
        assert_eq!(parse_pids("0").ok(), None);
    }
}

/// How this host can enforce one limit, for `probe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Support {
    /// `pids`, `memory` or `cpu`.
    pub controller: &'static str,
    /// `v1`, `v2`, or `none`.
    pub how: &'static str,
    /// The supervisor's own group in that hierarchy, below which the sandbox's would be made.
    pub below: Option<String>,
    /// Whether the supervisor may make a group there (`writable`), or why not (`EACCES`,
    /// `EROFS`, ...).
    pub access: String,
}

/// Which limits this host can enforce and how, from the hierarchies the supervisor is in.
pub fn support() -> Vec<Support> {
    let hierarchies = discover();
    ["pids", "memory", "cpu"]
        .into_iter()
        .map(|controller| {
            let (served, _) = assign(&hierarchies, &[controller]);
            match served.first() {
                Some((_, hierarchy)) => {
                    let access =
                        match nix::unistd::access(&hierarchy.own, nix::unistd::AccessFlags::W_OK) {
                            Ok(()) => "writable".to_owned(),
                            Err(errno) => format!(
                                "not writable: {}",
                                crate::failure::errno_name(errno as i32)
                            ),
                        };
                    Support {
                        controller,
                        how: match hierarchy.version {
                            Version::V1 => "v1",
                            Version::V2 => "v2",
                        },
                        below: Some(hierarchy.own.display().to_string()),
                        access,
                    }
                }
                None => Support {
                    controller,
                    how: "none",
                    below: None,
                    access: "no cgroup hierarchy offers the controller".to_owned(),
                },
            }
        })
        .collect()
}
