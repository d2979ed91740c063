//! The stable ABI between `sandbox-supervisor` and its failure-handler plugins.
//!
//! # The model
//!
//! `sandbox-supervisor` runs a workload behind hardening steps (a control group of its own,
//! network, PID and IPC, and mount namespaces, a filesystem view, a session, resource limits, no
//! capabilities, a privilege drop, no_new_privs, Landlock, a seccomp filter on the workload and one
//! on itself), eight of which a handler may tolerate. On some hosts the kernel,
//! or an outer sandbox such as gVisor, refuses one of those steps. A *failure handler* decides, for
//! each refusal, whether the supervisor aborts ([`Verdict::Abort`]) or goes on without that
//! protection ([`Verdict::Tolerate`]). Without a plugin every refusal aborts.
//!
//! A plugin is a shared object (`cdylib`) that the operator names with
//! `sandbox-supervisor --handler-plugin /abs/path/libyour_plugin.so`. The supervisor loads it once,
//! before any hardening, and never unloads it.
//!
//! # Writing a plugin
//!
//! Implement [`FailurePolicy`] on a plain Rust type and export it with [`export_plugin!`]:
//!
//! ```
//! use sandbox_plugin_api::errno::EPERM;
//! use sandbox_plugin_api::{
//!     export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
//! };
//!
//! struct OnlyNetns;
//!
//! impl FailurePolicy for OnlyNetns {
//!     const NAME: &'static str = "only-netns";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!
//!     fn tolerates(&self) -> Vec<SandboxFailureKind> {
//!         vec![SandboxFailureKind::NetworkNamespace]
//!     }
//!
//!     fn init(_config: Option<serde_json::Value>) -> Result<Self, String> {
//!         Ok(OnlyNetns)
//!     }
//!
//!     fn handle(&self, report: &FailureReport) -> Verdict {
//!         self.decide(report).verdict
//!     }
//!
//!     fn decide(&self, report: &FailureReport) -> Ruling {
//!         match report.kind {
//!             SandboxFailureKind::NetworkNamespace if report.errno == EPERM => {
//!                 Ruling::tolerate("the pod shares the node's network namespace")
//!             }
//!             _ => Ruling::abort("only a refused network namespace is tolerated"),
//!         }
//!     }
//! }
//!
//! export_plugin!(OnlyNetns);
//! ```
//!
//! with this in the plugin's `Cargo.toml`: a git dependency on a release tag of the
//! sandbox-supervisor repository (or `path = ".../sandbox-supervisor/plugin-api"` into a
//! checkout). The crate is not on the public registry: never add a bare `version`, which
//! `cargo package` would resolve there (docs/plugin-authors.md says how to package a plugin
//! crate):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! sandbox-plugin-api = { git = "https://github.com/sandbox-supervisor/sandbox-supervisor", tag = "sandbox-plugin-api-v0.1.1" }
//! serde_json = "1"
//! ```
//!
//! Check its decisions without root with `sandbox-supervisor simulate --handler-plugin PATH
//! network-namespace=EPERM` (docs/plugin-authors.md in the repository).
//!
//! # Rules the supervisor enforces on every plugin
//!
//! - Only the kinds of [`SandboxFailureKind`] can ever be tolerated: the control group, the
//!   namespaces (network, PID, mount), the filesystem view, Landlock and the two seccomp filters.
//!   The new session, the resource limits, the capability drop, the privilege drop and
//!   no_new_privs are always fatal and never reach a plugin.
//! - [`FailurePolicy::tolerates`] is the plugin's declaration, asked once after `init`. The
//!   supervisor prints it before any hardening and treats a `Tolerate` for an undeclared kind as a
//!   plugin failure.
//! - A kind this plugin was built without (added in a later version of this crate) is answered
//!   `Abort` by the generated glue without calling the policy.
//! - Each decision runs in a short-lived child process of the supervisor, under a deadline
//!   (`--handler-timeout`, default 5 s): state changed while deciding does not persist. Loading
//!   (constructors, `init`, `tolerates`) has the same deadline.
//! - A panic in `init` or `handle` is caught at the boundary and becomes a plugin failure: the
//!   supervisor stops with its own message and exit code.
//! - The supervisor must still be single-threaded and without child processes after loading: a
//!   plugin that starts a thread or a process is refused.
//!
//! # Compatibility promise
//!
//! A plugin built against any 0.1.x release loads into every supervisor built with a later 0.1.x
//! and decides as before. The root module ([`ffi::HandlerMod`]) and the report
//! ([`ffi::FailureReportFfi`]) are frozen as released in 0.1.0; later capabilities are optional
//! extensions, exported under their own symbols and checked separately ([`ffi`] explains how);
//! kinds and verdicts cross as integers; new information for plugins goes into the report's JSON
//! context. A plugin for another ABI line ([`ffi::ABI_VERSION`]) is refused with one line naming
//! both versions.

#![deny(missing_docs)]

use std::fmt;

/// This crate's version (`0.1.2`), which a plugin reports to the supervisor through extension v1.
/// It is not what abi_stable compares: that is [`ffi::ABI_VERSION`].
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod errno;

#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
    pub use serde_json;
}

pub mod ffi;

/// A hardening step whose refusal a handler may decide about.
///
/// Non-exhaustive: later versions may add kinds. Across the ABI a kind travels as its
/// [`code`](Self::code); a code the receiving side does not know is decided as [`Verdict::Abort`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SandboxFailureKind {
    /// `unshare(CLONE_NEWNET)` (or bringing up its loopback) was refused: the workload would share
    /// the host's network namespace.
    NetworkNamespace,
    /// The seccomp filter the supervisor installs on itself was refused: the supervisor could still
    /// mount, load modules, kexec, use bpf, perf or userfaultfd.
    SupervisorSeccomp,
    /// The seccomp filter on the workload was refused: the workload could use user namespaces,
    /// ptrace, fileless exec, raw sockets and the other calls the filter denies.
    WorkloadSeccomp,
    /// `clone(CLONE_NEWPID|CLONE_NEWIPC)` was refused: the workload would share the host's PID
    /// and IPC namespaces, see and signal every process of its uid, and could outlive the
    /// supervisor.
    PidNamespace,
    /// `unshare(CLONE_NEWNS)`, making its mounts private or mounting a fresh `/proc` was refused:
    /// the workload would see the host's `/proc`, through which it could read and write the
    /// memory of every host process of its uid, even in a PID namespace of its own.
    MountNamespace,
    /// The filesystem view (a read-only host or a minimal root, private tmpfs scratch space, a
    /// minimal `/dev`, masked `/proc` and `/sys` paths, `pivot_root`) was refused: the workload
    /// would see and write the host's files, reach its Unix sockets and devices (since 0.1.2).
    FilesystemView,
    /// Landlock (`landlock_create_ruleset`, `landlock_add_rule` or `landlock_restrict_self`) was
    /// refused: no kernel rule bounds the files the workload may write or execute, nor the
    /// abstract sockets and processes it may reach (since 0.1.2).
    Landlock,
    /// Creating the sandbox's control group below the supervisor's own, or setting a limit the
    /// operator asked for in it (`--pids-max`, `--memory-max`, `--cpus`), was refused (a
    /// read-only or undelegated cgroup file system: `EROFS`, `EACCES`, `EPERM`; no hierarchy
    /// with the controller: `EOPNOTSUPP`): the workload runs bounded only by the limits of the
    /// supervisor's own group, if any.
    Cgroup,
}

/// One row of the kind table: everything this crate says about a kind, in one place.
struct KindRow {
    kind: SandboxFailureKind,
    code: u32,
    name: &'static str,
    since: &'static str,
    lost_protection: &'static str,
}

/// The kinds, in code order (a kind's row is at `code - 1`; codes are appended, never reused).
/// Adding a kind is one variant and one row here.
const KINDS: [KindRow; 8] = [
    KindRow {
        kind: SandboxFailureKind::NetworkNamespace,
        code: 1,
        name: "network-namespace",
        since: "0.1.0",
        lost_protection: "the workload shares the supervisor's network namespace",
    },
    KindRow {
        kind: SandboxFailureKind::SupervisorSeccomp,
        code: 2,
        name: "supervisor-seccomp",
        since: "0.1.0",
        lost_protection: "the supervisor is not restricted by its own seccomp prelude",
    },
    KindRow {
        kind: SandboxFailureKind::WorkloadSeccomp,
        code: 3,
        name: "workload-seccomp",
        since: "0.1.0",
        lost_protection: "the workload runs without the workload seccomp filter",
    },
    KindRow {
        kind: SandboxFailureKind::PidNamespace,
        code: 4,
        name: "pid-namespace",
        since: "0.1.1",
        lost_protection: "the workload shares the supervisor's PID and IPC namespaces: it can signal the host's processes of its uid, reach their shared memory, and outlive the supervisor",
    },
    KindRow {
        kind: SandboxFailureKind::MountNamespace,
        code: 5,
        name: "mount-namespace",
        since: "0.1.1",
        lost_protection: "the workload sees the host's /proc: it can read, and write the memory of, every host process of its uid, whatever its PID namespace",
    },
    KindRow {
        kind: SandboxFailureKind::FilesystemView,
        code: 6,
        name: "filesystem-view",
        since: "0.1.2",
        lost_protection: "the workload sees the host's filesystem: it can write every host file its uid may write, share /tmp with other processes, reach host Unix sockets and devices, and execute what it writes",
    },
    KindRow {
        kind: SandboxFailureKind::Landlock,
        code: 7,
        name: "landlock",
        since: "0.1.2",
        lost_protection: "no Landlock domain bounds the workload: only the mount view (if any) limits the files it may write or execute, and it may reach abstract Unix sockets and signal processes outside the sandbox",
    },
    KindRow {
        kind: SandboxFailureKind::Cgroup,
        code: 8,
        name: "cgroup",
        since: "0.1.2",
        lost_protection: "the sandbox has no control group of its own: its processes, memory and CPU are bounded only by the supervisor's own group, if at all",
    },
];

impl SandboxFailureKind {
    /// Every kind this version of the crate knows, in code order (codes are appended, never
    /// reused).
    pub const ALL: [SandboxFailureKind; KINDS.len()] = {
        let mut all = [SandboxFailureKind::NetworkNamespace; KINDS.len()];
        let mut index = 0;
        while index < KINDS.len() {
            all[index] = KINDS[index].kind;
            index += 1;
        }
        all
    };

    /// This kind's row of the table.
    const fn row(self) -> &'static KindRow {
        let mut index = 0;
        while index < KINDS.len() {
            if KINDS[index].kind as u32 == self as u32 {
                return &KINDS[index];
            }
            index += 1;
        }
        panic!("every kind has a row")
    }

    /// The stable integer that represents this kind across the ABI.
    pub const fn code(self) -> u32 {
        self.row().code
    }

    /// The kind for an ABI code, or `None` for a code this version does not know.
    pub const fn from_code(code: u32) -> Option<Self> {
        let mut index = 0;
        while index < KINDS.len() {
            if KINDS[index].code == code {
                return Some(KINDS[index].kind);
            }
            index += 1;
        }
        None
    }

    /// The stable name used in logs, configuration files and reports (`network-namespace`, ...).
    pub const fn name(self) -> &'static str {
        self.row().name
    }

    /// The sandbox-plugin-api release that introduced this kind. A plugin built against an
    /// earlier release never sees it: its glue answers `Abort`.
    pub const fn since(self) -> &'static str {
        self.row().since
    }

    /// The kind with this stable [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The protection that is missing when this step is tolerated, as a sentence fragment.
    pub const fn lost_protection(self) -> &'static str {
        self.row().lost_protection
    }
}

impl fmt::Display for SandboxFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A handler's decision about one refused step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Stop: the workload never runs.
    Abort,
    /// Go on without this protection; the supervisor logs a WARN and records it.
    Tolerate,
}

impl Verdict {
    /// The integer that represents this verdict across the ABI. Any other integer means `Abort`.
    pub const fn code(self) -> u32 {
        match self {
            Verdict::Abort => 0,
            Verdict::Tolerate => 1,
        }
    }

    /// The verdict for an ABI code; `None` for a code that is neither 0 nor 1.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Verdict::Abort),
            1 => Some(Verdict::Tolerate),
            _ => None,
        }
    }
}

/// A verdict with an optional short reason, as [`FailurePolicy::decide`] returns it.
///
/// The reason is shown in the supervisor's WARN line (tolerated) or abort line, and recorded in
/// the report next to the decider. Keep it to one short sentence: the supervisor replaces control
/// characters with spaces and cuts it at [`Ruling::REASON_MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruling {
    /// The decision.
    pub verdict: Verdict,
    /// Why, in one short sentence.
    pub reason: Option<String>,
}

impl Ruling {
    /// The longest reason the supervisor shows, in characters.
    pub const REASON_MAX: usize = 200;

    /// Tolerate, saying why.
    pub fn tolerate(reason: impl Into<String>) -> Self {
        Ruling {
            verdict: Verdict::Tolerate,
            reason: Some(reason.into()),
        }
    }

    /// Abort, saying why.
    pub fn abort(reason: impl Into<String>) -> Self {
        Ruling {
            verdict: Verdict::Abort,
            reason: Some(reason.into()),
        }
    }
}

impl From<Verdict> for Ruling {
    fn from(verdict: Verdict) -> Self {
        Ruling {
            verdict,
            reason: None,
        }
    }
}

/// What the supervisor tells a handler about one refused step.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    /// The step that was refused.
    pub kind: SandboxFailureKind,
    /// The system call that failed, with its decisive argument (`unshare(CLONE_NEWNET)`).
    pub syscall: String,
    /// The raw errno the kernel returned. It is ambiguous (`EPERM` can come from missing
    /// capabilities, an outer seccomp profile or an LSM); decide on it, do not guess its cause.
    pub errno: i32,
    /// The symbolic name of `errno` (`EPERM`), or `errno N` when unknown.
    pub errno_name: String,
    /// One human sentence describing the refusal.
    pub message: String,
    /// What the supervisor could tell about where it runs. It may inform a decision; it is a
    /// heuristic and never switches a step off by itself.
    pub context: FailureContext,
}

/// What the supervisor could tell about its environment when a step was refused.
///
/// Every field is a best-effort observation, not proof: an outer runtime can hide or fake any of
/// them. Non-exhaustive: later versions may add fields.
///
/// It crosses the boundary as a JSON object whose keys are pinned: [`FailureContext::KEYS`] lists
/// them with the release that added each, the JSON Schema of every release is in the
/// repository (`plugin-api/context-schema/`), and keys are only ever added, never renamed,
/// retyped or removed. The glue parses each key on its own ([`FailureContext::from_json`]): a key
/// that is absent or does not parse keeps its default and is listed in
/// [`missing`](Self::missing), while the others keep the values the supervisor sent.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FailureContext {
    /// `/proc/version` carries gVisor's fixed kernel version string.
    pub gvisor: bool,
    /// The clue that the supervisor runs in a container (`/.dockerenv`, `/run/.containerenv`,
    /// the `container` environment variable, `KUBERNETES_SERVICE_HOST`, or a container cgroup),
    /// or `None`.
    pub container: Option<String>,
    /// Threads in the supervisor (1 unless something is wrong).
    pub threads: usize,
    /// The supervisor's effective capability set (`CapEff` in `/proc/self/status`).
    pub effective_capabilities: u64,
    /// The real uid of the supervisor.
    pub uid: u32,
    /// The supervisor's version (`0.1.0`); set in every report a plugin receives since
    /// sandbox-plugin-api 0.1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor_version: Option<String>,
    /// The sandbox-plugin-api version the supervisor was built with (`0.1.1`); set like
    /// `supervisor_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_api_version: Option<String>,
    /// The outer boundary the operator declared with the supervisor's `--outer-boundary`
    /// (`gvisor`, `container` or `vm`), or `None` when none was declared. Unlike the clues above,
    /// this is the operator's word, not a guess; sent (null when none) since sandbox-plugin-api
    /// 0.1.2.
    pub outer_boundary: Option<String>,
    /// The keys of [`KEYS`](Self::KEYS) that the JSON this context was parsed from lacked or
    /// had in a form that does not parse (empty for a context built in-process). Never sent.
    #[serde(skip)]
    missing: Vec<&'static str>,
}

/// Parses `key` of `object` as `T`; `None` (and `key` recorded as missing) when it is absent or
/// does not parse.
fn context_key<T: serde::de::DeserializeOwned>(
    object: &serde_json::Map<String, serde_json::Value>,
    key: &'static str,
    missing: &mut Vec<&'static str>,
) -> Option<T> {
    let parsed = object.get(key).and_then(|value| T::deserialize(value).ok());
    if parsed.is_none() {
        missing.push(key);
    }
    parsed
}

impl FailureContext {
    /// Every key of the context's JSON this version knows, with the sandbox-plugin-api release
    /// that added it. Keys are only ever appended.
    pub const KEYS: [(&'static str, &'static str); 8] = [
        ("gvisor", "0.1.0"),
        ("container", "0.1.0"),
        ("threads", "0.1.0"),
        ("effective_capabilities", "0.1.0"),
        ("uid", "0.1.0"),
        ("supervisor_version", "0.1.1"),
        ("plugin_api_version", "0.1.1"),
        ("outer_boundary", "0.1.2"),
    ];

    /// The context in a report's JSON, parsed key by key: a key that is absent, or whose value
    /// does not parse as its documented type, keeps its default and is listed in
    /// [`missing`](Self::missing); every other key keeps the value the supervisor sent. A text
    /// that is not a JSON object gives the default context with every key missing. Unknown keys
    /// (added by a later supervisor) are ignored.
    pub fn from_json(text: &str) -> FailureContext {
        let mut missing = Vec::new();
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).unwrap_or_default();
        let mut context = FailureContext::default();
        if let Some(gvisor) = context_key(&object, "gvisor", &mut missing) {
            context.gvisor = gvisor;
        }
        if let Some(container) = context_key(&object, "container", &mut missing) {
            context.container = container;
        }
        if let Some(threads) = context_key(&object, "threads", &mut missing) {
            context.threads = threads;
        }
        if let Some(capabilities) = context_key(&object, "effective_capabilities", &mut missing) {
            context.effective_capabilities = capabilities;
        }
        if let Some(uid) = context_key(&object, "uid", &mut missing) {
            context.uid = uid;
        }
        if let Some(version) = context_key(&object, "supervisor_version", &mut missing) {
            context.supervisor_version = version;
        }
        if let Some(version) = context_key(&object, "plugin_api_version", &mut missing) {
            context.plugin_api_version = version;
        }
        if let Some(boundary) = context_key(&object, "outer_boundary", &mut missing) {
            context.outer_boundary = boundary;
        }
        context.missing = missing;
        context
    }

    /// The keys the supervisor's JSON lacked or sent in a form that does not parse: their fields
    /// hold defaults, not observations. A supervisor older than the key's release (see
    /// [`KEYS`](Self::KEYS)) does not send it. Decide as if that clue were unknown; never read a
    /// default as "no capabilities" or "uid 0".
    pub fn missing(&self) -> &[&'static str] {
        &self.missing
    }

    /// True when `key` was missing from the supervisor's JSON (see [`missing`](Self::missing)).
    pub fn is_missing(&self, key: &str) -> bool {
        self.missing.contains(&key)
    }

    /// The same context with `gvisor` set (for a plugin's unit tests: the type is
    /// non-exhaustive, so it cannot be built with a struct literal outside this crate).
    pub fn with_gvisor(mut self, gvisor: bool) -> Self {
        self.gvisor = gvisor;
        self
    }

    /// The same context with the container clue `clue`.
    pub fn with_container(mut self, clue: impl Into<String>) -> Self {
        self.container = Some(clue.into());
        self
    }

    /// The same context with the boundary the operator declared (`--outer-boundary`).
    pub fn with_outer_boundary(mut self, boundary: impl Into<String>) -> Self {
        self.outer_boundary = Some(boundary.into());
        self
    }
}

impl FailureReport {
    /// The same report with `context`.
    pub fn with_context(mut self, context: FailureContext) -> Self {
        self.context = context;
        self
    }

    /// A report with an empty context; `errno_name` is derived from `errno`.
    pub fn new(
        kind: SandboxFailureKind,
        syscall: impl Into<String>,
        errno: i32,
        message: impl Into<String>,
    ) -> Self {
        FailureReport {
            kind,
            syscall: syscall.into(),
            errno,
            errno_name: errno_name(errno),
            message: message.into(),
            context: FailureContext::default(),
        }
    }
}

/// The symbolic name of an errno value (`EPERM`), or `errno N` for one the platform does not name.
pub fn errno_name(errno: i32) -> String {
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::UnknownErrno => format!("errno {errno}"),
        known => format!("{known:?}"),
    }
}

/// The trait a plugin author implements. See the [crate documentation](crate) for an example.
pub trait FailurePolicy: Sized + Send + Sync + 'static {
    /// The plugin's name as operators see it in logs and reports (`plugin:NAME@VERSION`).
    const NAME: &'static str;
    /// The plugin's own version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;

    /// Called once after loading with the operator's configuration (`--handler-config FILE`, a
    /// JSON document), or `None` without one. Return `Err` with one sentence to refuse it; the
    /// supervisor then stops before any hardening.
    fn init(config: Option<serde_json::Value>) -> Result<Self, String>;

    /// The kinds this plugin may ever answer [`Verdict::Tolerate`] for, asked once right after
    /// [`init`](Self::init). The supervisor prints this before any hardening and refuses a
    /// `Tolerate` for any other kind.
    fn tolerates(&self) -> Vec<SandboxFailureKind>;

    /// Decide about one refused step.
    fn handle(&self, report: &FailureReport) -> Verdict;

    /// Decide about one refused step and say why (since 0.1.1). The default is
    /// [`handle`](Self::handle) with no reason; override it to give one, and make `handle` return
    /// `self.decide(report).verdict`.
    ///
    /// Both run in a short-lived child process of the supervisor: what they change in the
    /// plugin's state does not persist to the next call.
    fn decide(&self, report: &FailureReport) -> Ruling {
        self.handle(report).into()
    }
}

/// Exports a [`FailurePolicy`] as this shared object's plugin root module.
///
/// Use it once, at the root of a `cdylib` crate. The generated glue catches panics in `init` and
/// `handle` and reports them to the supervisor as plugin failures.
#[macro_export]
macro_rules! export_plugin {
    ($policy:ty) => {
        impl $crate::ffi::PolicySlot for $policy {
            fn slot() -> &'static ::std::sync::OnceLock<Self> {
                static SLOT: ::std::sync::OnceLock<$policy> = ::std::sync::OnceLock::new();
                &SLOT
            }
        }

        // This is what `abi_stable::export_root_module` expands to, spelled through this crate so
        // that plugin crates need no direct dependency on abi_stable.
        #[doc(hidden)]
        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader:
            $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn __sandbox_plugin_root_module(
            ) -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(
                    $crate::ffi::root_module::<$policy>,
                )
            }
            // SAFETY: the constructor returns the root module of type `HandlerModRef`, the type
            // named here, as `LibHeader::from_constructor` requires.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::ffi::HandlerModRef,
                >(
                    __sandbox_plugin_root_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };

        /// Extension v1 (`decide` with a reason), looked up separately by the supervisor.
        #[doc(hidden)]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static sandbox_handler_ext_v1: $crate::ffi::ExtensionHeader<
            $crate::ffi::HandlerExtV1Ref,
        > = $crate::ffi::ExtensionV1For::<$policy>::HEADER;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_and_names_round_trip() {
        for kind in SandboxFailureKind::ALL {
            assert_eq!(SandboxFailureKind::from_code(kind.code()), Some(kind));
            assert_eq!(SandboxFailureKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(SandboxFailureKind::from_code(0), None);
        assert_eq!(SandboxFailureKind::from_code(9), None);
    }

    /// The codes are the ABI: they never change once released, and the table lists them in
    /// code order without a gap.
    #[test]
    fn kind_table_is_in_code_order_and_frozen() {
        for (index, row) in KINDS.iter().enumerate() {
            assert_eq!(row.code as usize, index + 1, "{}", row.name);
        }
        assert_eq!(SandboxFailureKind::Cgroup.code(), 8);
        assert_eq!(SandboxFailureKind::Cgroup.since(), "0.1.2");
        let released: Vec<(u32, &str, &str)> = SandboxFailureKind::ALL
            .iter()
            .map(|kind| (kind.code(), kind.name(), kind.since()))
            .collect();
        assert_eq!(
            released[..5],
            [
                (1, "network-namespace", "0.1.0"),
                (2, "supervisor-seccomp", "0.1.0"),
                (3, "workload-seccomp", "0.1.0"),
                (4, "pid-namespace", "0.1.1"),
                (5, "mount-namespace", "0.1.1"),
            ]
        );
        assert_eq!(
            released[5..7],
            [(6, "filesystem-view", "0.1.2"), (7, "landlock", "0.1.2")]
        );
    }

    #[test]
    fn verdict_codes_other_than_zero_and_one_are_rejected() {
        assert_eq!(Verdict::from_code(0), Some(Verdict::Abort));
        assert_eq!(Verdict::from_code(1), Some(Verdict::Tolerate));
        assert_eq!(Verdict::from_code(2), None);
        assert_eq!(Verdict::from_code(u32::MAX), None);
    }

    #[test]
    fn export_symbol_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    #[test]
    fn extension_symbol_matches_the_macro() {
        assert_eq!(ffi::EXTENSION_V1_SYMBOL, "sandbox_handler_ext_v1");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(1), "EPERM");
        assert_eq!(errno_name(38), "ENOSYS");
        assert_eq!(errno_name(4242), "errno 4242");
    }
}

#[cfg(test)]
mod context_tests {
    use super::FailureContext;

    const SENT: &str = r#"{"gvisor":true,"container":"/.dockerenv","threads":1,"effective_capabilities":8192,"uid":65534,"supervisor_version":"0.1.0","plugin_api_version":"0.1.2","outer_boundary":"vm"}"#;

    #[test]
    fn every_key_parses_on_its_own() {
        let context = FailureContext::from_json(SENT);
        assert!(context.missing().is_empty());
        assert!(context.gvisor);
        assert_eq!(context.container.as_deref(), Some("/.dockerenv"));
        assert_eq!(context.effective_capabilities, 8192);
        assert_eq!(context.uid, 65534);
        assert_eq!(context.plugin_api_version.as_deref(), Some("0.1.2"));
        assert_eq!(context.outer_boundary.as_deref(), Some("vm"));
        // Serialised again, it is the same JSON: `missing` is never sent.
        assert_eq!(serde_json::to_string(&context).unwrap(), SENT);
    }

    #[test]
    fn a_key_of_another_shape_is_missing_and_the_others_keep_their_values() {
        let sent = SENT.replace(r#""threads":1"#, r#""threads":"1""#).replace(
            r#""container":"/.dockerenv""#,
            r#""container":["/.dockerenv"]"#,
        );
        let context = FailureContext::from_json(&sent);
        assert_eq!(context.missing(), ["container", "threads"]);
        assert!(context.is_missing("threads"));
        assert_eq!(context.container, None);
        assert!(context.gvisor);
        assert_eq!(context.uid, 65534);
        assert_eq!(context.effective_capabilities, 8192);
    }

    #[test]
    fn an_old_supervisor_lacks_the_later_keys_and_null_is_a_value() {
        let context = FailureContext::from_json(
            r#"{"gvisor":false,"container":null,"threads":1,"effective_capabilities":0,"uid":0}"#,
        );
        assert_eq!(
            context.missing(),
            ["supervisor_version", "plugin_api_version", "outer_boundary"]
        );
        assert!(!context.is_missing("container"));
        let context = FailureContext::from_json("not json");
        assert_eq!(context.missing().len(), FailureContext::KEYS.len());
    }
}
