//! The workload's identity: resolved in the parent (NSS lookups allocate and may talk to daemons),
//! dropped and verified in the forked child with async-signal-safe calls only. A root caller that
//! names no `--user` gets a uid of its own for the run ([`alloc`]).

pub(crate) mod alloc;
mod held;
mod scan;
mod walk;

use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User};

use crate::record::Evidence;
use crate::steps::observed::{Expected, Observed, Verified};

/// `--user` could not be resolved. A usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// No such user name.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No such group name.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// A numeric uid without a passwd entry needs an explicit group.
    #[error("uid {0} has no passwd entry; give its group as --user {0}:GID")]
    NoPrimaryGroup(u32),
    /// The NSS lookup itself failed.
    #[error("failed to look up {what}")]
    Lookup {
        /// What was looked up.
        what: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Too many supplementary groups.
    #[error("user {0} has more supplementary groups than the kernel allows")]
    TooManyGroups(String),
    /// uid or gid 4294967295: to the kernel's set*id calls that number means "leave unchanged".
    #[error("{0} 4294967295 is not an id: the kernel reads it as \"leave unchanged\"")]
    Unchangeable(&'static str),
}

/// A fully resolved identity to drop to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Target uid (real, effective and saved).
    pub uid: Uid,
    /// Target gid (real, effective and saved).
    pub gid: Gid,
    /// Supplementary groups, sorted, without duplicates.
    pub groups: Vec<Gid>,
    /// Where it comes from.
    pub origin: Origin,
    /// The names the group database gave the gid and the groups when the identity was prepared
    /// (`None`: no name), which verification reports without asking again; empty when they were
    /// not looked up.
    pub group_names: Vec<(Gid, Option<String>)>,
    /// An allocated uid, once settled: whether the scan that proved it free saw every task of
    /// the machine (`Some(true)`) or only those of the nested PID namespace whose `/proc` the
    /// supervisor has (`Some(false)`: a container's). `None` for other identities.
    pub every_task_seen: Option<bool>,
}

impl Identity {
    /// The identity of a uid allocated for the run from `range`: the same number as its gid, no
    /// supplementary group; the allocation found no group of that number.
    pub(crate) fn allocated(uid: u32, range: alloc::UidRange) -> Identity {
        Identity {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(uid),
            groups: Vec::new(),
            origin: Origin::Allocated(range),
            group_names: vec![(Gid::from_raw(uid), None)],
            every_task_seen: None,
        }
    }
}

/// Proves the uid reserved in `lease` free of the host's tasks ([`alloc::Lease::settle`]) and,
/// when it was held and another was taken, gives `identity` the new one. A no-op without a lease
/// or once settled.
pub(crate) fn settle(
    identity: Option<&mut Identity>,
    lease: Option<&mut alloc::Lease>,
) -> Result<(), alloc::AllocError> {
    let (Some(identity), Some(lease)) = (identity, lease) else {
        return Ok(());
    };
    let settled = lease.settled();
    if let (Some(uid), Origin::Allocated(range)) = (lease.settle()?, identity.origin) {
        *identity = Identity::allocated(uid, range);
    }
    if !settled {
        let every = lease.every_task_seen();
        identity.every_task_seen = Some(every);
        if !every {
            // INFO, not WARN: no step is lost (WARN lines are one per step tolerated or
            // disabled); the report's evidence carries it too.
            tracing::info!(
                uid = lease.uid(),
                scope = "pid-namespace",
                "uid {} is proved free only among the tasks of this PID namespace: the \
                 supervisor's /proc shows no other (a container's), so a process of another \
                 container or of the host may have it; give each container a --uid-range of its \
                 own",
                lease.uid()
            );
        }
    }
    Ok(())
}

/// Where the workload's identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--user`.
    Named,
    /// Allocated for this run from the range.
    Allocated(alloc::UidRange),
}

/// The identity `prepare` resolved, and the lock of an allocated uid (held while it lives).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The identity the workload drops to; `None`: it keeps the caller's.
    pub identity: Option<Identity>,
    /// The lock of an allocated uid: reserved, proved free of the host's tasks by [`settle`].
    pub lease: Option<alloc::Lease>,
}

impl Prepared {
    /// Proves an allocated uid free of the host's tasks now ([`settle`]).
    pub(crate) fn settle(&mut self) -> Result<(), alloc::AllocError> {
        settle(self.identity.as_mut(), self.lease.as_mut())
    }
}

/// The step of the drop that failed, with its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    /// `setgroups`.
    Setgroups,
    /// `setresgid`.
    Setresgid,
    /// `setresuid`.
    Setresuid,
    /// Real/effective/saved ids differ from the target afterwards.
    VerifyIds,
    /// Supplementary groups differ from the target afterwards.
    VerifyGroups,
    /// `setuid(0)` succeeded after dropping root.
    RegainedRoot,
}

impl DropStage {
    /// Every stage, in declaration order (the order of their `as u32` values).
    pub const ALL: [DropStage; 6] = [
        DropStage::Setgroups,
        DropStage::Setresgid,
        DropStage::Setresuid,
        DropStage::VerifyIds,
        DropStage::VerifyGroups,
        DropStage::RegainedRoot,
    ];

    /// The call, as written in messages.
    pub fn syscall(self) -> &'static str {
        match self {
            DropStage::Setgroups => "setgroups",
            DropStage::Setresgid => "setresgid",
            DropStage::Setresuid => "setresuid",
            DropStage::VerifyIds => "getresuid/getresgid (verification)",
            DropStage::VerifyGroups => "getgroups (verification)",
            DropStage::RegainedRoot => "setuid(0) (verification: it succeeded)",
        }
    }
}

/// Resolves `NAME|UID[:GROUP|GID]`.
pub fn resolve(spec: &str) -> Result<Identity, IdentityError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let user = match user_part.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)).map_err(|source| IdentityError::Lookup {
            what: format!("uid {uid}"),
            source,
        })?,
        Err(_) => Some(
            User::from_name(user_part)
                .map_err(|source| IdentityError::Lookup {
                    what: format!("user {user_part:?}"),
                    source,
                })?
                .ok_or_else(|| IdentityError::UnknownUser(user_part.to_owned()))?,
        ),
    };
    let uid = match (&user, user_part.parse::<u32>()) {
        (Some(user), _) => user.uid,
        (None, Ok(uid)) => Uid::from_raw(uid),
        (None, Err(_)) => unreachable!("a name either resolves or is an error above"),
    };
    let gid = match group_part {
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => Gid::from_raw(gid),
            Err(_) => {
                Group::from_name(group)
                    .map_err(|source| IdentityError::Lookup {
                        what: format!("group {group:?}"),
                        source,
                    })?
                    .ok_or_else(|| IdentityError::UnknownGroup(group.to_owned()))?
                    .gid
            }
        },
        None => match &user {
            Some(user) => user.gid,
            None => return Err(IdentityError::NoPrimaryGroup(uid.as_raw())),
        },
    };
    let mut groups = match &user {
        Some(user) => {
            let name = std::ffi::CString::new(user.name.as_bytes())
                .map_err(|_| IdentityError::UnknownUser(user.name.clone()))?;
            nix::unistd::getgrouplist(&name, gid).map_err(|source| match source {
                Errno::EINVAL => IdentityError::TooManyGroups(user.name.clone()),
                source => IdentityError::Lookup {
                    what: format!("groups of {:?}", user.name),
                    source,
                },
            })?
        }
        None => vec![gid],
    };
    if uid.as_raw() == u32::MAX {
        return Err(IdentityError::Unchangeable("uid"));
    }
    if gid.as_raw() == u32::MAX || groups.iter().any(|group| group.as_raw() == u32::MAX) {
        return Err(IdentityError::Unchangeable("gid"));
    }
    groups.sort_by_key(|gid| gid.as_raw());
    groups.dedup();
    Ok(Identity {
        uid,
        gid,
        groups,
        origin: Origin::Named,
        group_names: Vec::new(),
        every_task_seen: None,
    })
}

/// Buffers the child needs for verification, allocated in the parent.
#[derive(Debug)]
pub struct DropScratch {
    groups: Vec<libc::gid_t>,
    target: Vec<libc::gid_t>,
}

impl DropScratch {
    /// Scratch space sized for `identity`.
    pub fn new(identity: &Identity) -> Self {
        // SAFETY: sysconf takes an integer and touches no memory.
        let max = unsafe { libc::sysconf(libc::_SC_NGROUPS_MAX) }.clamp(64, 65536) as usize;
        DropScratch {
            groups: vec![0; max],
            target: identity.groups.iter().map(|gid| gid.as_raw()).collect(),
        }
    }
}

fn resuid() -> Result<[libc::uid_t; 3], Errno> {
    let ids = nix::unistd::getresuid()?;
    Ok([
        ids.real.as_raw(),
        ids.effective.as_raw(),
        ids.saved.as_raw(),
    ])
}

fn resgid() -> Result<[libc::gid_t; 3], Errno> {
    let ids = nix::unistd::getresgid()?;
    Ok([
        ids.real.as_raw(),
        ids.effective.as_raw(),
        ids.saved.as_raw(),
    ])
}

/// The current supplementary groups, sorted in place in `buffer`. Async-signal-safe.
fn current_groups(buffer: &mut [libc::gid_t]) -> Result<&[libc::gid_t], Errno> {
    // SAFETY: `buffer` is valid for `buffer.len()` writes of `gid_t`.
    let count = unsafe { libc::getgroups(buffer.len() as libc::c_int, buffer.as_mut_ptr()) };
    let count = Errno::result(count)? as usize;
    let groups = &mut buffer[..count];
    groups.sort_unstable();
    let unique = dedup_sorted(groups);
    Ok(&buffer[..unique])
}

/// Moves the distinct values of the sorted `groups` to its front, in order, and returns how many
/// there are. In place, without allocating (async-signal-safe); the kernel keeps duplicates that
/// `setgroups` was given.
fn dedup_sorted(groups: &mut [libc::gid_t]) -> usize {
    let mut unique = 0;
    for index in 0..groups.len() {
        if index == 0 || groups[index] != groups[unique - 1] {
            groups[unique] = groups[index];
            unique += 1;
        }
    }
    unique
}

/// True when every group in `current` is in `target`. Both sorted and without duplicates; no
/// allocation (async-signal-safe).
pub fn is_subset<T: Ord>(current: &[T], target: &[T]) -> bool {
    let mut target = target.iter();
    current
        .iter()
        .all(|group| target.by_ref().any(|candidate| candidate == group))
}

/// How strictly the supplementary groups are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Groups {
    /// Exactly the target's (after `setgroups`, or when already there).
    Exact,
    /// A subset of the target's (`setgroups` refused, the ids already the target's).
    Within,
}

/// Drops to `identity` and verifies it took effect. Called in the forked child: no allocation.
///
/// When the process already has exactly the target ids and groups, nothing is changed (so no
/// `CAP_SETGID` is needed), and the verification still runs. When `setgroups` is refused with
/// `EPERM` but the ids already are the target's and the current groups are a subset of the
/// target's, the process holds no more than the target would (typically: already nobody, with
/// an empty group list) and is accepted as it is; with a group the target lacks it fails.
pub fn drop_to(identity: &Identity, scratch: &mut DropScratch) -> Result<(), (DropStage, Errno)> {
    let uid = identity.uid.as_raw();
    let gid = identity.gid.as_raw();
    let ids_match = resuid() == Ok([uid; 3]) && resgid() == Ok([gid; 3]);
    let groups = current_groups(&mut scratch.groups);
    let exact = ids_match && groups.map(|groups| groups == scratch.target.as_slice()) == Ok(true);
    let within = ids_match && groups.map(|groups| is_subset(groups, &scratch.target)) == Ok(true);
    let mut check = Groups::Exact;
    if !exact {
        match nix::unistd::setgroups(&identity.groups) {
            Ok(()) => {
                nix::unistd::setresgid(identity.gid, identity.gid, identity.gid)
                    .map_err(|e| (DropStage::Setresgid, e))?;
                nix::unistd::setresuid(identity.uid, identity.uid, identity.uid)
                    .map_err(|e| (DropStage::Setresuid, e))?;
            }
            Err(Errno::EPERM) if within => check = Groups::Within,
            Err(errno) => return Err((DropStage::Setgroups, errno)),
        }
    }
    check_drop(identity, scratch, check)
}

fn check_drop(
    identity: &Identity,
    scratch: &mut DropScratch,
    check: Groups,
) -> Result<(), (DropStage, Errno)> {
    let uid = identity.uid.as_raw();
    let gid = identity.gid.as_raw();
    match resuid() {
        Ok(ids) if ids == [uid; 3] => {}
        Ok(_) => return Err((DropStage::VerifyIds, Errno::EPERM)),
        Err(errno) => return Err((DropStage::VerifyIds, errno)),
    }
    match resgid() {
        Ok(ids) if ids == [gid; 3] => {}
        Ok(_) => return Err((DropStage::VerifyIds, Errno::EPERM)),
        Err(errno) => return Err((DropStage::VerifyIds, errno)),
    }
    match (current_groups(&mut scratch.groups), check) {
        (Ok(groups), Groups::Exact) if groups == scratch.target.as_slice() => {}
        (Ok(groups), Groups::Within) if is_subset(groups, &scratch.target) => {}
        (Ok(_), _) => return Err((DropStage::VerifyGroups, Errno::EPERM)),
        (Err(errno), _) => return Err((DropStage::VerifyGroups, errno)),
    }
    if uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err((DropStage::RegainedRoot, Errno::UnknownErrno));
    }
    Ok(())
}

/// Ids and groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ids {
    /// Real, effective, saved, filesystem uid.
    pub uid: Vec<u32>,
    /// Real, effective, saved, filesystem gid.
    pub gid: Vec<u32>,
    /// Supplementary groups, as the kernel grants them.
    pub groups: Vec<u32>,
    /// The primary group, then the supplementary ones, by name from the group database (the
    /// number when a group has no name).
    pub group_names: Vec<String>,
    /// On the user-namespace route: the supplementary groups as `/proc` reads them inside the
    /// namespace (an unmapped group reads as the overflow gid, and stays in effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_inside_namespace: Option<Vec<u32>>,
    /// On the user-namespace route: why `groups` are in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_note: Option<&'static str>,
    /// Where the identity comes from: `allocated` (a uid of its own for this run), `named`
    /// (`--user`) or `caller` (the caller's own, kept).
    pub origin: &'static str,
    /// The range an allocated uid was taken from.
    pub uid_range: Option<alloc::UidRange>,
    /// An allocated uid: which tasks it was proved free among, `host` (every task of the
    /// machine) or `pid-namespace` (only those of the supervisor's nested PID namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_free_among: Option<&'static str>,
}

/// What the report says of the groups on the user-namespace route.
pub(crate) const GROUPS_KEPT: &str = "the workload keeps the caller's supplementary groups: the kernel keeps the groups a user namespace does not map (inside they read as the overflow gid) and grants them for file and socket access";

/// In the workload: the drop, with the scratch buffers allocated in the parent (no allocation
/// here). Async-signal-safe.
pub(crate) fn apply(
    identity: &Identity,
    scratch: &mut DropScratch,
) -> Result<(), (crate::steps::Call, Errno)> {
    drop_to(identity, scratch).map_err(|(stage, errno)| (crate::steps::Call::Drop(stage), errno))
}

/// Every uid and gid of the workload is the identity's, and its groups are among the identity's
/// (a caller that already holds fewer groups keeps its smaller set).
pub(crate) fn verify(observed: &Observed, expected: &Expected<'_>) -> Verified {
    let status = &observed.status;
    let (groups, inside) = observed.groups_in_effect();
    let mut held: Vec<u32> = status.gid.first().into_iter().copied().collect();
    for gid in &groups {
        if !held.contains(gid) {
            held.push(*gid);
        }
    }
    // Each distinct group looked up once; the names found when the identity was prepared are
    // not asked again.
    let known = expected
        .identity
        .map_or(&[][..], |identity| &identity.group_names[..]);
    let mut group_names: Vec<String> = held
        .iter()
        .map(|&gid| {
            let gid = Gid::from_raw(gid);
            known
                .iter()
                .find(|(known, _)| *known == gid)
                .map_or_else(|| group_name(gid), |(_, name)| name.clone())
                .unwrap_or_else(|| gid.to_string())
        })
        .collect();
    group_names.dedup();
    let evidence = Ids {
        uid: status.uid.clone(),
        gid: status.gid.clone(),
        groups: groups.clone(),
        group_names,
        groups_note: inside.as_ref().map(|_| GROUPS_KEPT),
        groups_inside_namespace: inside,
        origin: match expected.origin {
            Some(Origin::Allocated(_)) => "allocated",
            Some(Origin::Named) => "named",
            None => "caller",
        },
        uid_range: match expected.origin {
            Some(Origin::Allocated(range)) => Some(range),
            _ => None,
        },
        uid_free_among: expected
            .identity
            .and_then(|identity| identity.every_task_seen)
            .map(|every| if every { "host" } else { "pid-namespace" }),
    };
    let unverified = expected.identity.and_then(|identity| {
        let uid = identity.uid.as_raw();
        let gid = identity.gid.as_raw();
        let target: Vec<u32> = identity.groups.iter().map(|g| g.as_raw()).collect();
        let groups_ok = groups.iter().all(|group| target.contains(group));
        (status.uid.iter().any(|id| *id != uid)
            || status.gid.iter().any(|id| *id != gid)
            || status.uid.is_empty()
            || !groups_ok)
            .then(|| format!("the workload's ids are not the requested ones: {evidence:?}"))
    });
    Verified {
        evidence: Evidence::Ids(evidence),
        unverified,
    }
}

/// The identity the workload runs as: `--user`, else a uid of its own for a root caller (allocated
/// and locked here, see [`alloc`]), else the caller.
///
/// In the parent: NSS may allocate and talk to daemons.
pub(crate) fn prepare(
    options: &crate::options::RunOptions,
) -> Result<Prepared, crate::error::SupervisorError> {
    use crate::error::SupervisorError;
    let range = options.uid_range.unwrap_or(alloc::UidRange::DEFAULT);
    // An embedder's range is checked as the command line's is.
    let range = alloc::UidRange::new(range.first, range.last).map_err(SupervisorError::UidRange)?;
    let mut lease = None;
    let identity = match &options.user {
        Some(spec) => Some(resolve(spec).map_err(SupervisorError::Identity)?),
        // Root without capabilities still owns the host's root-owned files and sockets, and a uid
        // shared by every sandbox (or owned on the host) reaches the others' files and processes.
        // The uid is reserved here; the scan of the host's tasks that proves it free runs on a
        // thread of its own until `settle`, before the uid is given to anything.
        None if nix::unistd::geteuid().is_root() => {
            let taken = alloc::reserve(range).map_err(SupervisorError::Uid)?;
            let id = taken.uid();
            tracing::debug!(uid = id, range = %range, "uid reserved for the run");
            lease = Some(taken);
            Some(Identity::allocated(id, range))
        }
        None => None,
    };
    if let Some(identity) = &identity {
        if (identity.uid.is_root()
            || identity.gid.as_raw() == 0
            || identity.groups.iter().any(|g| g.as_raw() == 0))
            && !options.allow_root
        {
            return Err(SupervisorError::RootNotAllowed);
        }
    }
    let mut identity = identity;
    if let Some(identity) = identity.as_mut().filter(|_| options.user.is_some()) {
        // The groups usually hold the gid too: each distinct group is looked up once.
        let mut held = vec![identity.gid];
        for gid in &identity.groups {
            if !held.contains(gid) {
                held.push(*gid);
            }
        }
        let walked = walk::device_and_socket_groups();
        for gid in held {
            let name = group_name(gid);
            identity.group_names.push((gid, name.clone()));
            let why = if gid.as_raw() == 0 {
                Some("root's group".to_owned())
            } else if name
                .as_deref()
                .is_some_and(|name| HOST_POWER_GROUPS.contains(&name))
            {
                Some("a group with power over the host".to_owned())
            } else if let Some(path) = walked.owners.get(&gid.as_raw()) {
                Some(format!("the group of {}", path.display()))
            } else {
                // A walk cut short clears no group: it may own what was not looked at.
                walked.cut_at.as_ref().map(|path| {
                    format!(
                        "the walk of /dev and /run for its devices and sockets stopped in {} \
                         (too many entries), so it may own one",
                        path.display()
                    )
                })
            };
            let name = name.unwrap_or_else(|| gid.to_string());
            if let Some(why) = why {
                if gid.as_raw() == 0 && options.allow_root {
                    continue;
                }
                if !options.allow_groups.contains(&name) {
                    return Err(SupervisorError::GroupNotAllowed {
                        name,
                        gid: gid.as_raw(),
                        why,
                    });
                }
            }
        }
    }
    Ok(Prepared { identity, lease })
}

/// Groups that have power over the host by their name: their members read secrets (shadow, adm's
/// logs), raw disks and kernel memory (disk, kmem), or become root (docker, sudo).
pub const HOST_POWER_GROUPS: [&str; 6] = ["shadow", "disk", "kmem", "docker", "sudo", "adm"];

/// The group's name in the group database.
pub(crate) fn group_name(gid: Gid) -> Option<String> {
    nix::unistd::Group::from_gid(gid)
        .ok()
        .flatten()
        .map(|group| group.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_by_name_and_number() {
        let by_name = resolve("root").unwrap();
        assert_eq!(by_name.uid.as_raw(), 0);
        assert_eq!(by_name.gid.as_raw(), 0);
        assert_eq!(resolve("0").unwrap(), by_name);
    }

    #[test]
    fn numeric_uid_without_passwd_entry_needs_a_group() {
        assert_eq!(
            resolve("4000000"),
            Err(IdentityError::NoPrimaryGroup(4000000))
        );
        let identity = resolve("4000000:4000001").unwrap();
        assert_eq!(identity.groups, vec![Gid::from_raw(4000001)]);
    }

    #[test]
    fn the_unchanged_id_is_refused() {
        assert_eq!(
            resolve("4294967295:0"),
            Err(IdentityError::Unchangeable("uid"))
        );
        assert_eq!(
            resolve("0:4294967295"),
            Err(IdentityError::Unchangeable("gid"))
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("no-such-user-here"),
            Err(IdentityError::UnknownUser("no-such-user-here".to_owned()))
        );
        assert_eq!(
            resolve("root:no-such-group-here"),
            Err(IdentityError::UnknownGroup("no-such-group-here".to_owned()))
        );
    }

    #[test]
    fn dedup_keeps_each_distinct_group_once_in_order() {
        let cases: [(&[libc::gid_t], &[libc::gid_t]); 6] = [
            (&[], &[]),
            (&[7], &[7]),
            (&[1, 2], &[1, 2]),
            (&[5, 5], &[5]),
            (&[1, 1, 2, 3, 3, 3, 4], &[1, 2, 3, 4]),
            (&[0, 4, 4, 65534], &[0, 4, 65534]),
        ];
        for (input, expected) in cases {
            let mut groups = input.to_vec();
            let unique = dedup_sorted(&mut groups);
            assert_eq!(&groups[..unique], expected, "{input:?}");
        }
    }

    #[test]
    fn subset_is_every_current_group_in_the_target() {
        assert!(is_subset::<u32>(&[], &[]));
        assert!(is_subset::<u32>(&[], &[65534]));
        assert!(is_subset(&[65534], &[65534]));
        assert!(is_subset(&[1, 3], &[1, 2, 3]));
        assert!(!is_subset(&[4], &[1, 2, 3]));
        assert!(!is_subset(&[1, 4], &[1, 2, 3]));
        assert!(!is_subset(&[0, 1], &[1, 2, 3]));
        assert!(!is_subset(&[65534], &[]));
    }
}
