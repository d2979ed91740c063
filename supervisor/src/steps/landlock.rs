//! Landlock: a domain for the workload that mirrors its filesystem view.
//!
//! Built with the `landlock` crate (rust-landlock) in the parent: it asks for every filesystem
//! access right and scope of the newest ABI the crate knows ([`TARGET`]), best effort, so that the
//! running kernel handles what it can and the crate's [`RulesetStatus`] says how much that was
//! (fully, partly, not enforced): the report carries it, never a bare success.
//!
//! Rules are inode-based. The parent adds, through the crate and descriptors it opens itself
//! (`PathFd`), a rule for every host path the view shows: read and execute beneath `/` (or each
//! system directory of `--fs minimal`), everything in the workspaces and read-write binds, read and
//! write on the six devices of the minimal `/dev` and on the host's devpts (the operator's
//! terminal reaches the workload as a descriptor only). The fresh mounts of the view (its tmpfs
//! scratch space, its devpts, a minimal root) do not exist before the init creates them: the init
//! adds their rules once the view is final, with raw `landlock_add_rule` calls on a duplicate of the
//! ruleset's descriptor, from strings and masks prepared here (read and write, never execute: the
//! view mounts them noexec). The workload calls the crate's `restrict_self` after no_new_privs and
//! before its seccomp filter; on success that call makes no allocation.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, PathBeneath, RestrictionStatus, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::errno::Errno;
use serde::Serialize;

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};

use crate::steps::view::{FsMode, View, ViewOptions};

/// The newest ABI this supervisor asks for (the crate's newest).
pub const TARGET: ABI = ABI::V10;

/// What the Landlock step protects under `--fs host-rw`, as the report says it: its rules grant
/// every filesystem right beneath `/`, so only its scopes restrict.
pub const HOST_RW_PROTECTION: &str = "no filesystem restriction (--fs host-rw: every right is granted beneath /); only abstract Unix sockets and signals scoped to the sandbox, where the kernel has the scopes (ABI 6)";

/// The Landlock calls, as written in messages and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LandlockCall {
    /// `landlock_create_ruleset`.
    CreateRuleset,
    /// `landlock_add_rule`.
    AddRule,
    /// `landlock_restrict_self`.
    RestrictSelf,
}

impl LandlockCall {
    /// Every call, in code order.
    pub const ALL: [LandlockCall; 3] = [
        LandlockCall::CreateRuleset,
        LandlockCall::AddRule,
        LandlockCall::RestrictSelf,
    ];

    /// The call as written in messages and reports.
    pub const fn name(self) -> &'static str {
        match self {
            LandlockCall::CreateRuleset => "landlock_create_ruleset",
            LandlockCall::AddRule => "landlock_add_rule",
            LandlockCall::RestrictSelf => "landlock_restrict_self",
        }
    }
}

/// The kernel's Landlock ABI version (`landlock_create_ruleset(NULL, 0, VERSION)`), or the errno
/// that says it has none (`ENOSYS`: not built in, gVisor; `EOPNOTSUPP`: not enabled at boot).
pub fn kernel_abi() -> Result<i32, Errno> {
    // SAFETY: a NULL attribute with size 0 and the VERSION flag only queries the ABI.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, /* LANDLOCK_CREATE_RULESET_VERSION */
        )
    };
    Errno::result(rc).map(|abi| abi as i32)
}

/// A rule the init adds once the view is final: a path as the workload sees it, and a mask.
#[derive(Debug)]
struct InitRule {
    path: CString,
    access: u64,
}

/// The ruleset, prepared in the parent.
pub struct Prepared {
    ruleset: Option<RulesetCreated>,
    /// A duplicate of the ruleset's descriptor for the init's rules.
    raw: OwnedFd,
    init_rules: Vec<InitRule>,
    /// The kernel's ABI.
    pub kernel_abi: i32,
    /// The filesystem rights handled, by name.
    pub handled: Vec<String>,
    /// The rights of [`TARGET`] the kernel does not handle.
    pub not_handled: Vec<String>,
    /// The scopes handled, by name.
    pub scopes: Vec<&'static str>,
    /// How many rules the parent added.
    pub parent_rules: usize,
    /// What the domain restricts, as the report says it.
    pub restricts: &'static str,
    /// Whether it restricts `connect` to path sockets, as the report says it.
    pub path_socket_connect: &'static str,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("raw", &self.raw)
            .field("init_rules", &self.init_rules)
            .field("kernel_abi", &self.kernel_abi)
            .finish_non_exhaustive()
    }
}

/// The ruleset could not be built: a refusal (the errno of the call), or an operator's path
/// that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// The kernel refused a call.
    #[error("{} failed with {}", .0.name(), .1)]
    Refused(LandlockCall, Errno),
    /// `landlock_create_ruleset(VERSION)` returned an ABI below 1: a faked success.
    #[error("landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION) returned {0}, which no kernel answers (an outer filter answered it without doing it)")]
    Faked(i64),
    /// A path of a rule could not be opened without following a symbolic link (the same walk as
    /// the view's binds).
    #[error(transparent)]
    Path(#[from] crate::steps::view::ViewError),
}

fn errno_of(err: &(dyn std::error::Error + 'static)) -> Errno {
    let mut source = Some(err);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Errno::from_raw(code);
            }
        }
        source = err.source();
    }
    Errno::UnknownErrno
}

fn names(flags: BitFlags<AccessFs>) -> Vec<String> {
    flags.iter().map(|flag| format!("{flag:?}")).collect()
}

/// Builds the ruleset for `view` (`None`: no view will be built, the rules use the host's
/// paths) and the options that named the writable places.
pub fn prepare(options: &ViewOptions, view: Option<&View>) -> Result<Prepared, LandlockError> {
    let kernel_abi =
        kernel_abi().map_err(|errno| LandlockError::Refused(LandlockCall::CreateRuleset, errno))?;
    // The kernel's ABIs start at 1: 0 is an outer filter answering the call without doing it.
    if kernel_abi < 1 {
        return Err(LandlockError::Faked(kernel_abi.into()));
    }
    let abi = ABI::from(kernel_abi.min(TARGET as i32));
    let refused = |call: LandlockCall| {
        move |err: landlock::RulesetError| LandlockError::Refused(call, errno_of(&err))
    };
    let all = AccessFs::from_all(TARGET);
    let handled = AccessFs::from_all(abi) & all;
    let scopes = Scope::from_all(abi);
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .map_err(refused(LandlockCall::CreateRuleset))?
        .scope(Scope::from_all(TARGET))
        .map_err(refused(LandlockCall::CreateRuleset))?
        .create()
        .map_err(refused(LandlockCall::CreateRuleset))?;
    let rules = host_rules(options, view);
    let mut parent_rules = 0;
    let file_rights = AccessFs::from_file(TARGET);
    for (option, path, access, optional) in rules {
        // One component at a time, no symbolic link (like the view's binds): the rule is built
        // from this descriptor, so a path swapped for a link since the checks grants nothing.
        // An optional rule (a device the host lacks, or has as a link) is skipped; each path is
        // opened once and its kind read from that descriptor.
        let (fd, checked) = match crate::steps::view::open_checked(option, &path) {
            Ok(opened) => opened,
            Err(_) if optional => continue,
            Err(err) => return Err(err.into()),
        };
        let access = if checked.dir {
            access
        } else {
            access & file_rights
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(refused(LandlockCall::AddRule))?;
        parent_rules += 1;
    }
    // The view's own mounts, added by the init once they exist.
    let init_rules = view.map_or_else(Vec::new, |view| init_rules(view, handled));
    let clone = ruleset
        .try_clone()
        .map_err(|err| LandlockError::Refused(LandlockCall::CreateRuleset, errno_of(&err)))?;
    let raw: Option<OwnedFd> = clone.into();
    let raw = raw.ok_or(LandlockError::Refused(
        LandlockCall::CreateRuleset,
        Errno::ENOSYS,
    ))?;
    Ok(Prepared {
        ruleset: Some(ruleset),
        raw,
        init_rules,
        kernel_abi,
        handled: names(handled),
        not_handled: names(all & !handled),
        scopes: scopes
            .iter()
            .map(|scope| match scope {
                Scope::AbstractUnixSocket => "abstract-unix-socket",
                Scope::Signal => "signal",
                _ => "other",
            })
            .collect(),
        parent_rules,
        restricts: restricts(options.mode, view.is_some()),
        path_socket_connect: if options.mode == FsMode::HostRw {
            "not restricted: --fs host-rw grants every right beneath /"
        } else if handled.contains(AccessFs::ResolveUnix) {
            "restricted (LANDLOCK_ACCESS_FS_RESOLVE_UNIX): only to sockets beneath the writable places"
        } else {
            "not handled by this kernel (needs Landlock ABI 9): the view's masks are the protection"
        },
    })
}

/// What the domain restricts in `mode`, with or without the view.
fn restricts(mode: FsMode, view_built: bool) -> &'static str {
    match (mode, view_built) {
        (FsMode::HostRw, _) => "no filesystem access: --fs host-rw grants every right beneath /; only the scopes restrict",
        (_, true) => "writes to the writable places of the view only; execution nowhere its scratch space is; reads of what the view shows",
        (_, false) => "writes to the workspaces and read-write binds only (no view: the host's /tmp is not writable); reads and execution beneath /",
    }
}

/// A rule from a host path: the option it comes from, the path, its rights, whether optional.
type Rule = (&'static str, PathBuf, BitFlags<AccessFs>, bool);

/// The rules the parent adds from host paths: read and execute beneath `/` (or each system
/// directory of `--fs minimal`; everything with `--fs host-rw`), everything in the workspaces and
/// read-write binds, read on read-only binds, read and write on the minimal `/dev`'s devices and
/// the host's devpts. Each rule names the option it comes from and says whether it is optional
/// (skipped where the host has no such path, or has it as a link).
fn host_rules(options: &ViewOptions, view: Option<&View>) -> Vec<Rule> {
    let all = AccessFs::from_all(TARGET);
    let read = AccessFs::from_read(TARGET);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let mode = options.mode;
    let view_built = view.is_some();
    let rule = "a Landlock rule";
    let mut rules: Vec<Rule> = Vec::new();
    match (mode, view_built) {
        (FsMode::HostRw, _) => rules.push((rule, "/".into(), all, false)),
        (FsMode::Minimal, true) => {
            for dir in crate::steps::view::MINIMAL {
                rules.push((rule, dir.into(), read, true));
            }
        }
        _ => rules.push((rule, "/".into(), read, false)),
    }
    for path in &options.workspaces {
        rules.push(("--workspace", path.clone(), all, false));
    }
    for bind in &options.binds {
        rules.push(if bind.writable {
            ("--bind", bind.source.clone(), all, false)
        } else {
            ("--ro-bind", bind.source.clone(), read, false)
        });
    }
    for name in crate::steps::view::DEVICES {
        rules.push((rule, Path::new("/dev").join(name), device, true));
    }
    rules.push((rule, "/dev/pts".into(), device, true));
    rules
}

/// The rules the init adds once the view is final, for the mounts it made: read and write (never
/// execute) on the scratch space, read and write on its devpts, read on a minimal root.
fn init_rules(view: &View, handled: BitFlags<AccessFs>) -> Vec<InitRule> {
    let read = AccessFs::from_read(TARGET);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let mut init_rules = Vec::new();
    let scratch = (handled & !AccessFs::Execute).bits();
    let mut places: Vec<&str> = crate::steps::view::SCRATCH.to_vec();
    places.extend(["/dev/shm", "/dev/mqueue"]);
    for place in places {
        if view.writable.iter().any(|w| w == place) {
            init_rules.push(InitRule {
                path: CString::new(place).expect("no NUL"),
                access: scratch,
            });
        }
    }
    init_rules.push(InitRule {
        path: c"/dev/pts".to_owned(),
        access: (device & handled).bits(),
    });
    if view.mode == FsMode::Minimal {
        init_rules.push(InitRule {
            path: c"/".to_owned(),
            access: (read & handled).bits(),
        });
    }
    init_rules
}

/// `struct landlock_path_beneath_attr` (packed in the kernel's ABI).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

impl Prepared {
    /// The init's rules, once the view is final. Async-signal-safe.
    pub fn add_init_rules(&self, view_built: bool) -> Result<(), (LandlockCall, Errno)> {
        if !view_built {
            return Ok(());
        }
        for rule in &self.init_rules {
            // SAFETY: `path` is NUL-terminated; the flags take no pointer.
            let fd = unsafe {
                libc::open(
                    rule.path.as_ptr(),
                    libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                )
            };
            let fd: RawFd = match Errno::result(fd) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => continue,
                Err(errno) => return Err((LandlockCall::AddRule, errno)),
            };
            let attr = PathBeneathAttr {
                allowed_access: rule.access,
                parent_fd: fd,
            };
            // SAFETY: `attr` is a valid path-beneath attribute; the ruleset descriptor is open.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    self.raw.as_raw_fd(),
                    1u32, /* LANDLOCK_RULE_PATH_BENEATH */
                    &attr as *const PathBeneathAttr,
                    0u32,
                )
            };
            // SAFETY: `fd` was opened above and is closed once.
            unsafe { libc::close(fd) };
            Errno::result(rc).map_err(|errno| (LandlockCall::AddRule, errno))?;
        }
        Ok(())
    }

    /// Restricts the calling process (the workload, after no_new_privs). Returns the crate's
    /// status as a code for the ready message ([`status_code`]). Async-signal-safe on success.
    pub fn restrict_self(&mut self) -> Result<u8, Errno> {
        let Some(ruleset) = self.ruleset.take() else {
            return Ok(0);
        };
        match ruleset.restrict_self() {
            Ok(status) => Ok(status_code(&status)),
            Err(landlock::RulesetError::RestrictSelf(
                landlock::RestrictSelfError::RestrictSelfCall { source, .. },
            )) => Err(source
                .raw_os_error()
                .map_or(Errno::UnknownErrno, Errno::from_raw)),
            Err(_) => Err(Errno::UnknownErrno),
        }
    }
}

/// A status as one byte: 1 fully, 2 partly, 3 not enforced (0: not applied).
fn status_code(status: &RestrictionStatus) -> u8 {
    match status.ruleset {
        RulesetStatus::FullyEnforced => 1,
        RulesetStatus::PartiallyEnforced => 2,
        RulesetStatus::NotEnforced => 3,
    }
}

/// The name of a status code, as the report writes it.
pub fn status_name(code: u8) -> &'static str {
    match code {
        1 => "fully-enforced",
        2 => "partially-enforced",
        3 => "not-enforced",
        _ => "not-applied",
    }
}

/// The Landlock domain, as the crate's `restrict_self` reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockEvidence {
    /// The crate's `RulesetStatus`: `fully-enforced`, `partially-enforced` or `not-enforced`.
    pub status: &'static str,
    /// The running kernel's Landlock ABI.
    pub kernel_abi: i32,
    /// The ABI the supervisor asks for (the crate's newest).
    pub requested_abi: i32,
    /// The filesystem access rights the kernel handles.
    pub handled: Vec<String>,
    /// Rights of the requested ABI the kernel does not handle (why a status is partial).
    pub not_handled: Vec<String>,
    /// The scopes handled (`abstract-unix-socket`, `signal`).
    pub scopes: Vec<&'static str>,
    /// Rules added from the host's paths by the supervisor.
    pub host_rules: usize,
    /// What the domain restricts (nothing on the filesystem under `--fs host-rw`).
    pub restricts: &'static str,
    /// Whether `connect` to a path socket is restricted (`LANDLOCK_ACCESS_FS_RESOLVE_UNIX`).
    pub path_socket_connect: &'static str,
}

/// Landlock's verification: what the workload's `restrict_self` returned. A domain the crate
/// calls not enforced (or none at all) is not a Landlock step that took effect; a partial one is
/// said, never called fully enforced.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let Some(landlock) = expected.landlock else {
        return Verified {
            evidence: Evidence::Nothing {},
            unverified: None,
        };
    };
    let code = observed.landlock_status;
    let evidence = LandlockEvidence {
        status: status_name(code),
        kernel_abi: landlock.kernel_abi,
        requested_abi: TARGET as i32,
        handled: landlock.handled.clone(),
        not_handled: landlock.not_handled.clone(),
        scopes: landlock.scopes.clone(),
        host_rules: landlock.parent_rules,
        restricts: landlock.restricts,
        path_socket_connect: landlock.path_socket_connect,
    };
    let unverified = (!matches!(code, 1 | 2))
        .then(|| format!("landlock_restrict_self left the workload {evidence:?}"));
    Verified {
        evidence: Evidence::Landlock(evidence),
        unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule's path is opened one component at a time without following a symbolic link: a
    /// workspace swapped for a link after the view's checks is refused, never granted on the
    /// link's target.
    #[test]
    fn a_rule_through_a_symbolic_link_is_refused() {
        if kernel_abi().is_err() {
            eprintln!("skipped: this kernel has no Landlock");
            return;
        }
        let dir = std::env::temp_dir().join(format!("landlock-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        let _ = std::fs::remove_file(dir.join("link"));
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let options = |path: &str| ViewOptions {
            workspaces: vec![dir.join(path)],
            ..ViewOptions::default()
        };
        let linked = prepare(&options("link"), None);
        let real = prepare(&options("real"), None);
        std::fs::remove_dir_all(&dir).unwrap();
        match linked {
            Err(LandlockError::Path(err)) => {
                assert!(err.to_string().contains("symbolic link"), "{err}")
            }
            other => panic!("a workspace through a link gave {other:?}"),
        }
        assert!(real.is_ok(), "{real:?}");
    }
}
