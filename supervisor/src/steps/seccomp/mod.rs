//! The seccomp filters: the supervisor's prelude, the workload's built-in filter and operator
//! profiles.
//!
//! The phases follow the job: rules as data ([`PRELUDE_DENIED`], [`WORKLOAD_DENIED`], the
//! argument checks of [`Inspect`]) -> one classic-BPF program per filter, compiled in the parent
//! before any hardening -> a length check that turns it into a [`CheckedProgram`], the only thing
//! [`install`] accepts. The forked child then only hands ready programs to the kernel.
//!
//! Every program starts with a hand-written [`head`]: the architecture check, then (workload
//! programs) every number above [`HIGHEST_KNOWN`] answers `ENOSYS` so libc falls back as it does
//! under Docker, every x32 number (x86_64) answers `EPERM`, and `clone3` answers `ENOSYS` (its
//! flags live in memory, where BPF cannot look; libc falls back to `clone`, whose flags are
//! checked). The built-in programs continue with the argument checks of the most frequent
//! inspected calls ([`HOT`]), then a balanced binary search over syscall numbers whose leaves
//! allow, deny with `EPERM`, or inspect arguments; an operator profile continues with
//! seccompiler's program compiled from the profile's JSON. docs/seccomp.md lists every rule.
//!
//! The built-in programs do not change from one boot to the next: the build ships them as const
//! tables ([`Builtin::program`], generated from the rules by this compiler and checked against it
//! by a test), so a boot compiles only an operator's profile ([`programs_compiled`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use seccompiler::{sock_filter, BpfProgram};

mod bpf;
mod docker;
mod profile;
mod rules;
mod table;

pub use bpf::{head, Head};
use profile::compile_profile;
pub use profile::Profile;
pub use rules::{
    Inspect, Rule, Rules, HOT, IOCTL_DENIED, PERSONALITY_ALLOWED, PRELUDE_DENIED, WORKLOAD_DENIED,
};
pub use table::Builtin;

/// How many programs this process has compiled (built-in rules or a profile): the boot's debug
/// log gives it, and a default boot compiles none.
static COMPILED: AtomicUsize = AtomicUsize::new(0);

/// How many seccomp programs this process has compiled so far. The built-in programs come from
/// the build's tables ([`Builtin::program`]); only an operator's profile is compiled at run time.
pub fn programs_compiled() -> usize {
    COMPILED.load(Ordering::Relaxed)
}

/// Counts one compiled program.
fn count_compiled() {
    COMPILED.fetch_add(1, Ordering::Relaxed);
}

/// The kernel's limit on a classic-BPF program (`BPF_MAXINSNS`): a longer program is refused with
/// `EINVAL`, so every program is checked against it here first.
pub const MAX_PROGRAM_LEN: usize = libc::BPF_MAXINSNS as usize;

/// The highest syscall number this filter knows (the newest call libc names on this
/// architecture, `mseal`). Every number above it answers `ENOSYS` in the workload.
pub const HIGHEST_KNOWN: u32 = libc::SYS_mseal as u32;

/// The x32 syscall bit on x86_64: a number with it set is an x32 call carrying the x86_64 audit
/// arch.
#[cfg(target_arch = "x86_64")]
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Which program an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgramName {
    /// The supervisor's own prelude.
    Prelude,
    /// The built-in workload filter.
    Builtin,
    /// An operator profile, named by what the caller passed as [`Profile::name`].
    Profile(String),
}

impl fmt::Display for ProgramName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramName::Prelude => f.write_str("the supervisor prelude"),
            ProgramName::Builtin => f.write_str("the built-in workload filter"),
            ProgramName::Profile(name) => write!(f, "seccomp profile {name}"),
        }
    }
}

/// Compiling a filter failed. Never a refusal: either the operator's profile is wrong (a usage
/// error) or the supervisor's own rules are (a bug); [`SeccompCompileError::is_operator_error`]
/// tells which.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompCompileError {
    /// A program is longer than the kernel accepts ([`MAX_PROGRAM_LEN`]), head included.
    #[error(
        "failed to compile {program}: {len} BPF instructions, the kernel accepts at most {}",
        MAX_PROGRAM_LEN
    )]
    TooLong {
        /// The program that is too long.
        program: ProgramName,
        /// Its length in instructions, head included.
        len: usize,
    },
    /// The profile could not be read. The caller reads profiles (with its own size cap); this
    /// variant lets it report the failure with the other profile errors.
    #[error("failed to read seccomp profile {profile}")]
    ProfileRead {
        /// [`Profile::name`].
        profile: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The profile did not compile.
    #[error("failed to compile seccomp profile {profile}")]
    ProfileCompile {
        /// [`Profile::name`].
        profile: String,
        /// seccompiler's error.
        #[source]
        source: seccompiler::Error,
    },
    /// The profile is not JSON, or a Docker or OCI profile with a rule that cannot be expressed.
    #[error("failed to compile seccomp profile {profile}: {why}")]
    ProfileInvalid {
        /// [`Profile::name`].
        profile: String,
        /// Why, naming the rule.
        why: String,
    },
    /// The profile has no filter named `workload`.
    #[error("failed to compile seccomp profile {0}: it has no filter named \"workload\"")]
    ProfileNoWorkload(String),
    /// The built-in rules produced a jump BPF cannot encode (a bug).
    #[error("failed to compile {program}: a jump of {offset} instructions does not fit")]
    JumpTooFar {
        /// The program being built.
        program: ProgramName,
        /// The offset that did not fit in 8 bits.
        offset: usize,
    },
}

impl SeccompCompileError {
    /// Whether the operator caused this (a profile: a usage error, exit 2) rather than the
    /// supervisor's own rules (a bug: exit 125).
    pub fn is_operator_error(&self) -> bool {
        match self {
            SeccompCompileError::TooLong { program, .. }
            | SeccompCompileError::JumpTooFar { program, .. } => {
                matches!(program, ProgramName::Profile(_))
            }
            SeccompCompileError::ProfileRead { .. }
            | SeccompCompileError::ProfileCompile { .. }
            | SeccompCompileError::ProfileInvalid { .. }
            | SeccompCompileError::ProfileNoWorkload(_) => true,
        }
    }
}

/// A BPF program whose length has been checked against [`MAX_PROGRAM_LEN`]: the only thing
/// [`install`] accepts, so an unchecked program cannot reach the kernel. A built-in program
/// borrows the build's table; a compiled one owns its instructions.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedProgram(Cow<'static, [sock_filter]>);

impl CheckedProgram {
    /// Checks `program`'s length; `name` says whose program it is in the error.
    pub fn check(name: ProgramName, program: BpfProgram) -> Result<Self, SeccompCompileError> {
        if program.is_empty() || program.len() > MAX_PROGRAM_LEN {
            return Err(SeccompCompileError::TooLong {
                program: name,
                len: program.len(),
            });
        }
        Ok(CheckedProgram(Cow::Owned(program)))
    }

    /// The instructions.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.0
    }

    /// The number of instructions (at most [`MAX_PROGRAM_LEN`]).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty program is refused by [`CheckedProgram::check`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the workload filter is made of.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkloadOptions<'a> {
    /// An operator profile, installed before the built-in filter.
    pub profile: Option<Profile<'a>>,
    /// Install only the profile, not the built-in filter (the caller logs a WARN and records it).
    /// Ignored without a profile.
    pub replace_builtin: bool,
    /// The capabilities the workload keeps (`--cap-add`, by number), for a Docker profile's
    /// `includes` and `excludes`.
    pub cap_add: &'a [u32],
}

/// Where the workload's programs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterSource {
    /// The built-in filter alone: `built-in`.
    Builtin,
    /// The profile, then the built-in filter: `built-in+NAME`.
    BuiltinAndProfile(String),
    /// The profile alone: `NAME (replaces built-in)`.
    ProfileReplacesBuiltin(String),
}

impl FilterSource {
    /// Whether the built-in filter is missing from the workload.
    pub fn replaces_builtin(&self) -> bool {
        matches!(self, FilterSource::ProfileReplacesBuiltin(_))
    }
}

impl fmt::Display for FilterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterSource::Builtin => f.write_str("built-in"),
            FilterSource::BuiltinAndProfile(name) => write!(f, "built-in+{name}"),
            FilterSource::ProfileReplacesBuiltin(name) => write!(f, "{name} (replaces built-in)"),
        }
    }
}

impl serde::Serialize for FilterSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The prepared workload filter.
#[derive(Debug, Clone)]
pub struct WorkloadFilter {
    /// Programs in install order: the profile's (if any) first, the built-in filter last, because
    /// it denies `seccomp(SET_MODE_FILTER)`.
    pub programs: Vec<CheckedProgram>,
    /// Where they come from, for logs and reports.
    pub source: FilterSource,
}

/// Compiles the supervisor prelude from its rules (what the build's table holds:
/// [`Builtin::Prelude`]).
pub fn compile_prelude() -> Result<CheckedProgram, SeccompCompileError> {
    Builtin::Prelude.compile()
}

/// Compiles the built-in workload program alone from its rules (what the build's table holds:
/// [`Builtin::Workload`]).
pub fn compile_builtin() -> Result<CheckedProgram, SeccompCompileError> {
    Builtin::Workload.compile()
}

/// The workload's programs: the profile's `workload` filter (if any, compiled behind
/// [`Head::Workload`]), then the built-in filter (the build's table), unless `replace_builtin`.
pub fn compile_workload(
    options: &WorkloadOptions<'_>,
) -> Result<WorkloadFilter, SeccompCompileError> {
    let Some(profile) = options.profile else {
        return Ok(WorkloadFilter {
            programs: vec![Builtin::Workload.program()?],
            source: FilterSource::Builtin,
        });
    };
    let mut programs = compile_profile(profile, options.cap_add)?;
    let name = profile.name.to_owned();
    if options.replace_builtin {
        return Ok(WorkloadFilter {
            programs,
            source: FilterSource::ProfileReplacesBuiltin(name),
        });
    }
    programs.push(Builtin::Workload.program()?);
    Ok(WorkloadFilter {
        programs,
        source: FilterSource::BuiltinAndProfile(name),
    })
}

/// Installs `program` on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER, 0, ...)`.
///
/// Async-signal-safe: one system call, no allocation, so the forked child may call it. The caller
/// must have set `PR_SET_NO_NEW_PRIVS` or hold `CAP_SYS_ADMIN`.
pub fn install(program: &CheckedProgram) -> Result<(), Errno> {
    let fprog = libc::sock_fprog {
        // CheckedProgram holds at most MAX_PROGRAM_LEN (4096) instructions: no truncation.
        len: program.len() as u16,
        filter: program.instructions().as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`'s instructions, which stay borrowed for the duration of
    // the call; the kernel copies the program and keeps no reference to it.
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

pub use crate::steps::no_new_privs::set as set_no_new_privs;

/// `prctl(PR_GET_SECCOMP)`: 0 off, 1 strict, 2 filter.
pub fn seccomp_mode() -> Result<i32, Errno> {
    // SAFETY: PR_GET_SECCOMP takes no pointer and only reads the calling thread's state.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    Errno::result(rc)
}

/// In the parent: reads the operator's profile (size-capped) and compiles the workload's
/// programs, length-checked.
pub(crate) fn prepare(
    options: &crate::options::RunOptions,
) -> Result<(WorkloadFilter, Option<crate::options::FileDigest>), crate::error::SupervisorError> {
    use sha2::Digest;
    let profile = match &options.seccomp_profile {
        Some(path) => Some((
            path.display().to_string(),
            crate::input::read_capped(path, "seccomp profile")
                .map_err(crate::error::SupervisorError::SeccompProfile)?,
        )),
        None => None,
    };
    let filter = compile_workload(&WorkloadOptions {
        profile: profile.as_ref().map(|(name, json)| Profile { name, json }),
        replace_builtin: options.seccomp_profile_replaces_builtin,
        cap_add: &options.cap_add,
    })?;
    let digest = profile.map(|(path, json)| crate::options::FileDigest {
        path,
        sha256: hex::encode(sha2::Sha256::digest(&json)),
    });
    if filter.source.replaces_builtin() {
        tracing::warn!(source = %filter.source, "the operator's seccomp profile replaces the built-in workload filter: only the profile's rules apply");
    }
    Ok((filter, digest))
}

/// A seccomp filter, verified by counting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Seccomp {
    /// Where the programs come from.
    pub source: String,
    /// How many programs this step installed.
    pub programs: usize,
    /// `Seccomp` (2 is filter mode; `null` where unknown).
    pub seccomp: Option<u64>,
    /// `Seccomp_filters` after the step (`null` where unknown).
    pub seccomp_filters: Option<u64>,
    /// `Seccomp_filters` before the step.
    pub seccomp_filters_before: Option<u64>,
}

/// In the workload: installs every program of `filter`, in order. Async-signal-safe.
pub(crate) fn apply(filter: &WorkloadFilter) -> Result<(), (crate::steps::Call, Errno)> {
    for program in &filter.programs {
        install(program).map_err(|errno| (crate::steps::Call::Seccomp, errno))?;
    }
    Ok(())
}

/// The workload filter, verified by counting: an outer runtime can answer `seccomp()` with 0
/// without installing anything.
pub(crate) fn verify(
    observed: &crate::steps::observed::Observed,
    expected: &crate::steps::observed::Expected<'_>,
) -> crate::steps::observed::Verified {
    let programs = expected.filter.map_or(0, |filter| filter.programs.len());
    let status = &observed.status;
    let evidence = Seccomp {
        source: expected
            .filter
            .map_or_else(|| "none".to_owned(), |filter| filter.source.to_string()),
        programs,
        seccomp: status.seccomp,
        seccomp_filters: status.seccomp_filters,
        seccomp_filters_before: observed.own.seccomp_filters,
    };
    let counted = match (observed.own.seccomp_filters, status.seccomp_filters) {
        (Some(before), Some(after)) => after == before + programs as u64,
        _ => true,
    };
    let unverified = (status.seccomp.is_some_and(|mode| mode != 2) || !counted)
        .then(|| format!("seccomp() returned success but the workload shows {evidence:?}"));
    crate::steps::observed::Verified {
        evidence: crate::record::Evidence::Seccomp(evidence),
        unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::bpf::*;
    use super::rules::*;
    use super::*;
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const DENY: u32 = RET_EPERM;
    const NOSYS: u32 = RET_ENOSYS;

    /// What a program sees of a call.
    #[derive(Clone, Copy)]
    struct Call {
        arch: u32,
        nr: u32,
        args: [u64; 6],
    }

    fn call(nr: i64, args: &[u64]) -> Call {
        let mut all = [0; 6];
        all[..args.len()].copy_from_slice(args);
        Call {
            arch: AUDIT_ARCH,
            nr: nr as u32,
            args: all,
        }
    }

    /// The tests' one classic-BPF interpreter (tests/src/bpf.rs, which the integration tests use
    /// as `sandbox_tests::bpf`): a jump out of the program or an unknown instruction fails the
    /// test.
    #[allow(dead_code, unreachable_pub)]
    mod bpf {
        include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/src/bpf.rs"));
    }

    fn run(program: &[sock_filter], call: Call) -> u32 {
        run_counted(program, call).0
    }

    /// [`run`], also returning how many instructions ran.
    fn run_counted(program: &[sock_filter], call: Call) -> (u32, usize) {
        let data = bpf::SeccompData {
            nr: call.nr,
            arch: call.arch,
            instruction_pointer: 0,
            args: call.args,
        };
        let run = bpf::run(program, data);
        (run.answer, run.steps)
    }

    fn insn(code: u32, jt: u8, jf: u8, k: u32) -> sock_filter {
        sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    fn builtin() -> Vec<sock_filter> {
        compile_builtin().unwrap().instructions().to_vec()
    }

    #[test]
    fn workload_head_instruction_by_instruction() {
        let mut expected = vec![
            insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 4),
            insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH),
            insn(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
        ];
        #[cfg(target_arch = "x86_64")]
        expected.extend([
            insn(BPF_JMP | BPF_JGE | BPF_K, 0, 3, 463),
            insn(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x4000_0000),
            insn(BPF_RET | BPF_K, 0, 0, 0x0005_0000 | 1),
            insn(BPF_RET | BPF_K, 0, 0, 0x0005_0000 | 38),
        ]);
        #[cfg(target_arch = "aarch64")]
        expected.extend([
            insn(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 463),
            insn(BPF_RET | BPF_K, 0, 0, 0x0005_0000 | 38),
        ]);
        expected.extend([
            insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 435),
            insn(BPF_RET | BPF_K, 0, 0, 0x0005_0000 | 38),
        ]);
        assert_eq!(head(Head::Workload), expected);
        // Both kinds of workload program start with it.
        assert_eq!(&builtin()[..expected.len()], &expected[..]);
        assert_eq!(&builtin()[..expected.len()], &expected[..]);
    }

    #[test]
    fn prelude_head_instruction_by_instruction() {
        let mut expected = vec![
            insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 4),
            insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH),
            insn(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
        ];
        #[cfg(target_arch = "x86_64")]
        expected.extend([
            insn(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x4000_0000),
            insn(BPF_RET | BPF_K, 0, 0, 0x0005_0000 | 1),
        ]);
        assert_eq!(head(Head::Prelude), expected);
        let prelude = compile_prelude().unwrap();
        assert_eq!(&prelude.instructions()[..expected.len()], &expected[..]);
    }

    #[test]
    fn audit_arch_is_the_kernels() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(AUDIT_ARCH, 0x8000_0000 | 0x4000_0000 | 62);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(AUDIT_ARCH, 0x8000_0000 | 0x4000_0000 | 183);
        let foreign = Call {
            arch: 0x4000_0003, // AUDIT_ARCH_I386
            ..call(libc::SYS_getpid, &[])
        };
        assert_eq!(run(&builtin(), foreign), libc::SECCOMP_RET_KILL_PROCESS);
        let prelude = compile_prelude().unwrap();
        assert_eq!(
            run(prelude.instructions(), foreign),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    /// Every number the filter knows, and the boundaries above, against the tables.
    #[test]
    fn workload_answers_every_number_as_the_tables_say() {
        {
            let program = builtin();
            for nr in 0..=HIGHEST_KNOWN {
                let denied = PRELUDE_DENIED
                    .iter()
                    .chain(WORKLOAD_DENIED)
                    .any(|&(_, denied)| denied == i64::from(nr));
                let expected = if denied {
                    DENY
                } else if i64::from(nr) == libc::SYS_clone3 {
                    NOSYS
                } else {
                    // Inspected calls with all-zero arguments are allowed too.
                    ALLOW
                };
                assert_eq!(run(&program, call(nr.into(), &[])), expected, "nr {nr}");
            }
            assert_eq!(
                run(&program, call(i64::from(HIGHEST_KNOWN) + 1, &[])),
                NOSYS
            );
            assert_eq!(run(&program, call(0x3fff_ffff, &[])), NOSYS);
            #[cfg(target_arch = "x86_64")]
            for nr in [
                0x4000_0000,
                0x4000_0000 + libc::SYS_getpid,
                0x7fff_ffff,
                0xffff_ffff,
            ] {
                assert_eq!(run(&program, call(nr, &[])), DENY, "x32 nr {nr:#x}");
            }
            #[cfg(target_arch = "aarch64")]
            assert_eq!(run(&program, call(0xffff_ffff, &[])), NOSYS);
        }
    }

    /// The calls the brief names, by number, so a call dropped from a table is noticed.
    #[test]
    fn workload_denies_the_named_calls() {
        let program = builtin();
        let named = [
            libc::SYS_mount_setattr,
            libc::SYS_quotactl,
            libc::SYS_quotactl_fd,
            libc::SYS_add_key,
            libc::SYS_keyctl,
            libc::SYS_request_key,
            libc::SYS_kcmp,
            libc::SYS_process_madvise,
            libc::SYS_open_by_handle_at,
            libc::SYS_name_to_handle_at,
            libc::SYS_acct,
            libc::SYS_swapon,
            libc::SYS_swapoff,
            libc::SYS_reboot,
            libc::SYS_syslog,
            libc::SYS_vhangup,
            libc::SYS_sethostname,
            libc::SYS_setdomainname,
            libc::SYS_settimeofday,
            libc::SYS_clock_settime,
            libc::SYS_nfsservctl,
            libc::SYS_lookup_dcookie,
            libc::SYS_setns,
            libc::SYS_memfd_create,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_pidfd_open,
            libc::SYS_pidfd_getfd,
            libc::SYS_pidfd_send_signal,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_fsopen,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fspick,
            libc::SYS_move_mount,
            libc::SYS_open_tree,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_userfaultfd,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_kexec_load,
            libc::SYS_kexec_file_load,
            libc::SYS_fanotify_init,
            libc::SYS_mbind,
            libc::SYS_set_mempolicy,
            libc::SYS_get_mempolicy,
            libc::SYS_migrate_pages,
            libc::SYS_move_pages,
            459,
            460,
            461,
        ];
        for nr in named {
            assert_eq!(run(&program, call(nr, &[])), DENY, "nr {nr}");
        }
        #[cfg(target_arch = "x86_64")]
        for nr in [
            libc::SYS_iopl,
            libc::SYS_ioperm,
            libc::SYS_uselib,
            libc::SYS_ustat,
            libc::SYS_sysfs,
            libc::SYS__sysctl,
            libc::SYS_getpmsg,
            libc::SYS_putpmsg,
            libc::SYS_afs_syscall,
            libc::SYS_tuxcall,
            libc::SYS_security,
            libc::SYS_vserver,
        ] {
            assert_eq!(run(&program, call(nr, &[])), DENY, "nr {nr}");
        }
        // What Docker allows and the supervisor needs stays allowed.
        for nr in [
            libc::SYS_read,
            libc::SYS_getpid,
            libc::SYS_adjtimex,
            libc::SYS_clock_adjtime,
            libc::SYS_chroot,
            libc::SYS_wait4,
            libc::SYS_mseal,
        ] {
            assert_eq!(run(&program, call(nr, &[])), ALLOW, "nr {nr}");
        }
    }

    #[test]
    fn workload_inspects_arguments() {
        use libc::*;
        let program = builtin();
        let verdict = |nr: i64, args: &[u64]| run(&program, call(nr, args));
        let socket = |family: c_int, kind: c_int, protocol: c_int| {
            verdict(SYS_socket, &[family as u64, kind as u64, protocol as u64])
        };
        for (family, kind, protocol, expected) in [
            (AF_INET, SOCK_STREAM, 0, ALLOW),
            (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0, ALLOW),
            (AF_UNIX, SOCK_STREAM, 0, ALLOW),
            (AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, ALLOW),
            (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE, ALLOW),
            (AF_NETLINK, SOCK_RAW, NETLINK_AUDIT, DENY),
            (AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT, DENY),
            (AF_INET, SOCK_RAW, IPPROTO_ICMP, DENY),
            (AF_INET6, SOCK_RAW | SOCK_NONBLOCK, 0, DENY),
            (AF_INET, 10, 0, DENY), // SOCK_PACKET
            (AF_INET, 10 | SOCK_CLOEXEC, 0x0300, DENY),
            (AF_UNIX, 10, 0, DENY),
            (AF_PACKET, SOCK_DGRAM, 0, DENY),
            (AF_PACKET, SOCK_RAW, 0, DENY),
            (AF_BLUETOOTH, SOCK_STREAM, 0, DENY),
            (AF_VSOCK, SOCK_STREAM, 0, DENY),
            (AF_ALG, SOCK_SEQPACKET, 0, DENY),
            (AF_UNIX, SOCK_RAW, 0, ALLOW),
            (AF_X25, SOCK_SEQPACKET, 0, ALLOW),
            (AF_CAN, SOCK_RAW, 1, ALLOW),
            (AF_BLUETOOTH, SOCK_RAW, 0, DENY),
            (AF_VSOCK, SOCK_DGRAM, 0, DENY),
            (AF_ALG, SOCK_RAW, 0, DENY),
            (AF_PACKET, 10, 0, DENY),
            (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER, DENY),
        ] {
            assert_eq!(
                socket(family, kind, protocol),
                expected,
                "socket({family}, {kind}, {protocol})"
            );
        }

        for value in PERSONALITY_ALLOWED {
            assert_eq!(
                verdict(SYS_personality, &[value.into()]),
                ALLOW,
                "{value:#x}"
            );
        }
        for value in [
            0x0040_0000u64,
            0x0004_0000,
            0x0000_0001,
            0x0040_0008,
            0xffff_fffe,
        ] {
            assert_eq!(verdict(SYS_personality, &[value]), DENY, "{value:#x}");
        }

        let namespaces = [
            CLONE_NEWNS,
            CLONE_NEWCGROUP,
            CLONE_NEWUTS,
            CLONE_NEWIPC,
            CLONE_NEWUSER,
            CLONE_NEWPID,
            CLONE_NEWNET,
        ];
        for flag in namespaces {
            let flags = (flag | SIGCHLD) as u64;
            assert_eq!(verdict(SYS_clone, &[flags]), DENY, "clone {flag:#x}");
            assert_eq!(
                verdict(SYS_unshare, &[flag as u64]),
                DENY,
                "unshare {flag:#x}"
            );
        }
        assert_eq!(verdict(SYS_unshare, &[CLONE_NEWTIME as u64]), DENY);
        // fork, threads, vfork.
        for flags in [
            SIGCHLD,
            CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD,
            CLONE_VM
                | CLONE_FS
                | CLONE_FILES
                | CLONE_SIGHAND
                | CLONE_THREAD
                | CLONE_SYSVSEM
                | CLONE_SETTLS
                | CLONE_PARENT_SETTID
                | CLONE_CHILD_CLEARTID,
            CLONE_VM | CLONE_VFORK | SIGCHLD,
        ] {
            assert_eq!(
                verdict(SYS_clone, &[flags as u64]),
                ALLOW,
                "clone {flags:#x}"
            );
        }
        for flags in [CLONE_FILES, CLONE_FS, CLONE_SYSVSEM] {
            assert_eq!(
                verdict(SYS_unshare, &[flags as u64]),
                ALLOW,
                "unshare {flags:#x}"
            );
        }

        let at_empty_path = AT_EMPTY_PATH as u64;
        assert_eq!(verdict(SYS_execveat, &[3, 0, 0, 0, at_empty_path]), DENY);
        assert_eq!(
            verdict(
                SYS_execveat,
                &[3, 0, 0, 0, at_empty_path | AT_SYMLINK_NOFOLLOW as u64]
            ),
            DENY
        );
        assert_eq!(
            verdict(SYS_execveat, &[3, 0, 0, 0, AT_SYMLINK_NOFOLLOW as u64]),
            ALLOW
        );

        assert_eq!(
            verdict(SYS_seccomp, &[SECCOMP_SET_MODE_FILTER.into()]),
            DENY
        );
        assert_eq!(
            verdict(SYS_seccomp, &[SECCOMP_SET_MODE_STRICT.into()]),
            ALLOW
        );
        assert_eq!(
            verdict(SYS_seccomp, &[SECCOMP_GET_ACTION_AVAIL.into()]),
            ALLOW
        );
        assert_eq!(verdict(SYS_prctl, &[PR_SET_SECCOMP as u64]), DENY);
        assert_eq!(verdict(SYS_prctl, &[PR_SET_NAME as u64]), ALLOW);
        assert_eq!(verdict(SYS_prctl, &[PR_GET_SECCOMP as u64]), ALLOW);
    }

    /// `ioctl` is inspected: the five terminal requests are denied on any descriptor, every other
    /// request allowed, including the neighbours of each denied one and the same request with
    /// bits above the low 32 (the kernel takes the request as an `unsigned int`).
    #[test]
    fn ioctl_denies_terminal_injection() {
        use libc::*;
        let program = builtin();
        let verdict = |request: u64| run(&program, call(SYS_ioctl, &[0, request]));
        for (name, request) in IOCTL_DENIED {
            assert_eq!(verdict(request.into()), DENY, "{name}");
            assert_eq!(
                verdict(u64::from(request) | 1 << 32),
                DENY,
                "{name} high bits"
            );
            for neighbour in [request - 1, request + 1] {
                if !IOCTL_DENIED.iter().any(|&(_, denied)| denied == neighbour) {
                    assert_eq!(verdict(neighbour.into()), ALLOW, "{name} +-1");
                }
            }
        }
        let named = [
            ("TIOCSTI", TIOCSTI),
            ("TIOCLINUX", TIOCLINUX),
            ("TIOCSETD", TIOCSETD),
            ("TIOCCONS", TIOCCONS),
            ("TIOCSCTTY", TIOCSCTTY),
        ];
        for (name, request) in named {
            assert_eq!(verdict(u64::from(request as u32)), DENY, "{name}");
        }
        for request in [
            TCGETS, TCSETS, TCSETSW, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP, FIONREAD,
            FIONBIO, FIOCLEX, TIOCGETD, TIOCNOTTY, TIOCGPTN, TIOCSPTLCK, TIOCGSID, 0,
        ] {
            assert_eq!(verdict(u64::from(request as u32)), ALLOW, "{request:#x}");
        }
        assert_eq!(verdict(0xffff_ffff), ALLOW);
        assert_eq!(
            Rules::workload().rule(SYS_ioctl as u32),
            Rule::Inspect(Inspect::Ioctl)
        );
    }

    /// The `ioctl` check, instruction by instruction, where the program runs it: right after the
    /// other hot checks, behind `jeq ioctl`.
    #[test]
    fn ioctl_check_instruction_by_instruction() {
        use libc::{BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K};
        let jeq = |k: u32, jt: u8, jf: u8| insn(BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k);
        let jge = |k: u32, jt: u8, jf: u8| insn(BPF_JMP | BPF_JGE | BPF_K, jt, jf, k);
        let block = vec![
            insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, arg(1)),
            jge(0x5424, 6, 0), // above TIOCSETD: allow
            jge(0x540e, 0, 5), // below TIOCSCTTY: allow
            jeq(0x540e, 5, 0), // TIOCSCTTY
            jeq(0x5412, 4, 0), // TIOCSTI
            jeq(0x541c, 3, 0), // TIOCLINUX
            jeq(0x541d, 2, 0), // TIOCCONS
            jeq(0x5423, 1, 0), // TIOCSETD
            insn(BPF_RET | BPF_K, 0, 0, ALLOW),
            insn(BPF_RET | BPF_K, 0, 0, DENY),
        ];
        let mut expected = vec![jeq(libc::SYS_ioctl as u32, 0, block.len() as u8)];
        expected.extend(block);
        let program = builtin();
        let mut at = head(Head::Workload).len();
        for inspect in &HOT[..3] {
            at += 1 + assemble(&inspect.ops()).len();
        }
        assert_eq!(&program[at..at + expected.len()], &expected[..]);
    }

    #[test]
    fn prelude_denies_its_table_and_nothing_else() {
        let prelude = compile_prelude().unwrap();
        let program = prelude.instructions();
        for nr in 0..=HIGHEST_KNOWN + 2 {
            let denied = PRELUDE_DENIED
                .iter()
                .any(|&(_, denied)| denied == i64::from(nr));
            let expected = if denied { DENY } else { ALLOW };
            assert_eq!(run(program, call(nr.into(), &[])), expected, "nr {nr}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(run(program, call(0x4000_0000, &[])), DENY);
            assert_eq!(run(program, call(0x3fff_ffff, &[])), ALLOW);
        }
    }

    const PROFILE: &str = r#"{
        "workload": {
            "mismatch_action": "allow",
            "match_action": {"errno": 13},
            "filter": [{"syscall": "getppid"}]
        }
    }"#;

    fn profile(json: &str) -> WorkloadOptions<'_> {
        WorkloadOptions {
            profile: Some(Profile {
                name: "test.json",
                json: json.as_bytes(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_profile_is_stacked_before_the_builtin_filter() {
        let filter = compile_workload(&profile(PROFILE)).unwrap();
        assert_eq!(filter.programs.len(), 2);
        assert_eq!(
            filter.source,
            FilterSource::BuiltinAndProfile("test.json".into())
        );
        assert_eq!(filter.source.to_string(), "built-in+test.json");
        assert!(!filter.source.replaces_builtin());
        let head = head(Head::Workload);
        let first = filter.programs[0].instructions();
        assert_eq!(&first[..head.len()], &head[..]);
        assert_eq!(
            run(first, call(libc::SYS_getppid, &[])),
            libc::SECCOMP_RET_ERRNO | 13
        );
        assert_eq!(run(first, call(libc::SYS_clone3, &[])), NOSYS);
        assert_eq!(run(first, call(i64::from(HIGHEST_KNOWN) + 1, &[])), NOSYS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(run(first, call(0x4000_0000, &[])), DENY);
        // The built-in filter is last: it denies seccomp(SET_MODE_FILTER).
        assert_eq!(filter.programs[1], compile_builtin().unwrap());

        let mut options = profile(PROFILE);
        options.replace_builtin = true;
        let replaced = compile_workload(&options).unwrap();
        assert_eq!(replaced.programs.len(), 1);
        assert_eq!(replaced.programs[0], filter.programs[0]);
        assert!(replaced.source.replaces_builtin());
        assert_eq!(replaced.source.to_string(), "test.json (replaces built-in)");

        let builtin = compile_workload(&WorkloadOptions::default()).unwrap();
        assert_eq!(builtin.programs.len(), 1);
        assert_eq!(builtin.source.to_string(), "built-in");
        let stacked = compile_workload(&profile(PROFILE)).unwrap();
        assert_eq!(stacked.programs[1], compile_builtin().unwrap());
    }

    #[test]
    fn profile_mistakes_are_the_operators() {
        let error = compile_workload(&profile("{")).unwrap_err();
        assert!(
            matches!(error, SeccompCompileError::ProfileInvalid { .. }),
            "{error:?}"
        );
        assert!(error.is_operator_error());
        let error = compile_workload(&profile(
            r#"{"other": {"mismatch_action": "allow", "match_action": "trap", "filter": []}}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(error, SeccompCompileError::ProfileNoWorkload(_)),
            "{error:?}"
        );
        assert!(error.is_operator_error());
    }

    /// A profile with `rules` rules for `getppid`, each one condition: seccompiler emits a few
    /// instructions per rule.
    fn generated_profile(rules: usize) -> String {
        let rule = r#"{"syscall": "getppid", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1}]}"#;
        let filter = vec![rule; rules].join(",");
        format!(
            r#"{{"workload": {{"mismatch_action": "allow", "match_action": {{"errno": 1}}, "filter": [{filter}]}}}}"#
        )
    }

    #[test]
    fn an_oversized_profile_is_the_operators_length_error() {
        let error = compile_workload(&profile(&generated_profile(5000))).unwrap_err();
        // seccompiler's program grows by the same number of instructions per rule.
        let seccompiler_len = |rules: usize| {
            let json = generated_profile(rules);
            let mut filters = seccompiler::compile_from_json(json.as_bytes(), TARGET_ARCH).unwrap();
            filters.remove("workload").unwrap().len()
        };
        let per_rule = seccompiler_len(2) - seccompiler_len(1);
        let expected = head(Head::Workload).len() + seccompiler_len(1) + 4999 * per_rule;
        match &error {
            SeccompCompileError::TooLong { program, len } => {
                assert_eq!(program, &ProgramName::Profile("test.json".into()));
                assert_eq!(*len, expected, "the length counts the head");
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
        assert!(error.is_operator_error());
    }

    /// seccompiler accepts up to 4095 instructions; the head pushes such a program over the
    /// kernel's limit, and only the check after the head sees it.
    #[test]
    fn the_length_check_counts_the_head() {
        let head = head(Head::Workload).len();
        let seccompiler_len = |rules: usize| {
            let json = generated_profile(rules);
            let mut filters = seccompiler::compile_from_json(json.as_bytes(), TARGET_ARCH).unwrap();
            filters.remove("workload").unwrap().len()
        };
        // Find the largest profile seccompiler accepts.
        let per_rule = seccompiler_len(2) - seccompiler_len(1);
        let mut rules = (MAX_PROGRAM_LEN - seccompiler_len(1)) / per_rule;
        while seccompiler::compile_from_json(generated_profile(rules + 1).as_bytes(), TARGET_ARCH)
            .is_ok()
        {
            rules += 1;
        }
        let len = seccompiler_len(rules);
        assert!(
            len < MAX_PROGRAM_LEN && len + head > MAX_PROGRAM_LEN,
            "{len}"
        );
        let error = compile_workload(&profile(&generated_profile(rules))).unwrap_err();
        assert!(
            matches!(error, SeccompCompileError::TooLong { len: l, .. } if l == len + head),
            "{error:?}"
        );
        assert!(error.is_operator_error());
    }

    /// A search whose lower halves are longer than a conditional jump reaches (255) goes through
    /// `JA`; every number still gets its rule.
    #[test]
    fn search_handles_long_jumps() {
        let mut rules = Rules(Default::default());
        for nr in (1..3000).step_by(2) {
            rules.set(nr, Rule::Deny);
        }
        rules.set(1500, Rule::Inspect(Inspect::Clone));
        rules.set(2998, Rule::Inspect(Inspect::Personality));
        let mut program = vec![load(DATA_NR)];
        program.extend(search(&rules.segments(), &ProgramName::Builtin).unwrap());
        assert!(program
            .iter()
            .any(|insn| u32::from(insn.code) == libc::BPF_JMP | libc::BPF_JA));
        for nr in 0..3100u32 {
            let expected = match nr {
                1500 | 2998 => ALLOW, // all-zero arguments
                1..=2999 if nr % 2 == 1 => DENY,
                _ => ALLOW,
            };
            assert_eq!(run(&program, call(nr.into(), &[])), expected, "nr {nr}");
        }
        let new_user = libc::CLONE_NEWUSER as u64;
        assert_eq!(run(&program, call(1500, &[new_user])), DENY);
        assert_eq!(run(&program, call(2998, &[0x0040_0000])), DENY);
    }

    #[test]
    fn checked_programs_fit_the_kernel() {
        let at_limit = vec![ret(ALLOW); MAX_PROGRAM_LEN];
        assert_eq!(
            CheckedProgram::check(ProgramName::Builtin, at_limit)
                .unwrap()
                .len(),
            4096
        );
        let over = vec![ret(ALLOW); MAX_PROGRAM_LEN + 1];
        let error = CheckedProgram::check(ProgramName::Builtin, over).unwrap_err();
        assert!(matches!(
            error,
            SeccompCompileError::TooLong { len: 4097, .. }
        ));
        // The built-in programs are the supervisor's own: a length error is a bug, exit 125.
        assert!(!error.is_operator_error());
        let error = CheckedProgram::check(ProgramName::Prelude, Vec::new()).unwrap_err();
        assert!(!error.is_operator_error());
    }

    /// The cost the kernel pays for an inspected call (docs/seccomp.md quotes these counts):
    /// the head, then socket, clone and prctl right behind it; the other
    /// inspected calls behind the search. Allowed calls take the frequent path of their check.
    #[test]
    fn inspected_calls_run_few_instructions() {
        use libc::*;
        let cases = [
            (
                "socket(AF_INET, SOCK_STREAM)",
                SYS_socket,
                vec![AF_INET as u64, SOCK_STREAM as u64],
                13,
            ),
            (
                "clone(thread)",
                SYS_clone,
                vec![(CLONE_VM | CLONE_THREAD) as u64],
                10,
            ),
            (
                "prctl(PR_GET_DUMPABLE)",
                SYS_prctl,
                vec![PR_GET_DUMPABLE as u64],
                11,
            ),
            (
                "ioctl(fd, TCGETS)",
                SYS_ioctl,
                vec![1, u64::from(TCGETS as u32)],
                13,
            ),
            (
                "ioctl(fd, TIOCGWINSZ)",
                SYS_ioctl,
                vec![1, u64::from(TIOCGWINSZ as u32)],
                18,
            ),
        ];
        for (name, nr, args, expected) in cases {
            let (verdict, steps) = run_counted(&builtin(), call(nr, &args));
            assert_eq!((verdict, steps), (ALLOW, expected), "{name}");
        }
        // Every other inspected call stays within the head, the hot checks, the search's depth
        // and its own check.
        for nr in [SYS_personality, SYS_unshare, SYS_execveat, SYS_seccomp] {
            let (verdict, steps) = run_counted(&builtin(), call(nr, &[0xffff_ffff]));
            assert!(steps <= 5 + 3 + 9 + 7, "nr {nr}: {steps} ({verdict:#x})");
        }
    }

    /// The structural facts docs/seccomp.md and docs/performance.md quote.
    #[test]
    fn builtin_program_lengths() {
        let prelude = compile_prelude().unwrap().len();
        let workload = compile_builtin().unwrap().len();
        eprintln!("prelude {prelude}, workload {workload}");
        for len in [prelude, workload] {
            assert!(len < MAX_PROGRAM_LEN / 4, "{len}");
        }
        assert_eq!(
            compile_workload(&WorkloadOptions::default())
                .unwrap()
                .programs
                .len(),
            1
        );
    }
}
