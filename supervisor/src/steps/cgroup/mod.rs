//! The sandbox's control group: a group of its own below the supervisor's own group, in each
//! hierarchy that carries a controller it needs (cgroup v1, the v1/hybrid layout, or v2), with
//! its limits written, read back and verified before the workload is released.
//!
//! - **Where.** Only below the supervisor's own group of each hierarchy, read from
//!   `/proc/self/cgroup` and `/proc/self/mountinfo`; never anywhere else.
//! - **Which hierarchy.** Each controller (`pids` always, `memory` for `--memory-max`, `cpu` for
//!   `--cpus` or `--cpu-max`) from the v1 hierarchy that carries it, else from the v2 hierarchy when the
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
//! - **Joining.** The descriptors of each group's `cgroup.procs` (v2) or `tasks` (v1) are opened
//!   here, in the parent; the sandbox's init writes `0` (itself) into each before it forks the
//!   workload ([`join`], async-signal-safe), so the init is counted and the workload is born
//!   inside. v1's `tasks` moves the single calling thread, which the kernel does without its
//!   global thread-group lock (`cgroup.procs` takes it for writing: an RCU grace period); the
//!   init has one thread, so it is the same move. A v2 group is joined at birth: the supervisor
//!   clones the init with `clone3(CLONE_INTO_CGROUP)` (the lock taken for reading, as for any
//!   fork), and writes `cgroup.procs` only where `clone3` is refused (an outer filter answers it
//!   `ENOSYS`, as container runtimes do, or a kernel before 5.7).
//! - **Teardown.** After the sandbox is reaped, [`SandboxGroup::remove`] kills anything left
//!   (`cgroup.kill`, or `SIGKILL` to every pid listed) and removes the groups, retrying while the
//!   kernel still reports them busy.

use std::fs;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::Serialize;

use crate::steps::Call;

pub use crate::options::Limits;

mod files;
mod group;
pub(crate) use group::inherited;
pub use group::{kill_all, signal_all, CreateError, Evidence, SandboxGroup, Usage};

/// The prefix of every group this supervisor makes.
pub const PREFIX: &str = "sandbox-supervisor-";

/// The default `--pids-max`.
pub const DEFAULT_PIDS_MAX: u64 = 1024;

/// The CFS period used for `--cpus` (100 ms, as Docker and systemd use).
pub const CPU_PERIOD_US: u64 = 100_000;

impl Limits {
    /// Whether the operator asked for any limit explicitly: then a refusal to create the group or
    /// set a limit goes to the failure handler; otherwise it is a WARN.
    pub fn explicit(&self) -> bool {
        self.pids_max.is_some()
            || self.memory_max.is_some()
            || self.cpus.is_some()
            || self.cpu_max.is_some()
    }

    /// The pids limit in force: the operator's or the default.
    pub fn pids(&self) -> u64 {
        self.pids_max.unwrap_or(DEFAULT_PIDS_MAX)
    }

    /// The CPU quota and its period, in microseconds: `--cpu-max`, or `--cpus` per
    /// `CPU_PERIOD_US`.
    pub fn cpu_max_us(&self) -> Option<(u64, u64)> {
        self.cpu_max.or_else(|| {
            self.cpus.map(|cpus| {
                let quota = ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000);
                (quota, CPU_PERIOD_US)
            })
        })
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
    // The kernel counts a memory limit in pages up to LONG_MAX bytes and reads anything near it
    // back as "no limit": the sandbox's limit stays below 2^62 bytes (4194304T).
    let bytes = number
        .checked_mul(1u64 << shift)
        .filter(|bytes| *bytes < 1 << 62)
        .ok_or_else(|| format!("{text:?} is too large (at most 4194303T)"))?;
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

/// The shortest and longest CFS period the kernel takes (1 ms to 1 s), in microseconds.
pub const CPU_PERIODS_US: std::ops::RangeInclusive<u64> = 1000..=1_000_000;

/// Parses `--cpu-max QUOTA/PERIOD` (microseconds, as cgroup v2's `cpu.max` and systemd's
/// `CPUQuotaPeriodSec` count them): a period of 1000 to 1000000, a quota of 1000 or more and at
/// most a million CPUs' worth.
pub fn parse_cpu_max(text: &str) -> Result<(u64, u64), String> {
    let wrong = || {
        format!(
            "{text:?} is not QUOTA/PERIOD in microseconds (a period of 1000 to 1000000, a quota of 1000 or more: 50000/100000 is half a CPU)"
        )
    };
    let (quota, period) = text.split_once('/').ok_or_else(wrong)?;
    let quota: u64 = quota.parse().map_err(|_| wrong())?;
    let period: u64 = period.parse().map_err(|_| wrong())?;
    if !CPU_PERIODS_US.contains(&period) || quota < 1000 || quota / period > 1_000_000 {
        return Err(wrong());
    }
    Ok((quota, period))
}

/// The most `pids.max` takes: the kernel's `PID_MAX_LIMIT` on 64-bit (4 Mi); above it the kernel
/// answers `EINVAL`, an operator's mistake that is never asked of the failure handler.
pub const PIDS_MAX_LIMIT: u64 = 4 << 20;

/// Parses `--pids-max` (1 to [`PIDS_MAX_LIMIT`]).
pub fn parse_pids(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(pids) if (1..=PIDS_MAX_LIMIT).contains(&pids) => Ok(pids),
        _ => Err(format!(
            "{text:?} is not a number of processes (1 to {PIDS_MAX_LIMIT})"
        )),
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
/// `/proc/self/cgroup` and `/proc/self/mountinfo`, through the first mount of each hierarchy that
/// shows the group (its root the group or an ancestor of it, by whole path components) and whose
/// directory is on a cgroup file system (not covered by another, such as a container's fresh
/// sysfs over a bind of the host's tree). A hierarchy no such mount shows is left out.
pub fn discover() -> Vec<Hierarchy> {
    let (Ok(cgroup), Ok(mountinfo)) = (
        crate::procfs::read_file(std::path::Path::new("/proc/self/cgroup")),
        crate::procfs::read_records(std::path::Path::new("/proc/self/mountinfo")),
    ) else {
        return Vec::new();
    };
    discover_with(&cgroup, &mountinfo, &on_cgroup_fs)
}

/// Whether `path` is a directory of a cgroup (v1 or v2) file system.
fn on_cgroup_fs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    statfs(path).is_ok_and(|fs| {
        let kind = fs.filesystem_type();
        kind == CGROUP_SUPER_MAGIC || kind == CGROUP2_SUPER_MAGIC
    })
}

/// [`discover`] from the two texts, every directory taken as usable (for the unit tests).
#[cfg(test)]
pub fn discover_from(cgroup: &str, mountinfo: &str) -> Vec<Hierarchy> {
    discover_with(cgroup, mountinfo, &|_| true)
}

/// `discover_from` (the unit tests') and [`discover`], each group's directory taken through the first mount that shows it and
/// where it is `usable`.
fn discover_with(cgroup: &str, mountinfo: &str, usable: &dyn Fn(&Path) -> bool) -> Vec<Hierarchy> {
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
        // The first mount of the hierarchy that shows the group: its root is the group or one
        // of its ancestors, by whole path components (another mount of the same hierarchy may
        // show another part of the tree, and be listed first).
        let shown = mounts.iter().find_map(|(fstype, root, point, options)| {
            let hierarchy = if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && wanted.iter().all(|c| options.iter().any(|o| o == c))
            };
            let relative = Path::new(path)
                .strip_prefix(root)
                .ok()
                .filter(|_| hierarchy)?;
            let own = match relative.as_os_str().is_empty() {
                true => PathBuf::from(point),
                false => Path::new(point).join(relative),
            };
            usable(&own).then_some(own)
        });
        let Some(own) = shown else {
            continue;
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

/// Every controller a run may need ([`needed`]): only hierarchies serving one of them, and the v2
/// one, ever get a group.
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];

/// The controllers a run needs for `limits`.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut needed = vec!["pids"];
    if limits.memory_max.is_some() {
        needed.push("memory");
    }
    if limits.cpu_max_us().is_some() {
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
    let stat = crate::procfs::read_file(std::path::Path::new(&format!("/proc/{pid}/stat"))).ok()?;
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
/// Only hierarchies a group can be in are listed (`blkio`, `freezer`, `cpuset`, a named one...
/// never get one: five calls each spared).
pub fn remove_stale(hierarchies: &[Hierarchy]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let used = |hierarchy: &&Hierarchy| {
        hierarchy.version == Version::V2
            || hierarchy
                .controllers
                .iter()
                .any(|c| CONTROLLERS.contains(&c.as_str()))
    };
    for hierarchy in hierarchies.iter().filter(used) {
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

/// In the init: joins every group, then enters a cgroup namespace where the kernel allows one (the
/// workload sees its group as its root; the supervisor records whether it has one).
/// Async-signal-safe.
pub(crate) fn apply(fds: &[i32], born_in: Option<i32>) -> Result<(), (Call, Errno)> {
    join(fds, born_in).map_err(|errno| (Call::CgroupJoin, errno))?;
    let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    Ok(())
}

/// The teardown: what the sandbox used goes into the final record, then anything left in the
/// groups is killed and the groups removed.
pub(crate) fn teardown(plan: &crate::sandbox::Plan, report: &mut crate::record::HardeningReport) {
    let Some(mut group) = plan.take_group() else {
        return;
    };
    report.usage = Some(group.usage());
    let left = group.remove();
    if !left.is_empty() {
        tracing::warn!(groups = ?left, "control groups of the sandbox could not be removed; the next start removes them once empty");
    }
}

/// The sandbox's init joins every group: writes `0` (itself) into each descriptor but `born_in`,
/// the join descriptor of the group it was cloned into. Async-signal-safe.
pub fn join(fds: &[i32], born_in: Option<i32>) -> Result<(), Errno> {
    for fd in fds.iter().filter(|fd| Some(**fd) != born_in) {
        // SAFETY: `fd` is an open descriptor of a `cgroup.procs` or `tasks` file; the buffer is a
        // literal.
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
    fn a_bind_of_another_subtree_listed_first_does_not_hide_the_hierarchy() {
        let mounts = "\
40 25 0:27 /elsewhere /srv/pids rw - cgroup cgroup rw,pids
41 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";
        let found = discover_from("8:pids:/user.slice\n", mounts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].own, Path::new("/sys/fs/cgroup/pids/user.slice"));
    }

    #[test]
    fn a_mount_root_is_a_prefix_of_whole_path_components() {
        // "/docker/abcdef" is not below "/docker/abc": no group at /sys/fs/cgroup/pids/def.
        let mounts = "31 25 0:27 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert!(
            discover_from("8:pids:/docker/abcdef\n", mounts).is_empty(),
            "{:?}",
            discover_from("8:pids:/docker/abcdef\n", mounts)
        );
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

    /// The stale sweep lists only hierarchies serving [`CONTROLLERS`]: a controller a run may
    /// need must be among them, or its stale groups would never be removed.
    #[test]
    fn every_needed_controller_is_swept() {
        let every = Limits {
            memory_max: Some(64 << 20),
            cpus: Some(0.5),
            ..Limits::default()
        };
        for controller in needed(&every) {
            assert!(CONTROLLERS.contains(&controller), "{controller}");
        }
        assert_eq!(needed(&every).len(), CONTROLLERS.len());
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
        assert_eq!(limits.cpu_max_us(), Some((150_000, 100_000)));
        assert_eq!(parse_cpu_max("50000/100000"), Ok((50_000, 100_000)));
        assert_eq!(parse_cpu_max("250000/1000000"), Ok((250_000, 1_000_000)));
        for wrong in [
            "50000",
            "50000/",
            "/100000",
            "999/100000",
            "50000/999",
            "1/2",
            "a/b",
        ] {
            assert!(parse_cpu_max(wrong).is_err(), "{wrong}");
        }
        assert!(parse_cpu_max("50000/1000001").is_err());
        let limits = Limits {
            cpu_max: Some((20_000, 50_000)),
            ..Limits::default()
        };
        assert!(limits.explicit());
        assert_eq!(limits.cpu_max_us(), Some((20_000, 50_000)));
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
                                crate::handler::errno_name(errno as i32)
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
