//! The workload filter as the kernel runs it.
//!
//! Each case forks a child that sets `PR_SET_NO_NEW_PRIVS`, installs programs compiled by the
//! supervisor's library, makes raw `syscall()`s with prepared arguments, writes each result to a
//! pipe and `_exit`s; the test process itself never installs a filter. Every probe runs twice:
//! once under a control filter only and once with the workload's programs installed after it, so a
//! denial is only credited to the filter when the same call is not refused without it.
//!
//! The control filter answers `EXDEV` for a few boundary numbers and allows everything else. When
//! two programs answer `SECCOMP_RET_ERRNO`, the kernel returns the most recently installed one's
//! errno; so `ENOSYS` for such a number comes from the workload filter, and `EXDEV` means the
//! workload filter allowed the call (the kernel's own `ENOSYS` for a number it does not implement
//! would be indistinguishable otherwise).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use sandbox_supervisor::seccomp::{
    compile_workload, install, set_no_new_privs, CheckedProgram, Profile, ProgramName,
    WorkloadOptions, HIGHEST_KNOWN, MAX_PROGRAM_LEN,
};
use sandbox_tests::require_root;
use seccompiler::{SeccompAction, SeccompFilter, TargetArch};

/// The control filter's answer for its boundary numbers.
const MARKER: i32 = libc::EXDEV;
/// Numbers the control filter answers with [`MARKER`].
const MARKED: [u32; 3] = [0x3fff_ffff, HIGHEST_KNOWN, HIGHEST_KNOWN + 1];

/// What the child does with a call's result besides reporting it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// A `clone` that may succeed: the new process `_exit`s at once, the child reaps it.
    Fork,
}

#[derive(Clone, Copy)]
struct Probe {
    name: &'static str,
    nr: i64,
    args: [u64; 6],
    kind: Kind,
}

fn probe(name: &'static str, nr: i64, args: &[u64]) -> Probe {
    let mut all = [0; 6];
    all[..args.len()].copy_from_slice(args);
    Probe {
        name,
        nr,
        args: all,
        kind: Kind::Plain,
    }
}

fn fork_probe(name: &'static str, flags: i32) -> Probe {
    Probe {
        kind: Kind::Fork,
        ..probe(name, libc::SYS_clone, &[flags as u64])
    }
}

/// A call's result: the return value, or the errno.
type Outcome = Result<i64, i32>;

/// What a probe must show.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The call succeeds with and without the workload filter.
    Works,
    /// The call fails with this errno with and without the workload filter: the workload filter
    /// let it through to the kernel (or to the control filter).
    Passes(i32),
    /// The call fails with this errno under the workload filter and not without it.
    Denied(i32),
}

fn ptr(bytes: &'static [u8]) -> u64 {
    bytes.as_ptr() as u64
}

fn control() -> CheckedProgram {
    let arch: TargetArch = std::env::consts::ARCH.try_into().unwrap();
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = MARKED
        .iter()
        .map(|&nr| (i64::from(nr), Vec::new()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(MARKER as u32),
        arch,
    )
    .unwrap();
    let program: seccompiler::BpfProgram = filter.try_into().unwrap();
    CheckedProgram::check(ProgramName::Profile("control".into()), program).unwrap()
}

/// Runs `probes` in a forked child under `programs` (installed in order after
/// `PR_SET_NO_NEW_PRIVS`) and returns their outcomes.
fn outcomes(programs: &[&CheckedProgram], probes: &[Probe]) -> Vec<Outcome> {
    let (read, write) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only makes async-signal-safe calls (prctl, seccomp, raw syscalls, write,
    // waitpid) on memory prepared before the fork, and always ends with _exit; it never returns
    // into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", Errno::last());
    if pid == 0 {
        child(programs, probes, &write);
    }
    drop(write);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut bytes).unwrap();
    let status = waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 0),
        "the probe child failed (exit 10+i: installing program i failed, 1: NNP failed)"
    );
    assert_eq!(bytes.len(), probes.len() * 12);
    bytes
        .chunks(12)
        .map(|record| {
            let value = i64::from_ne_bytes(record[..8].try_into().unwrap());
            let errno = i32::from_ne_bytes(record[8..].try_into().unwrap());
            if value == -1 {
                Err(errno)
            } else {
                Ok(value)
            }
        })
        .collect()
}

fn child(programs: &[&CheckedProgram], probes: &[Probe], out: &OwnedFd) -> ! {
    let exit = |code: i32| -> ! {
        // SAFETY: _exit ends the forked child without running the harness's destructors or
        // atexit handlers.
        unsafe { libc::_exit(code) }
    };
    if set_no_new_privs().is_err() {
        exit(1);
    }
    for (index, program) in programs.iter().enumerate() {
        if install(program).is_err() {
            exit(10 + index as i32);
        }
    }
    for probe in probes {
        let [a, b, c, d, e, f] = probe.args;
        // SAFETY: every probe's pointer arguments point at static data or are null/invalid on
        // purpose; a call that succeeds only creates resources of this short-lived child.
        let value = unsafe { libc::syscall(probe.nr, a, b, c, d, e, f) };
        let errno = Errno::last_raw();
        if probe.kind == Kind::Fork && value == 0 {
            exit(0);
        }
        if probe.kind == Kind::Fork && value > 0 {
            let mut status = 0;
            // SAFETY: waitpid writes the status into a local integer.
            unsafe { libc::waitpid(value as libc::pid_t, &mut status, 0) };
        }
        let mut record = [0u8; 12];
        record[..8].copy_from_slice(&(value as i64).to_ne_bytes());
        record[8..].copy_from_slice(&errno.to_ne_bytes());
        if nix::unistd::write(out, &record) != Ok(record.len()) {
            exit(2);
        }
    }
    let _ = out.as_raw_fd();
    exit(0)
}

/// Runs `probes` under the control filter alone, then under the control filter and `workload`,
/// and checks each against its expectation.
fn check(workload: &[&CheckedProgram], probes: &[(Probe, Expect)]) {
    let control = control();
    let only: Vec<Probe> = probes.iter().map(|&(probe, _)| probe).collect();
    let without = outcomes(&[&control], &only);
    let mut programs = vec![&control];
    programs.extend_from_slice(workload);
    let with = outcomes(&programs, &only);
    let mut failures = Vec::new();
    for (((probe, expect), without), with) in probes.iter().zip(&without).zip(&with) {
        let good = match *expect {
            Expect::Works => with.is_ok() && without.is_ok(),
            Expect::Passes(errno) => *with == Err(errno) && *without == Err(errno),
            Expect::Denied(errno) => *with == Err(errno) && *without != Err(errno),
        };
        if !good {
            failures.push(format!(
                "{}: expected {expect:?}; under the filter {with:?}, without it {without:?}",
                probe.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn builtin() -> Vec<CheckedProgram> {
    compile_workload(&WorkloadOptions::default())
        .unwrap()
        .programs
}

/// Calls that must keep working under the filter, and the boundary numbers of the head.
fn common_probes() -> Vec<(Probe, Expect)> {
    let parent = u64::from(std::process::id());
    let mut probes = vec![
        (probe("getpid", libc::SYS_getpid, &[]), Expect::Works),
        (
            probe(
                "socket(AF_INET, SOCK_STREAM)",
                libc::SYS_socket,
                &[libc::AF_INET as u64, libc::SOCK_STREAM as u64],
            ),
            Expect::Works,
        ),
        (
            fork_probe("clone(SIGCHLD), a plain fork", libc::SIGCHLD),
            Expect::Works,
        ),
        (
            probe(
                "personality(0xffffffff), the query",
                libc::SYS_personality,
                &[0xffff_ffff],
            ),
            Expect::Works,
        ),
        (
            probe(
                "highest known number, allowed",
                i64::from(HIGHEST_KNOWN),
                &[],
            ),
            Expect::Passes(MARKER),
        ),
        (
            probe("highest known + 1", i64::from(HIGHEST_KNOWN) + 1, &[]),
            Expect::Denied(libc::ENOSYS),
        ),
        (
            probe("0x3fffffff", 0x3fff_ffff, &[]),
            Expect::Denied(libc::ENOSYS),
        ),
        (
            probe("clone3(NULL, 0)", libc::SYS_clone3, &[]),
            Expect::Denied(libc::ENOSYS),
        ),
        (
            probe(
                "mount_setattr(-1, \"\", 0, NULL, 0)",
                libc::SYS_mount_setattr,
                &[u64::MAX, ptr(b"\0")],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "socket(AF_INET, SOCK_PACKET)",
                libc::SYS_socket,
                &[libc::AF_INET as u64, 10],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "add_key(user) to the thread keyring",
                libc::SYS_add_key,
                &[
                    ptr(b"user\0"),
                    ptr(b"sandbox-seccomp-test\0"),
                    ptr(b"x"),
                    1,
                    libc::KEY_SPEC_THREAD_KEYRING as u64,
                ],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "keyctl(KEYCTL_GET_KEYRING_ID, session)",
                libc::SYS_keyctl,
                &[
                    libc::KEYCTL_GET_KEYRING_ID as u64,
                    libc::KEY_SPEC_SESSION_KEYRING as u64,
                    0,
                ],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "personality(READ_IMPLIES_EXEC)",
                libc::SYS_personality,
                &[0x0040_0000],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "unshare(CLONE_NEWUTS)",
                libc::SYS_unshare,
                &[libc::CLONE_NEWUTS as u64],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            fork_probe(
                "clone(CLONE_NEWNS | SIGCHLD)",
                libc::CLONE_NEWNS | libc::SIGCHLD,
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe("memfd_create", libc::SYS_memfd_create, &[ptr(b"x\0"), 0]),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "kcmp(parent, parent, KCMP_FILE, 0, 0)",
                libc::SYS_kcmp,
                &[parent, parent, 0, 0, 0],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "open_by_handle_at(AT_FDCWD, NULL, 0)",
                libc::SYS_open_by_handle_at,
                &[libc::AT_FDCWD as u64, 0, 0],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "seccomp(SECCOMP_SET_MODE_FILTER, 0, NULL)",
                libc::SYS_seccomp,
                &[libc::SECCOMP_SET_MODE_FILTER.into(), 0, 0],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL)",
                libc::SYS_prctl,
                &[
                    libc::PR_SET_SECCOMP as u64,
                    libc::SECCOMP_MODE_FILTER.into(),
                    0,
                ],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "execveat(-1, \"\", NULL, NULL, AT_EMPTY_PATH)",
                libc::SYS_execveat,
                &[u64::MAX, ptr(b"\0"), 0, 0, libc::AT_EMPTY_PATH as u64],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)",
                libc::SYS_socket,
                &[
                    libc::AF_NETLINK as u64,
                    libc::SOCK_RAW as u64,
                    libc::NETLINK_AUDIT as u64,
                ],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)",
                libc::SYS_socket,
                &[libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 0],
            ),
            Expect::Works,
        ),
        (
            probe(
                "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)",
                libc::SYS_socket,
                &[
                    libc::AF_INET6 as u64,
                    libc::SOCK_RAW as u64,
                    libc::IPPROTO_ICMPV6 as u64,
                ],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "socket(AF_ALG, SOCK_SEQPACKET)",
                libc::SYS_socket,
                &[libc::AF_ALG as u64, libc::SOCK_SEQPACKET as u64, 0],
            ),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe(
                "unshare(CLONE_FILES), no namespace",
                libc::SYS_unshare,
                &[libc::CLONE_FILES as u64],
            ),
            Expect::Works,
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    probes.extend([
        (
            probe("0x40000000", 0x4000_0000, &[]),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe("x32 getpid", 0x4000_0000 + libc::SYS_getpid, &[]),
            Expect::Denied(libc::EPERM),
        ),
        (
            probe("0x40000000 - 1 (not x32)", 0x3fff_ffff, &[]),
            Expect::Denied(libc::ENOSYS),
        ),
    ]);
    probes
}

fn ioctl(name: &'static str, request: libc::Ioctl) -> Probe {
    // The kernel takes the request as an unsigned int.
    let request = u64::from(request as u32);
    probe(name, libc::SYS_ioctl, &[u64::MAX, request, ptr(b"x")])
}

#[test]
fn builtin_filter_as_the_kernel_runs_it() {
    require_root!();
    let programs = builtin();
    let programs: Vec<&CheckedProgram> = programs.iter().collect();
    let mut probes = common_probes();
    // ioctl is not inspected: the kernel answers the bad descriptor.
    probes.extend([
        (
            ioctl("ioctl(-1, TIOCSTI)", libc::TIOCSTI),
            Expect::Passes(libc::EBADF),
        ),
        (
            ioctl("ioctl(-1, TCGETS)", libc::TCGETS),
            Expect::Passes(libc::EBADF),
        ),
    ]);
    check(&programs, &probes);
}

/// With a profile the built-in filter still runs, after the profile's program, which has the
/// same head.
#[test]
fn a_profile_adds_to_the_builtin_filter() {
    require_root!();
    let json = br#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 13},
        "filter": [{"syscall": "getppid"}]}}"#;
    let filter = compile_workload(&WorkloadOptions {
        profile: Some(Profile {
            name: "profile.json",
            json,
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(filter.programs.len(), 2);
    let programs: Vec<&CheckedProgram> = filter.programs.iter().collect();
    let mut probes = common_probes();
    probes.push((
        probe("getppid, denied by the profile", libc::SYS_getppid, &[]),
        Expect::Denied(libc::EACCES),
    ));
    check(&programs, &probes);

    // The profile's program alone (replace_builtin) still has the head.
    let alone = [programs[0]];
    check(
        &alone,
        &[
            (
                probe("getppid", libc::SYS_getppid, &[]),
                Expect::Denied(libc::EACCES),
            ),
            (probe("getpid", libc::SYS_getpid, &[]), Expect::Works),
            (
                probe("highest known + 1", i64::from(HIGHEST_KNOWN) + 1, &[]),
                Expect::Denied(libc::ENOSYS),
            ),
            (
                probe("clone3(NULL, 0)", libc::SYS_clone3, &[]),
                Expect::Denied(libc::ENOSYS),
            ),
            (
                probe(
                    "memfd_create, allowed without the built-in",
                    libc::SYS_memfd_create,
                    &[ptr(b"x\0"), 0],
                ),
                Expect::Works,
            ),
        ],
    );
}

/// The lengths the kernel sees stay below its limit, and the structure docs/performance.md
/// quotes: one program without a profile, two with one.
#[test]
fn builtin_programs_fit_the_kernel() {
    let programs = builtin();
    assert_eq!(programs.len(), 1);
    assert!(programs[0].len() < MAX_PROGRAM_LEN);
}

/// The real binary: an operator profile too long for the kernel stops the boot as a usage error
/// (exit 2, one line) before anything runs, also when a plugin that tolerates `EINVAL` is loaded:
/// the kernel never sees the program, so no refusal reaches the handler.
#[test]
fn an_oversized_profile_is_a_usage_error_and_nothing_runs() {
    require_root!();
    let dir = sandbox_tests::scratch();
    let rule =
        r#"{"syscall": "getppid", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1}]}"#;
    let profile = dir.path().join("oversized.json");
    std::fs::write(
        &profile,
        format!(
            r#"{{"workload": {{"mismatch_action": "allow", "match_action": {{"errno": 1}}, "filter": [{}]}}}}"#,
            vec![rule; 5000].join(",")
        ),
    )
    .unwrap();
    let ran = dir.path().join("ran");
    let plugin = sandbox_tests::plugin("sandbox-plugin-outer-sandbox");
    for with_plugin in [false, true] {
        let mut args: Vec<String> = Vec::new();
        if with_plugin {
            args.extend(["--handler-plugin".into(), plugin.display().to_string()]);
        }
        args.extend([
            "--seccomp-profile".into(),
            profile.display().to_string(),
            "--".into(),
            "touch".into(),
            ran.display().to_string(),
        ]);
        let outcome = sandbox_tests::run_supervisor(&sandbox_tests::Launch::default(), &args);
        assert_eq!(outcome.code, 2, "plugin: {with_plugin}\n{}", outcome.stderr);
        let line = outcome.error_line();
        assert!(line.contains("BPF instructions"), "{line}");
        assert!(line.contains("oversized.json"), "{line}");
        assert!(!ran.exists(), "the workload ran (plugin: {with_plugin})");
    }
}

/// The real binary: a profile that allows everything (the issue's reproduction) leaves every
/// built-in denial in place, because the built-in filter is installed after it.
#[test]
fn a_permissive_profile_keeps_the_builtin_denials() {
    require_root!();
    let dir = sandbox_tests::scratch();
    let profile = dir.path().join("permissive.json");
    std::fs::write(
        &profile,
        r#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 1}, "filter": [{"syscall": "getcwd"}]}}"#,
    )
    .unwrap();
    let probe = sandbox_tests::helper_bin("syscall-probe");
    let outcome = sandbox_tests::run_supervisor(
        &sandbox_tests::Launch::default(),
        [
            "--seccomp-profile",
            profile.to_str().unwrap(),
            "--",
            probe.to_str().unwrap(),
            "denied",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for expected in [
        "memfd_create EPERM",
        "clone3 ENOSYS",
        "ptrace EPERM",
        "setns EPERM",
        "unshare(CLONE_NEWUSER) EPERM",
        "clone(CLONE_NEWUSER) EPERM",
    ] {
        assert!(
            outcome.stdout.lines().any(|line| line == expected),
            "{expected} missing from:\n{}",
            outcome.stdout
        );
    }
}
