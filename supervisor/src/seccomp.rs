//! The two seccomp filters: the supervisor's prelude and the workload's filter.
//!
//! Both are compiled in the parent with seccompiler before any hardening, so the forked child only
//! has to hand a ready BPF program to the kernel. Both deny with `EPERM` (the workload's `clone3`
//! gets `ENOSYS` so libc falls back to `clone`, whose flags can be inspected). seccompiler matches
//! exact syscall numbers, and on x86_64 an x32 call (bit 30 set in its number) carries the x86_64
//! audit arch: both programs start with a short hand-written head ([`head`]) that denies every x32
//! call before seccompiler's rules run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Compiling a filter failed. These are the supervisor's own errors, never tolerable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompCompileError {
    /// This architecture is not supported by seccompiler.
    #[error("failed to compile seccomp filters: architecture {0} is not supported")]
    Arch(String),
    /// The built-in rules did not compile (a bug).
    #[error("failed to compile the built-in seccomp filter")]
    Builtin(#[source] seccompiler::BackendError),
    /// `--seccomp-profile` could not be read.
    #[error("failed to read seccomp profile {path}")]
    ProfileRead {
        /// The profile path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--seccomp-profile` did not compile.
    #[error("failed to compile seccomp profile {path}")]
    ProfileCompile {
        /// The profile path.
        path: PathBuf,
        /// seccompiler's error.
        #[source]
        source: seccompiler::Error,
    },
    /// `--seccomp-profile` has no filter named `workload`.
    #[error("seccomp profile {0} has no filter named \"workload\"")]
    ProfileNoWorkload(PathBuf),
}

/// The prepared workload filter: BPF programs installed in this order in the child.
#[derive(Debug, Clone)]
pub struct WorkloadFilter {
    /// Programs in install order (one today). A program that denies `seccomp(SET_MODE_FILTER)`
    /// must be last.
    pub programs: Vec<BpfProgram>,
    /// `built-in` or the profile path, for logs and reports.
    pub source: String,
}

/// The x32 syscall bit on x86_64.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

fn arch() -> Result<TargetArch, SeccompCompileError> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|_| SeccompCompileError::Arch(std::env::consts::ARCH.to_owned()))
}

/// Adds `rules` for `nr`.
fn deny(map: &mut BTreeMap<i64, Vec<SeccompRule>>, nr: i64, rules: Vec<SeccompRule>) {
    map.entry(nr).or_default().extend(rules);
}

fn compile(
    map: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
) -> Result<BpfProgram, SeccompCompileError> {
    // seccompiler takes the mismatch action first, then the match action.
    SeccompFilter::new(map, SeccompAction::Allow, action, arch()?)
        .and_then(BpfProgram::try_from)
        .map_err(SeccompCompileError::Builtin)
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).expect("argument index < 6")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("a rule with at least one condition")
}

/// Calls the supervisor denies itself once it has booted: mounting, module loading, kexec, bpf,
/// perf and userfaultfd. The workload filter denies them too.
pub const PRELUDE_DENIED: &[(&str, i64)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
];

/// Calls the workload filter denies whatever their arguments, besides [`PRELUDE_DENIED`].
pub const WORKLOAD_DENIED: &[(&str, i64)] = &[
    ("memfd_create", libc::SYS_memfd_create),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_open", libc::SYS_pidfd_open),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("pidfd_send_signal", libc::SYS_pidfd_send_signal),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("setns", libc::SYS_setns),
];

/// Compiles the supervisor prelude.
pub fn compile_prelude() -> Result<BpfProgram, SeccompCompileError> {
    let mut map = BTreeMap::new();
    for &(_, nr) in PRELUDE_DENIED {
        deny(&mut map, nr, Vec::new());
    }
    Ok(with_head(
        head(false),
        compile(map, SeccompAction::Errno(libc::EPERM as u32))?,
    ))
}

/// Compiles the built-in workload filter, or the `workload` filter of `profile`.
pub fn compile_workload(profile: Option<&Path>) -> Result<WorkloadFilter, SeccompCompileError> {
    if let Some(path) = profile {
        return compile_profile(path);
    }
    let rules = compile(workload_rules(), SeccompAction::Errno(libc::EPERM as u32))?;
    Ok(WorkloadFilter {
        programs: vec![with_head(head(true), rules)],
        source: "built-in".to_owned(),
    })
}

/// The hand-written start of both programs, because seccompiler cannot match a range of numbers:
/// every x32 call (x86_64 only) answers `EPERM`; with `clone3_enosys`, `clone3` answers `ENOSYS`
/// (it passes its flags in memory, where BPF cannot look, so libc falls back to `clone`, whose
/// flags the rules check). Any other call falls through to the next instruction.
pub fn head(clone3_enosys: bool) -> Vec<seccompiler::sock_filter> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    use seccompiler::sock_filter;
    let statement = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let errno = |errno: i32| statement(BPF_RET | BPF_K, libc::SECCOMP_RET_ERRNO | errno as u32);
    // offsetof(struct seccomp_data, nr) is 0.
    let mut head = vec![statement(BPF_LD | BPF_W | BPF_ABS, 0)];
    #[cfg(target_arch = "x86_64")]
    head.extend([
        jump(
            BPF_JMP | libc::BPF_JGE | BPF_K,
            X32_SYSCALL_BIT as u32,
            0,
            1,
        ),
        errno(libc::EPERM),
    ]);
    if clone3_enosys {
        head.extend([
            jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone3 as u32, 0, 1),
            errno(libc::ENOSYS),
        ]);
    }
    head
}

/// `head` followed by `program`. BPF jumps are relative and seccompiler's program loads what it
/// inspects itself, so the program behaves the same behind the head.
fn with_head(head: Vec<seccompiler::sock_filter>, program: BpfProgram) -> BpfProgram {
    head.into_iter().chain(program).collect()
}

fn workload_rules() -> BTreeMap<i64, Vec<SeccompRule>> {
    use SeccompCmpOp::{Eq, MaskedEq, Ne};
    let mut map = BTreeMap::new();
    for &(_, nr) in PRELUDE_DENIED.iter().chain(WORKLOAD_DENIED) {
        deny(&mut map, nr, Vec::new());
    }

    let family = |family: i32| rule(vec![condition(0, Eq, family as u64)]);
    let raw = |family: i32| {
        rule(vec![
            condition(0, Eq, family as u64),
            condition(1, MaskedEq(0xf), libc::SOCK_RAW as u64),
        ])
    };
    deny(
        &mut map,
        libc::SYS_socket,
        vec![
            family(libc::AF_PACKET),
            family(libc::AF_BLUETOOTH),
            family(libc::AF_VSOCK),
            rule(vec![
                condition(0, Eq, libc::AF_NETLINK as u64),
                condition(2, Ne, libc::NETLINK_ROUTE as u64),
            ]),
            raw(libc::AF_INET),
            raw(libc::AF_INET6),
        ],
    );

    let flag = |arg: u8, flag: u64| rule(vec![condition(arg, MaskedEq(flag), flag)]);
    deny(
        &mut map,
        libc::SYS_execveat,
        vec![flag(4, libc::AT_EMPTY_PATH as u64)],
    );
    deny(
        &mut map,
        libc::SYS_unshare,
        vec![flag(0, libc::CLONE_NEWUSER as u64)],
    );
    deny(
        &mut map,
        libc::SYS_clone,
        vec![flag(0, libc::CLONE_NEWUSER as u64)],
    );
    deny(
        &mut map,
        libc::SYS_seccomp,
        vec![rule(vec![condition(
            0,
            Eq,
            libc::SECCOMP_SET_MODE_FILTER as u64,
        )])],
    );
    deny(
        &mut map,
        libc::SYS_prctl,
        vec![rule(vec![condition(0, Eq, libc::PR_SET_SECCOMP as u64)])],
    );
    map
}

fn compile_profile(path: &Path) -> Result<WorkloadFilter, SeccompCompileError> {
    let file = std::fs::File::open(path).map_err(|source| SeccompCompileError::ProfileRead {
        path: path.to_owned(),
        source,
    })?;
    let mut filters = seccompiler::compile_from_json(file, arch()?).map_err(|source| {
        SeccompCompileError::ProfileCompile {
            path: path.to_owned(),
            source,
        }
    })?;
    let program = filters
        .remove("workload")
        .ok_or_else(|| SeccompCompileError::ProfileNoWorkload(path.to_owned()))?;
    Ok(WorkloadFilter {
        programs: vec![with_head(head(false), program)],
        source: path.display().to_string(),
    })
}

/// Installs `program` on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER, 0, ...)`.
///
/// Async-signal-safe: one system call, no allocation, so the forked child may call it. The caller
/// must have set `PR_SET_NO_NEW_PRIVS` or hold `CAP_SYS_ADMIN`.
pub fn install(program: &[seccompiler::sock_filter]) -> Result<(), Errno> {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, which stays borrowed for the duration of the call; the
    // kernel copies the program and keeps no reference to it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(rc).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`. Async-signal-safe.
pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(rc).map(drop)
}

/// `prctl(PR_GET_SECCOMP)`: 0 off, 1 strict, 2 filter.
pub fn seccomp_mode() -> Result<i32, Errno> {
    // SAFETY: PR_GET_SECCOMP takes no pointer and only reads the calling thread's state.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    Errno::result(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_filters_compile() {
        assert!(!compile_prelude().unwrap().is_empty());
        let workload = compile_workload(None).unwrap();
        assert_eq!(workload.programs.len(), 1);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn head_denies_every_x32_call_and_answers_clone3() {
        let head = head(true);
        // load nr; x32 -> EPERM; clone3 -> ENOSYS; fall through.
        assert_eq!(head.len(), 5);
        assert_eq!(head[1].k, X32_SYSCALL_BIT as u32);
        assert_eq!(head[2].k, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        assert_eq!(head[3].k, libc::SYS_clone3 as u32);
        assert_eq!(head[4].k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        assert_eq!(super::head(false).len(), 3);
        let workload = compile_workload(None).unwrap();
        assert_eq!(&workload.programs[0][..5], &head[..]);
    }
}
