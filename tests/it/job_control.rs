//! Job control: the workload runs in a session of its own, where the operator's terminal cannot
//! stop it, so a stop asked of the supervisor (Ctrl-Z sends SIGTSTP) must stop the whole sandbox,
//! and a continue continue it. Otherwise a "stopped" workload keeps running and reading the
//! terminal the operator types into.

use std::process::{Command, Stdio};
use std::time::Duration;

use sandbox_tests::{require_root, scratch, supervisor_bin};

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[test]
fn a_stopped_supervisor_stops_the_sandbox_and_a_continued_one_continues_it() {
    require_root!();
    let dir = scratch();
    let log = dir.path().join("ticks");
    let script = format!(
        "i=0; while [ $i -lt 30 ]; do echo $i >> '{}'; i=$((i+1)); sleep 0.05; done",
        log.display()
    );
    let mut child = Command::new(supervisor_bin())
        .args(["--log-level", "error", "--workspace"])
        .arg(dir.path())
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    while lines(&log) < 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTSTP).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        state.contains("State:\tT"),
        "the supervisor is not stopped:\n{state}"
    );
    let stopped_at = lines(&log);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        lines(&log),
        stopped_at,
        "the workload kept running while stopped"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        lines(&log),
        30,
        "the workload did not run to its end after the continue"
    );
}
