//! Running this test binary again on an imitated host (`private-host`).

use std::process::{Command, Stdio};

use crate::{helper_bin, output_of};

/// Set in a test process that runs on an imitated host (`private-host`), naming the imitation.
pub const IMITATED_HOST: &str = "SANDBOX_TESTS_IMITATED_HOST";

/// Runs this test binary again, on a host imitated by `private-host IMITATION...` (for instance
/// `--systemd`: /dev/mqueue mounted, /run/user/0 and /run/user/1000 present, every mount shared),
/// with the test harness's `args` (filters, `--skip NAME`). Returns how many tests passed there;
/// panics with the output when any failed.
pub fn rerun_on_imitated_host(imitation: &[&str], args: &[&str]) -> usize {
    let output = output_of(
        Command::new(helper_bin("private-host"))
            .args(imitation)
            .arg("--")
            .arg(std::env::current_exe().expect("current_exe"))
            .args(args)
            .env(IMITATED_HOST, imitation.join(" "))
            .stdin(Stdio::null()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "on the imitated host ({imitation:?}) the tests failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// How many tests of this test binary the harness's `args` select, ignored ones left out.
pub fn runnable_tests(args: &[&str]) -> usize {
    let count = |extra: &[&str]| {
        let output = Command::new(std::env::current_exe().expect("current_exe"))
            .arg("--list")
            .args(extra)
            .args(args)
            .output()
            .expect("list the tests");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.ends_with(": test"))
            .count()
    };
    count(&[]) - count(&["--ignored"])
}
