// The one classic-BPF interpreter of the tests (documented at `pub mod bpf` in lib.rs). The
// supervisor's unit tests include this very file (`include!`, which takes no inner attribute, so
// no `//!` here); it depends on nothing but `libc` and `seccompiler`, which both crates have.

/// What a program sees of a call: `struct seccomp_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompData {
    /// The system call number.
    pub nr: u32,
    /// The `AUDIT_ARCH_*` value of the calling convention.
    pub arch: u32,
    /// The instruction pointer at the call (the supervisor's programs never load it).
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    /// Call `nr` of architecture `arch` with the arguments `first` (the rest 0).
    pub fn new(arch: u32, nr: u32, first: &[u64]) -> SeccompData {
        let mut args = [0; 6];
        args[..first.len()].copy_from_slice(first);
        SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        }
    }

    /// The bytes the program loads from, laid out as the kernel lays them out.
    fn bytes(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(64);
        data.extend(self.nr.to_ne_bytes());
        data.extend(self.arch.to_ne_bytes());
        data.extend(self.instruction_pointer.to_ne_bytes());
        for arg in self.args {
            data.extend(arg.to_ne_bytes());
        }
        data
    }
}

/// What one run of a program did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The `SECCOMP_RET_*` value it returned.
    pub answer: u32,
    /// How many instructions ran, the return included.
    pub steps: usize,
    /// How many conditional jumps it took or passed.
    pub comparisons: usize,
    /// The `seccomp_data` offsets it loaded, in order.
    pub loads: Vec<u32>,
}

/// Runs `program` on `call` as the kernel would.
pub fn run(program: &[seccompiler::sock_filter], call: SeccompData) -> Run {
    use libc::{
        BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K,
        BPF_LD, BPF_RET, BPF_W,
    };
    let data = call.bytes();
    let (mut a, mut pc) = (0u32, 0usize);
    let mut run = Run {
        answer: 0,
        steps: 0,
        comparisons: 0,
        loads: Vec::new(),
    };
    loop {
        let insn = program
            .get(pc)
            .unwrap_or_else(|| panic!("jump out of the program at {pc}"));
        pc += 1;
        run.steps += 1;
        let mut branch = |taken: bool| {
            run.comparisons += 1;
            usize::from(if taken { insn.jt } else { insn.jf })
        };
        match u32::from(insn.code) {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                let at = insn.k as usize;
                let word = data
                    .get(at..at + 4)
                    .unwrap_or_else(|| panic!("load past seccomp_data at {}", pc - 1));
                a = u32::from_ne_bytes(word.try_into().expect("four bytes"));
                run.loads.push(insn.k);
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            c if c == BPF_JMP | BPF_JA => pc += insn.k as usize,
            c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += branch(a == insn.k),
            c if c == BPF_JMP | BPF_JGE | BPF_K => pc += branch(a >= insn.k),
            c if c == BPF_JMP | BPF_JGT | BPF_K => pc += branch(a > insn.k),
            c if c == BPF_JMP | BPF_JSET | BPF_K => pc += branch(a & insn.k != 0),
            c if c == BPF_RET | BPF_K => {
                run.answer = insn.k;
                return run;
            }
            code => panic!("unknown BPF instruction {code:#x} at {}", pc - 1),
        }
    }
}
