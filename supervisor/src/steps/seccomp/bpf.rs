//! The BPF layer: classic-BPF instructions, the hand-written head, argument checks assembled from
//! small ops, and the binary search over syscall numbers that turns [`Rules`] into a program.

use seccompiler::{sock_filter, TargetArch};

use super::rules::{Rule, Rules, HOT};
#[cfg(target_arch = "x86_64")]
use super::X32_SYSCALL_BIT;
use super::{CheckedProgram, ProgramName, SeccompCompileError, HIGHEST_KNOWN};

/// `AUDIT_ARCH_*` of the architecture the filters are compiled for.
#[cfg(target_arch = "x86_64")]
pub(crate) const AUDIT_ARCH: u32 = 0xc000_003e; // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH: u32 = 0xc000_00b7; // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
#[cfg(target_arch = "x86_64")]
pub(crate) const TARGET_ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
pub(crate) const TARGET_ARCH: TargetArch = TargetArch::aarch64;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the seccomp filters are written for x86_64 and aarch64 only");

/// `offsetof(struct seccomp_data, nr)`.
pub(crate) const DATA_NR: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`.
pub(crate) const DATA_ARCH: u32 = 4;
/// `offsetof(struct seccomp_data, args)`; each argument is 8 bytes.
pub(crate) const DATA_ARGS: u32 = 16;

/// `RET ERRNO(EPERM)`: the answer of every denial.
pub(crate) const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
/// `RET ERRNO(ENOSYS)`: the answer for numbers the filter does not know, and for `clone3`.
pub(crate) const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The offset in `seccomp_data` of the low 32 bits of argument `index`.
pub(crate) fn arg(index: u32) -> u32 {
    let low = if cfg!(target_endian = "little") { 0 } else { 4 };
    DATA_ARGS + 8 * index + low
}

/// Where a check goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Jump {
    /// The next op.
    Next,
    /// Skip this many ops.
    Skip(u8),
    /// Allow the call.
    Allow,
    /// Deny it with `EPERM`.
    Deny,
}

/// One step of an argument check. A block of ops is followed by `RET ALLOW`, `RET EPERM`: falling
/// off the end allows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// `A = seccomp_data[offset]` (32 bits).
    Load(u32),
    /// `A &= mask`.
    And(u32),
    /// `A == k`.
    Jeq(u32, Jump, Jump),
    /// `A >= k`.
    Jge(u32, Jump, Jump),
    /// `A & k != 0`.
    Jset(u32, Jump, Jump),
}

pub(crate) fn statement(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

pub(crate) fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

pub(crate) fn ret(k: u32) -> sock_filter {
    statement(libc::BPF_RET | libc::BPF_K, k)
}

pub(crate) fn load(offset: u32) -> sock_filter {
    statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

/// Assembles an argument check: the ops, then `RET ALLOW`, then `RET EPERM`.
pub(crate) fn assemble(ops: &[Op]) -> Vec<sock_filter> {
    use libc::{BPF_ALU, BPF_AND, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_JSET, BPF_K};
    let allow = ops.len();
    let offset = |at: usize, to: Jump| -> u8 {
        let target = match to {
            Jump::Next => at + 1,
            Jump::Skip(n) => at + 1 + usize::from(n),
            Jump::Allow => allow,
            Jump::Deny => allow + 1,
        };
        u8::try_from(target - at - 1).expect("an argument check is shorter than 256 ops")
    };
    let mut code: Vec<sock_filter> = ops
        .iter()
        .enumerate()
        .map(|(at, op)| match *op {
            Op::Load(data) => load(data),
            Op::And(mask) => statement(BPF_ALU | BPF_AND | BPF_K, mask),
            Op::Jeq(k, jt, jf) => {
                jump(BPF_JMP | BPF_JEQ | BPF_K, k, offset(at, jt), offset(at, jf))
            }
            Op::Jge(k, jt, jf) => {
                jump(BPF_JMP | BPF_JGE | BPF_K, k, offset(at, jt), offset(at, jf))
            }
            Op::Jset(k, jt, jf) => jump(
                BPF_JMP | BPF_JSET | BPF_K,
                k,
                offset(at, jt),
                offset(at, jf),
            ),
        })
        .collect();
    code.extend([ret(libc::SECCOMP_RET_ALLOW), ret(RET_EPERM)]);
    code
}

/// Emits a binary search over `segments` (sorted, the first starting at or below every number
/// that reaches it): each node is `JGE start-of-the-upper-half`, each leaf returns or inspects.
pub(crate) fn search(
    segments: &[(u32, Rule)],
    program: &ProgramName,
) -> Result<Vec<sock_filter>, SeccompCompileError> {
    use libc::{BPF_JA, BPF_JGE, BPF_JMP, BPF_K};
    if let [(_, rule)] = segments {
        return Ok(match rule {
            Rule::Allow => vec![ret(libc::SECCOMP_RET_ALLOW)],
            Rule::Deny => vec![ret(RET_EPERM)],
            Rule::Inspect(inspect) => assemble(&inspect.ops()),
        });
    }
    let middle = segments.len() / 2;
    let lower = search(&segments[..middle], program)?;
    let upper = search(&segments[middle..], program)?;
    let pivot = segments[middle].0;
    let mut code = Vec::with_capacity(lower.len() + upper.len() + 2);
    match u8::try_from(lower.len()) {
        Ok(over_lower) => code.push(jump(BPF_JMP | BPF_JGE | BPF_K, pivot, over_lower, 0)),
        Err(_) => {
            // Conditional jumps reach 255 instructions; JA reaches any distance.
            let over_lower =
                u32::try_from(lower.len()).map_err(|_| SeccompCompileError::JumpTooFar {
                    program: program.clone(),
                    offset: lower.len(),
                })?;
            code.push(jump(BPF_JMP | BPF_JGE | BPF_K, pivot, 0, 1));
            code.push(statement(BPF_JMP | BPF_JA, over_lower));
        }
    }
    code.extend(lower);
    code.extend(upper);
    Ok(code)
}

/// Which hand-written head a program starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// The supervisor prelude: architecture check, x32 guard.
    Prelude,
    /// Workload programs (built-in and profiles): architecture check, numbers above
    /// [`HIGHEST_KNOWN`] (`ENOSYS`; x32 numbers `EPERM`), `clone3` (`ENOSYS`).
    Workload,
}

/// The hand-written start of every program; any call it does not answer falls through to the
/// next instruction with the syscall number loaded.
///
/// ```text
///     ld  [arch]
///     jeq AUDIT_ARCH, 1, 0        ; a foreign architecture's numbers mean other calls
///     ret KILL_PROCESS
///     ld  [nr]
/// Head::Workload:
///     jge HIGHEST_KNOWN+1, 0, 3   ; (aarch64: 0, 1 and no x32 guard)
///     jge 0x40000000, 0, 1        ; x86_64: the x32 guard
///     ret ERRNO(EPERM)
///     ret ERRNO(ENOSYS)
///     jeq clone3, 0, 1
///     ret ERRNO(ENOSYS)
/// Head::Prelude (x86_64):
///     jge 0x40000000, 0, 1
///     ret ERRNO(EPERM)
/// ```
pub fn head(kind: Head) -> Vec<sock_filter> {
    use libc::{BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K};
    let mut head = vec![
        load(DATA_ARCH),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 1, 0),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
        load(DATA_NR),
    ];
    match kind {
        Head::Workload => {
            #[cfg(target_arch = "x86_64")]
            head.extend([
                jump(BPF_JMP | BPF_JGE | BPF_K, HIGHEST_KNOWN + 1, 0, 3),
                jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
                ret(RET_EPERM),
                ret(RET_ENOSYS),
            ]);
            #[cfg(not(target_arch = "x86_64"))]
            head.extend([
                jump(BPF_JMP | BPF_JGE | BPF_K, HIGHEST_KNOWN + 1, 0, 1),
                ret(RET_ENOSYS),
            ]);
            head.extend([
                jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone3 as u32, 0, 1),
                ret(RET_ENOSYS),
            ]);
        }
        Head::Prelude => {
            #[cfg(target_arch = "x86_64")]
            head.extend([
                jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
                ret(RET_EPERM),
            ]);
        }
    }
    head
}

/// `head`, the [`HOT`] calls `rules` inspects, then the binary search over the rest, length-checked.
pub(crate) fn compile_rules(
    name: ProgramName,
    kind: Head,
    rules: &Rules,
) -> Result<CheckedProgram, SeccompCompileError> {
    use libc::{BPF_JEQ, BPF_JMP, BPF_K};
    super::count_compiled();
    let mut program = head(kind);
    let mut rest = rules.clone();
    for inspect in HOT {
        let nr = inspect.syscall();
        if rules.rule(nr) != Rule::Inspect(inspect) {
            continue;
        }
        let block = assemble(&inspect.ops());
        let over_block =
            u8::try_from(block.len()).map_err(|_| SeccompCompileError::JumpTooFar {
                program: name.clone(),
                offset: block.len(),
            })?;
        program.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, over_block));
        program.extend(block);
        // The search never sees this number again.
        rest.0.remove(&nr);
    }
    program.extend(search(&rest.segments(), &name)?);
    CheckedProgram::check(name, program)
}
