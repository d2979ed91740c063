//! Resource limits of the workload (`--rlimit NAME=SOFT[:HARD]`): a step no handler tolerates.
//!
//! Planned in the parent from the caller's own limits ([`plan`]): a limit is only ever lowered,
//! never raised above what the caller has, soft or hard (a request above it is lowered to the
//! caller's, with a WARN). The defaults are `core=0:0` (no core dumps: a dump of
//! the workload may hold what it read) and `nofile` at most 4096. The workload applies them with
//! `setrlimit` after its new session and before the id change ([`apply`], async-signal-safe); the
//! supervisor then reads `/proc/PID/limits` of the paused workload and compares ([`verify`]).

use std::collections::BTreeMap;

use nix::errno::Errno;

pub use crate::options::{Request, Resource};

/// The limits an operator may name, with Docker's `--ulimit` spelling.
pub const NAMES: [(&str, Resource); 16] = [
    ("as", Resource::As),
    ("core", Resource::Core),
    ("cpu", Resource::Cpu),
    ("data", Resource::Data),
    ("fsize", Resource::Fsize),
    ("locks", Resource::Locks),
    ("memlock", Resource::Memlock),
    ("msgqueue", Resource::Msgqueue),
    ("nice", Resource::Nice),
    ("nofile", Resource::Nofile),
    ("nproc", Resource::Nproc),
    ("rss", Resource::Rss),
    ("rtprio", Resource::Rtprio),
    ("rttime", Resource::Rttime),
    ("sigpending", Resource::Sigpending),
    ("stack", Resource::Stack),
];

impl Resource {
    /// Docker's name (`nofile`).
    pub fn name(self) -> &'static str {
        NAMES[self as usize].0
    }

    /// The resource at index `index` of the names' table (`NAMES`).
    pub fn from_index(index: u8) -> Option<Self> {
        NAMES.get(index as usize).map(|(_, resource)| *resource)
    }

    fn raw(self) -> libc::__rlimit_resource_t {
        (match self {
            Resource::As => libc::RLIMIT_AS,
            Resource::Core => libc::RLIMIT_CORE,
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::Data => libc::RLIMIT_DATA,
            Resource::Fsize => libc::RLIMIT_FSIZE,
            Resource::Locks => libc::RLIMIT_LOCKS,
            Resource::Memlock => libc::RLIMIT_MEMLOCK,
            Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
            Resource::Nice => libc::RLIMIT_NICE,
            Resource::Nofile => libc::RLIMIT_NOFILE,
            Resource::Nproc => libc::RLIMIT_NPROC,
            Resource::Rss => libc::RLIMIT_RSS,
            Resource::Rtprio => libc::RLIMIT_RTPRIO,
            Resource::Rttime => libc::RLIMIT_RTTIME,
            Resource::Sigpending => libc::RLIMIT_SIGPENDING,
            Resource::Stack => libc::RLIMIT_STACK,
        }) as libc::__rlimit_resource_t
    }

    /// `setrlimit(RLIMIT_...)`, as messages and reports write the call.
    pub const fn setrlimit_call(self) -> &'static str {
        match self {
            Resource::As => "setrlimit(RLIMIT_AS)",
            Resource::Core => "setrlimit(RLIMIT_CORE)",
            Resource::Cpu => "setrlimit(RLIMIT_CPU)",
            Resource::Data => "setrlimit(RLIMIT_DATA)",
            Resource::Fsize => "setrlimit(RLIMIT_FSIZE)",
            Resource::Locks => "setrlimit(RLIMIT_LOCKS)",
            Resource::Memlock => "setrlimit(RLIMIT_MEMLOCK)",
            Resource::Msgqueue => "setrlimit(RLIMIT_MSGQUEUE)",
            Resource::Nice => "setrlimit(RLIMIT_NICE)",
            Resource::Nofile => "setrlimit(RLIMIT_NOFILE)",
            Resource::Nproc => "setrlimit(RLIMIT_NPROC)",
            Resource::Rss => "setrlimit(RLIMIT_RSS)",
            Resource::Rtprio => "setrlimit(RLIMIT_RTPRIO)",
            Resource::Rttime => "setrlimit(RLIMIT_RTTIME)",
            Resource::Sigpending => "setrlimit(RLIMIT_SIGPENDING)",
            Resource::Stack => "setrlimit(RLIMIT_STACK)",
        }
    }

    /// The row title of this resource in `/proc/PID/limits`.
    fn proc_title(self) -> &'static str {
        match self {
            Resource::As => "Max address space",
            Resource::Core => "Max core file size",
            Resource::Cpu => "Max cpu time",
            Resource::Data => "Max data size",
            Resource::Fsize => "Max file size",
            Resource::Locks => "Max file locks",
            Resource::Memlock => "Max locked memory",
            Resource::Msgqueue => "Max msgqueue size",
            Resource::Nice => "Max nice priority",
            Resource::Nofile => "Max open files",
            Resource::Nproc => "Max processes",
            Resource::Rss => "Max resident set",
            Resource::Rtprio => "Max realtime priority",
            Resource::Rttime => "Max realtime timeout",
            Resource::Sigpending => "Max pending signals",
            Resource::Stack => "Max stack size",
        }
    }
}

/// `RLIM_INFINITY`.
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// Parses `NAME=SOFT[:HARD]` (numbers or `unlimited`); a malformed value is a usage error.
pub fn parse(text: &str) -> Result<Request, String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=SOFT[:HARD]"))?;
    let resource = NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, resource)| *resource)
        .ok_or_else(|| {
            format!(
                "unknown limit {name:?} (one of {})",
                NAMES.map(|(name, _)| name).join(", ")
            )
        })?;
    let number = |value: &str| match value {
        "unlimited" | "-1" => Ok(UNLIMITED),
        _ => value
            .parse::<u64>()
            .map_err(|_| format!("{value:?} is not a number or \"unlimited\"")),
    };
    let (soft, hard) = match values.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => {
            let value = number(values)?;
            (value, value)
        }
    };
    if soft > hard {
        return Err(format!(
            "{name}: the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    Ok(Request {
        resource,
        soft,
        hard,
    })
}

/// One limit the workload gets, planned in the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    /// The resource.
    #[serde(skip)]
    pub resource: Resource,
    /// The soft limit to set (`null` in the report: unlimited).
    #[serde(serialize_with = "limit")]
    pub soft: u64,
    /// The hard limit to set.
    #[serde(serialize_with = "limit")]
    pub hard: u64,
    /// Where it comes from: `default` or `operator`.
    #[serde(skip)]
    pub source: &'static str,
    /// The operator asked for more than the caller has: lowered to the caller's.
    #[serde(skip)]
    pub clamped: bool,
}

fn limit<S: serde::Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    match *value {
        UNLIMITED => serializer.serialize_none(),
        value => serializer.serialize_u64(value),
    }
}

/// The caller's limit of `resource`.
fn current(resource: Resource) -> Result<(u64, u64), Errno> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    let rc = unsafe { libc::getrlimit(resource.raw(), &mut limit) };
    Errno::result(rc).map(|_| (limit.rlim_cur, limit.rlim_max))
}

/// The limits the workload gets: the defaults (core 0, nofile at most 4096), then each request in
/// order, each soft and hard limit lowered to the caller's own soft and hard limit (a request above
/// either is clamped and flagged: the run goes on with the caller's limit, and a WARN says so).
pub fn plan(requests: &[Request]) -> Result<Vec<Planned>, Errno> {
    plan_with(requests, current)
}

/// [`plan`] against the caller's limits as `caller` reads them.
fn plan_with(
    requests: &[Request],
    caller: impl Fn(Resource) -> Result<(u64, u64), Errno>,
) -> Result<Vec<Planned>, Errno> {
    let mut planned: Vec<Planned> = Vec::new();
    let mut set = |resource: Resource, soft: u64, hard: u64, source: &'static str| {
        let (caller_soft, caller_hard) = caller(resource)?;
        // Neither limit is ever raised above the caller's own: not the hard one, and not the soft
        // one either (setrlimit would let any process raise its soft limit up to its hard one,
        // but the workload gets no more than the caller has).
        let hard_applied = hard.min(caller_hard);
        let soft_applied = soft.min(caller_soft).min(hard_applied);
        let entry = Planned {
            resource,
            soft: soft_applied,
            hard: hard_applied,
            source,
            clamped: source == "operator" && (hard > caller_hard || soft > caller_soft),
        };
        match planned.iter_mut().find(|p| p.resource == resource) {
            Some(existing) => *existing = entry,
            None => planned.push(entry),
        }
        Ok::<(), Errno>(())
    };
    set(Resource::Core, 0, 0, "default")?;
    set(Resource::Nofile, 4096, 4096, "default")?;
    for request in requests {
        set(request.resource, request.soft, request.hard, "operator")?;
    }
    planned.sort_by_key(|p| p.resource);
    Ok(planned)
}

/// Where a limit planned by [`bound_processes`] comes from.
pub const PROCESS_BOUND: &str = "process bound";

/// Adds `RLIMIT_NPROC` at most `max` to `planned`: the sandbox's process bound where no group's
/// `pids.max` gives one (the user-namespace route, where the kernel counts it per user namespace).
/// It only lowers: a lower `--rlimit nproc` or caller's limit stays. Returns the hard limit the
/// workload gets (the bound: it may raise its soft limit up to it, never beyond).
pub fn bound_processes(planned: &mut Vec<Planned>, max: u64) -> Result<u64, Errno> {
    bound_processes_with(planned, max, current)
}

fn bound_processes_with(
    planned: &mut Vec<Planned>,
    max: u64,
    caller: impl Fn(Resource) -> Result<(u64, u64), Errno>,
) -> Result<u64, Errno> {
    let (caller_soft, caller_hard) = caller(Resource::Nproc)?;
    let entry = match planned.iter().position(|p| p.resource == Resource::Nproc) {
        Some(index) => &mut planned[index],
        None => {
            planned.push(Planned {
                resource: Resource::Nproc,
                soft: caller_soft,
                hard: caller_hard,
                source: PROCESS_BOUND,
                clamped: false,
            });
            planned.sort_by_key(|p| p.resource);
            let index = planned
                .iter()
                .position(|p| p.resource == Resource::Nproc)
                .expect("just added");
            &mut planned[index]
        }
    };
    entry.hard = entry.hard.min(max);
    entry.soft = entry.soft.min(entry.hard);
    // The sandbox's process bound from here on, whatever set it first.
    entry.source = PROCESS_BOUND;
    Ok(entry.hard)
}

/// Whether this kernel counts `RLIMIT_NPROC` per user namespace (Linux 5.14 and later, where it
/// lives on the user namespace's counts): before, it counted every process of the real uid across
/// the whole host, and a bound of the sandbox's would count the caller's other processes.
pub fn nproc_per_user_namespace() -> bool {
    // SAFETY: utsname is plain bytes; uname fills it in.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a valid utsname for the kernel to fill.
    if unsafe { libc::uname(&mut name) } != 0 {
        return false;
    }
    // SAFETY: the kernel NUL-terminates the release within the array.
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    release
        .to_str()
        .ok()
        .and_then(|release| kernel_at_least(release, (5, 14)))
        .unwrap_or(false)
}

/// Whether the kernel release `release` (`6.18.44-...`) is at least `wanted`.
fn kernel_at_least(release: &str, wanted: (u32, u32)) -> Option<bool> {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let major = numbers.next()?.ok()?;
    let minor = numbers.next()?.ok()?;
    Some((major, minor) >= wanted)
}

/// Sets every planned limit on the calling process. Async-signal-safe; returns the resource whose
/// `setrlimit` failed.
pub fn apply(planned: &[Planned]) -> Result<(), (Resource, Errno)> {
    for limit in planned {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: `value` is a valid rlimit; setrlimit changes only the calling process.
        let rc = unsafe { libc::setrlimit(limit.resource.raw(), &value) };
        if rc != 0 {
            return Err((limit.resource, Errno::last()));
        }
    }
    Ok(())
}

/// The workload's step: [`apply`], its failure named as the call. Async-signal-safe.
pub(crate) fn apply_step(planned: &[Planned]) -> Result<(), (crate::steps::Call, Errno)> {
    apply(planned).map_err(|(resource, errno)| (crate::steps::Call::Setrlimit(resource), errno))
}

/// One row of `/proc/PID/limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Seen {
    /// The soft limit (`null`: unlimited).
    #[serde(serialize_with = "limit")]
    pub soft: u64,
    /// The hard limit.
    #[serde(serialize_with = "limit")]
    pub hard: u64,
}

/// Parses `/proc/PID/limits` into rows by resource.
pub fn parse_proc_limits(text: &str) -> BTreeMap<Resource, Seen> {
    let value = |field: &str| match field {
        "unlimited" => Some(UNLIMITED),
        number => number.parse().ok(),
    };
    let mut rows = BTreeMap::new();
    for (_, resource) in NAMES {
        let Some(line) = text
            .lines()
            .find(|line| line.starts_with(resource.proc_title()))
        else {
            continue;
        };
        let mut fields = line[resource.proc_title().len()..].split_whitespace();
        if let (Some(soft), Some(hard)) =
            (fields.next().and_then(value), fields.next().and_then(value))
        {
            rows.insert(resource, Seen { soft, hard });
        }
    }
    rows
}

/// What the verification found: the planned limits as read back, by name.
pub type Evidence = BTreeMap<&'static str, Seen>;

/// The limits of process `pid` as `prlimit` reads them (for a kernel without `/proc/PID/limits`,
/// such as gVisor's).
fn prlimits(
    pid: nix::unistd::Pid,
    planned: &[Planned],
) -> Result<BTreeMap<Resource, Seen>, String> {
    let mut rows = BTreeMap::new();
    for limit in planned {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a null new limit only reads; `old` is a valid rlimit for the kernel to fill.
        let rc = unsafe {
            libc::prlimit(
                pid.as_raw(),
                limit.resource.raw(),
                std::ptr::null(),
                &mut old,
            )
        };
        Errno::result(rc).map_err(|errno| {
            format!(
                "failed to read the workload's limits (no /proc/{pid}/limits, and prlimit({}) failed with {errno})",
                limit.resource.name()
            )
        })?;
        rows.insert(
            limit.resource,
            Seen {
                soft: old.rlim_cur,
                hard: old.rlim_max,
            },
        );
    }
    Ok(rows)
}

/// Reads the workload's `/proc/PID/limits` (or, where the kernel has none, asks `prlimit`) and
/// compares it with the plan. `Err` names the first limit that differs.
pub fn verify(pid: nix::unistd::Pid, planned: &[Planned]) -> Result<Evidence, String> {
    let rows = match crate::procfs::read_file(std::path::Path::new(&format!("/proc/{pid}/limits")))
    {
        Ok(text) => parse_proc_limits(&text),
        Err(_) => prlimits(pid, planned)?,
    };
    let mut evidence = Evidence::new();
    for limit in planned {
        let seen = rows.get(&limit.resource).copied();
        match seen {
            Some(seen) if seen.soft == limit.soft && seen.hard == limit.hard => {
                evidence.insert(limit.resource.name(), seen);
            }
            other => {
                return Err(format!(
                    "setrlimit({}) returned success but /proc/{pid}/limits shows {other:?} instead of {}:{}",
                    limit.resource.name(),
                    limit.soft,
                    limit.hard
                ))
            }
        }
    }
    Ok(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_agree() {
        for (index, (name, resource)) in NAMES.iter().enumerate() {
            assert_eq!(*resource as usize, index);
            assert_eq!(resource.name(), *name);
            assert_eq!(Resource::from_index(index as u8), Some(*resource));
        }
    }

    #[test]
    fn parses_docker_spelling() {
        assert_eq!(
            parse("nofile=64"),
            Ok(Request {
                resource: Resource::Nofile,
                soft: 64,
                hard: 64
            })
        );
        assert_eq!(
            parse("core=0:unlimited"),
            Ok(Request {
                resource: Resource::Core,
                soft: 0,
                hard: UNLIMITED
            })
        );
        assert!(parse("nofile").is_err());
        assert!(parse("files=3").is_err());
        assert!(parse("nofile=ten").is_err());
        assert!(parse("nofile=10:5").is_err());
    }

    #[test]
    fn plans_only_lower() {
        let (_, hard) = current(Resource::Nofile).unwrap();
        let planned = plan(&[Request {
            resource: Resource::Nofile,
            soft: 64,
            hard: 64,
        }])
        .unwrap();
        let nofile = planned
            .iter()
            .find(|p| p.resource == Resource::Nofile)
            .unwrap();
        assert_eq!((nofile.soft, nofile.hard), (64.min(hard), 64.min(hard)));
        let core = planned
            .iter()
            .find(|p| p.resource == Resource::Core)
            .unwrap();
        assert_eq!((core.soft, core.hard), (0, 0));
        if hard != UNLIMITED {
            let raised = plan(&[Request {
                resource: Resource::Nofile,
                soft: UNLIMITED,
                hard: UNLIMITED,
            }])
            .unwrap();
            let nofile = raised
                .iter()
                .find(|p| p.resource == Resource::Nofile)
                .unwrap();
            assert!(nofile.clamped);
            assert_eq!(nofile.hard, hard);
        }
    }

    #[test]
    fn never_raises_the_callers_soft_limit() {
        // A caller with `ulimit -Sn 100` (hard 4096): nofile=200 gets 100, not 200.
        let caller = |resource: Resource| {
            Ok(match resource {
                Resource::Nofile => (100, 4096),
                _ => (UNLIMITED, UNLIMITED),
            })
        };
        let request = |soft, hard| Request {
            resource: Resource::Nofile,
            soft,
            hard,
        };
        let nofile = |planned: Vec<Planned>| {
            planned
                .into_iter()
                .find(|p| p.resource == Resource::Nofile)
                .unwrap()
        };
        let raised = nofile(plan_with(&[request(200, 200)], caller).unwrap());
        assert_eq!((raised.soft, raised.hard, raised.clamped), (100, 200, true));
        let above_hard = nofile(plan_with(&[request(200, 8192)], caller).unwrap());
        assert_eq!((above_hard.soft, above_hard.hard), (100, 4096));
        let lowered = nofile(plan_with(&[request(50, 80)], caller).unwrap());
        assert_eq!(
            (lowered.soft, lowered.hard, lowered.clamped),
            (50, 80, false)
        );
        // The default (at most 4096) is no request of the operator's: lowered without a WARN.
        let default = nofile(plan_with(&[], caller).unwrap());
        assert_eq!(
            (default.soft, default.hard, default.clamped),
            (100, 4096, false)
        );
    }

    #[test]
    fn the_process_bound_only_lowers() {
        let caller = |_| Ok((5000, 8000));
        let mut planned = plan_with(&[], caller).unwrap();
        assert_eq!(bound_processes_with(&mut planned, 1024, caller), Ok(1024));
        let nproc = planned
            .iter()
            .find(|p| p.resource == Resource::Nproc)
            .unwrap();
        assert_eq!(
            (nproc.soft, nproc.hard, nproc.source),
            (1024, 1024, PROCESS_BOUND)
        );
        // Sorted as the catalogue is: core, nofile, nproc.
        let order: Vec<Resource> = planned.iter().map(|p| p.resource).collect();
        assert_eq!(order, [Resource::Core, Resource::Nofile, Resource::Nproc]);
        // A lower operator's request stays; a lower caller's soft limit too.
        let lower = Request {
            resource: Resource::Nproc,
            soft: 50,
            hard: 100,
        };
        let mut planned = plan_with(&[lower], caller).unwrap();
        assert_eq!(bound_processes_with(&mut planned, 1024, caller), Ok(100));
        let nproc = planned[2];
        assert_eq!(
            (nproc.soft, nproc.hard, nproc.source),
            (50, 100, PROCESS_BOUND)
        );
        let low_caller = |_| Ok((300, 8000));
        let mut planned = plan_with(&[], low_caller).unwrap();
        assert_eq!(
            bound_processes_with(&mut planned, 1024, low_caller),
            Ok(1024)
        );
        assert_eq!((planned[2].soft, planned[2].hard), (300, 1024));
    }

    #[test]
    fn kernel_releases() {
        assert_eq!(kernel_at_least("6.18.44-fc-v1098", (5, 14)), Some(true));
        assert_eq!(kernel_at_least("5.14.0", (5, 14)), Some(true));
        assert_eq!(kernel_at_least("5.10.0-28-amd64", (5, 14)), Some(false));
        assert_eq!(kernel_at_least("4.19.0", (5, 14)), Some(false));
        assert_eq!(kernel_at_least("x", (5, 14)), None);
    }

    #[test]
    fn reads_proc_limits() {
        let text =
            "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max core file size        0                    0                    bytes     \n\
Max open files            64                   4096                 files     \n";
        let rows = parse_proc_limits(text);
        assert_eq!(
            rows.get(&Resource::Nofile),
            Some(&Seen {
                soft: 64,
                hard: 4096
            })
        );
        assert_eq!(
            rows.get(&Resource::Cpu),
            Some(&Seen {
                soft: UNLIMITED,
                hard: UNLIMITED
            })
        );
        assert_eq!(rows.get(&Resource::Core), Some(&Seen { soft: 0, hard: 0 }));
    }
}
