//! `outer-seccomp REFUSALS -- COMMAND [ARGS...]`: stands in for a container runtime's seccomp
//! profile. It installs a filter that refuses the calls named in REFUSALS and execs COMMAND under
//! it.
//!
//! REFUSALS is a comma list of `CALLS[=ERRNO]` (or `none`); ERRNO is a name (`EPERM`, `EACCES`,
//! `EINVAL`, `ENOSYS`, `EOPNOTSUPP`) or a number, `EPERM` when omitted, and `0` fakes success (the
//! call returns 0 without doing anything, as an `SCMP_ACT_ERRNO(0)` rule does). CALLS is one of:
//!
//! - `netns`, `pidns`, `mountns`, `userns`: `unshare` and `clone` with `CLONE_NEWNET`,
//!   `CLONE_NEWPID`, `CLONE_NEWNS` or `CLONE_NEWUSER` set (other flags pass); `pidns` also every
//!   `clone3` (its flags are in memory, out of a filter's reach; the supervisor clones its init
//!   with `clone3` where it can, and falls back to `clone`);
//! - `clone3`: every `clone3` (`clone3=ENOSYS` stands in for a runtime that answers it so, as
//!   moby's profile does);
//! - `mount`: every `mount`;
//! - `seccomp`: `seccomp(SECCOMP_SET_MODE_FILTER)` and `prctl(PR_SET_SECCOMP)`;
//! - `nnp`: `prctl(PR_SET_NO_NEW_PRIVS)`;
//! - `setsid`, `setgroups`, `setresgid`, `setresuid`, `capset`: every call of that name;
//! - `pivot`: every `pivot_root` (the filesystem view);
//! - `setattr`: every `mount_setattr` (`ENOSYS` stands in for a kernel before 5.12);
//! - `landlock`: every `landlock_create_ruleset`, `landlock_add_rule`, `landlock_restrict_self`;
//! - `cgroup`: every `mkdir` and `mkdirat` (the supervisor's group below its own);
//! - `setrlimit`: `setrlimit`, and `prlimit64` with a new limit (reading one passes);
//! - `pidfd`: every `pidfd_open`;
//! - `statx`: every `statx`;
//! - `pidfd-thread`: every `pidfd_open` with `PIDFD_THREAD`;
//! - `pidfd-others`: every `pidfd_open` of a pid other than the command's own (exec keeps the
//!   helper's pid);
//! - `dupfd`: every `fcntl(F_DUPFD_CLOEXEC)`;
//! - `close_range`: every `close_range`; `close_range-cloexec`: those with `CLOSE_RANGE_CLOEXEC`
//!   (the workload's, which marks descriptors instead of closing them); `close-of-N`: every
//!   `close` of descriptor N;
//! - `flock`: every `flock`; `flock-above-N`: every `flock` of a descriptor above N;
//! - `openat-at-N`: every `openat` below the directory open on descriptor N;
//! - `capbset`: every `prctl(PR_CAPBSET_READ)` (made by libcap's constructor, which NSS's
//!   `libnss_systemd` loads).
//!
//! ERRNO may also be `KILL_THREAD`: the calling thread is killed (libseccomp's `SCMP_ACT_KILL`),
//! not answered.
//!
//! Refusals with different errnos go into separate programs (one per errno): a seccomp program
//! has one match action.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompRule {
    SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        op,
        value,
    )
    .expect("a valid condition")])
    .expect("a valid rule")
}

/// Every call of `nr`, whatever its arguments: an empty rule list matches unconditionally.
fn every(rules: &mut Rules, nr: i64) {
    rules.insert(nr, Vec::new());
}

/// Every `fcntl` with the command `cmd`.
fn fcntl(rules: &mut Rules, cmd: libc::c_int) {
    rules
        .entry(libc::SYS_fcntl)
        .or_default()
        .push(rule(1, SeccompCmpOp::Eq, cmd as u64));
}

fn with_flag(rules: &mut Rules, flag: libc::c_int) {
    let flag = flag as u64;
    for nr in [libc::SYS_unshare, libc::SYS_clone] {
        rules
            .entry(nr)
            .or_default()
            .push(rule(0, SeccompCmpOp::MaskedEq(flag), flag));
    }
}

/// The action `KILL_THREAD` stands for, among the errnos.
const KILL_THREAD: u32 = u32::MAX;

fn errno_of(text: &str) -> Option<u32> {
    if text == "KILL_THREAD" {
        return Some(KILL_THREAD);
    }
    let named = [
        ("EPERM", libc::EPERM),
        ("EACCES", libc::EACCES),
        ("EINVAL", libc::EINVAL),
        ("ENOSYS", libc::ENOSYS),
        ("EOPNOTSUPP", libc::EOPNOTSUPP),
        ("EBADF", libc::EBADF),
    ];
    match named.iter().find(|(name, _)| *name == text) {
        Some((_, errno)) => Some(*errno as u32),
        None => text.parse().ok(),
    }
}

fn add(rules: &mut Rules, calls: &str) -> Result<(), String> {
    match calls {
        "netns" => with_flag(rules, libc::CLONE_NEWNET),
        "pidns" => {
            with_flag(rules, libc::CLONE_NEWPID);
            every(rules, libc::SYS_clone3);
        }
        "mountns" => with_flag(rules, libc::CLONE_NEWNS),
        "userns" => with_flag(rules, libc::CLONE_NEWUSER),
        "mount" => every(rules, libc::SYS_mount),
        "seccomp" => {
            rules.entry(libc::SYS_seccomp).or_default().push(rule(
                0,
                SeccompCmpOp::Eq,
                libc::SECCOMP_SET_MODE_FILTER as u64,
            ));
            rules.entry(libc::SYS_prctl).or_default().push(rule(
                0,
                SeccompCmpOp::Eq,
                libc::PR_SET_SECCOMP as u64,
            ));
        }
        "nnp" => rules.entry(libc::SYS_prctl).or_default().push(rule(
            0,
            SeccompCmpOp::Eq,
            libc::PR_SET_NO_NEW_PRIVS as u64,
        )),
        "clone3" => every(rules, libc::SYS_clone3),
        "setsid" => every(rules, libc::SYS_setsid),
        "setgroups" => every(rules, libc::SYS_setgroups),
        "setresgid" => every(rules, libc::SYS_setresgid),
        "setresuid" => every(rules, libc::SYS_setresuid),
        "capset" => every(rules, libc::SYS_capset),
        "pivot" => every(rules, libc::SYS_pivot_root),
        "setattr" => every(rules, libc::SYS_mount_setattr),
        "landlock" => {
            every(rules, libc::SYS_landlock_create_ruleset);
            every(rules, libc::SYS_landlock_add_rule);
            every(rules, libc::SYS_landlock_restrict_self);
        }
        "cgroup" => {
            every(rules, libc::SYS_mkdir);
            every(rules, libc::SYS_mkdirat);
        }
        "setrlimit" => {
            every(rules, libc::SYS_setrlimit);
            rules.entry(libc::SYS_prlimit64).or_default().push(
                SeccompRule::new(vec![SeccompCondition::new(
                    2,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::Ne,
                    0,
                )
                .expect("a valid condition")])
                .expect("a valid rule"),
            );
        }
        "pidfd" => every(rules, libc::SYS_pidfd_open),
        "statx" => every(rules, libc::SYS_statx),
        "pidfd-thread" => {
            // `PIDFD_THREAD` is `O_EXCL`.
            let thread = libc::O_EXCL as u64;
            rules.insert(
                libc::SYS_pidfd_open,
                vec![rule(1, SeccompCmpOp::MaskedEq(thread), thread)],
            );
        }
        "pidfd-others" => {
            // The helper's pid is the supervisor's: exec keeps it.
            let own = u64::from(std::process::id());
            rules.insert(libc::SYS_pidfd_open, vec![rule(0, SeccompCmpOp::Ne, own)]);
        }
        // `prctl(PR_CAPBSET_READ)`: made only by libcap's constructor, run inside the `dlopen` of
        // an NSS module (libnss_systemd) on the uid check's thread, with the loader's lock held.
        "capbset" => rules.entry(libc::SYS_prctl).or_default().push(rule(
            0,
            SeccompCmpOp::Eq,
            libc::PR_CAPBSET_READ as u64,
        )),
        "flock" => every(rules, libc::SYS_flock),
        "close_range" => every(rules, libc::SYS_close_range),
        "getdents64" => every(rules, libc::SYS_getdents64),
        other if other.starts_with("getdents64-of-") => {
            let fd: u64 = other["getdents64-of-".len()..]
                .parse()
                .map_err(|_| format!("bad {other:?}"))?;
            rules
                .entry(libc::SYS_getdents64)
                .or_default()
                .push(rule(0, SeccompCmpOp::Eq, fd));
        }
        other if other.starts_with("close-of-") => {
            let fd: u64 = other["close-of-".len()..]
                .parse()
                .map_err(|_| format!("bad {other:?}"))?;
            rules
                .entry(libc::SYS_close)
                .or_default()
                .push(rule(0, SeccompCmpOp::Eq, fd));
        }
        "close_range-cloexec" => rules.entry(libc::SYS_close_range).or_default().push(rule(
            2,
            SeccompCmpOp::Eq,
            libc::CLOSE_RANGE_CLOEXEC as u64,
        )),
        "getfd" => fcntl(rules, libc::F_GETFD),
        "setfd" => fcntl(rules, libc::F_SETFD),
        "dupfd" => fcntl(rules, libc::F_DUPFD_CLOEXEC),
        other if other.starts_with("openat-at-") => {
            let dirfd: u64 = other["openat-at-".len()..]
                .parse()
                .map_err(|_| format!("bad {other:?}"))?;
            rules
                .entry(libc::SYS_openat)
                .or_default()
                .push(rule(0, SeccompCmpOp::Eq, dirfd));
        }
        other if other.starts_with("flock-above-") => {
            let fd: u64 = other["flock-above-".len()..]
                .parse()
                .map_err(|_| format!("bad {other:?}"))?;
            rules
                .entry(libc::SYS_flock)
                .or_default()
                .push(rule(0, SeccompCmpOp::Gt, fd));
        }
        other => return Err(format!("unknown calls {other:?}")),
    }
    Ok(())
}

fn programs(refusals: &str) -> Result<Vec<BpfProgram>, String> {
    let mut by_errno: BTreeMap<u32, Rules> = BTreeMap::new();
    for refusal in refusals.split(',').filter(|item| *item != "none") {
        let (calls, errno) = match refusal.split_once('=') {
            Some((calls, errno)) => (
                calls,
                errno_of(errno).ok_or_else(|| format!("unknown errno {errno:?}"))?,
            ),
            None => (refusal, libc::EPERM as u32),
        };
        add(by_errno.entry(errno).or_default(), calls)?;
    }
    by_errno
        .into_iter()
        .map(|(errno, rules)| {
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                match errno {
                    KILL_THREAD => SeccompAction::KillThread,
                    errno => SeccompAction::Errno(errno),
                },
                std::env::consts::ARCH
                    .try_into()
                    .map_err(|err| format!("{err}"))?,
            )
            .map_err(|err| format!("{err}"))?;
            BpfProgram::try_from(filter).map_err(|err| format!("{err}"))
        })
        .collect()
}

/// Installs `program` on this process. With `CAP_SYS_ADMIN` (root) without setting
/// `PR_SET_NO_NEW_PRIVS`, as a container runtime does: a launcher that set it would hide a faked
/// `prctl(PR_SET_NO_NEW_PRIVS)` from the supervisor's check. Otherwise the kernel requires it, and
/// seccompiler sets it.
fn install(program: &BpfProgram) {
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).expect("a program the kernel accepts"),
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, borrowed for the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        seccompiler::apply_filter(program).expect("install the outer filter");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (refusals, command) = match args.iter().position(|arg| arg == "--") {
        Some(1) if args.len() > 2 => (&args[0], &args[2..]),
        _ => {
            eprintln!("usage: outer-seccomp CALLS[=ERRNO],...|none -- COMMAND [ARGS...]");
            std::process::exit(2);
        }
    };
    let programs = match programs(refusals) {
        Ok(programs) => programs,
        Err(why) => {
            eprintln!("outer-seccomp: {why}");
            std::process::exit(2);
        }
    };
    for program in &programs {
        install(program);
    }
    let err = std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec();
    eprintln!("outer-seccomp: exec {}: {err}", command[0]);
    std::process::exit(127);
}
