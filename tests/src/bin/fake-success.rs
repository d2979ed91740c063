//! `fake-success CALLS -- COMMAND [ARGS...]`: stands in for an outer runtime that answers some
//! calls with success without doing them (a seccomp `SCMP_ACT_ERRNO(0)` rule). CALLS is a comma
//! list of `setgroups`, `setresgid`, `setresuid`; each returns 0 and changes nothing. Then it execs
//! COMMAND under that filter.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (calls, command) = match args.iter().position(|arg| arg == "--") {
        Some(1) if args.len() > 2 => (&args[0], &args[2..]),
        _ => {
            eprintln!("usage: fake-success setgroups,setresgid,setresuid -- COMMAND [ARGS...]");
            std::process::exit(2);
        }
    };
    let mut rules = BTreeMap::new();
    for call in calls.split(',') {
        let number = match call {
            "setgroups" => libc::SYS_setgroups,
            "setresgid" => libc::SYS_setresgid,
            "setresuid" => libc::SYS_setresuid,
            other => {
                eprintln!("fake-success: unknown call {other:?}");
                std::process::exit(2);
            }
        };
        // No rule: every invocation matches.
        rules.insert(number, vec![]);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(0),
        std::env::consts::ARCH
            .try_into()
            .expect("a seccompiler architecture"),
    )
    .expect("filter");
    let program: BpfProgram = filter.try_into().expect("compile");
    seccompiler::apply_filter(&program).expect("install the filter");
    let err = std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec();
    eprintln!("fake-success: failed to execute {}: {err}", command[0]);
    std::process::exit(127);
}
