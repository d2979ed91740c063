//! `outer-seccomp REFUSALS -- COMMAND [ARGS...]`: stands in for a container runtime's seccomp
//! profile. It installs a filter that answers `EPERM` to the calls named in REFUSALS (a comma list
//! of `netns`, `seccomp`, or `none`) and execs COMMAND under it.
//!
//! - `netns`: `unshare` and `clone` with `CLONE_NEWNET`.
//! - `seccomp`: `seccomp(SECCOMP_SET_MODE_FILTER)` and `prctl(PR_SET_SECCOMP)`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompRule {
    SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        op,
        value,
    )
    .unwrap()])
    .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (refusals, command) = match args.iter().position(|arg| arg == "--") {
        Some(1) => (&args[0], &args[2..]),
        _ => {
            eprintln!("usage: outer-seccomp netns,seccomp|none -- COMMAND [ARGS...]");
            std::process::exit(2);
        }
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for refusal in refusals.split(',') {
        match refusal {
            "netns" => {
                let newnet = libc::CLONE_NEWNET as u64;
                for nr in [libc::SYS_unshare, libc::SYS_clone] {
                    rules.entry(nr).or_default().push(rule(
                        0,
                        SeccompCmpOp::MaskedEq(newnet),
                        newnet,
                    ));
                }
            }
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
            "none" => {}
            other => {
                eprintln!("outer-seccomp: unknown refusal {other:?}");
                std::process::exit(2);
            }
        }
    }
    if !rules.is_empty() {
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            std::env::consts::ARCH.try_into().unwrap(),
        )
        .unwrap();
        let program: BpfProgram = filter.try_into().unwrap();
        seccompiler::apply_filter(&program).expect("install the outer filter");
    }
    let err = std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec();
    eprintln!("outer-seccomp: exec {}: {err}", command[0]);
    std::process::exit(127);
}
