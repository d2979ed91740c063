//! Capabilities: the workload holds none, whatever its uid.
//!
//! The bounding and ambient sets are cleared while the child still holds `CAP_SETPCAP` (before the
//! privilege drop); the inheritable, permitted and effective sets are cleared with `capset` after
//! it (a drop to a non-zero uid clears permitted and effective itself, a workload that stays uid 0
//! needs the explicit `capset`). Every call here is async-signal-safe: the forked child makes them.
//! The parent verifies the result from the paused child's `/proc/PID/status`.

use nix::errno::Errno;

use crate::record::Evidence;
use crate::steps::observed::{held_beyond, Expected, Observed, Verified};
use crate::steps::Call;

/// `CAP_SETPCAP`: the capability that lets a process empty its bounding set.
pub const CAP_SETPCAP: u32 = 8;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`), read in the
/// parent. Without that file (gVisor), the highest number the bounding set answers for.
pub fn last_cap() -> u32 {
    if let Some(last) =
        crate::procfs::read_file(std::path::Path::new("/proc/sys/kernel/cap_last_cap"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
    {
        return last;
    }
    let mut last = 0;
    while last < 63 && bounding_has(last + 1).is_ok() {
        last += 1;
    }
    last
}

/// Whether `cap` is in the calling thread's bounding set (`EINVAL` past the last capability).
fn bounding_has(cap: u32) -> Result<bool, Errno> {
    // SAFETY: PR_CAPBSET_READ takes an integer and reads only the calling thread's credentials.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
    Errno::result(rc).map(|set| set == 1)
}

/// What [`drop_bounding_and_ambient`] could do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounding {
    /// The bounding set is empty now.
    Cleared,
    /// The caller lacks `CAP_SETPCAP` in its user namespace, so the bounding set stays as it was;
    /// with no_new_privs no exec can raise a capability from it.
    KeptWithoutSetpcap,
}

/// The call that failed, for the child's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapsCall {
    /// `prctl(PR_CAPBSET_DROP)`.
    BoundingDrop,
    /// `prctl(PR_CAP_AMBIENT_CLEAR_ALL)`.
    AmbientClear,
    /// `capset`.
    Capset,
    /// `capget` shows a set that is not empty.
    Verify,
}

fn holds_setpcap() -> Result<bool, Errno> {
    let (_, data) = capget()?;
    let bit = crate::steps::capabilities::CAP_SETPCAP as usize;
    Ok(data[bit / 32].effective & (1 << (bit % 32)) != 0)
}

/// Empties the bounding set (when the caller may) but for the capabilities in `keep`, and the
/// ambient set; with `keep` not empty, sets `PR_SET_KEEPCAPS` so that the id change keeps the
/// permitted set for [`clear_sets`] to narrow. Async-signal-safe.
pub fn drop_bounding_and_ambient(last_cap: u32, keep: u64) -> Result<Bounding, (CapsCall, Errno)> {
    // PR_CAP_AMBIENT is EINVAL on kernels before 4.3, which have no ambient set to clear.
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integers and changes only the calling thread.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    match Errno::result(rc) {
        Ok(_) | Err(Errno::EINVAL) => {}
        Err(errno) => return Err((CapsCall::AmbientClear, errno)),
    }
    if keep != 0 {
        // SAFETY: PR_SET_KEEPCAPS takes integers and changes only the calling thread.
        let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
        Errno::result(rc).map_err(|errno| (CapsCall::Capset, errno))?;
    }
    if !holds_setpcap().map_err(|errno| (CapsCall::Verify, errno))? {
        return Ok(Bounding::KeptWithoutSetpcap);
    }
    for cap in (0..=last_cap).filter(|cap| keep & (1 << cap) == 0) {
        // SAFETY: PR_CAPBSET_DROP takes an integer and changes only the calling thread.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        match Errno::result(rc) {
            Ok(_) => {}
            // A capability the running kernel does not know.
            Err(Errno::EINVAL) if cap > 0 => break,
            Err(errno) => return Err((CapsCall::BoundingDrop, errno)),
        }
    }
    // The result read back at once from the kernel's own account of this thread's bounding set
    // (three calls), the same fact as one `PR_CAPBSET_READ` per capability, which remains the way
    // where that file cannot be read (no /proc).
    let dropped = (0..=last_cap.min(63))
        .filter(|cap| keep & (1 << cap) == 0)
        .fold(0u64, |mask, cap| mask | 1 << cap);
    if let Some(bounding) = bounding_set() {
        return match bounding & dropped {
            0 => Ok(Bounding::Cleared),
            _ => Err((CapsCall::Verify, Errno::EPERM)),
        };
    }
    for cap in (0..=last_cap).filter(|cap| keep & (1 << cap) == 0) {
        match bounding_has(cap) {
            Ok(false) | Err(Errno::EINVAL) => {}
            Ok(true) => return Err((CapsCall::Verify, Errno::EPERM)),
            Err(errno) => return Err((CapsCall::Verify, errno)),
        }
    }
    Ok(Bounding::Cleared)
}

/// The calling thread's bounding set (`CapBnd` of `/proc/thread-self/status`), read with one
/// `read` into a buffer on the stack; `None` when the file cannot be read or shows no such line.
/// Async-signal-safe.
fn bounding_set() -> Option<u64> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC;
    // SAFETY: the literal is a NUL-terminated path.
    let fd = unsafe { libc::open(c"/proc/thread-self/status".as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    let mut buffer = [0u8; 8192];
    // SAFETY: `buffer` is live and writable for its length; `fd` is open.
    let got = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    let text = &buffer[..usize::try_from(got).ok()?];
    let key = b"\nCapBnd:\t";
    let at = text.windows(key.len()).position(|window| window == key)? + key.len();
    let digits = text.get(at..at + 16)?;
    digits.iter().try_fold(0u64, |value, digit| {
        let nibble = (*digit as char).to_digit(16)?;
        Some(value << 4 | u64::from(nibble))
    })
}

fn capget() -> Result<(CapHeader, [CapData; 2]), Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` are the version-3 structures capget expects (two data words);
    // the kernel writes only into them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    Errno::result(rc).map(|_| (header, data))
}

/// The calling thread's permitted set. Async-signal-safe.
pub fn permitted() -> Result<u64, Errno> {
    let (_, data) = capget()?;
    Ok(u64::from(data[0].permitted) | u64::from(data[1].permitted) << 32)
}

/// In the parent: a caller that would run the workload as another uid must hold `CAP_KILL`, which
/// the sandbox's init keeps to signal it. Without it the init could not forward a signal, and it
/// cannot keep what it does not have: a usage error naming the capability, before any step.
pub(crate) fn check_caller(
    identity: Option<&crate::steps::identity::Identity>,
) -> Result<(), crate::error::SupervisorError> {
    let Some(identity) = identity else {
        return Ok(());
    };
    let euid = nix::unistd::geteuid();
    let held = permitted().unwrap_or(u64::MAX);
    let kill = 1u64 << crate::sandbox::INIT_CAPABILITY;
    let direct = euid.is_root() || held & (1 << 7) != 0; // CAP_SETUID: the ids change directly
    if identity.uid == euid || !direct || held & kill != 0 {
        return Ok(());
    }
    Err(crate::error::SupervisorError::MissingCapability {
        capability: "CAP_KILL",
        why: format!(
            "the sandbox's init (uid {euid}) needs to signal the workload, which runs as uid {}",
            identity.uid
        ),
        grant: "docker run --cap-add KILL; Kubernetes securityContext.capabilities.add: [\"KILL\"]; systemd CapabilityBoundingSet= with CAP_KILL",
    })
}

/// Narrows the inheritable, permitted and effective sets to `keep` (empty by default), raises
/// `keep` in the ambient set so that it survives `execve` for a non-root workload, and checks the
/// result. Async-signal-safe.
pub fn clear_sets(keep: u64) -> Result<(), (CapsCall, Errno)> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let word = |index: usize| (keep >> (32 * index)) as u32;
    let data = [0, 1].map(|index| CapData {
        effective: word(index),
        permitted: word(index),
        inheritable: word(index),
    });
    // SAFETY: `header` and `data` are the version-3 structures capset expects; the kernel only
    // reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    Errno::result(rc).map_err(|errno| (CapsCall::Capset, errno))?;
    for cap in (0..64u32).filter(|cap| keep & (1 << cap) != 0) {
        // SAFETY: PR_CAP_AMBIENT_RAISE takes integers and changes only the calling thread.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0,
                0,
            )
        };
        Errno::result(rc).map_err(|errno| (CapsCall::Capset, errno))?;
    }
    let (_, now) = capget().map_err(|errno| (CapsCall::Verify, errno))?;
    if now.iter().enumerate().any(|(index, set)| {
        set.effective != word(index)
            || set.permitted != word(index)
            || set.inheritable != word(index)
    }) {
        return Err((CapsCall::Verify, Errno::EPERM));
    }
    Ok(())
}

/// Capability names by number, as `capabilities(7)` spells them (for reports).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities `--cap-add` may keep: none of them reaches the host's file system, ids,
/// devices or kernel, which the sandbox shares (Docker's defaults such as SETUID, SETFCAP, MKNOD,
/// CHOWN, FOWNER or DAC_OVERRIDE all do here, and SYS_PTRACE reaches the sandbox's init).
pub const ADDABLE: [u32; 4] = [
    10, // CAP_NET_BIND_SERVICE
    11, // CAP_NET_BROADCAST
    14, // CAP_IPC_LOCK
    29, // CAP_AUDIT_WRITE
];

/// The capability called `name` (`NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE`, any case).
pub fn by_name(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES
        .iter()
        .position(|known| *known == full)
        .map(|cap| cap as u32)
}

/// The names of the capabilities in `mask`.
pub fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| {
            NAMES
                .get(bit)
                .map_or_else(|| format!("cap_{bit}"), |name| (*name).to_owned())
        })
        .collect()
}

/// The capability sets, by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Each set's capabilities by name (empty lists when dropped).
    pub sets: CapabilityNames,
    /// `cleared`, or why the bounding set was kept.
    pub bounding: &'static str,
}

/// Capability sets by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CapabilityNames {
    /// `CapInh`.
    pub inheritable: Option<Vec<String>>,
    /// `CapPrm`.
    pub permitted: Option<Vec<String>>,
    /// `CapEff`.
    pub effective: Option<Vec<String>>,
    /// `CapBnd`.
    pub bounding: Option<Vec<String>>,
    /// `CapAmb`.
    pub ambient: Option<Vec<String>>,
}

impl From<crate::procfs::Capabilities> for CapabilityNames {
    fn from(caps: crate::procfs::Capabilities) -> Self {
        let names = |mask: Option<u64>| mask.map(names);
        CapabilityNames {
            inheritable: names(caps.inheritable),
            permitted: names(caps.permitted),
            effective: names(caps.effective),
            bounding: names(caps.bounding),
            ambient: names(caps.ambient),
        }
    }
}

/// In the parent: the capabilities the workload keeps (`--cap-add`, checked against [`ADDABLE`]
/// by the command line), as a mask; logged at WARN when there are any.
pub(crate) fn prepare(options: &crate::options::RunOptions) -> u64 {
    let keep = options
        .cap_add
        .iter()
        .fold(0u64, |mask, cap| mask | 1 << cap);
    if keep != 0 {
        tracing::warn!(
            capabilities = ?names(keep),
            "the workload keeps capabilities the operator added (--cap-add)"
        );
    }
    keep
}

/// In the workload, before the ids change: the bounding and ambient sets. Async-signal-safe.
pub(crate) fn apply_before_ids(last_cap: u32, keep: u64) -> Result<(), (Call, Errno)> {
    drop_bounding_and_ambient(last_cap, keep)
        .map(drop)
        .map_err(call_of)
}

/// In the workload, after the ids changed: the remaining sets. Async-signal-safe.
pub(crate) fn apply_after_ids(keep: u64) -> Result<(), (Call, Errno)> {
    clear_sets(keep).map_err(call_of)
}

fn call_of((call, errno): (CapsCall, Errno)) -> (Call, Errno) {
    let call = match call {
        CapsCall::BoundingDrop => Call::CapbsetDrop,
        CapsCall::AmbientClear => Call::AmbientClear,
        CapsCall::Capset => Call::Capset,
        CapsCall::Verify => Call::VerifyCapabilities,
    };
    (call, errno)
}

/// Every set of the workload holds at most what the operator kept (nothing by default; the
/// bounding set only when the caller could clear it), and the sandbox's init holds nothing but
/// `CAP_KILL`, and no descriptor but its status pipe.
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let kept = expected.kept_capabilities;
    let evidence = Capabilities {
        sets: observed.status.caps.into(),
        bounding: if !observed.setpcap {
            "kept: the caller lacks CAP_SETPCAP; no_new_privs keeps exec from raising any"
        } else if kept != 0 {
            "cleared but for the capabilities kept with --cap-add"
        } else {
            "cleared"
        },
    };
    let held = held_beyond(&observed.status.caps, kept, observed.setpcap);
    let init_allowed = 1u64 << crate::sandbox::INIT_CAPABILITY;
    let init_held = held_beyond(&observed.init_caps, init_allowed, observed.setpcap);
    // The init keeps its status pipe alone: any other descriptor is the supervisor's (the uid's
    // lock, the lock directory, the groups' files, Landlock's rulesets), kept when `close_range`
    // only answered success. Counted: what each names takes ptrace access to read. A listing
    // without even the status pipe proves nothing (a `getdents64` that only answered success).
    let init_kept = observed.init_fds.as_ref().filter(|fds| fds.len() != 1);
    let unverified = if !held.is_empty() {
        Some(format!("the capability drop returned success but the workload still holds {held:?}: {evidence:?}"))
    } else if !init_held.is_empty() {
        Some(format!(
            "the sandbox's init still holds more than CAP_KILL in {init_held:?}"
        ))
    } else {
        init_kept.map(|kept| if kept.is_empty() {
            "the sandbox's init kept the supervisor's descriptors unseen: the listing of /proc/INIT/fd showed none, not even its status pipe (a getdents64 answered success without listing)".to_owned()
        } else { format!(
            "the sandbox's init kept the supervisor's descriptors: it holds {kept:?} where only its status pipe should be left (a close_range or close answered success without closing)"
        )})
    };
    Verified {
        evidence: Evidence::Capabilities(evidence),
        unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root caller's paused sandbox as `/proc` shows it when every drop took effect: the
    /// workload holds nothing, the init only `CAP_KILL`.
    fn dropped() -> Observed {
        let empty = Some(0);
        let mut observed = Observed {
            setpcap: true,
            ..Observed::default()
        };
        observed.status.caps = crate::procfs::Capabilities {
            inheritable: empty,
            permitted: empty,
            effective: empty,
            bounding: empty,
            ambient: empty,
        };
        let kill = Some(1 << crate::sandbox::INIT_CAPABILITY);
        observed.init_caps = crate::procfs::Capabilities {
            inheritable: empty,
            permitted: kill,
            effective: kill,
            bounding: kill,
            ambient: empty,
        };
        observed
    }

    #[test]
    fn a_workload_without_capabilities_and_an_init_with_cap_kill_verify() {
        let verified = verify(&dropped(), &Expected::default());
        assert_eq!(verified.unverified, None);
    }

    #[test]
    fn a_workload_that_kept_a_capability_fails_verification() {
        let mut observed = dropped();
        observed.status.caps.effective = Some(1 << CAP_SETPCAP);
        let verified = verify(&observed, &Expected::default());
        assert!(
            verified
                .unverified
                .as_deref()
                .is_some_and(|detail| detail.contains("CapEff")),
            "{verified:?}"
        );
        // What the operator kept with --cap-add is no failure.
        let kept = Expected {
            kept_capabilities: 1 << CAP_SETPCAP,
            ..Expected::default()
        };
        assert_eq!(verify(&observed, &kept).unverified, None);
    }

    /// The init keeps its status pipe and nothing of the supervisor's: a `close_range` that only
    /// answered success (found by the attacker's pass of the seventh session) stops the boot.
    #[test]
    fn an_init_that_kept_the_supervisors_descriptors_fails_verification() {
        let mut observed = dropped();
        observed.init_fds = Some(vec!["9: pipe:[4242]".to_owned()]);
        assert_eq!(verify(&observed, &Expected::default()).unverified, None);
        // Not listed (an unprivileged caller's init): not checked.
        observed.init_fds = None;
        assert_eq!(verify(&observed, &Expected::default()).unverified, None);
        // Its one descriptor, unreadable (a supervisor without CAP_SYS_PTRACE): no failure.
        observed.init_fds = Some(vec!["9".to_owned()]);
        assert_eq!(verify(&observed, &Expected::default()).unverified, None);
        for kept in [
            vec![],
            vec!["4: /run/sandbox-supervisor/uids/61184", "9: pipe:[4242]"],
            vec!["9: pipe:[4242]", "10: pipe:[4243]"],
            vec!["4", "9"],
        ] {
            observed.init_fds = Some(kept.iter().map(|fd| (*fd).to_owned()).collect());
            let verified = verify(&observed, &Expected::default());
            assert!(
                verified.unverified.as_deref().is_some_and(|detail| detail
                    .starts_with("the sandbox's init kept the supervisor's descriptors")),
                "{kept:?}: {verified:?}"
            );
        }
    }

    /// The init is the workload's PID 1: a root init that kept more than `CAP_KILL` (a drop that
    /// returned success without effect) stops the boot.
    #[test]
    fn an_init_holding_more_than_cap_kill_fails_verification() {
        for set in ["CapPrm", "CapEff", "CapBnd", "CapInh", "CapAmb"] {
            let mut observed = dropped();
            let all = Some((1u64 << 41) - 1);
            match set {
                "CapPrm" => observed.init_caps.permitted = all,
                "CapEff" => observed.init_caps.effective = all,
                "CapBnd" => observed.init_caps.bounding = all,
                "CapInh" => observed.init_caps.inheritable = all,
                _ => observed.init_caps.ambient = all,
            }
            let verified = verify(&observed, &Expected::default());
            assert_eq!(
                verified.unverified,
                Some(format!(
                    "the sandbox's init still holds more than CAP_KILL in [\"{set}\"]"
                )),
                "{set}"
            );
        }
        // Without CAP_SETPCAP the bounding set cannot be cleared: it is no failure then.
        let mut observed = dropped();
        observed.setpcap = false;
        observed.init_caps.bounding = Some(u64::MAX);
        observed.status.caps.bounding = Some(u64::MAX);
        assert_eq!(verify(&observed, &Expected::default()).unverified, None);
    }

    #[test]
    fn names_of_a_mask() {
        assert_eq!(names(0), Vec::<String>::new());
        assert_eq!(names(1 << 21 | 1), ["CAP_CHOWN", "CAP_SYS_ADMIN"]);
        assert_eq!(names(1 << 45), ["cap_45"]);
    }

    #[test]
    fn names_parse_in_docker_spelling() {
        assert_eq!(by_name("NET_BIND_SERVICE"), Some(10));
        assert_eq!(by_name("cap_sys_admin"), Some(21));
        assert_eq!(by_name("NO_SUCH"), None);
    }

    #[test]
    fn the_bounding_set_is_read_from_status() {
        let read = bounding_set().expect("CapBnd");
        for cap in 0..=last_cap() {
            assert_eq!(
                read & (1 << cap) != 0,
                bounding_has(cap) == Ok(true),
                "{cap}"
            );
        }
    }

    #[test]
    fn last_cap_is_plausible() {
        let last = last_cap();
        assert!((36..64).contains(&last), "{last}");
    }
}
