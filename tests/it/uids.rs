//! A uid of its own for every run of a root caller (issue 21, item 4): allocated from
//! `--uid-range`, never one the host's user database or a host process has, never one another
//! running sandbox holds, released when the supervisor ends (even by SIGKILL).
//!
//! The tests name ranges far above the default one (61184-65519), which the other tests' sandboxes
//! use at the same time: what they see busy is only what the test made busy.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{
    require_root, run, scratch, skip_or_fail, spawn, strace_missing, supervisor_bin,
    wait_until_supervising, Outcome,
};

/// The lock directory the supervisor documents.
const LOCK_DIR: &str = "/run/sandbox-supervisor/uids";

/// Children killed and reaped when the test ends, passed or failed.
struct Reaped(Vec<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every uid and gid the host's tasks hold (real, effective, saved, filesystem).
fn ids_in_use() -> std::collections::HashSet<u32> {
    let mut ids = std::collections::HashSet::new();
    for process in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(process.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:").or(line.strip_prefix("Gid:")) {
                ids.extend(
                    rest.split_whitespace()
                        .filter_map(|id| id.parse::<u32>().ok()),
                );
            }
        }
    }
    ids
}

/// Whether the user database names `id` as a user or a group.
fn named(id: u32) -> bool {
    !matches!(
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id)),
        Ok(None)
    ) || !matches!(
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id)),
        Ok(None)
    )
}

/// Asserts that every id of `first..=last` is free on this host before the test uses it.
fn assert_free(first: u32, last: u32) {
    let busy = ids_in_use();
    for id in first..=last {
        assert!(
            !named(id) && !busy.contains(&id),
            "uid {id} is not free here"
        );
    }
}

/// Starts `sleep 600` as `uid`:`gid` with no supplementary group; returns once it runs so.
fn sleeper(uid: u32, gid: u32) -> Child {
    let child = spawn(
        Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "sleep",
                "600",
            ])
            .stdin(Stdio::null()),
    );
    let start = Instant::now();
    let want = format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}");
    while !std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .is_ok_and(|status| status.contains("Name:\tsleep") && status.contains(&want))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the sleeper never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Runs the Python `script` with `uid` as its argument until it prints `READY`: its pid, and the
/// child killed and reaped when the test ends.
fn python_ready(script: &str, uid: u32) -> (u32, Reaped) {
    let mut child = spawn(
        Command::new("python3")
            .args(["-c", script, &uid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let reaped = Reaped(vec![child]);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    (pid, reaped)
}

/// The uid the workload printed first (`id -u`).
fn printed_uid(outcome: &Outcome) -> u32 {
    outcome
        .stdout
        .lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no uid printed: {}\n{}", outcome.stdout, outcome.stderr))
}

/// Ten runs in `range` all give the workload `uid` (the search starts at a random place, so ten
/// runs would hit any other free uid of a two-uid range about ten times).
fn every_run_gets(range: &str, uid: u32) {
    for _ in 0..10 {
        let outcome = run(&[
            "--log-level",
            "error",
            "--uid-range",
            range,
            "--",
            "id",
            "-u",
        ]);
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(printed_uid(&outcome), uid, "{range}: {}", outcome.stdout);
    }
}

#[test]
fn fifty_concurrent_starts_get_fifty_distinct_uids() {
    require_root!();
    // Exactly 50 uids for 50 sandboxes: without the lock two of them pick the same one (each
    // starts its search at a random place and none of them runs yet when the others look).
    let (first, last) = (3_000_000_100, 3_000_000_149);
    assert_free(first, last);
    let dir = scratch();
    let go = dir.path().join("go");
    let range = format!("{first}-{last}");
    let script = format!(
        "id -u; while [ ! -e {} ]; do sleep 0.05; done",
        go.display()
    );
    let mut children = Reaped(Vec::new());
    for _ in 0..50 {
        children.0.push(spawn(
            Command::new(supervisor_bin())
                .args(["--log-level", "error", "--timeout", "120", "--uid-range"])
                .args([&range, "--", "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        ));
    }
    // Each workload prints its uid, then waits: once all 50 have printed, all 50 run at once.
    let mut uids = Vec::new();
    for child in &mut children.0 {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        uids.push(line.trim().to_owned());
    }
    std::fs::write(&go, "").unwrap();
    for child in &mut children.0 {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{status}: {stderr}");
    }
    let uids: Vec<u32> = uids
        .iter()
        .map(|uid| uid.parse().unwrap_or_else(|_| panic!("{uids:?}")))
        .collect();
    let distinct: std::collections::BTreeSet<u32> = uids.iter().copied().collect();
    assert_eq!(distinct.len(), 50, "{uids:?}");
    assert!(
        uids.iter().all(|uid| (first..=last).contains(uid)),
        "{uids:?}"
    );
}

#[test]
fn a_uid_a_host_process_holds_is_never_given() {
    require_root!();
    let (first, last) = (3_000_000_200, 3_000_000_201);
    assert_free(first, last);
    let range = format!("{first}-{last}");
    // The first uid is a host process's: every run gets the other.
    let mut busy = Reaped(vec![sleeper(first, 4242)]);
    every_run_gets(&range, last);
    // The second is a host process's group: the range is exhausted, one error line, exit 125.
    busy.0.push(sleeper(4242, last));
    let outcome = run(&["--uid-range", &range, "--", "id", "-u"]);
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    assert_eq!(
        outcome.error_line(),
        format!(
            "sandbox-supervisor: error: no free uid in --uid-range {range}: every one is in the \
             user database, held by a process or locked by another sandbox (see {LOCK_DIR})"
        ),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_uid_one_thread_of_a_host_process_holds_is_never_given() {
    require_root!();
    let (first, last) = (3_000_000_210, 3_000_000_211);
    assert_free(first, last);
    let range = format!("{first}-{last}");
    // A thread of this (multi-threaded) test process that is not its leader holds the first uid
    // as its saved uid only, then the second as its saved gid: its process's own status shows
    // neither. A raw call: glibc's setresuid would change every thread of the process.
    let (next, step) = std::sync::mpsc::channel::<()>();
    let (done, taken) = std::sync::mpsc::channel::<i64>();
    let holder = std::thread::spawn(move || {
        let unchanged = u32::MAX as libc::c_long;
        // SAFETY: setresuid takes integers and changes only the calling thread's credentials.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_setresuid,
                unchanged,
                unchanged,
                first as libc::c_long,
            )
        };
        done.send(rc).unwrap();
        let _ = step.recv();
        // SAFETY: as above, for the gids.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_setresgid,
                unchanged,
                unchanged,
                last as libc::c_long,
            )
        };
        done.send(rc).unwrap();
        let _ = step.recv();
    });
    assert_eq!(taken.recv().unwrap(), 0, "setresuid in the thread");
    every_run_gets(&range, last);
    next.send(()).unwrap();
    assert_eq!(taken.recv().unwrap(), 0, "setresgid in the thread");
    let outcome = run(&["--uid-range", &range, "--", "id", "-u"]);
    next.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    assert!(
        outcome.error_line().contains("no free uid in --uid-range"),
        "{}",
        outcome.stderr
    );
}

/// A process whose leader's `status` is longer than the supervisor's 16 KiB buffer (a long
/// `Groups` line) and is cut right after the first digit of its `Threads:` count (12 threads,
/// "Threads:\t1"): a thread of it that is not its leader holds the uid, which only that thread's
/// own status shows.
const CUT_THREAD_COUNT: &str = r#"
import ctypes, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
uid = ctypes.c_uint(int(sys.argv[1]))
def holder():
    libc.syscall(117, uid, uid, uid)  # SYS_setresuid: this thread only
    threading.Event().wait()
threads = [threading.Thread(target=holder, daemon=True)]
threads += [threading.Thread(target=threading.Event().wait, daemon=True) for _ in range(10)]
for thread in threads:
    thread.start()
groups = []
ready = False
while True:
    with open("/proc/self/status", "rb") as f:
        text = f.read()
    # Past the count's first digit, as a reader that finds this thread sleeping sees it
    # ("S (sleeping)" is one byte longer than "R (running)").
    end = text.index(b"\nThreads:\t") + len(b"\nThreads:\t") + 2
    missing = 16384 - end
    if missing:
        total = sum(len(str(g)) + 1 for g in groups) + missing
        n, e = divmod(total, 8)
        groups = [10000000 + i if i < e else 1000000 + i for i in range(n)]
        libc.syscall(116, len(groups), (ctypes.c_uint * n)(*groups))  # SYS_setgroups: leader only
    elif not ready:
        print("READY", flush=True)
        ready = True
    time.sleep(0.2)
"#;

#[test]
fn a_uid_a_thread_holds_behind_a_status_longer_than_the_buffer_is_never_given() {
    require_root!();
    let uid = 3_000_000_230u32;
    assert_free(uid, uid);
    let (pid, _reaped) = python_ready(CUT_THREAD_COUNT, uid);
    // What one 16 KiB read of its status ends with while it sleeps: the count cut after its
    // first digit.
    let cut = || {
        let mut head = vec![0u8; 16384];
        let mut file = std::fs::File::open(format!("/proc/{pid}/status")).unwrap();
        let got = std::io::Read::read(&mut file, &mut head).unwrap();
        head[..got].ends_with(b"\nThreads:\t1")
    };
    let start = Instant::now();
    while !cut() {
        assert!(start.elapsed() < Duration::from_secs(10), "never cut");
        std::thread::sleep(Duration::from_millis(10));
    }
    let range = format!("{uid}-{uid}");
    for _ in 0..5 {
        let outcome = run(&[
            "--log-level",
            "error",
            "--uid-range",
            &range,
            "--",
            "id",
            "-u",
        ]);
        assert_eq!(outcome.code, 125, "{}\n{}", outcome.stdout, outcome.stderr);
        assert_eq!(outcome.stdout, "", "the workload ran");
    }
}

/// Waits until `/proc/PID/status` shows `want` (a line, or part of one).
fn wait_for_status(pid: u32, want: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| status.lines().any(|line| line.contains(want)))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{pid} never showed {want:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A run in the one-uid range `uid` stops, exhausted (exit 125, the workload never ran).
fn exhausted(uid: u32) {
    let range = format!("{uid}-{uid}");
    let outcome = run(&[
        "--log-level",
        "error",
        "--uid-range",
        &range,
        "--",
        "id",
        "-u",
    ]);
    assert_eq!(outcome.code, 125, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    assert!(
        outcome.error_line().contains("no free uid in --uid-range"),
        "{}",
        outcome.stderr
    );
}

/// The scan skips a kernel thread's `status` (its `exe` link answers `ENOENT`); a zombie answers
/// the same, and still holds its credentials until it is reaped (and counts against its real
/// uid's `RLIMIT_NPROC`): its uid is not given.
#[test]
fn a_uid_a_zombie_holds_is_never_given() {
    require_root!();
    let uid = 3_000_000_240;
    assert_free(uid, uid);
    // Exits at once; not waited for until the test ends: a zombie meanwhile.
    let zombie = Reaped(vec![spawn(
        Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "true",
            ])
            .stdin(Stdio::null()),
    )]);
    let pid = zombie.0[0].id();
    wait_for_status(pid, "State:\tZ");
    wait_for_status(pid, &format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}"));
    exhausted(uid);
}

/// A process whose leader has exited (a zombie, its `exe` gone) while another of its threads runs
/// holding the uid: that thread's `status` is read.
const EXITED_LEADER: &str = r#"
import ctypes, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
uid = int(sys.argv[1])
held = threading.Event()
def holder():
    assert libc.syscall(117, uid, uid, uid) == 0  # SYS_setresuid: this thread only
    held.set()
    threading.Event().wait()
threading.Thread(target=holder, daemon=True).start()
held.wait()
print("READY", flush=True)
libc.pthread_exit(None)  # the leader exits; the process lives on in its other thread
"#;

#[test]
fn a_uid_a_thread_of_an_exited_leader_holds_is_never_given() {
    require_root!();
    let uid = 3_000_000_250;
    assert_free(uid, uid);
    let (pid, _reaped) = python_ready(EXITED_LEADER, uid);
    wait_for_status(pid, "State:\tZ");
    assert!(
        std::fs::read_link(format!("/proc/{pid}/exe")).is_err(),
        "the leader still has its executable"
    );
    exhausted(uid);
}

/// Without `CAP_SYS_PTRACE` the kernel answers `EACCES` for every task's `exe` link: each
/// `status` is read, and a host process's uid is still not given.
#[test]
fn without_cap_sys_ptrace_every_status_is_read() {
    require_root!();
    let uid = 3_000_000_260;
    assert_free(uid, uid + 1);
    let _busy = Reaped(vec![sleeper(uid, uid)]);
    let range = format!("{uid}-{}", uid + 1);
    for _ in 0..5 {
        let outcome = Outcome::from(sandbox_tests::output_of(
            Command::new("setpriv")
                .args(["--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"])
                .arg(supervisor_bin())
                .args([
                    "--log-level",
                    "error",
                    "--uid-range",
                    &range,
                    "--",
                    "id",
                    "-u",
                ])
                .stdin(Stdio::null()),
        ));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(printed_uid(&outcome), uid + 1);
    }
}

#[test]
fn a_uid_of_the_user_database_is_never_given() {
    require_root!();
    // A uid the user database names, just below one it does not (and that no process holds).
    let busy = ids_in_use();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let Some(owned) = passwd
        .lines()
        .filter_map(|line| line.split(':').nth(2)?.parse::<u32>().ok())
        .filter(|uid| *uid > 0 && !(61183..=65519).contains(uid))
        .find(|uid| !named(uid + 1) && !busy.contains(&(uid + 1)) && !busy.contains(uid))
    else {
        skip_or_fail("needs a passwd entry whose next uid is free");
        return;
    };
    let range = format!("{owned}-{}", owned + 1);
    every_run_gets(&range, owned + 1);
}

#[test]
fn the_uid_is_locked_while_the_supervisor_lives_and_released_when_it_is_killed() {
    require_root!();
    let uid = 3_000_000_300;
    assert_free(uid, uid + 1);
    let range = format!("{uid}-{uid}");
    let lock = Path::new(LOCK_DIR).join(uid.to_string());
    let mut first = Reaped(vec![spawn(
        Command::new(supervisor_bin())
            .args(["--log-level", "error", "--timeout", "120", "--uid-range"])
            .args([&range, "--", "sleep", "600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )]);
    let pid = first.0[0].id();
    wait_until_supervising(pid);
    assert!(lock.exists(), "no lock file {}", lock.display());
    // Held: a second sandbox of the same one-uid range finds it taken.
    let outcome = run(&["--uid-range", &range, "--", "id", "-u"]);
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("no free uid"),
        "{}",
        outcome.stderr
    );
    // SIGKILL: nothing of the supervisor runs to release it; the kernel drops the lock, and the
    // sandbox dies with its supervisor.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    first.0[0].wait().unwrap();
    let start = Instant::now();
    while ids_in_use().contains(&uid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the sandbox outlived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its file stays, unlocked, until a supervisor that ends removes it: any supervisor, here one
    // given another uid.
    let other = run(&[
        "--log-level",
        "error",
        "--uid-range",
        &format!("{0}-{0}", uid + 1),
        "--",
        "true",
    ]);
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert!(!lock.exists(), "{} left behind", lock.display());
    let outcome = run(&[
        "--log-level",
        "error",
        "--uid-range",
        &range,
        "--",
        "id",
        "-u",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(printed_uid(&outcome), uid);
    // Released at a normal exit: the file goes. The directories stay, root's and 0700 (the next
    // supervisor neither makes nor removes them).
    assert!(!lock.exists(), "{} left behind", lock.display());
    assert!(!Path::new(LOCK_DIR).join((uid + 1).to_string()).exists());
    for dir in ["/run/sandbox-supervisor", LOCK_DIR] {
        let meta = std::fs::symlink_metadata(dir).unwrap();
        assert!(meta.is_dir(), "{dir}");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o700), "{dir}");
    }
}

#[test]
fn workspace_files_belong_to_the_allocated_uid_and_the_report_names_it() {
    require_root!();
    let workspace = scratch();
    let file = workspace.path().join("made");
    let dir = scratch();
    let report = dir.path().join("report.json");
    let outcome = run(&[
        "--log-level",
        "error",
        "--report",
        report.to_str().unwrap(),
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &format!("id -u; touch {}", file.display()),
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let uid = printed_uid(&outcome);
    assert!((61184..=65519).contains(&uid), "{uid}");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, uid));
    let text = std::fs::read_to_string(&report).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    sandbox_tests::validate_report(&json);
    let ids = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "privilege-drop")
        .unwrap();
    assert_eq!(ids["verified"]["origin"], "allocated", "{ids}");
    assert_eq!(
        ids["verified"]["uid"],
        serde_json::json!([uid, uid, uid, uid]),
        "{ids}"
    );
    assert_eq!(
        ids["verified"]["uid_range"],
        serde_json::json!({"first": 61184, "last": 65519})
    );
    assert_eq!(ids["verified"]["uid_free_among"], "host", "{ids}");

    // Named with --user: the report says so, and no range.
    let outcome = run(&[
        "--log-level",
        "error",
        "--report",
        report.to_str().unwrap(),
        "--user",
        "nobody",
        "--",
        "true",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let ids = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "privilege-drop")
        .unwrap();
    assert_eq!(ids["verified"]["origin"], "named", "{ids}");
    assert!(ids["verified"]["uid_range"].is_null(), "{ids}");
    assert!(ids["verified"].get("uid_free_among").is_none(), "{ids}");
}

/// A supervisor whose `/proc` is a nested PID namespace's (a container's) does not see the host's
/// tasks: a uid a host process holds may be given, and the run says so (`uid_free_among`:
/// `pid-namespace` in the report, an INFO line); not on the host, where that uid is never given.
#[test]
fn a_uid_proved_free_in_a_nested_pid_namespace_says_so() {
    require_root!();
    let (first, last) = (3_000_000_290, 3_000_000_291);
    assert_free(first, last);
    let _busy = Reaped(vec![sleeper(first, 4244)]);
    let range = format!("{first}-{last}");
    let dir = scratch();
    let warning = "is proved free only among the tasks of this PID namespace";
    for nested in [false, true] {
        let report = dir.path().join(format!("report-{nested}.json"));
        let mut command = if nested {
            let mut unshare = Command::new("unshare");
            unshare
                .args(["--pid", "--fork", "--mount-proc"])
                .arg(supervisor_bin());
            unshare
        } else {
            Command::new(supervisor_bin())
        };
        command
            .args(["--log-level", "info", "--uid-range", &range, "--report"])
            .arg(&report)
            .args(["--", "id", "-u"])
            .stdin(Stdio::null());
        let outcome = Outcome::from(sandbox_tests::output_of(&mut command));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(
            outcome.stderr.contains(warning),
            nested,
            "{}",
            outcome.stderr
        );
        let uid = printed_uid(&outcome);
        assert!(
            nested || uid == last,
            "the host's process's uid {uid} was given"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        sandbox_tests::validate_report(&json);
        let ids = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["step"] == "privilege-drop")
            .unwrap();
        let among = if nested { "pid-namespace" } else { "host" };
        assert_eq!(ids["verified"]["uid_free_among"], among, "{ids}");
        assert_eq!(ids["verified"]["uid"][0], uid, "{ids}");
    }
}

#[test]
fn a_uid_range_that_is_not_one_is_a_usage_error() {
    require_root!();
    for (range, says) in [
        ("9-8", "FIRST is greater than LAST"),
        ("0-10", "0 is root's"),
        ("1-4294967295", "4294967295 is not an id"),
        ("10", "expected FIRST-LAST"),
        ("a-b", "expected FIRST-LAST"),
    ] {
        let outcome = run(&["--uid-range", range, "--", "true"]);
        assert_eq!(outcome.code, 2, "{range}: {}", outcome.stderr);
        assert!(
            outcome.error_line().contains(says),
            "{range}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn an_unsafe_lock_directory_is_refused() {
    require_root!();
    // In a mount namespace of its own with a /run of its own: the host's lock directory, which
    // the other tests' sandboxes use meanwhile, is not touched.
    let supervisor = supervisor_bin();
    for (setup, says) in [
        (
            "mkdir -m 700 /run/sandbox-supervisor && chown 4242 /run/sandbox-supervisor",
            "refusing the uid lock directory /run/sandbox-supervisor: it is owned by uid 4242, not by root",
        ),
        (
            "mkdir -m 777 /run/sandbox-supervisor",
            "refusing the uid lock directory /run/sandbox-supervisor: its mode 0777 lets others in",
        ),
        (
            "mkdir -m 700 /run/elsewhere && ln -s /run/elsewhere /run/sandbox-supervisor",
            "refusing the uid lock directory /run/sandbox-supervisor: it is not a directory",
        ),
        (
            "mkdir -m 700 /run/sandbox-supervisor /run/elsewhere && ln -s /run/elsewhere /run/sandbox-supervisor/uids",
            "refusing the uid lock directory /run/sandbox-supervisor/uids: it is not a directory",
        ),
    ] {
        let script = format!(
            "mount -t tmpfs -o mode=755 tmpfs /run && {setup} && exec {} -- true",
            supervisor.display()
        );
        let output = sandbox_tests::output_of(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "sh", "-c", &script])
                .stdin(Stdio::null()),
        );
        let outcome = Outcome::from(output);
        assert_eq!(outcome.code, 125, "{setup}: {}", outcome.stderr);
        assert!(
            outcome.error_line().contains(says),
            "{setup}: {}",
            outcome.stderr
        );
    }
}

/// A read-only /run (the lock directory cannot be made): the boot stops with the allocation's
/// error (exit 125, one line naming the lock directory and EROFS), with or without a report or
/// findings file (the report records that error); not with a line about the destinations (no workload
/// runs, so none could rewrite them).
#[test]
fn a_uid_that_cannot_be_allocated_stops_the_boot_with_its_error() {
    require_root!();
    let supervisor = supervisor_bin();
    let dir = tempfile::tempdir_in(sandbox_tests::staging_dir()).expect("tempdir");
    let report = dir.path().join("report.json");
    let findings = dir.path().join("findings.jsonl");
    let says = "sandbox-supervisor: error: failed to create /run/sandbox-supervisor for the uid lock: EROFS: Read-only file system";
    for destinations in [
        String::new(),
        format!("--report {}", report.display()),
        format!("--findings {}", findings.display()),
        format!(
            "--report {} --findings {}",
            report.display(),
            findings.display()
        ),
    ] {
        let _ = std::fs::remove_file(&report);
        let _ = std::fs::remove_file(&findings);
        // In a mount namespace of its own: a read-only tmpfs over /run, there only.
        let script = format!(
            "mount -t tmpfs -o ro,mode=755 tmpfs /run && exec {} {destinations} -- true",
            supervisor.display()
        );
        let output = sandbox_tests::output_of(
            Command::new("unshare")
                .args([
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    &script,
                ])
                .stdin(Stdio::null()),
        );
        let outcome = Outcome::from(output);
        assert_eq!(outcome.code, 125, "{destinations}: {}", outcome.stderr);
        assert_eq!(outcome.error_line(), says, "{destinations}");
        if destinations.contains("--report") {
            let text = std::fs::read_to_string(&report).expect("the report");
            let record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(
                record["error"].as_str().map(|error| says.ends_with(error)),
                Some(true),
                "{record}"
            );
        }
        // The findings file holds one finding: the boot aborted by the supervisor's own error.
        if destinations.contains("--findings") {
            let text = std::fs::read_to_string(&findings).expect("the findings");
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|line| serde_json::from_str(line).expect("JSON"))
                .collect();
            assert_eq!(lines.len(), 1, "{text}");
            assert_eq!(lines[0]["unmapped"]["step"], "boot", "{text}");
            assert_eq!(lines[0]["unmapped"]["decision"], "aborted", "{text}");
            assert_eq!(
                lines[0]["unmapped"]["error"]
                    .as_str()
                    .map(|error| says.ends_with(error)),
                Some(true),
                "{text}"
            );
        } else {
            assert!(!findings.exists(), "{destinations}");
        }
    }
}

/// The lock directories stay once made, but an operator's cleanup (or a supervisor of an earlier
/// release, which removed them when it left last) may remove them while supervisors start. A
/// supervisor whose start is slow between its open of the lock directory and its lock (each
/// `getrandom` held 20 ms by strace, the uid's random start among them) finds the directory
/// removed under it: it makes the directories again and takes its lock. Before, it scanned again
/// for each removal, and a scan longer than the removals' interval failed the boot ("failed to
/// open .../uids/N for the uid lock: ENOENT", exit 125). Where other tests' sandboxes hold locks
/// meanwhile, the directory is not empty and not removed: the test then shows nothing, and passes.
#[test]
fn a_slow_start_whose_lock_directory_is_removed_under_it_takes_its_lock() {
    require_root!();
    if strace_missing() {
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // rmdir removes a directory only when empty: no lock a supervisor holds is lost.
    let cleanup = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_dir(LOCK_DIR);
                let _ = std::fs::remove_dir("/run/sandbox-supervisor");
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mut failed = Vec::new();
    for _ in 0..8 {
        let output = Command::new("strace")
            .args(["-f", "-qq", "--seccomp-bpf", "-o", "/dev/null"])
            .args([
                "-e",
                "trace=getrandom",
                "-e",
                "inject=getrandom:delay_enter=20000",
            ])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--uid-range",
                "4000200-4000299",
                "--",
                "true",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !output.status.success() {
            failed.push(String::from_utf8_lossy(&output.stderr).into_owned());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    cleanup.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} of 8 failed: {failed:?}",
        failed.len()
    );
}

/// A uid found taken is replaced on the scan's thread, which stays in the host's network
/// namespace: every lookup in the user database (the files NSS opens) is the thread's, or the main
/// thread's before its `unshare(CLONE_NEWNET)` (a source of the database over the network answers
/// nothing from the sandbox's namespace, and a lookup that finds nothing would pass a uid). The
/// new uid is locked before the reserved one is let go.
#[test]
fn a_uid_found_taken_is_replaced_by_lookups_in_the_hosts_network() {
    require_root!();
    if strace_missing() {
        return;
    }
    let (first, last) = (3_000_000_280, 3_000_000_281);
    assert_free(first, last);
    let _busy = Reaped(vec![sleeper(first, 4243)]);
    let range = format!("{first}-{last}");
    let dir = scratch();
    let trace = dir.path().join("trace");
    // The search starts at a random place: about one run in two reserves `first` and swaps.
    for _ in 0..40 {
        let outcome = Outcome::from(sandbox_tests::output_of(
            Command::new("strace")
                .args([
                    "-f",
                    "-qq",
                    "-e",
                    "trace=openat,unlinkat,unshare,setns,exit",
                ])
                .arg("-o")
                .arg(&trace)
                .arg(supervisor_bin())
                .args([
                    "--log-level",
                    "error",
                    "--uid-range",
                    &range,
                    "--",
                    "id",
                    "-u",
                ])
                .stdin(Stdio::null()),
        ));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(printed_uid(&outcome), last, "{}", outcome.stdout);
        let trace = std::fs::read_to_string(&trace).unwrap();
        let lines: Vec<&str> = trace.lines().collect();
        let pid = |line: &str| line.split_whitespace().next().unwrap_or("").to_owned();
        let at = |what: &dyn Fn(&str) -> bool| lines.iter().position(|line| what(line));
        let lock_of = |uid: u32| {
            at(&|line: &str| line.contains("openat(") && line.contains(&format!("\"{uid}\"")))
        };
        let Some(reserved) = lock_of(first) else {
            continue;
        };
        let main = pid(lines[0]);
        let taken = lock_of(last).unwrap_or_else(|| panic!("{last} never locked:\n{trace}"));
        let scanner = pid(lines[taken]);
        assert_ne!(scanner, main, "the swap ran on the main thread:\n{trace}");
        let let_go =
            at(&|line: &str| line.contains("unlinkat(") && line.contains(&format!("\"{first}\"")))
                .unwrap_or_else(|| panic!("{first} never let go:\n{trace}"));
        assert!(reserved < taken && taken < let_go, "{trace}");
        let netns = at(&|line: &str| pid(line) == main && line.contains("unshare(CLONE_NEWNET"))
            .unwrap_or_else(|| panic!("no network namespace:\n{trace}"));
        let database = ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"];
        for (index, line) in lines.iter().enumerate() {
            let nss = line.contains("openat(") && database.iter().any(|file| line.contains(file));
            assert!(
                !nss || pid(line) == scanner || index < netns,
                "a lookup in the network namespace: {line}\n{trace}"
            );
            let moved = line.contains("unshare(") || line.contains("setns(");
            assert!(
                !(moved && pid(line) == scanner),
                "the scan's thread moved: {line}"
            );
        }
        return;
    }
    panic!("no run of 40 reserved {first}");
}

/// A supervisor whose reserved uid turns out held, with no other uid free, gives it up once: its
/// lock file is removed while it still holds it, and never again when the run ends, when the
/// same path may name another supervisor's lock of that uid (removing that one would let a third
/// supervisor take the uid the second one's sandbox runs as).
#[test]
fn a_uid_given_up_is_unlocked_once() {
    require_root!();
    if strace_missing() {
        return;
    }
    let uid = 3_000_000_270;
    assert_free(uid, uid);
    let _busy = Reaped(vec![sleeper(uid, uid)]);
    let dir = scratch();
    let trace = dir.path().join("trace");
    let range = format!("{uid}-{uid}");
    let outcome = Outcome::from(sandbox_tests::output_of(
        Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=unlinkat", "-o"])
            .arg(&trace)
            .arg(supervisor_bin())
            .args(["--log-level", "error", "--uid-range", &range, "--", "true"])
            .stdin(Stdio::null()),
    ));
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    let trace = std::fs::read_to_string(&trace).unwrap();
    let removals = trace
        .lines()
        .filter(|line| line.contains(&format!("\"{uid}\"")))
        .count();
    assert_eq!(removals, 1, "the lock file of {uid} removed:\n{trace}");
}

/// An outer filter that kills the thread making a call only the uid check makes (a runtime's
/// profile with `SCMP_ACT_KILL`, which kills the calling thread): the allocation fails with its
/// own line and exit 125, never a crash of the supervisor without one; no workload runs.
#[test]
fn a_uid_check_killed_by_an_outer_filter_stops_the_boot_with_a_line() {
    require_root!();
    let uid = 3_000_000_280;
    assert_free(uid, uid);
    let range = format!("{uid}-{uid}");
    let outcome = Outcome::from(sandbox_tests::output_of(
        Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .args(["pidfd=KILL_THREAD", "--"])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--uid-range",
                &range,
                "--",
                "id",
                "-u",
            ])
            .stdin(Stdio::null()),
    ));
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    assert_eq!(
        outcome.error_line(),
        "sandbox-supervisor: error: the uid check's thread ended without an answer (killed by a \
         seccomp filter?)",
        "{}",
        outcome.stderr
    );
}

/// an outer filter that fakes `pidfd_open`'s success (an
/// `SCMP_ACT_ERRNO(0)` rule: the call returns 0 and opens nothing) makes the uid check take
/// descriptor 0 for a pidfd and close it. Descriptor 0 is the supervisor's standard input, not
/// the scan's: the workload must still read the caller's standard input, as it does without the
/// filter (and as the status-only scan of the previous release did under the same filter).
#[test]
fn a_faked_pidfd_open_does_not_close_the_callers_standard_input() {
    require_root!();
    let uid = 3_000_000_290;
    assert_free(uid, uid);
    let range = format!("{uid}-{uid}");
    let dir = scratch();
    let input = dir.path().join("input");
    std::fs::write(&input, "the caller's input\n").unwrap();
    let outcome = Outcome::from(sandbox_tests::output_of(
        Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .args(["pidfd=0", "--"])
            .arg(supervisor_bin())
            .args(["--log-level", "error", "--uid-range", &range, "--", "cat"])
            .stdin(std::fs::File::open(&input).unwrap()),
    ));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "the caller's input\n", "{}", outcome.stderr);
}

/// An outer filter that answers `statx` with `ENOENT` (a runtime's
/// profile may answer any call with any errno) makes the pidfd scan take every process for gone
/// once its leader is read, so a uid only a thread other than the leader holds is given. The
/// previous release (the `status` path) refuses it under the same filter.
#[test]
fn a_uid_a_thread_holds_is_never_given_when_statx_answers_enoent() {
    require_root!();
    let uid = 3_000_000_310;
    assert_free(uid, uid);
    let holder = ThreadHolder::saved_uid(uid);
    let range = format!("{uid}-{uid}");
    let outcome = under_outer_filter("statx=2", &range);
    drop(holder);
    refused(&outcome);
}

/// An outer filter that answers `ESRCH` to every `pidfd_open` but
/// the supervisor's own (its pid is known before it execs: the filter's installer execs it) passes
/// the check of `/proc`'s PID namespace, then makes every host process look reaped: a uid a
/// host process holds is given. The previous release (the `status` path) refuses it under the
/// same filter.
#[test]
fn a_uid_a_process_holds_is_never_given_when_other_pidfds_answer_esrch() {
    require_root!();
    let uid = 3_000_000_320;
    assert_free(uid, uid);
    let _holder = Reaped(vec![sleeper(uid, uid)]);
    let range = format!("{uid}-{uid}");
    let outcome = under_outer_filter("pidfd-others=3", &range);
    refused(&outcome);
}

/// An outer filter that answers `ESRCH` to every `pidfd_open` with
/// `PIDFD_THREAD` makes every thread but a leader look reaped: a uid only such a thread holds is
/// given. The previous release refuses it under the same filter.
#[test]
fn a_uid_a_thread_holds_is_never_given_when_thread_pidfds_answer_esrch() {
    require_root!();
    let uid = 3_000_000_330;
    assert_free(uid, uid);
    let holder = ThreadHolder::saved_uid(uid);
    let range = format!("{uid}-{uid}");
    let outcome = under_outer_filter("pidfd-thread=3", &range);
    drop(holder);
    refused(&outcome);
}

/// A thread of this test process that holds a uid as its saved uid only (a raw `setresuid`
/// changes only the calling thread; glibc's would change every thread), until dropped.
struct ThreadHolder {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadHolder {
    fn saved_uid(uid: u32) -> ThreadHolder {
        let (held, is_held) = std::sync::mpsc::channel::<i64>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let unchanged = u32::MAX as libc::c_long;
            // SAFETY: setresuid takes integers and changes only the calling thread's credentials.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_setresuid,
                    unchanged,
                    unchanged,
                    uid as libc::c_long,
                )
            };
            held.send(rc).unwrap();
            let _ = released.recv();
        });
        assert_eq!(is_held.recv().unwrap(), 0);
        ThreadHolder {
            release: Some(release),
            thread: Some(thread),
        }
    }
}

impl Drop for ThreadHolder {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A run of `id -u` in the uid range `range` under the project's outer filter `filter`.
fn under_outer_filter(filter: &str, range: &str) -> Outcome {
    Outcome::from(sandbox_tests::output_of(
        Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .args([filter, "--"])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--uid-range",
                range,
                "--",
                "id",
                "-u",
            ])
            .stdin(Stdio::null()),
    ))
}

/// The run was refused its one-uid range (exit 125) and no workload ran.
fn refused(outcome: &Outcome) {
    assert_eq!(
        outcome.code, 125,
        "given: {}{}",
        outcome.stdout, outcome.stderr
    );
    assert_eq!(outcome.stdout, "", "the workload ran");
}

/// Found by the attacker's pass on 04ab8d5 (which duplicated the lock directories' descriptors
/// for the thread; none is duplicated since): an outer filter that fakes `fcntl(F_DUPFD_CLOEXEC)`'s success (an
/// `SCMP_ACT_ERRNO(0)` rule: it returns 0 and duplicates nothing) makes the scan's thread take
/// descriptor 0, the supervisor's standard input, for both copies of the lock directories when it
/// swaps a uid found taken. It then closes descriptor 0 twice (once another thread's) and the
/// supervisor dies of SIGABRT ("IO Safety violation"), with no line of its own. Expected: exit
/// 0 with the next uid, or 125 with one line; never a crash.
#[test]
fn a_faked_dup_never_crashes_the_swap() {
    require_root!();
    let (first, last) = (3_000_000_600, 3_000_000_601);
    assert_free(first, last);
    let _busy = Reaped(vec![sleeper(first, first)]);
    let range = format!("{first}-{last}");
    let mut crashed = Vec::new();
    for _ in 0..12 {
        let outcome = under_outer_filter("dupfd=0", &range);
        match outcome.code {
            0 => assert_eq!(printed_uid(&outcome), last, "{}", outcome.stderr),
            // A refusal of the main thread's own duplications (Landlock's rules: exit 120) is
            // the strict default's line; only a death by a signal is this finding.
            code if code < 128 => {
                assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr)
            }
            _ => crashed.push(format!("exit {}: {}", outcome.code, outcome.stderr)),
        }
    }
    assert!(crashed.is_empty(), "{crashed:#?}");
}

/// Found by the same pass: the same faked `fcntl(F_DUPFD_CLOEXEC)`, with the supervisor's standard
/// input a directory (the operator's `< DIR`): the scan's thread locks the uid it swaps to in
/// that directory, not in /run/sandbox-supervisor/uids, so another supervisor (no filter) takes
/// the same uid while the first one's sandbox runs as it; and the lease's end sweeps that
/// directory as a lock directory: root deletes every regular file in it that nobody `flock`s.
/// Landlock is disabled only because the main thread's own duplications (the Landlock rules)
/// are refused too under a filter on every `F_DUPFD_CLOEXEC`.
#[test]
fn a_faked_dup_never_locks_a_uid_outside_the_lock_directory() {
    require_root!();
    let (first, last) = (3_000_000_610, 3_000_000_611);
    assert_free(first, last);
    let _busy = Reaped(vec![sleeper(first, first)]);
    let range = format!("{first}-{last}");
    let dir = scratch();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let precious = input.join("precious");
    let mut shared = Vec::new();
    for _ in 0..12 {
        std::fs::write(&precious, "the operator's file\n").unwrap();
        let attacked = Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .args(["dupfd=0", "--"])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--disable-step",
                "landlock",
                "--uid-range",
                &range,
                "--",
                "sh",
                "-c",
                "id -u; sleep 2",
            ])
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let other = run(&[
            "--log-level",
            "error",
            "--uid-range",
            &format!("{last}-{last}"),
            "--",
            "sh",
            "-c",
            "id -u; sleep 2",
        ]);
        let attacked = Outcome::from(attacked.wait_with_output().unwrap());
        let uid = |outcome: &Outcome| outcome.stdout.lines().next().map(str::to_owned);
        if other.code == 0 && uid(&other) == uid(&attacked) {
            shared.push(format!(
                "both ran as {:?} (attacked exit {}: {})",
                uid(&other),
                attacked.code,
                attacked.stderr.trim()
            ));
        }
        assert!(
            precious.exists(),
            "root deleted {} (attacked exit {}: {}); shared so far: {shared:?}",
            precious.display(),
            attacked.code,
            attacked.stderr.trim()
        );
    }
    assert!(shared.is_empty(), "two sandboxes with one uid: {shared:#?}");
}

/// Found by the same pass (older than it): an outer filter that kills (`SCMP_ACT_KILL`, the calling thread) on
/// `prctl(PR_CAPBSET_READ)`, a call only libcap's constructor makes, inside the `dlopen` of the
/// user database's module (libnss_systemd with `passwd: files systemd`) on the scan's thread:
/// the thread dies holding the loader's lock. The allocation prints its line, then the exit
/// (`exit` -> `_dl_fini`) waits for that lock forever; SIGTERM is blocked, only SIGKILL ends it.
/// Now the exit skips what would wait for it (`_exit` once a thread is lost): exit 125.
#[test]
fn a_uid_check_killed_inside_an_nss_module_load_never_hangs_the_exit() {
    require_root!();
    let uid = 3_000_000_620;
    assert_free(uid, uid + 1);
    let range = format!("{uid}-{}", uid + 1);
    let mut child = Command::new(sandbox_tests::helper_bin("outer-seccomp"))
        .args(["capbset=KILL_THREAD", "--"])
        .arg(supervisor_bin())
        .args([
            "--log-level",
            "error",
            "--uid-range",
            &range,
            "--",
            "id",
            "-u",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = status.expect("the supervisor hung (killed after 20 s)");
    assert_eq!(status.code(), Some(125), "{status:?}");
}

/// An outer filter that fakes `openat` of a lock file (answers 0, the supervisor's standard
/// input, without opening anything): the allocation fails with its line and exit 125; the
/// faked descriptor is never locked, taken for a lock file or closed.
#[test]
fn a_faked_open_of_a_lock_file_fails_the_allocation_with_a_line() {
    require_root!();
    let (first, last) = (3_000_000_640, 3_000_000_641);
    assert_free(first, last);
    let range = format!("{first}-{last}");
    // The lock directory is the supervisor's descriptor 5 (0-2, the signal descriptor, the
    // lock directories' parent, then `uids`): every `openat` below it is faked.
    let outcome = under_outer_filter("openat-at-5=0", &range);
    assert_eq!(outcome.code, 125, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "the workload ran");
    let line = outcome.error_line();
    assert!(
        line.contains("answered descriptor 0, which was already open (a faked success)"),
        "{}",
        outcome.stderr
    );
}

/// Creates and locks `lock` as a supervisor locks a uid's file; held until the file is dropped.
fn hold_lock(lock: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)
        .unwrap();
    // SAFETY: flock takes a descriptor and an integer.
    let rc = unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    held
}

/// Found by the attacker's pass of the sixth session, built in the seventh: an outer filter that
/// fakes `flock`'s success (`SCMP_ACT_ERRNO(0)`: it returns 0 and locks nothing) let the
/// supervisor take a uid another supervisor had locked and not yet given to its workload (the
/// scan sees no task with it yet), and sweep that supervisor's lock file at its exit as stale:
/// two sandboxes as one uid. The lock now counts only when a second open of the file,
/// at the same descriptor number, is refused it (such a filter answers that call alike): one error line, exit 125, no workload,
/// and the holder's lock file stays. The holder here is the test, locking the file as a
/// supervisor does.
#[test]
fn a_faked_flock_never_gives_a_uid_another_supervisor_holds() {
    require_root!();
    let uid = 3_000_000_650;
    assert_free(uid, uid);
    let range = format!("{uid}-{uid}");
    // The lock directories, made as a supervisor makes them.
    assert_eq!(run(&["--log-level", "error", "--", "true"]).code, 0);
    let lock = Path::new(LOCK_DIR).join(uid.to_string());
    let held = hold_lock(&lock);
    let outcome = under_outer_filter("flock=0", &range);
    let swept = !lock.exists();
    let _ = std::fs::remove_file(&lock);
    drop(held);
    refused(&outcome);
    let line = outcome.error_line();
    assert!(
        line.contains(&format!(
            "flock of {LOCK_DIR}/{uid} answered success, but a second open of the file could lock it too (a faked success)"
        )),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
    assert!(!swept, "the holder's lock file was swept");
}

/// The same filter on the sweep alone: a supervisor whose own lock is real (its lock file is
/// descriptor 4) but whose `flock`s of other lock files at its exit are faked (every descriptor
/// above 5) must leave another supervisor's lock file in place: it is removed only when the
/// sweep's lock is proved as the supervisor's own is.
#[test]
fn a_faked_flock_in_the_sweep_never_removes_a_held_lock_file() {
    require_root!();
    let (uid, other) = (3_000_000_660, 3_000_000_661);
    assert_free(uid, other);
    assert_eq!(run(&["--log-level", "error", "--", "true"]).code, 0);
    let lock = Path::new(LOCK_DIR).join(other.to_string());
    let held = hold_lock(&lock);
    let outcome = under_outer_filter("flock-above-5=0", &format!("{uid}-{uid}"));
    let swept = !lock.exists();
    let _ = std::fs::remove_file(&lock);
    drop(held);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(printed_uid(&outcome), uid);
    assert!(!swept, "a held lock file was swept");
}

/// Found by the attacker's pass on f6c3df4: an outer filter that fakes `close_range`'s success
/// (`SCMP_ACT_ERRNO(0)`: it returns 0 and closes nothing) leaves the sandbox's init, a clone of
/// the supervisor that never execs, every descriptor the supervisor had: the uid's lock file, the
/// lock directory `/run/sandbox-supervisor/uids` (root's, 0700), the control groups' files and
/// the Landlock rulesets, for the whole run. The init's hardening (`harden_init`) trusts the
/// call's 0, and nothing checked `/proc/<init>/fd` before the workload was released. Now the
/// verification lists the init's descriptors once it has hardened itself: anything but its
/// status pipe refuses the boot (exit 123, one line).
#[test]
fn a_faked_close_range_never_leaves_the_lock_descriptors_to_the_init() {
    require_root!();
    let (first, last) = (3_000_000_710, 3_000_000_711);
    assert_free(first, last);
    never_leaves_the_lock_descriptors_to_the_init("close_range=0", &format!("{first}-{last}"));
}

/// The same with `close` faked too, for the lock directory's descriptor alone (5): an init that
/// closed each descriptor one by one after a lying `close_range` would keep it as well. The
/// verification counts what the init holds, whatever closed it or not.
#[test]
fn a_faked_close_range_and_close_never_leave_the_lock_directory_to_the_init() {
    require_root!();
    let (first, last) = (3_000_000_712, 3_000_000_713);
    assert_free(first, last);
    never_leaves_the_lock_descriptors_to_the_init(
        "close_range=0,close-of-5=0",
        &format!("{first}-{last}"),
    );
}

/// A run of `sleep 30` in `range` under the outer filter `filter`: refused by the verification
/// (exit 123, one line) before any workload ran; else neither the init nor the workload may hold
/// a descriptor of the lock directory or a lock file while it runs.
fn never_leaves_the_lock_descriptors_to_the_init(filter: &str, range: &str) {
    let mut supervisor = Reaped(vec![spawn(
        Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .args([filter, "--"])
            .arg(supervisor_bin())
            .args([
                "--log-level",
                "error",
                "--uid-range",
                range,
                "--",
                "sleep",
                "30",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )]);
    let pid = supervisor.0[0].id();
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|child| child.parse().ok())
            .collect()
    };
    // The init is the supervisor's child; the workload (sleep), the init's.
    let start = Instant::now();
    let (init, workload) = loop {
        let found = children(pid).into_iter().find_map(|init| {
            children(init)
                .into_iter()
                .find(|&child| {
                    std::fs::read_to_string(format!("/proc/{child}/comm"))
                        .is_ok_and(|comm| comm.trim() == "sleep")
                })
                .map(|workload| (init, workload))
        });
        if let Some(found) = found {
            break Some(found);
        }
        if supervisor.0[0].try_wait().unwrap().is_some()
            || start.elapsed() > Duration::from_secs(10)
        {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    .unzip();
    let lock_descriptors = |pid: Option<u32>| -> Vec<String> {
        let Some(pid) = pid else { return Vec::new() };
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                    .map(|target| target.display().to_string())
                    .filter(|target| target.starts_with("/run/sandbox-supervisor"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let in_init = lock_descriptors(init);
    let in_workload = lock_descriptors(workload);
    let mut child = supervisor.0.pop().unwrap();
    let _ = child.kill();
    let ended = child.wait_with_output().unwrap();
    if init.is_none() {
        // Refused before the workload: the verification's one line (exit 123).
        let stderr = String::from_utf8_lossy(&ended.stderr);
        if filter.contains("getdents64-of-") && stderr.contains("threads; it must be single") {
            // The faked number was the supervisor's listing of its own threads this time: the
            // boot stopped before the sandbox existed (exit 125), nothing to check.
            assert_eq!(ended.status.code(), Some(125), "{stderr}");
            return;
        }
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("failed to verify capabilities: the sandbox's init kept the supervisor's descriptors"),
            "{stderr}"
        );
        assert_eq!(ended.status.code(), Some(123), "{stderr}");
        return;
    }
    assert!(
        in_init.is_empty() && in_workload.is_empty(),
        "the init holds {in_init:?}, the workload {in_workload:?}"
    );
}

/// Found by the same pass (older than this session, next to the lock descriptors): under an
/// outer filter that fakes `close_range(CLOSE_RANGE_CLOEXEC)`'s success, the workload's
/// `mark_close_on_exec` trusted the 0 and marked nothing: a descriptor the caller left open
/// without `FD_CLOEXEC` (here 20, a file of the caller's) reached the workload, which the
/// supervisor otherwise never lets happen. The supervisor now marks the caller's descriptors
/// close-on-exec itself at the start of a run, and checks the flag took.
#[test]
fn a_faked_close_range_never_gives_the_workload_the_callers_descriptors() {
    require_root!();
    let (first, last) = (3_000_000_714, 3_000_000_715);
    assert_free(first, last);
    let outcome = with_a_callers_descriptor("close_range-cloexec=0", &format!("{first}-{last}"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        !outcome.stdout.contains("caller-only"),
        "the workload holds the caller's descriptor: {}",
        outcome.stdout
    );
}

/// A run under the outer filter `filter` whose caller left a file of its own open on descriptor
/// 20 without close-on-exec, as a stray descriptor would be: the workload prints what its
/// descriptor 20 names, if it has one (`caller-only` when it is the caller's).
fn with_a_callers_descriptor(filter: &str, range: &str) -> Outcome {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = scratch();
    let secret = dir.path().join("caller-only");
    std::fs::write(&secret, "the caller's\n").unwrap();
    let file = std::fs::File::open(&secret).unwrap();
    let raw = file.as_raw_fd();
    let mut command = Command::new(sandbox_tests::helper_bin("outer-seccomp"));
    command
        .args([filter, "--"])
        .arg(supervisor_bin())
        .args([
            "--log-level",
            "error",
            "--uid-range",
            range,
            "--",
            "sh",
            "-c",
            "readlink /proc/self/fd/20 || true",
        ])
        .stdin(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; the descriptor is open in the parent, and the copy at
    // 20 is not close-on-exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(raw, 20) != 20 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let outcome = Outcome::from(sandbox_tests::output_of(&mut command));
    drop(file);
    outcome
}

/// A kernel without `close_range` (before 5.9; `ENOSYS` here): the init closes its descriptors
/// one at a time, the verification finds only its status pipe, and the workload runs. Without
/// that fallback the init kept every descriptor of the supervisor's, which the verification of
/// the init's descriptors would refuse (exit 123) on every boot of such a kernel.
#[test]
fn without_close_range_the_init_closes_its_descriptors_one_by_one() {
    require_root!();
    let (first, last) = (3_000_000_730, 3_000_000_731);
    assert_free(first, last);
    let outcome = under_outer_filter("close_range=ENOSYS", &format!("{first}-{last}"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!((first..=last).contains(&printed_uid(&outcome)));
}

/// Found by the attacker's pass on 941f221: without `close_range` the init closes its descriptors
/// one at a time up to the soft `RLIMIT_NOFILE`, and only then drops its capabilities; the
/// supervisor gives it 200 x 250 us (`read_init`) and then refuses the boot (exit 123, "the
/// sandbox's init still holds more than CAP_KILL"). With a large soft limit the loop outlasts the
/// wait: on the host 1048576 closes take ~160-200 ms (a kernel before 5.9 under Docker's
/// 1048576 default), and under gVisor (whose calls are slower) 20000 already do. An honest
/// boot must not be refused for a raised descriptor limit.
#[test]
fn without_close_range_a_raised_descriptor_limit_is_not_refused() {
    require_root!();
    if !sandbox_tests::outer::available("runsc") {
        skip_or_fail("needs gVisor's runsc (Debian package runsc)");
        return;
    }
    let (first, last) = (3_000_000_732, 3_000_000_733);
    assert_free(first, last);
    let script = format!(
        "ulimit -n 20000 && exec {} close_range=ENOSYS -- {} --log-level error \
         --disable-step landlock --disable-step mount-namespace --disable-step filesystem-view \
         --uid-range {first}-{last} -- id -u",
        sandbox_tests::helper_bin("outer-seccomp").display(),
        supervisor_bin().display(),
    );
    let outcome = Outcome::from(sandbox_tests::output_of(
        Command::new("runsc")
            .args(["--network=none", "do", "sh", "-c", &script])
            .stdin(Stdio::null()),
    ));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!((first..=last).contains(&printed_uid(&outcome)));
}

/// Found by the attacker's pass on 941f221: the verification of the init's descriptors takes an
/// empty listing of `/proc/<init>/fd` for an init that closed them. An outer filter that fakes
/// `close_range`'s success and `getdents64`'s on the one descriptor number the listing's
/// directory gets (13 in this supervisor, 12-14 as the control groups' files shift; a filter
/// keyed on a descriptor number, `SCMP_ACT_ERRNO(0)`: it returns 0, "end of directory") makes
/// the listing say "nothing above 2", and the init keeps the uid's lock file, the lock directory,
/// the control groups' files and the Landlock rulesets for the whole run. The init always holds
/// its status pipe: a listing without it proves nothing and must refuse the boot.
#[test]
fn a_faked_listing_of_the_inits_descriptors_never_leaves_them_to_the_init() {
    require_root!();
    let (first, last) = (3_000_000_734, 3_000_000_735);
    assert_free(first, last);
    for _ in 0..3 {
        for dirfd in 10..=16 {
            never_leaves_the_lock_descriptors_to_the_init(
                &format!("close_range=0,getdents64-of-{dirfd}=0"),
                &format!("{first}-{last}"),
            );
        }
    }
}

/// Found by the attacker's pass on 941f221: `close_inherited_on_exec` passes over a descriptor
/// whose `fcntl(F_GETFD)` fails, meant for the listing's own descriptor (closed since: EBADF).
/// An outer filter that refuses `F_GETFD` (EPERM here) and fakes
/// `close_range(CLOSE_RANGE_CLOEXEC)`'s success leaves every caller's descriptor unmarked, and the
/// workload gets it (here 20, a file of the caller's). The same with `getdents64` faked (0: "end
/// of directory") on the descriptor number the listing of `/proc/self/fd` gets (6 here): nothing
/// listed, nothing marked. A descriptor whose flags cannot be read or set, or a listing that
/// does not show its own descriptor, must stop the run (exit 125, one line); so must an
/// `F_SETFD` that only answered success (`setfd=0`: the flag read back is not set).
#[test]
fn a_refused_f_getfd_never_gives_the_workload_the_callers_descriptors() {
    require_root!();
    let (first, last) = (3_000_000_736, 3_000_000_737);
    assert_free(first, last);
    let filters = ["getfd=EPERM", "setfd=0"]
        .map(str::to_owned)
        .into_iter()
        .chain((3..=8).map(|fd| format!("getdents64-of-{fd}=0")))
        .map(|filter| format!("{filter},close_range-cloexec=0"));
    for filter in filters {
        let outcome = with_a_callers_descriptor(&filter, &format!("{first}-{last}"));
        assert!(
            !outcome.stdout.contains("caller-only"),
            "{filter}: the workload holds the caller's descriptor: {}",
            outcome.stdout
        );
        if outcome.code != 0 {
            assert_eq!(outcome.code, 125, "{}", outcome.stderr);
            assert_eq!(outcome.stderr.lines().count(), 1, "{}", outcome.stderr);
            assert_eq!(outcome.stdout, "", "the workload ran");
        }
    }
}
