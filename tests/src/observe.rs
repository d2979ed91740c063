//! What the tests read from outside: `/proc` status fields, namespaces, files that appear, the
//! supervisor's state, reports, digests.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The hardening steps, by the names the report, the logs and `--disable-step` use, in the order
/// the supervisor takes them.
pub const STEPS: [&str; 9] = [
    "network-namespace",
    "pid-namespace",
    "mount-namespace",
    "session",
    "capabilities",
    "privilege-drop",
    "no-new-privs",
    "workload-seccomp",
    "supervisor-seccomp",
];

/// The five capability sets of a `/proc/*/status`.
pub const CAPABILITY_SETS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

/// A field of a `/proc/*/status` text (`Seccomp`, `NoNewPrivs`, ...).
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// This process's network namespace (`net:[N]`).
pub fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .expect("readlink /proc/self/ns/net")
        .display()
        .to_string()
}

/// Asserts that every capability set of the `/proc/*/status` text `status` is `mask` (16 hex
/// digits).
pub fn assert_capabilities(status: &str, mask: &str) {
    for set in CAPABILITY_SETS {
        assert_eq!(status_field(status, set), Some(mask), "{set} in\n{status}");
    }
}

/// Asserts that every capability set of the `/proc/*/status` text `status` is empty.
pub fn assert_no_capabilities(status: &str) {
    assert_capabilities(status, "0000000000000000");
}

/// Asserts that the real, effective, saved and file-system uids and gids of the `/proc/*/status`
/// text `status` are all `id`.
pub fn assert_ids(status: &str, id: u32) {
    let all = format!("{id}\t{id}\t{id}\t{id}");
    assert_eq!(status_field(status, "Uid"), Some(all.as_str()), "{status}");
    assert_eq!(status_field(status, "Gid"), Some(all.as_str()), "{status}");
}

/// Asserts that `status` (a `/proc/PID/status`) shows a uid allocated from `range`: every uid and
/// gid the same number, in the range, and no supplementary group. Returns the uid.
pub fn assert_allocated_ids(status: &str, range: std::ops::RangeInclusive<u32>) -> u32 {
    let uid: u32 = status_field(status, "Uid")
        .and_then(|ids| ids.split('\t').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no Uid in {status}"));
    assert!(range.contains(&uid), "uid {uid} not in {range:?}: {status}");
    assert_ids(status, uid);
    assert_eq!(status_field(status, "Groups"), Some(""), "{status}");
    uid
}

/// Waits (20 s at most) until `path` exists.
pub fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (10 s at most) until `pid` sleeps in `rt_sigtimedwait` (or, while it relays the
/// workload's output to a file, in `poll`/`ppoll`): the supervisor has reached its supervision
/// loop. (A signal that arrives earlier, while the boot still watches its signal descriptor, is
/// read there and stops the boot instead of reaching the workload.)
pub fn wait_until_supervising(pid: u32) {
    let start = Instant::now();
    let waiting =
        [libc::SYS_rt_sigtimedwait, libc::SYS_poll, libc::SYS_ppoll].map(|n| n.to_string());
    while std::fs::read_to_string(format!("/proc/{pid}/syscall")).map_or(true, |call| {
        !waiting
            .iter()
            .any(|number| call.split(' ').next() == Some(number.as_str()))
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the supervisor never waited for signals"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The SHA-256 digest of the file at `path`, in lowercase hex (`sha256sum`'s).
pub fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(output.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Asserts that `report` validates against the documented schema (docs/report.schema.json),
/// formats (date-time, uuid, ...) included.
pub fn validate_report(report: &serde_json::Value) {
    let path = crate::workspace().join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the report schema"))
            .expect("the schema is JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the documented schema is a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not validate: {errors:?}\n{report:#}"
    );
}
