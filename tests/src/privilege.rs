//! Tests that need root: skipped, saying why, unless `REQUIRE_PRIVILEGED_TESTS=1`.

use std::io::Write;

/// Skips the calling test unless it runs as root; with `REQUIRE_PRIVILEGED_TESTS=1` a missing
/// privilege fails the test instead.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            $crate::skip_or_fail(
                "needs root (to create namespaces, change ids and run as another user)",
            );
            return;
        }
    };
}

/// The name the test harness gives the test function `$name` of the calling module, for running
/// that one test again (`--exact`) in another process.
#[macro_export]
macro_rules! test_name {
    ($name:ident) => {
        match module_path!().split_once("::") {
            Some((_, module)) => format!("{module}::{}", stringify!($name)),
            None => stringify!($name).to_owned(),
        }
    };
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints why a test is skipped, or panics when privileged tests are required.
pub fn skip_or_fail(why: &str) {
    if std::env::var("REQUIRE_PRIVILEGED_TESTS").as_deref() == Ok("1") {
        panic!("REQUIRE_PRIVILEGED_TESTS=1 but this test {why}");
    }
    // Written to the real standard error, past the test harness's capture, so that a skip is
    // visible in a normal `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {}: this test {why}; run as root to include it",
        std::thread::current().name().unwrap_or("?")
    );
}

/// Whether `strace` is missing, said as [`skip_or_fail`] says it: the structural tests read a
/// boot's system calls from its trace.
pub fn strace_missing() -> bool {
    let missing = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err();
    if missing {
        skip_or_fail("strace is not installed");
    }
    missing
}
