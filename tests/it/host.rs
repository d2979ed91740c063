//! The tests on a host unlike the CI machines', which boot without systemd. A systemd host has
//! `/dev/mqueue` mounted (systemd's dev-mqueue.mount), `/run/user/0` and `/run/user/1000`
//! (logind), and every mount shared (systemd's default propagation). `private-host --systemd`
//! imitates one in a mount and IPC namespace of the test's own (the real host is untouched), and
//! the tests whose outcome depends on the host's mounts, IPC or propagation run again there.

use std::process::{Command, Stdio};

use sandbox_tests::{helper_bin, output_of, require_root, Outcome};

/// The modules whose tests start the supervisor with its mount namespace, as root or nobody, or
/// inside an outer runtime that binds the host's root (runc): those a host's mounts can change.
const AFFECTED: [&str; 9] = [
    "capabilities::",
    "containment::",
    "fail_closed::",
    "hardening::",
    "job_control::",
    "logs::",
    "operator::",
    "plugin_loading::",
    "refusals::",
];

#[test]
fn the_affected_tests_pass_on_a_systemd_host() {
    require_root!();
    let systemd = ["--systemd"];
    // The imitation is what it claims.
    let host = Outcome::from(output_of(
        Command::new(helper_bin("private-host"))
            .args(systemd)
            .args(["--", "sh", "-c"])
            .arg(
                "grep -E ' /dev/mqueue | /run/user/(0|1000) ' /proc/self/mountinfo; \
                 findmnt -no PROPAGATION /",
            )
            .stdin(Stdio::null()),
    ));
    assert_eq!(host.code, 0, "{}", host.stderr);
    for mount in [" /dev/mqueue ", " /run/user/0 ", " /run/user/1000 "] {
        assert!(host.stdout.contains(mount), "{mount}:\n{}", host.stdout);
    }
    assert!(
        host.stdout.trim_end().ends_with("shared"),
        "{}",
        host.stdout
    );

    let passed = sandbox_tests::rerun_on_imitated_host(&systemd, &AFFECTED);
    assert_eq!(
        passed,
        sandbox_tests::runnable_tests(&AFFECTED),
        "every affected test passed on the systemd host"
    );
}
