//! What to run and how: the library's form of the command line, at the bottom of the crate
//! (every layer reads it; it imports nothing above it). The small types the options name are
//! defined here too, and what they do stays with their steps, which re-export them: [`Step`]
//! (the catalogue is `steps::STEPS`), [`ReportSink`] (`record::sink`), [`Limits`]
//! (`steps::cgroup`), [`Resource`] and [`Request`] (`steps::rlimits`), [`ViewOptions`],
//! [`FsMode`] and [`BindSpec`] (`steps::view`), [`OuterBoundary`] (`handler::context`).

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// An operator's file that decided something about a run, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileDigest {
    /// The path, as given.
    pub path: String,
    /// The SHA-256 of the bytes that were read, in lowercase hexadecimal.
    pub sha256: String,
}

/// What to run and how; the library's form of the command line.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// `--config`: the file the flags were merged from, as read.
    pub config: Option<FileDigest>,
    /// `--handler-plugin`.
    pub handler_plugin: Option<PathBuf>,
    /// `--handler-config`.
    pub handler_config: Option<PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--handler-timeout` (default 5 s).
    pub handler_timeout: Option<std::time::Duration>,
    /// `--outer-boundary`: the outer boundary the operator declares, for the handler and the
    /// report.
    pub outer_boundary: Option<OuterBoundary>,
    /// `--node-name` (else `$NODE_NAME`): the node as the orchestrator names it.
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`, in order (a later KEY replaces an earlier one).
    pub labels: Vec<(String, String)>,
    /// `--user`.
    pub user: Option<String>,
    /// `--allow-root`: the workload may run as uid 0 or gid 0 (still without capabilities).
    pub allow_root: bool,
    /// `--allow-group`: host-power groups the workload of `--user` may hold, by name.
    pub allow_groups: Vec<String>,
    /// `--uid-range`: where a root caller's workload gets a uid of its own (default
    /// 61184-65519).
    pub uid_range: Option<crate::steps::identity::alloc::UidRange>,
    /// `--seccomp-profile`.
    pub seccomp_profile: Option<PathBuf>,
    /// `--seccomp-profile-replaces-builtin`: install the profile without the built-in filter.
    pub seccomp_profile_replaces_builtin: bool,
    /// `--cap-add`: capabilities the workload keeps, by number.
    pub cap_add: Vec<u32>,
    /// `--no-userns`: never take the user-namespace route.
    pub no_userns: bool,
    /// `--disable-step`: tolerable steps the operator turns off.
    pub disabled_steps: Vec<Step>,
    /// `--clear-env`: the workload starts with an empty environment (plus `env`).
    pub clear_env: bool,
    /// `--env KEY=VALUE`, in order.
    pub env: Vec<OsString>,
    /// The workload and its arguments.
    pub command: Vec<OsString>,
    /// `--report` or `--report-fd`.
    pub report: Option<ReportSink>,
    /// `--report-argv`: the report lists the workload's whole argv, not only `argv[0]`.
    pub report_argv: bool,
    /// `--findings`: OCSF findings, one per tolerated or aborting refusal.
    pub findings: Option<ReportSink>,
    /// `--fs`, `--workspace`, `--bind`, `--ro-bind`, `--mask`, `--tmpfs-size`.
    pub view: ViewOptions,
    /// `--pids-max`, `--memory-max`, `--cpus` or `--cpu-max`: the sandbox's control group.
    pub limits: Limits,
    /// `--rlimit NAME=SOFT[:HARD]`, in order.
    pub rlimits: Vec<Request>,
    /// `--timeout`: wall clock from the release of the workload.
    pub timeout: Option<std::time::Duration>,
    /// `--kill-after` (default `sandbox::supervise::DEFAULT_KILL_AFTER`).
    pub kill_after: Option<std::time::Duration>,
}

impl RunOptions {
    /// The workload's environment: the supervisor's (unless `clear_env`), then every `--env`.
    pub fn workload_env(&self) -> Vec<OsString> {
        use std::os::unix::ffi::OsStrExt;
        let mut env: Vec<OsString> = if self.clear_env {
            Vec::new()
        } else {
            std::env::vars_os()
                .map(|(key, value)| {
                    let mut entry = key;
                    entry.push("=");
                    entry.push(value);
                    entry
                })
                .collect()
        };
        for entry in &self.env {
            let key = entry
                .as_bytes()
                .split(|b| *b == b'=')
                .next()
                .unwrap_or_default();
            env.retain(|existing| {
                existing
                    .as_bytes()
                    .split(|b| *b == b'=')
                    .next()
                    .unwrap_or_default()
                    != key
            });
            env.push(entry.clone());
        }
        env
    }
}

/// The names of `KEY=VALUE` entries.
pub(crate) fn env_names(env: &[OsString]) -> Vec<String> {
    env.iter()
        .map(|entry| {
            let text = entry.to_string_lossy();
            text.split('=').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// A hardening step, in the order a boot performs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Step {
    /// The sandbox's control group, below the supervisor's own, with its limits (pids by
    /// default, memory and CPU on request); the init joins it before it forks the workload.
    Cgroup,
    /// The supervisor enters a new network namespace with only `lo` up; the sandbox inherits it.
    NetworkNamespace,
    /// The sandbox's init is created in new PID and IPC namespaces, as its PID 1.
    PidNamespace,
    /// The init enters a new mount namespace, makes every mount private and mounts a fresh `/proc`.
    MountNamespace,
    /// The init builds the workload's filesystem view (a read-only host or a minimal root,
    /// private scratch space, a minimal `/dev`, masked paths) and `pivot_root`s into it.
    FilesystemView,
    /// The workload starts a new session: no controlling terminal.
    Session,
    /// The workload's resource limits (`setrlimit`), only ever lowered.
    Rlimits,
    /// The workload drops every capability: bounding, ambient, inheritable, permitted, effective.
    Capabilities,
    /// The workload takes the target uid, gid and groups, verified.
    PrivilegeDrop,
    /// The workload sets `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// The workload enters a Landlock domain mirroring the view.
    Landlock,
    /// The workload installs its seccomp programs.
    WorkloadSeccomp,
    /// The supervisor installs its own seccomp prelude, once the sandbox exists.
    SupervisorSeccomp,
}

/// Where the report goes. Consumed by [`ReportSink::open`]: a descriptor is owned, and closed,
/// exactly once.
#[derive(Debug)]
pub enum ReportSink {
    /// `--report FILE`: created mode 0600, or an existing regular file of the caller's, truncated
    /// and set to 0600. Never through a symbolic link.
    File(PathBuf),
    /// `--report-fd N`: a descriptor inherited from the caller, open for writing; one JSON line
    /// per record, closed after the final one.
    Fd(OwnedFd),
}

impl std::fmt::Display for ReportSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportSink::File(path) => write!(f, "{}", path.display()),
            ReportSink::Fd(fd) => write!(f, "on descriptor {}", fd.as_raw_fd()),
        }
    }
}

/// The limits the operator asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// `--pids-max`; `steps::cgroup::DEFAULT_PIDS_MAX` when not given.
    pub pids_max: Option<u64>,
    /// `--memory-max`, in bytes.
    pub memory_max: Option<u64>,
    /// `--cpus`, in CPUs (a fraction of one is allowed).
    pub cpus: Option<f64>,
    /// `--cpu-max QUOTA/PERIOD`, in microseconds (instead of `--cpus`).
    pub cpu_max: Option<(u64, u64)>,
}

/// A resource `setrlimit` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Resource {
    /// `RLIMIT_AS`.
    As,
    /// `RLIMIT_CORE`.
    Core,
    /// `RLIMIT_CPU`.
    Cpu,
    /// `RLIMIT_DATA`.
    Data,
    /// `RLIMIT_FSIZE`.
    Fsize,
    /// `RLIMIT_LOCKS`.
    Locks,
    /// `RLIMIT_MEMLOCK`.
    Memlock,
    /// `RLIMIT_MSGQUEUE`.
    Msgqueue,
    /// `RLIMIT_NICE`.
    Nice,
    /// `RLIMIT_NOFILE`.
    Nofile,
    /// `RLIMIT_NPROC`.
    Nproc,
    /// `RLIMIT_RSS`.
    Rss,
    /// `RLIMIT_RTPRIO`.
    Rtprio,
    /// `RLIMIT_RTTIME`.
    Rttime,
    /// `RLIMIT_SIGPENDING`.
    Sigpending,
    /// `RLIMIT_STACK`.
    Stack,
}

/// One `--rlimit NAME=SOFT[:HARD]` (HARD defaults to SOFT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The resource.
    pub resource: Resource,
    /// The soft limit (`RLIM_INFINITY` for `unlimited`).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
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
    /// `--tmpfs-size` in bytes (default `steps::view::DEFAULT_TMPFS_SIZE`).
    pub tmpfs_size: Option<u64>,
}

/// An outer boundary the operator declares with `--outer-boundary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OuterBoundary {
    /// gVisor (runsc): a user-space kernel between the sandbox and the host's.
    Gvisor,
    /// A container runtime (runc, crun, a Kubernetes pod) with its own namespaces and profile.
    Container,
    /// A virtual machine (Firecracker, Kata, Cloud Hypervisor, any hypervisor's guest).
    Vm,
}
