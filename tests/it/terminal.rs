//! The terminal (issue 21, the CVE-2017-5226 class), from a real pseudo-terminal as an
//! operator's shell gives one: the workload gets a pty of the sandbox's own, relayed by the
//! supervisor, and never a descriptor of the operator's terminal. Nothing it does to its terminal
//! (push input, change the line discipline, take it as its controlling terminal, hand it to
//! another process) reaches the operator's; an interactive shell inside still has job control,
//! the window size and Ctrl-C; the operator's terminal gets its modes back.
//!
//! Where a protection could be missing without any test noticing, a control run with the filter
//! turned off (`--disable-step workload-seccomp`) shows that the attempt then succeeds on the
//! sandbox's own terminal and still does not reach the operator's.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sandbox_tests::terminal::{legacy_tiocsti, probe_result as result, Pty};
use sandbox_tests::{
    helper_bin, last_record, require_root, scratch, spawn, supervisor_bin, Running,
};

/// The supervisor run from `pty` (its controlling terminal) with `ARGS`; its exit code and what
/// the terminal showed.
fn supervised(pty: &Pty, args: &[&str]) -> (Option<i32>, String) {
    let mut argv = vec!["--log-level", "error"];
    argv.extend(args);
    pty.run(&supervisor_bin(), &argv)
}

fn probe() -> String {
    helper_bin("escape-probe").display().to_string()
}

/// `TIOCSTI` pushes input into a terminal. The workload's controlling terminal is its own pty:
/// with the filter, `TIOCSTI` is denied on it; without (the control), it pushes into the
/// sandbox's pty, which shows the echo, and still nothing into the operator's.
#[test]
fn workload_cannot_push_input_into_the_operators_terminal() {
    require_root!();
    let marker = "zq9injected";
    let probe = probe();

    // Control: the probe run straight from the terminal injects (on kernels that still allow
    // TIOCSTI on one's own controlling terminal, dev.tty.legacy_tiocsti=1).
    if legacy_tiocsti() {
        let pty = Pty::open();
        let (code, shown) = pty.run(Path::new(&probe), &["tty", marker]);
        assert_eq!(code, Some(0), "{shown}");
        assert_eq!(result(&shown, "TIOCSTI(fd0)"), Some("OK"), "{shown}");
        assert!(
            pty.queued_input() > 0,
            "the control injected nothing: {shown}"
        );

        // Without the filter, into the sandbox's own terminal: the operator's gets nothing.
        let pty = Pty::open();
        let (code, shown) = supervised(
            &pty,
            &[
                "--disable-step",
                "workload-seccomp",
                "--",
                &probe,
                "tty",
                marker,
            ],
        );
        assert_eq!(code, Some(0), "{shown}");
        assert_eq!(result(&shown, "TIOCSTI(fd0)"), Some("OK"), "{shown}");
        assert_eq!(pty.queued_input(), 0, "input reached the operator: {shown}");
    }

    let pty = Pty::open();
    let (code, shown) = supervised(&pty, &["--", &probe, "tty", marker]);
    assert_eq!(code, Some(0), "{shown}");
    // Its controlling terminal is its own pty (136:0 in its own devpts), where the filter denies
    // TIOCSTI.
    assert_eq!(result(&shown, "tty_nr"), Some("34816"), "{shown}");
    assert_eq!(result(&shown, "open(/dev/tty)"), Some("OK"), "{shown}");
    assert_eq!(
        result(&shown, "TIOCSTI(/dev/tty)"),
        Some("EPERM"),
        "{shown}"
    );
    assert_eq!(result(&shown, "TIOCSTI(fd0)"), Some("EPERM"), "{shown}");
    assert!(!shown.contains(marker), "{shown}");
    assert_eq!(pty.queued_input(), 0, "{shown}");
}

/// `TIOCSETD` needs no controlling terminal: given the operator's terminal, the workload sets it
/// to `N_NULL`, and it stays dead after the run. The filter denies it; without the filter (the
/// control) it changes only the sandbox's pty.
#[test]
fn workload_cannot_change_the_operators_line_discipline() {
    require_root!();
    let probe = probe();
    for extra in [&["--disable-step", "workload-seccomp"][..], &[]] {
        // The probe's line goes to a file: a terminal with N_NULL takes no output.
        let dir = scratch();
        let out = dir.path().join("out");
        let script = format!("{probe} ldisc > {}", out.display());
        let pty = Pty::open();
        let mut args = extra.to_vec();
        args.extend(["--workspace", dir.path().to_str().unwrap()]);
        args.extend(["--", "sh", "-c", &script]);
        let (code, shown) = supervised(&pty, &args);
        assert_eq!(code, Some(0), "{shown}");
        let out = std::fs::read_to_string(&out).unwrap();
        let expected = if extra.is_empty() { "EPERM" } else { "OK" };
        assert_eq!(
            result(&out, "TIOCSETD(fd0)"),
            Some(expected),
            "{extra:?}: {out}"
        );
        assert_eq!(
            pty.line_discipline(),
            0,
            "{extra:?}: the terminal lost N_TTY: {shown}"
        );
    }
}

/// A terminal that is no session's controlling terminal (a CI wrapper's pty slave): given it, the
/// workload, a session leader without one, takes it with `TIOCSCTTY` (or by reopening it without
/// `O_NOCTTY` when it may open the device: here it is made world-writable), then pushes input
/// with `TIOCSTI`. It is given a pty of the sandbox's own instead: the filter denies both ioctls,
/// and without the filter (the control) they reach only the sandbox's pty.
#[test]
fn workload_cannot_take_over_a_terminal_no_session_holds() {
    require_root!();
    let marker = "zq9takeover";
    let probe = probe();
    let sandboxed = |extra: &[&str]| {
        let pty = Pty::open();
        let slave = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
        std::fs::set_permissions(&slave, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let mut args = vec!["--log-level", "error"];
        args.extend(extra);
        args.extend(["--", &probe, "takeover", marker]);
        let (code, shown) = pty.run_with(&supervisor_bin(), &args, false);
        assert_eq!(code, Some(0), "{shown}");
        (shown, pty.queued_input())
    };

    if legacy_tiocsti() {
        let (shown, queued) = sandboxed(&["--disable-step", "workload-seccomp"]);
        assert_eq!(result(&shown, "TIOCSTI(fd0)"), Some("OK"), "{shown}");
        assert_eq!(queued, 0, "input reached the operator: {shown}");
    }

    let (shown, queued) = sandboxed(&[]);
    assert_eq!(result(&shown, "TIOCSCTTY(fd0)"), Some("EPERM"), "{shown}");
    assert_eq!(result(&shown, "TIOCSTI(fd0)"), Some("EPERM"), "{shown}");
    assert_eq!(
        result(&shown, "open(/proc/self/fd/0)"),
        Some("OK"),
        "{shown}"
    );
    assert_eq!(
        result(&shown, "TIOCSTI(reopened)"),
        Some("EPERM"),
        "{shown}"
    );
    assert!(!shown.contains(marker), "{shown}");
    assert_eq!(queued, 0, "{shown}");
}

/// `(device, inode)` of what `/proc/PID/fd/N` refers to, for every descriptor of `pid`.
fn descriptors_of(pid: i32) -> Vec<(String, (u64, u64, u64))> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let meta = std::fs::metadata(&path).ok()?;
            Some((
                path.display().to_string(),
                (meta.dev(), meta.ino(), meta.rdev()),
            ))
        })
        .collect()
}

fn parent_of(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    sandbox_tests::status_field(&status, "PPid")
        .unwrap()
        .parse()
        .unwrap()
}

/// The workload's standard descriptors are a pty of the sandbox's own (another devpts, another
/// device than the operator's), its controlling terminal; neither it nor its init holds any
/// descriptor of the operator's terminal; the report says which pty it was given. Without a
/// terminal nothing is given.
#[test]
fn the_workload_has_a_terminal_of_its_own_and_nothing_of_the_operators() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let pty = Pty::open();
    let operator = pty.identity();
    let script = "stat -L -c 'inside %d %t:%T' /proc/self/fd/0; echo READY; read line; echo DONE";
    let mut child = Running(pty.start(
        &supervisor_bin(),
        &[
            "--log-level",
            "error",
            "--report",
            report.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            script,
        ],
        true,
    ));
    let mut shown = Vec::new();
    assert!(
        pty.expect(&mut shown, "READY", Duration::from_secs(20)),
        "{}",
        String::from_utf8_lossy(&shown)
    );
    let text = String::from_utf8_lossy(&shown).into_owned();
    let inside = result(&text, "inside")
        .expect("the workload's terminal")
        .to_owned();
    let (dev, rdev) = inside.split_once(' ').unwrap();
    let (major, minor) = rdev.split_once(':').unwrap();
    let inside_rdev = libc::makedev(
        u32::from_str_radix(major, 16).unwrap(),
        u32::from_str_radix(minor, 16).unwrap(),
    );
    assert_ne!(
        (dev.parse::<u64>().unwrap(), inside_rdev),
        (operator.0, operator.2),
        "the workload's terminal is the operator's: {text}"
    );
    let record: serde_json::Value =
        serde_json::from_str(last_record(&std::fs::read_to_string(&report).unwrap())).unwrap();
    let workload = record["workload"]["pid"].as_i64().unwrap() as i32;
    for pid in [workload, parent_of(workload)] {
        for (fd, seen) in descriptors_of(pid) {
            assert!(
                (seen.0, seen.1) != (operator.0, operator.1),
                "{fd} is the operator's terminal"
            );
        }
    }
    pty.type_in(b"go\r");
    let code = pty.wait(&mut child.0, &mut shown, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&shown).into_owned();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("DONE"), "{text}");
    let record: serde_json::Value =
        serde_json::from_str(last_record(&std::fs::read_to_string(&report).unwrap())).unwrap();
    let session = session_of(&record);
    assert_eq!(session["terminal"]["devpts"], "sandbox", "{session}");
    assert_eq!(session["terminal"]["path"], "/dev/pts/0", "{session}");
    assert_eq!(
        session["terminal"]["fds"],
        serde_json::json!([0, 1, 2]),
        "{session}"
    );
    assert_eq!(session["tty_nr"], 34816, "{session}");

    // Without a terminal: no pty, no controlling terminal.
    let (_, record) =
        sandbox_tests::run_with_report(&sandbox_tests::Launch::default(), ["--", "true"]);
    let session = session_of(&record);
    assert_eq!(session["terminal"], serde_json::Value::Null, "{session}");
    assert_eq!(session["tty_nr"], 0, "{session}");
}

fn session_of(report: &serde_json::Value) -> serde_json::Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["step"] == "session")
        .expect("a session step")["verified"]
        .clone()
}

/// A long-running sandbox receives an interactive sandbox's standard input over a Unix socket
/// (`SCM_RIGHTS`) and keeps it after that sandbox and its supervisor ended: given the operator's
/// terminal, it would read what the operator types next (a password). It holds only the ended
/// sandbox's pty, hung up.
#[test]
fn a_terminal_passed_to_another_sandbox_reads_nothing_the_operator_types() {
    require_root!();
    let dir = scratch();
    let socket = dir.path().join("socket");
    let captured = dir.path().join("captured");
    let receiver = format!(
        r#"
import os, select, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("{socket}")
os.chmod("{socket}", 0o777)
s.listen(1)
c, _ = s.accept()
_, fds, _, _ = socket.recv_fds(c, 16, 1)
out = open("{captured}", "wb", buffering=0)
out.write(b"received\n")
end = time.time() + 3
while time.time() < end:
    r, _, _ = select.select([fds[0]], [], [], 0.1)
    if r:
        try:
            data = os.read(fds[0], 100)
        except OSError as err:
            out.write(b"error %d\n" % err.errno)
            break
        if not data:
            break
        out.write(data)
"#,
        socket = socket.display(),
        captured = captured.display()
    );
    let sender = format!(
        r#"
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("{socket}")
socket.send_fds(s, [b"x"], [0])
print("SENT")
"#,
        socket = socket.display()
    );
    let workspace = dir.path().to_str().unwrap();
    let mut long_running = Running(spawn(
        Command::new(supervisor_bin())
            .args(["--log-level", "error", "--workspace", workspace])
            .args(["--", "/usr/bin/python3", "-c", &receiver])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    ));
    sandbox_tests::wait_for(&socket);
    let pty = Pty::open();
    let (code, shown) = pty.run(
        &supervisor_bin(),
        &[
            "--log-level",
            "error",
            "--workspace",
            workspace,
            "--",
            "/usr/bin/python3",
            "-c",
            &sender,
        ],
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("SENT"), "{shown}");
    // The interactive sandbox and its supervisor ended; the operator types a password.
    pty.type_in(b"hunter2\n");
    let status = long_running.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let captured = std::fs::read_to_string(&captured).unwrap();
    assert!(captured.starts_with("received"), "{captured}");
    assert!(
        !captured.contains("hunter2"),
        "the operator's typing was captured: {captured}"
    );
}

/// An interactive shell inside has job control (a background job, Ctrl-Z stops a foreground
/// one), the operator's window size (and a resize), and Ctrl-C interrupts a foreground job while
/// the shell survives: every one through the sandbox's own pty and its line discipline.
#[test]
fn an_interactive_shell_has_job_control_window_size_and_ctrl_c() {
    require_root!();
    let pty = Pty::open();
    pty.set_size(33, 101);
    let mut child = Running(pty.start(
        &supervisor_bin(),
        &[
            "--log-level",
            "error",
            "--",
            "bash",
            "--norc",
            "--noprofile",
            "-i",
        ],
        true,
    ));
    let mut shown = Vec::new();
    let step = |shown: &mut Vec<u8>, typed: &[u8], wanted: &str| {
        pty.type_in(typed);
        assert!(
            pty.expect(shown, wanted, Duration::from_secs(10)),
            "{wanted:?} after {:?}:\n{}",
            String::from_utf8_lossy(typed),
            String::from_utf8_lossy(shown)
        );
    };
    step(&mut shown, b"stty size\r", "33 101");
    pty.set_size(40, 120);
    std::thread::sleep(Duration::from_millis(200));
    step(&mut shown, b"stty size\r", "40 120");
    step(&mut shown, b"sleep 30 &\r", "[1]");
    step(&mut shown, b"jobs\r", "Running");
    step(&mut shown, b"sleep 31\r", "sleep 31");
    std::thread::sleep(Duration::from_millis(300));
    step(&mut shown, b"\x03", "^C");
    step(&mut shown, b"echo alive-$((6*7))\r", "alive-42");
    step(&mut shown, b"sleep 32\r", "sleep 32");
    std::thread::sleep(Duration::from_millis(300));
    step(&mut shown, b"\x1a", "Stopped");
    step(
        &mut shown,
        b"kill -KILL %1 %2; wait; echo killed-$((2*3))\r",
        "killed-6",
    );
    // bash may still list the killed job as stopped and answer the first `exit` with "There are
    // stopped jobs"; a second `exit` then ends it (and is never read when the first one did).
    pty.type_in(b"exit 7\r");
    std::thread::sleep(Duration::from_millis(500));
    pty.type_in(b"exit 7\r");
    let code = pty.wait(&mut child.0, &mut shown, Duration::from_secs(20));
    assert_eq!(code, Some(7), "{}", String::from_utf8_lossy(&shown));
}

/// The operator's terminal is raw while the sandbox runs and gets its modes back at every end the
/// supervisor survives: the workload's exit, `--timeout`, a SIGTERM to the supervisor.
#[test]
fn the_operators_terminal_gets_its_modes_back() {
    require_root!();
    let ends: [(&str, &[&str]); 3] = [
        ("exit", &["--", "sh", "-c", "sleep 1; exit 3"]),
        ("timeout", &["--timeout", "1s", "--", "sleep", "30"]),
        ("sigterm", &["--", "sleep", "30"]),
    ];
    for (end, args) in ends {
        let pty = Pty::open();
        let before = pty.modes();
        let mut argv = vec!["--log-level", "error"];
        argv.extend(args);
        let mut child = Running(pty.start(&supervisor_bin(), &argv, true));
        let mut shown = Vec::new();
        let start = std::time::Instant::now();
        while pty.modes() == before && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_ne!(pty.modes(), before, "{end}: the terminal never went raw");
        if end == "sigterm" {
            let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        }
        let code = pty.wait(&mut child.0, &mut shown, Duration::from_secs(20));
        let expected = match end {
            "exit" => 3,
            "timeout" => 124,
            _ => 128 + libc::SIGTERM,
        };
        assert_eq!(
            code,
            Some(expected),
            "{end}: {}",
            String::from_utf8_lossy(&shown)
        );
        assert!(pty.modes() == before, "{end}: the terminal's modes changed");
    }
}

/// The end of input the operator types (Ctrl-D) reaches the workload as its end of file.
#[test]
fn the_end_of_input_reaches_the_workload() {
    require_root!();
    let pty = Pty::open();
    let mut child = Running(pty.start(
        &supervisor_bin(),
        &[
            "--log-level",
            "error",
            "--",
            "sh",
            "-c",
            "echo READY; cat; echo END-$?",
        ],
        true,
    ));
    let mut shown = Vec::new();
    assert!(pty.expect(&mut shown, "READY", Duration::from_secs(20)));
    pty.type_in(b"hello\r");
    assert!(pty.expect(&mut shown, "hello", Duration::from_secs(10)));
    pty.type_in(b"\x04");
    let code = pty.wait(&mut child.0, &mut shown, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&shown);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("END-0"), "{text}");
}

/// An operator's terminal that takes nothing (a stalled connection, a terminal nobody drains)
/// while the workload floods it: the supervisor never blocks on it, and `--timeout` still ends the
/// run (before, the supervisor blocked in a write to the terminal and waited forever).
#[test]
fn a_terminal_that_is_not_drained_does_not_stop_the_timeout() {
    require_root!();
    let pty = Pty::open();
    let mut child = Running(pty.start(
        &supervisor_bin(),
        &[
            "--log-level",
            "error",
            "--timeout",
            "1",
            "--kill-after",
            "1",
            "--",
            "sh",
            "-c",
            "trap '' TERM; yes",
        ],
        true,
    ));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the supervisor blocked on a terminal nobody drains"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(124));
}

/// The end of a large output reaches a terminal drained slowly (one read of 4 KiB every few
/// milliseconds): the relay's buffer is full when the workload exits, and the sandbox's pty still
/// holds what it wrote last. (The relay took the hang-up reported while it was not reading the
/// pty for the end of the output, and dropped up to the pty's buffer: about half of such runs lost
/// their last thousands of lines.)
#[test]
fn the_end_of_a_large_output_reaches_a_slowly_drained_terminal() {
    require_root!();
    for pause in [1, 2, 5, 2, 1] {
        let pty = Pty::open();
        let mut child = Running(pty.start(
            &supervisor_bin(),
            &["--log-level", "error", "--", "seq", "1", "100000"],
            true,
        ));
        let mut master = std::fs::File::from(pty.master.try_clone().unwrap());
        let mut shown = Vec::new();
        let mut buffer = [0u8; 4096];
        let start = std::time::Instant::now();
        let status = loop {
            if let Ok(n @ 1..) = master.read(&mut buffer) {
                shown.extend_from_slice(&buffer[..n]);
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the run did not end"
            );
            std::thread::sleep(Duration::from_millis(pause));
        };
        let code = pty.wait(&mut child.0, &mut shown, Duration::from_secs(5));
        assert_eq!((status.code(), code), (Some(0), Some(0)));
        let text = String::from_utf8_lossy(&shown);
        let lines: Vec<&str> = text.split("\r\n").filter(|line| !line.is_empty()).collect();
        let tail = &text[text.len().saturating_sub(200)..];
        assert_eq!(lines.len(), 100_000, "pause {pause} ms: {tail}");
        assert_eq!(lines.last(), Some(&"100000"), "pause {pause} ms: {tail}");
    }
}

/// Everything the workload writes reaches the operator's terminal whole and in order: far more
/// than one read of the sandbox's pty (4 KiB) and than the relay's buffer (64 KiB), to a terminal
/// drained slowly enough that the relay's buffer fills and waits.
#[test]
fn a_large_output_reaches_the_operators_terminal_whole_and_in_order() {
    require_root!();
    let pty = Pty::open();
    let (code, text) = supervised(&pty, &["--", "seq", "1", "100000"]);
    let tail = &text[text.len().saturating_sub(500)..];
    assert_eq!(code, Some(0), "{tail}");
    let lines: Vec<&str> = text.split("\r\n").filter(|line| !line.is_empty()).collect();
    let expected: Vec<String> = (1..=100_000).map(|n| n.to_string()).collect();
    assert_eq!(lines.len(), expected.len(), "{tail}");
    let first_wrong = lines.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_wrong, None, "{tail}");
}
