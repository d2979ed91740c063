//! `--seccomp-profile` in Docker's format and the OCI runtime spec's, told apart by content: a
//! profile written for this project covers every field and operator, and the workload's calls
//! answer as Docker documents (a denied call gets the rule's `errnoRet`, an allowed one works, an
//! argument-conditional rule holds only for its arguments, `includes`/`excludes` follow the
//! workload's capabilities, the architecture and the kernel); the same object inside an OCI
//! `config.json` behaves the same; containers' real-world profile (Debian's
//! golang-github-containers-common, when installed) loads and answers its `defaultErrnoRet`; a
//! rule that cannot be expressed is one usage line naming it; the report names the profile's path
//! and SHA-256.

use std::path::Path;

use sandbox_tests::{
    helper_bin, require_root, run_supervisor, run_with_report, scratch, sha256_of, write_file,
    Launch,
};

/// The profile: the default allows; each rule denies one call with an errno of its own, so that
/// the answer says which rule decided. Every field and operator of Docker's format appears.
const PROFILE: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "defaultErrnoRet": 1,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
  "syscalls": [
    {"names": ["getppid", "no_such_call", "_llseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
     "comment": "unconditional, with a name no architecture has and one of 32-bit ARM and x86"},
    {"name": "sysinfo", "action": "SCMP_ACT_ERRNO", "errnoRet": 25},
    {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
    {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7, "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
    {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LT"}]},
    {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9, "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_LE"}]},
    {"names": ["sched_getscheduler"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10, "args": [{"index": 0, "value": 4000000, "op": "SCMP_CMP_GT"}]},
    {"names": ["sched_get_priority_max"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14, "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]},
    {"names": ["sched_get_priority_min"], "action": "SCMP_ACT_ERRNO", "errnoRet": 16, "args": [{"index": 0, "value": 240, "valueTwo": 16, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 17, "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["getgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18, "excludes": {"caps": ["CAP_NET_BIND_SERVICE"]}},
    {"names": ["geteuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 19, "includes": {"arches": ["amd64", "arm64"]}},
    {"names": ["getegid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 20, "includes": {"arches": ["s390x"]}},
    {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 21, "excludes": {"arches": ["amd64", "arm64"]}},
    {"names": ["getpgrp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 23, "includes": {"minKernel": "99.0"}},
    {"names": ["sched_yield"], "action": "SCMP_ACT_ERRNO", "errnoRet": 24, "includes": {"minKernel": "3.0"}},
    {"names": ["getcpu"], "action": "SCMP_ACT_ALLOW"}
  ]
}"#;

/// Each call (number and arguments) with the answer the profile gives, without and with
/// `--cap-add NET_BIND_SERVICE`.
fn expected() -> Vec<(String, &'static str, &'static str)> {
    let me_high = 4_100_000u64;
    let calls: Vec<(Vec<u64>, &str, &str)> = vec![
        (vec![libc::SYS_getppid as u64], "EACCES", "EACCES"),
        (vec![libc::SYS_sysinfo as u64, 0], "ENOTTY", "ENOTTY"),
        // EQ: getpgid(1) is denied with the default EPERM (no errnoRet), getpgid(0) works.
        (vec![libc::SYS_getpgid as u64, 1], "EPERM", "EPERM"),
        (vec![libc::SYS_getpgid as u64, 0], "OK", "OK"),
        // NE: getpriority(PRIO_PGRP, 0) denied, getpriority(PRIO_PROCESS, 0) works.
        (vec![libc::SYS_getpriority as u64, 1, 0], "E2BIG", "E2BIG"),
        (vec![libc::SYS_getpriority as u64, 0, 0], "OK", "OK"),
        // LT, LE, GT, GE, MASKED_EQ: each on both sides of its value.
        (vec![libc::SYS_getsid as u64, 0], "ENOEXEC", "ENOEXEC"),
        (vec![libc::SYS_getsid as u64, 1], "OK", "OK"),
        (vec![libc::SYS_umask as u64, 18], "EBADF", "EBADF"),
        (vec![libc::SYS_umask as u64, 19], "OK", "OK"),
        (
            vec![libc::SYS_sched_getscheduler as u64, me_high],
            "ECHILD",
            "ECHILD",
        ),
        (vec![libc::SYS_sched_getscheduler as u64, 0], "OK", "OK"),
        (
            vec![libc::SYS_sched_get_priority_max as u64, 6],
            "EFAULT",
            "EFAULT",
        ),
        (vec![libc::SYS_sched_get_priority_max as u64, 1], "OK", "OK"),
        (
            vec![libc::SYS_sched_get_priority_min as u64, 17],
            "EBUSY",
            "EBUSY",
        ),
        (vec![libc::SYS_sched_get_priority_min as u64, 1], "OK", "OK"),
        // includes.caps: the workload never holds CAP_SYS_ADMIN.
        (vec![libc::SYS_getuid as u64], "OK", "OK"),
        // excludes.caps: left out when the workload keeps CAP_NET_BIND_SERVICE.
        (vec![libc::SYS_getgid as u64], "EXDEV", "OK"),
        // includes.arches and excludes.arches: this architecture's rules only.
        (vec![libc::SYS_geteuid as u64], "ENODEV", "ENODEV"),
        (vec![libc::SYS_getegid as u64], "OK", "OK"),
        (vec![libc::SYS_gettid as u64], "OK", "OK"),
        // includes.minKernel: a rule for a kernel to come is left out.
        (vec![libc::SYS_getpgrp as u64], "OK", "OK"),
        (vec![libc::SYS_sched_yield as u64], "EMFILE", "EMFILE"),
        (vec![libc::SYS_getcpu as u64, 0, 0, 0], "OK", "OK"),
    ];
    calls
        .into_iter()
        .map(|(numbers, without, with)| {
            let spec: Vec<String> = numbers.iter().map(u64::to_string).collect();
            (spec.join(","), without, with)
        })
        .collect()
}

/// The answers `syscall-probe calls` printed, by call.
fn answers(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(spec, result)| (spec.to_owned(), result.to_owned()))
        .collect()
}

fn probe_args(profile: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--seccomp-profile".to_owned(),
        profile.display().to_string(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args.extend([
        "--".to_owned(),
        helper_bin("syscall-probe").display().to_string(),
    ]);
    args.push("calls".to_owned());
    args.extend(expected().into_iter().map(|(spec, _, _)| spec));
    args
}

/// Docker's format, added to the built-in filter, and the same object in an OCI `config.json`:
/// every call answers as the profile says, for a workload without and with a kept capability.
/// The report names the profile's path and SHA-256.
#[test]
fn a_docker_profile_answers_as_docker_documents() {
    require_root!();
    let dir = scratch();
    let docker = write_file(dir.path(), "docker.json", PROFILE);
    let oci = write_file(
        dir.path(),
        "config.json",
        &format!(
            r#"{{"ociVersion": "1.0.2", "process": {{"args": ["sh"]}}, "linux": {{"seccomp": {PROFILE}}}}}"#
        ),
    );
    for profile in [&docker, &oci] {
        for (cap, with) in [(None, false), (Some("NET_BIND_SERVICE"), true)] {
            let extra: Vec<&str> = cap.map(|cap| vec!["--cap-add", cap]).unwrap_or_default();
            let (outcome, report) =
                run_with_report(&Launch::default(), probe_args(profile, &extra));
            assert_eq!(outcome.code, 0, "{}", outcome.stderr);
            let got = answers(&outcome.stdout);
            let wanted: Vec<(String, String)> = expected()
                .into_iter()
                .map(|(spec, without, with_cap)| {
                    (spec, if with { with_cap } else { without }.to_owned())
                })
                .collect();
            assert_eq!(got, wanted, "{} (cap {cap:?})", profile.display());
            assert_eq!(
                report["seccomp_profile"]["path"],
                profile.display().to_string()
            );
            assert_eq!(report["seccomp_profile"]["sha256"], sha256_of(profile));
        }
    }
}

/// containers' profile (Docker's format; the default answers ENOSYS, `defaultErrnoRet` 38), alone
/// in place of the built-in filter: an allowed call works, a call no rule allows gets the default
/// errno (ENOSYS), a rule's own errno applies (acct: EPERM), an argument-conditional rule holds only for its
/// arguments (a NETLINK_AUDIT socket: EINVAL) unless the capability its `excludes` names is kept.
#[test]
fn containers_profile_loads_and_answers_its_errnos() {
    require_root!();
    let profile = Path::new("/usr/share/containers/seccomp.json");
    if !profile.exists() {
        sandbox_tests::skip_or_fail(
            "needs /usr/share/containers/seccomp.json (Debian's golang-github-containers-common)",
        );
        return;
    }
    let audit = format!(
        "{},{},{},{}",
        libc::SYS_socket,
        libc::AF_NETLINK,
        libc::SOCK_RAW,
        libc::NETLINK_AUDIT
    );
    let calls = [
        (libc::SYS_getppid.to_string(), "OK"),
        (format!("{},0", libc::SYS_acct), "EPERM"),
        // add_key: named by no rule.
        (format!("{},0,0,0,0", libc::SYS_add_key), "ENOSYS"),
        (audit.clone(), "EINVAL"),
        (
            format!(
                "{},{},{},0",
                libc::SYS_socket,
                libc::AF_UNIX,
                libc::SOCK_STREAM
            ),
            "OK",
        ),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--seccomp-profile".to_owned(),
            profile.display().to_string(),
            "--seccomp-profile-replaces-builtin".to_owned(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args.extend([
            "--".to_owned(),
            helper_bin("syscall-probe").display().to_string(),
        ]);
        args.push("calls".to_owned());
        args.extend(calls.iter().map(|(spec, _)| spec.clone()));
        run_supervisor(&Launch::default(), &args)
    };
    let outcome = run(&[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let wanted: Vec<(String, String)> = calls
        .iter()
        .map(|(spec, answer)| (spec.clone(), (*answer).to_owned()))
        .collect();
    assert_eq!(answers(&outcome.stdout), wanted, "{}", outcome.stderr);
    let outcome = run(&["--cap-add", "AUDIT_WRITE"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let audit_answer = answers(&outcome.stdout)
        .into_iter()
        .find(|(spec, _)| *spec == audit)
        .unwrap();
    assert_ne!(audit_answer.1, "EINVAL", "{}", outcome.stdout);
}

/// What cannot be expressed, and what is not a profile, is one usage line (exit 2) naming the
/// profile and the rule, the cause once; the workload never runs.
#[test]
fn a_rule_that_cannot_be_expressed_is_one_usage_line() {
    let dir = scratch();
    let marker = dir.path().join("marker");
    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_NOTIFY"}]}"#,
            "syscalls[0] (kill): SCMP_ACT_NOTIFY cannot be expressed (no user-space notifier)",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#,
            "syscalls[0] (kill): unknown operator SCMP_CMP_SOMETIMES",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRett": 1}]}"#,
            "unknown field `errnoRett`",
        ),
        (
            r#"{"ociVersion": "1.0.2", "linux": {}}"#,
            "an OCI runtime configuration without linux.seccomp",
        ),
        ("{", "not JSON: "),
    ];
    for (index, (text, cause)) in cases.into_iter().enumerate() {
        let profile = write_file(dir.path(), &format!("profile{index}.json"), text);
        let mut args = vec![
            "--seccomp-profile".to_owned(),
            profile.display().to_string(),
        ];
        args.extend(sandbox_tests::marked(&marker, "true"));
        let outcome = run_supervisor(&Launch::default(), &args);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert_eq!(outcome.error_lines().len(), 1, "{}", outcome.stderr);
        let line = outcome.error_line();
        assert!(
            line.contains(&format!(
                "failed to compile seccomp profile {}: ",
                profile.display()
            )),
            "{line}"
        );
        assert_eq!(line.matches(cause).count(), 1, "{cause}: {line}");
        assert!(!marker.exists());
    }
}
