//! The structure docs/performance.md's numbers depend on, asserted as facts rather than times:
//! how many seccomp programs the workload and the supervisor run, how long the built-in program
//! is, and how many comparisons a call meets on its way through it. A change that makes every
//! call of the workload slower (a second program, a linear chain, an argument load on the path
//! of an allowed call) fails here before it shows in `bench/run.sh`. So does a boot that does
//! work the build can do (a built-in program compiled at boot) or that a plugin makes dearer (its
//! file read twice, a scan of `/proc`, a process).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_supervisor::seccomp::{
    Builtin, CheckedProgram, Rule, Rules, HIGHEST_KNOWN, HOT, MAX_PROGRAM_LEN,
};
use sandbox_tests::{
    bpf, plugin, require_root, run_supervisor, scratch, status_field, strace_missing,
    supervisor_bin, Launch,
};
use seccompiler::sock_filter;

/// The built-in workload program's length, as measured when this test was written (x86_64: 184),
/// with headroom for a few more rules. A longer program is a filter that grew
/// by more than a handful of rules: measure it with `bench/run.sh` and move the bound.
const BUILTIN_LEN_BOUND: usize = 256;
/// The prelude's (47 on x86_64).
const PRELUDE_LEN_BOUND: usize = 64;
/// Comparisons an allowed, uninspected call meets: the head's three (architecture, the newest
/// known number, clone3), one for each hot call (`seccomp::HOT`) the program inspects, and the
/// binary search's; at most 13 in all when this was written. The kernel
/// runs none of them for such a call once it has cached the number's verdict; they count for the
/// first call and wherever the cache does not apply.
const ALLOWED_COMPARISONS_BOUND: usize = 16;
/// Comparisons a frequent inspected call meets, its argument checks included: `prctl`, `clone`
/// and `socket` of the unix and IP families, which bench/run.sh measures (5 to 8 when this was
/// written: they are checked right after the head, before the search).
const HOT_COMPARISONS_BOUND: usize = 10;
/// Comparisons any other inspected call meets: 11 to 17 when this was written (the search, then
/// the argument checks; personality's five values the longest).
const INSPECTED_COMPARISONS_BOUND: usize = 20;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// `program` run on call `nr` of this architecture with `args` (the tests' one interpreter).
fn walk(program: &[sock_filter], nr: u32, args: [u64; 6]) -> bpf::Run {
    bpf::run(
        program,
        bpf::SeccompData {
            nr,
            arch: AUDIT_ARCH,
            instruction_pointer: 0,
            args,
        },
    )
}

fn args(first: &[u64]) -> [u64; 6] {
    let mut all = [0; 6];
    all[..first.len()].copy_from_slice(first);
    all
}

/// A built-in program as the build ships it (the const table the boot installs).
fn shipped(builtin: Builtin) -> CheckedProgram {
    builtin.program().unwrap()
}

fn nr(number: libc::c_long) -> u32 {
    u32::try_from(number).unwrap()
}

#[test]
fn builtin_programs_are_short() {
    let len = shipped(Builtin::Workload).len();
    assert!(len < MAX_PROGRAM_LEN, "{len} instructions");
    assert!(
        len <= BUILTIN_LEN_BOUND,
        "the built-in program grew to {len} instructions"
    );
    let len = shipped(Builtin::Prelude).len();
    assert!(len <= PRELUDE_LEN_BOUND, "the prelude grew to {len}");
}

/// Every allowed call meets a handful of comparisons and never loads an argument: the kernel
/// then caches "allowed whatever the arguments" for its number and runs no BPF for it at all
/// (bench/run.sh's getppid and ioctl), and a call it must run BPF for is a short walk.
#[test]
fn allowed_calls_take_a_short_path_that_loads_no_argument() {
    {
        let program = shipped(Builtin::Workload);
        let rules = Rules::workload();
        let mut allowed = 0;
        for number in 0..=HIGHEST_KNOWN {
            if rules.rule(number) != Rule::Allow || number == nr(libc::SYS_clone3) {
                continue;
            }
            allowed += 1;
            let path = walk(program.instructions(), number, args(&[u64::MAX; 6]));
            assert_eq!(path.answer, ALLOW, "call {number}");
            assert!(
                path.loads.iter().all(|&offset| offset < 16),
                "call {number} loads an argument: {path:?}"
            );
            assert!(
                path.comparisons <= ALLOWED_COMPARISONS_BOUND,
                "call {number}: {path:?}"
            );
        }
        // Most numbers are allowed: the walk above covered the common case.
        assert!(allowed > 350, "{allowed}");
    }
}

/// The calls bench/run.sh measures as inspected, and the other inspected calls, on every branch
/// of their argument checks: right answer, few comparisons, fewest for the frequent ones.
#[test]
fn inspected_calls_take_a_short_path() {
    let socket = nr(libc::SYS_socket);
    let inet = |family: i32, kind: i32| args(&[family as u64, kind as u64]);
    let cases: Vec<(&str, u32, [u64; 6], u32)> = vec![
        (
            "prctl(PR_GET_DUMPABLE)",
            nr(libc::SYS_prctl),
            args(&[3]),
            ALLOW,
        ),
        (
            "prctl(PR_SET_SECCOMP)",
            nr(libc::SYS_prctl),
            args(&[22]),
            EPERM,
        ),
        (
            "clone(CLONE_SIGHAND)",
            nr(libc::SYS_clone),
            args(&[0x800]),
            ALLOW,
        ),
        ("clone(SIGCHLD)", nr(libc::SYS_clone), args(&[17]), ALLOW),
        (
            "clone(CLONE_NEWUSER)",
            nr(libc::SYS_clone),
            args(&[0x1000_0000]),
            EPERM,
        ),
        (
            "unshare(CLONE_FILES)",
            nr(libc::SYS_unshare),
            args(&[0x400]),
            ALLOW,
        ),
        (
            "unshare(CLONE_NEWNET)",
            nr(libc::SYS_unshare),
            args(&[0x4000_0000]),
            EPERM,
        ),
        (
            "seccomp(SET_MODE_FILTER)",
            nr(libc::SYS_seccomp),
            args(&[1]),
            EPERM,
        ),
        (
            "seccomp(GET_ACTION_AVAIL)",
            nr(libc::SYS_seccomp),
            args(&[2]),
            ALLOW,
        ),
        (
            "execveat(AT_EMPTY_PATH)",
            nr(libc::SYS_execveat),
            args(&[0, 0, 0, 0, 0x1000]),
            EPERM,
        ),
        ("execveat(0)", nr(libc::SYS_execveat), args(&[]), ALLOW),
        (
            "personality(0)",
            nr(libc::SYS_personality),
            args(&[0]),
            ALLOW,
        ),
        (
            "personality(query)",
            nr(libc::SYS_personality),
            args(&[0xffff_ffff]),
            ALLOW,
        ),
        (
            "personality(READ_IMPLIES_EXEC)",
            nr(libc::SYS_personality),
            args(&[0x40_0000]),
            EPERM,
        ),
        (
            "socket(AF_UNIX, STREAM)",
            socket,
            inet(libc::AF_UNIX, libc::SOCK_STREAM),
            ALLOW,
        ),
        (
            "socket(AF_INET, 15)",
            socket,
            inet(libc::AF_INET, 15),
            ALLOW,
        ),
        (
            "socket(AF_INET, RAW)",
            socket,
            inet(libc::AF_INET, libc::SOCK_RAW),
            EPERM,
        ),
        (
            "socket(AF_INET6, STREAM)",
            socket,
            inet(libc::AF_INET6, libc::SOCK_STREAM),
            ALLOW,
        ),
        (
            "socket(AF_INET6, RAW)",
            socket,
            inet(libc::AF_INET6, libc::SOCK_RAW),
            EPERM,
        ),
        (
            "socket(AF_NETLINK, ROUTE)",
            socket,
            inet(libc::AF_NETLINK, libc::SOCK_RAW),
            ALLOW,
        ),
        (
            "socket(AF_PACKET)",
            socket,
            inet(libc::AF_PACKET, libc::SOCK_RAW),
            EPERM,
        ),
        (
            "socket(SOCK_PACKET)",
            socket,
            inet(libc::AF_INET, 10),
            EPERM,
        ),
    ];
    // The frequent cases: the unix and IP socket families, every prctl and clone.
    let frequent = |name: &str| {
        ["prctl", "clone", "socket(AF_UNIX", "socket(AF_INET"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    };
    let program = shipped(Builtin::Workload);
    for (name, number, call_args, answer) in cases {
        let path = walk(program.instructions(), number, call_args);
        assert_eq!(path.answer, answer, "{name}: {path:?}");
        let bound = if frequent(name) {
            // Checked before the search: the program must still inspect them first.
            assert!(HOT.iter().any(|hot| hot.syscall() == number), "{name}");
            HOT_COMPARISONS_BOUND
        } else {
            INSPECTED_COMPARISONS_BOUND
        };
        assert!(path.comparisons <= bound, "{name}: {path:?}");
    }
    // ioctl (one of the most frequent calls) is inspected for the terminal requests (issue 21):
    // it is checked before the search, and its frequent requests take a short path.
    let ioctl = nr(libc::SYS_ioctl);
    assert_eq!(
        Rules::workload().rule(ioctl),
        Rule::Inspect(sandbox_supervisor::seccomp::Inspect::Ioctl)
    );
    assert!(HOT.iter().any(|hot| hot.syscall() == ioctl));
    // TCGETS (every isatty) lies below the denied range; TIOCGWINSZ inside it, past five checks.
    for (request, answer, bound) in [
        (libc::TCGETS, libc::SECCOMP_RET_ALLOW, HOT_COMPARISONS_BOUND),
        (
            libc::TIOCGWINSZ,
            libc::SECCOMP_RET_ALLOW,
            INSPECTED_COMPARISONS_BOUND,
        ),
        (libc::TIOCSTI, EPERM, INSPECTED_COMPARISONS_BOUND),
    ] {
        let request = u64::from(request as u32);
        let path = walk(program.instructions(), ioctl, args(&[1, request]));
        assert_eq!(path.answer, answer, "ioctl {request:#x}: {path:?}");
        assert!(path.comparisons <= bound, "ioctl {request:#x}: {path:?}");
    }
    // The head answers clone3 and the numbers above the newest known call.
    let clone3 = walk(program.instructions(), nr(libc::SYS_clone3), args(&[]));
    assert_eq!(clone3.answer, ENOSYS);
    let newer = walk(program.instructions(), HIGHEST_KNOWN + 1, args(&[]));
    assert_eq!(newer.answer, ENOSYS);
}

/// The workload runs exactly one program: its own. A second (an inherited prelude, a program
/// per rule) would run on every call the first one inspects.
#[test]
fn workload_runs_one_program() {
    require_root!();
    let outcome = run_supervisor(&Launch::default(), ["--", "cat", "/proc/self/status"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(status_field(&outcome.stdout, "Seccomp"), Some("2"));
    assert_eq!(
        status_field(&outcome.stdout, "Seccomp_filters"),
        Some("1"),
        "{}",
        outcome.stdout
    );
    // As root, the workload runs as a uid allocated for the run: the numbers are for that path.
    sandbox_tests::assert_allocated_ids(&outcome.stdout, 61184..=65519);
}

/// The supervisor runs one program, its prelude, once the workload runs.
#[test]
fn supervisor_runs_one_program() {
    require_root!();
    let mut child = Command::new(supervisor_bin())
        .args(["--log-level", "error", "--", "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the supervisor");
    let status_path = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    // The prelude comes last in the boot, right before the release: wait for it.
    let status = loop {
        let status = std::fs::read_to_string(&status_path).expect("read the supervisor's status");
        if status_field(&status, "Seccomp") == Some("2") || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Read again once the workload has certainly been released (the boot takes milliseconds).
    std::thread::sleep(Duration::from_millis(200));
    let later = std::fs::read_to_string(&status_path).expect("read the supervisor's status");
    let exit = child.wait().expect("wait for the supervisor");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(status_field(&status, "Seccomp"), Some("2"), "{status}");
    assert_eq!(
        status_field(&status, "Seccomp_filters"),
        Some("1"),
        "{status}"
    );
    assert_eq!(
        status_field(&later, "Seccomp_filters"),
        Some("1"),
        "{later}"
    );
}

/// The built-in seccomp programs come from the build's tables (`seccomp::Builtin::program`): a
/// default boot compiles none, and only an operator's profile is compiled at run time. The boot's
/// debug log says how many programs the process compiled.
#[test]
fn a_default_boot_compiles_no_seccomp_program() {
    require_root!();
    let dir = scratch();
    let profile = dir.path().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 13}, "filter": [{"syscall": "getppid"}]}}"#,
    )
    .unwrap();
    let compiled = |extra: &[&str]| -> u64 {
        let mut args = vec!["--log-level", "debug", "--log-format", "json"];
        args.extend_from_slice(extra);
        args.extend(["--", "true"]);
        let outcome = run_supervisor(&Launch::default(), args);
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        outcome
            .json_events()
            .iter()
            .find_map(|event| event["fields"]["seccomp_programs_compiled"].as_u64())
            .unwrap_or_else(|| panic!("no count of compiled programs in:\n{}", outcome.stderr))
    };
    assert_eq!(compiled(&[]), 0, "a default boot compiled a program");
    let profile = profile.to_str().unwrap();
    assert_eq!(compiled(&["--seccomp-profile", profile]), 1);
}

/// What a plugin adds to a boot with a report, seen by `strace -f`: its file opened once (the
/// loader hashes the descriptor it loads; the report takes that digest), no scan of `/proc` for
/// children (the kernel says there are none), and no process (a decision child is forked only
/// when a refusal is asked).
#[test]
fn a_plugin_is_read_once_and_starts_no_scan_and_no_process() {
    require_root!();
    if strace_missing() {
        return;
    }
    let plugin = plugin("sandbox-plugin-outer-sandbox");
    let name = plugin.file_name().unwrap().to_str().unwrap().to_owned();
    let dir = scratch();
    let trace = |with_plugin: bool| -> String {
        let out = dir.path().join(format!("trace-{with_plugin}"));
        let report = dir.path().join(format!("report-{with_plugin}.json"));
        let mut command = Command::new("strace");
        command
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=openat,open,clone,clone3,fork,vfork",
                "-o",
            ])
            .arg(&out)
            .arg(supervisor_bin())
            // A named user: no uid is allocated, whose scan of /proc is retried when another
            // supervisor removes the lock directory meanwhile (concurrent tests), which would
            // count as the plugin's.
            .args(["--log-level", "error", "--user", "65534", "--report"])
            .arg(&report);
        if with_plugin {
            command.arg("--handler-plugin").arg(&plugin);
        }
        let output = command
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        std::fs::read_to_string(out).unwrap()
    };
    let count =
        |trace: &str, what: &dyn Fn(&str) -> bool| trace.lines().filter(|l| what(l)).count();
    let forks = |line: &str| {
        let call = line.split_whitespace().nth(1).unwrap_or("");
        ["clone(", "clone3(", "fork(", "vfork("]
            .iter()
            .any(|c| call.starts_with(c))
    };
    let proc_dir = |line: &str| line.contains("\"/proc\", ") && line.contains("O_DIRECTORY");
    let without = trace(false);
    let with = trace(true);
    let opened = |line: &str| line.contains(&format!("{name}\""));
    assert_eq!(
        count(&with, &opened),
        1,
        "the plugin file opened more than once:\n{with}"
    );
    assert_eq!(
        count(&with, &proc_dir),
        count(&without, &proc_dir),
        "a /proc scan:\n{with}"
    );
    assert_eq!(
        count(&with, &forks),
        count(&without, &forks),
        "a process:\n{with}"
    );
}

/// How the supervisor reads the plugin, seen by `strace -f -y` on the descriptor it opens by name:
/// with a report, every byte is read once (the digest and the ELF header from the same reads) and
/// nothing is mapped (a mapping would turn a truncation during the hash into `SIGBUS`); without a
/// report or a pin, nothing is hashed: the 20 bytes of the ELF identity are read. The loader then
/// opens the same file once through `/proc/self/fd`.
#[test]
fn a_plugin_is_hashed_in_one_pass_and_only_when_asked() {
    require_root!();
    if strace_missing() {
        return;
    }
    let plugin = plugin("sandbox-plugin-outer-sandbox");
    let name = plugin.file_name().unwrap().to_str().unwrap().to_owned();
    let size = std::fs::metadata(&plugin).unwrap().len();
    let dir = scratch();
    // (bytes read by read/pread, the lengths mapped, opens through /proc/self/fd) on the
    // supervisor's own descriptor of the plugin, while it is open.
    let trace = |report: bool| -> (u64, Vec<u64>, usize) {
        let out = dir.path().join(format!("trace-{report}"));
        let mut command = Command::new("strace");
        command
            .args([
                "-f",
                "-qq",
                "-y",
                "-e",
                "trace=openat,read,pread64,mmap,close",
                "-o",
            ])
            .arg(&out)
            .arg(supervisor_bin())
            .args(["--log-level", "error", "--user", "65534"]);
        if report {
            command.arg("--report").arg(dir.path().join("report.json"));
        }
        let output = command
            .arg("--handler-plugin")
            .arg(&plugin)
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let text = std::fs::read_to_string(out).unwrap();
        let returned = |line: &str| -> Option<i64> {
            let value = line.rsplit_once(" = ")?.1;
            let digits: String = value
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            digits.parse().ok()
        };
        let (mut read, mut mapped, mut loader_opens) = (0u64, Vec::new(), 0);
        // The supervisor's descriptor (opened by name), and the loader's (through /proc/self/fd)
        // while they are open; any other descriptor of the file (a `dup`) counts as the
        // supervisor's.
        let (mut own, mut loader): (Option<i64>, Option<i64>) = (None, None);
        let tag = format!("<{}>", plugin.display());
        for line in text.lines() {
            // "PID call(args) = result"
            let call = line
                .split_once(' ')
                .map_or(line, |(_, call)| call)
                .trim_start();
            let args: Vec<&str> = call
                .split_once('(')
                .map_or("", |(_, args)| args)
                .split(", ")
                .collect();
            let fd_at = |index: usize| -> Option<i64> {
                let arg = args.get(index)?;
                arg.strip_suffix(tag.as_str())
                    .or_else(|| arg.split_once(&tag).map(|(fd, _)| fd))?
                    .parse()
                    .ok()
            };
            if call.starts_with("openat(") && call.contains(&format!("\"{name}\"")) {
                own = returned(call);
                continue;
            }
            let Some(descriptor) = own else { continue };
            if call.starts_with("openat(")
                && call.contains(&format!("\"/proc/self/fd/{descriptor}\""))
            {
                loader = returned(call);
                loader_opens += 1;
            } else if call.starts_with("close(") {
                if fd_at(0) == own {
                    own = None;
                } else if fd_at(0) == loader {
                    loader = None;
                }
            } else if call.starts_with("read(") || call.starts_with("pread64(") {
                if fd_at(0).is_some() && fd_at(0) != loader {
                    read += returned(call).unwrap_or(0).max(0) as u64;
                }
            } else if call.starts_with("mmap(") && fd_at(4).is_some() && fd_at(4) != loader {
                mapped.push(args[1].parse().unwrap_or(0));
            }
        }
        assert!(
            own.is_none(),
            "the plugin's descriptor was never closed:\n{text}"
        );
        (read, mapped, loader_opens)
    };
    assert_eq!(
        trace(true),
        (size, vec![], 1),
        "with a report: (bytes read, lengths mapped, loader opens)"
    );
    assert_eq!(
        trace(false),
        (20, vec![], 1),
        "without a report: (bytes read, lengths mapped, loader opens)"
    );
}

/// What a default boot costs in the calls docs/performance.md counts, seen by `strace -f`: two
/// processes (the init and the workload); the uid search asks one pidfd per host process (on a
/// kernel without `PIDFD_GET_INFO`, reads one `status` per host process that is not a kernel
/// thread) and lists the tasks only of processes with several threads (not every process's `task`
/// directory);
/// the control group joined without the kernel's global thread-group lock (a v1 group through its
/// `tasks`, a v2 group at birth by `clone3(CLONE_INTO_CGROUP)`: nothing writes a `cgroup.procs`);
/// the bounding set read back once from `status`, not by one `PR_CAPBSET_READ` per capability.
#[test]
fn a_default_boot_forks_twice_scans_no_task_list_and_joins_its_group_unlocked() {
    require_root!();
    if strace_missing() {
        return;
    }
    let dir = scratch();
    let out = dir.path().join("trace");
    let output = Command::new("strace")
        .args(["-f", "-qq", "-y", "-e"])
        .arg("trace=openat,open,clone,clone3,fork,vfork,write,prctl,exit,unshare,setns,pidfd_open")
        .arg("-o")
        .arg(&out)
        .arg(supervisor_bin())
        .args(["--log-level", "error", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let trace = std::fs::read_to_string(out).unwrap();
    let calls = |what: &dyn Fn(&str, &str) -> bool| -> Vec<&str> {
        trace
            .lines()
            .filter(|line| {
                let call = line.split_whitespace().nth(1).unwrap_or("");
                what(call, line)
            })
            .collect()
    };
    let clones = |thread: bool| {
        calls(&|call, line| {
            ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|c| call.starts_with(c))
                && line.contains("CLONE_THREAD") == thread
                // The probe of `clone3` before the scan's thread creates nothing.
                && !line.contains("= -1 EFAULT")
        })
    };
    let forks = clones(false);
    assert_eq!(forks.len(), 2, "processes started: {forks:#?}");
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    // A process's `status`, or a pidfd of a process (not of one thread) other than the caller
    // (the supervisor opens one of itself to compare its PID namespaces).
    let supervisor = trace.split_whitespace().next().unwrap_or("").to_owned();
    let processes = calls(&|call, line| {
        let caller = supervisor.as_str();
        (call.starts_with("openat(")
            && line
                .split('"')
                .nth(1)
                .is_some_and(|path| path.strip_suffix("/status").is_some_and(digits)))
            || (call
                .strip_prefix("pidfd_open(")
                .and_then(|rest| rest.strip_suffix(','))
                .is_some_and(|pid| pid != caller)
                && line.contains(", 0)"))
    });
    // The uid scan runs on one thread of its own while the boot goes on (the network namespace
    // made meanwhile), and that thread is gone before the supervisor clones the sandbox's init
    // (`clone` copies only the calling thread: a lock the scan held would stay taken in the init).
    assert_eq!(clones(true).len(), 1, "threads started: {trace}");
    let scanner = processes
        .first()
        .and_then(|line| line.split_whitespace().next())
        .expect("a status read");
    let lines: Vec<&str> = trace.lines().collect();
    let gone = lines
        .iter()
        .position(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some(scanner) && words.next().is_some_and(|c| c.starts_with("exit("))
        })
        .unwrap_or_else(|| panic!("the scan's thread {scanner} never ended:\n{trace}"));
    // The thread stays in the host's network namespace (the main thread's `unshare` is its own),
    // where the user database's sources answer (`uids::a_uid_found_taken_is_replaced_by_lookups_in_the_hosts_network`).
    let moved = calls(&|call, line| {
        line.split_whitespace().next() == Some(scanner)
            && (call.starts_with("unshare(") || call.starts_with("setns("))
    });
    assert_eq!(
        moved,
        Vec::<&str>::new(),
        "the scan's thread changed a namespace"
    );
    let init = lines
        .iter()
        .position(|line| line.contains("CLONE_NEWPID"))
        .unwrap_or_else(|| panic!("no init cloned:\n{trace}"));
    assert!(
        gone < init,
        "the init was cloned while the scan's thread ran:\n{trace}"
    );
    let task_lists = calls(&|call, line| {
        call.starts_with("openat(") && line.contains("/task\"") && line.contains("O_DIRECTORY")
    });
    assert!(
        !processes.is_empty() && task_lists.len() < processes.len(),
        "{} task lists for {} processes",
        task_lists.len(),
        processes.len()
    );
    let procs_writes =
        calls(&|call, _| call.starts_with("write(") && call.contains("cgroup.procs>"));
    assert_eq!(
        procs_writes,
        Vec::<&str>::new(),
        "joined through cgroup.procs"
    );
    let v2 = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("0::"));
    let into =
        calls(&|call, line| call.starts_with("clone3(") && line.contains("CLONE_INTO_CGROUP"));
    let tasks_writes = calls(&|call, _| call.starts_with("write(") && call.contains("/tasks>"));
    assert!(
        !(v2 && into.is_empty() && tasks_writes.is_empty()),
        "the group joined neither at birth nor through tasks:\n{trace}"
    );
    // One read per capability per drop was 41 in the init and 41 in the workload on Linux 6.x;
    // what may remain is a probe of the highest capability number (a binary search of a few).
    let bounding_reads = calls(&|_, line| line.contains("PR_CAPBSET_READ"));
    assert!(bounding_reads.len() < 16, "{bounding_reads:#?}");
}

/// The shape of the supervisor's code that the next developer depends on: no production file over
/// 700 lines (a file's unit-test module aside), no production function over 100 lines, at most 8
/// public modules. A file or a function that outgrows these is cut before it is merged.
#[test]
fn supervisor_code_keeps_its_shape() {
    const FILE_LINES: usize = 700;
    const FUNCTION_LINES: usize = 100;
    const PUBLIC_MODULES: usize = 8;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../supervisor/src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    let mut too_long = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Production code ends where the unit-test module starts.
        let production = lines
            .windows(2)
            .position(|pair| pair[0].trim() == "#[cfg(test)]" && pair[1].starts_with("mod tests"))
            .unwrap_or(lines.len());
        let name = path.strip_prefix(&src).unwrap().display().to_string();
        if production > FILE_LINES {
            too_long.push(format!("{name}: {production} lines"));
        }
        for (function, length) in function_lengths(&lines[..production]) {
            if length > FUNCTION_LINES {
                too_long.push(format!("{name}: fn {function}: {length} lines"));
            }
        }
    }
    assert!(too_long.is_empty(), "{too_long:#?}");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let public: Vec<&str> = lib
        .lines()
        .filter(|line| line.starts_with("pub mod "))
        .collect();
    assert!(public.len() <= PUBLIC_MODULES, "{public:#?}");
}

/// Every function of `lines` with its length in lines, from its `fn` line to its closing brace
/// (braces in strings, characters and comments aside).
fn function_lengths(lines: &[&str]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let Some(at) = code.find("fn ") else { continue };
        let before = &code[..at];
        let header = before.is_empty()
            || before.split_whitespace().all(|word| {
                [
                    "pub",
                    "pub(crate)",
                    "pub(super)",
                    "const",
                    "unsafe",
                    "async",
                    "extern",
                    "\"C\"",
                ]
                .contains(&word)
            });
        if !header {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i32;
        let mut opened = false;
        for (offset, body) in lines[start..].iter().enumerate() {
            let body = strip_literals(body);
            if !opened && body.trim_end().ends_with(';') && !body.contains('{') {
                break;
            }
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((name.clone(), offset + 1));
                break;
            }
        }
    }
    found
}

/// `line` without its string and character literals and its comment.
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '\'') => {
                // A character literal ('{', '\'') or a lifetime ('a): skip a literal only.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, _) => out.push(c),
        }
    }
    out
}

/// What `strace -f` shows a default boot read of `/proc`: per file opened, its `read` calls, in
/// the order of the trace (path with pids and task ids as `N`, the opener's pid, the calls).
fn proc_reads(trace: &str) -> Vec<(String, String, usize)> {
    let mut open: std::collections::HashMap<(String, String), usize> = Default::default();
    let mut pending: std::collections::HashMap<String, String> = Default::default();
    let mut files: Vec<(String, String, usize)> = Vec::new();
    let generic = |path: &str| -> String {
        path.split('/')
            .map(|part| {
                if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    "N"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    for line in trace.lines() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let rc = line
            .rsplit_once(" = ")
            .and_then(|(_, rc)| rc.split_whitespace().next()?.parse::<i64>().ok());
        if call.starts_with("openat(") {
            let path = call.split('"').nth(1).unwrap_or("").to_owned();
            if call.ends_with("<unfinished ...>") {
                pending.insert(pid.to_owned(), path);
            } else if let Some(fd) = rc.filter(|fd| *fd >= 0) {
                files.push((generic(&path), pid.to_owned(), 0));
                open.insert((pid.to_owned(), fd.to_string()), files.len() - 1);
            }
        } else if call.starts_with("<... openat resumed>") {
            if let (Some(path), Some(fd)) = (pending.remove(pid), rc.filter(|fd| *fd >= 0)) {
                files.push((generic(&path), pid.to_owned(), 0));
                open.insert((pid.to_owned(), fd.to_string()), files.len() - 1);
            }
        } else if let Some(args) = call.strip_prefix("read(") {
            let fd = args.split(',').next().unwrap_or("").to_owned();
            if let Some(&index) = open.get(&(pid.to_owned(), fd)) {
                files[index].2 += 1;
            }
        } else if let Some(args) = call.strip_prefix("close(") {
            let fd = args.split(')').next().unwrap_or("").to_owned();
            open.remove(&(pid.to_owned(), fd));
        }
    }
    files
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("/proc/"))
        .collect()
}

/// The reads docs/performance.md's boot figures rest on, from `strace -f` of a default boot (the
/// filesystem view and Landlock): each `/proc` file the kernel renders whole (a `status`, `stat`,
/// `limits`, a sysctl, `/proc/version`) is read with one `read` call (`read_to_string` made eight
/// for a `status`); the workload's `mountinfo` is read once, and the supervisor's own is not read
/// for verification (`statx` of the workload's root and of `/proc` prove what its mount ids and
/// proc devices did): the supervisor process opens it only for the control group's discovery;
/// and the boot opens at most [`PROC_OPENS_BOUND`] `/proc` files, the user-id allocation's scan
/// of every task's status aside (it grows with the host's processes).
#[test]
fn a_default_boot_reads_each_proc_file_once() {
    /// 27 when this was written: the supervisor's status (4: the failure context, before the
    /// spawn, before and after its prelude), the init's and the workload's status, stat, limits,
    /// cgroup, mountinfo, ns links read as files, the cgroup discovery's files, the host's
    /// `/proc/net/unix`, the init's check of its own mountinfo, a few sysctls; since then 3 more:
    /// the view's masked directories (`/proc/acpi`, `/sys/firmware`, `/sys/fs/cgroup`) opened
    /// through the workload's root to prove each is an empty mount.
    const PROC_OPENS_BOUND: usize = 35;
    require_root!();
    if strace_missing() {
        return;
    }
    let dir = scratch();
    let out = dir.path().join("trace");
    let output = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat,read,close", "-o"])
        .arg(&out)
        .arg(supervisor_bin())
        .args(["--log-level", "error", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let trace = std::fs::read_to_string(out).unwrap();
    let reads = proc_reads(&trace);
    let supervisor = trace.split_whitespace().next().unwrap().to_owned();
    let whole = |path: &str| {
        (path.ends_with("/status") && !path.contains("/task/"))
            || path.ends_with("/limits")
            || path == "/proc/sys/kernel/overflowgid"
            || path == "/proc/version"
    };
    let more: Vec<_> = reads
        .iter()
        .filter(|(path, _, calls)| whole(path) && *calls != 1)
        .collect();
    assert!(more.is_empty(), "read in more than one call: {more:?}");
    let opens = |wanted: &dyn Fn(&(String, String, usize)) -> bool| {
        reads.iter().filter(|file| wanted(file)).count()
    };
    assert_eq!(
        opens(&|(path, _, _)| path == "/proc/N/mountinfo"),
        1,
        "the workload's mountinfo: {reads:?}"
    );
    assert!(
        opens(&|(path, pid, _)| path == "/proc/self/mountinfo" && *pid == supervisor) <= 1,
        "the supervisor's own mountinfo read beyond the control group's discovery: {reads:?}"
    );
    let boot = opens(&|(path, _, _)| !path.contains("/task"));
    assert!(
        boot <= PROC_OPENS_BOUND,
        "{boot} /proc files opened: {reads:?}"
    );
}

/// The binary runs on every host with glibc 2.34 or later (RHEL 9, Ubuntu 22.04, Debian 12 and
/// the container images built on them): no symbol version it needs is newer. Packed relative
/// relocations (`GLIBC_ABI_DT_RELR`, 2.36) or GCC's unwinder linked in (`_dl_find_object`, 2.35)
/// would raise it (docs/performance.md, section 1j).
#[test]
fn the_supervisor_needs_no_glibc_newer_than_2_34() {
    let output = Command::new("readelf")
        .args(["--version-info", "--wide"])
        .arg(supervisor_bin())
        .output();
    let Ok(output) = output else {
        sandbox_tests::skip_or_fail("readelf (binutils) is not installed");
        return;
    };
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut needed: Vec<(u32, u32, String)> = text
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter_map(|word| {
            let version = word.strip_prefix("GLIBC_")?;
            let (major, minor) = version.split_once('.')?;
            let minor = minor.split('.').next()?;
            Some((major.parse().ok()?, minor.parse().ok()?, word.to_owned()))
        })
        .collect();
    needed.sort();
    assert!(!needed.is_empty(), "no glibc version read:\n{text}");
    assert!(
        !text.contains("GLIBC_ABI_DT_RELR"),
        "the binary needs glibc 2.36's packed relocations"
    );
    let newest = needed.last().unwrap();
    assert!(
        (newest.0, newest.1) <= (2, 34),
        "the binary needs {}",
        newest.2
    );
}
