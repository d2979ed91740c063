//! The workload filter against Docker's default profile, end to end (issue 10, "Filter parity"):
//! the real binary, as root, the calls tried by the workload itself.
//!
//! These tests describe the filter of the seccomp branch (mount_setattr, SOCK_PACKET, the
//! keyrings, ENOSYS above the known range, operator profiles stacked on the built-in filter). They
//! fail until that branch is merged; the lead enables them then by removing the `#[ignore]`s.
//!
//! Each call is also tried in the same sandbox with the filter turned off
//! (`--disable-step workload-seccomp`): a call the filter must deny has to answer differently
//! there, so the answer asserted is the filter's, not the kernel's or the missing capabilities'.

use sandbox_tests::{helper_bin, require_root, run, scratch, status_field, write_file};

/// `NAME RESULT` lines of `escape-probe filter`, run with `flags`.
fn probe(flags: &[&str]) -> Vec<(String, String)> {
    let probe = helper_bin("escape-probe");
    let mut args = flags.to_vec();
    args.extend(["--", probe.to_str().unwrap(), "filter"]);
    let outcome = run(&args);
    assert_eq!(outcome.code, 0, "{flags:?}: {}", outcome.stderr);
    let results: Vec<(String, String)> = outcome
        .stdout
        .lines()
        .map(|line| {
            let (name, result) = line.rsplit_once(' ').unwrap();
            (name.to_owned(), result.to_owned())
        })
        .collect();
    assert_eq!(results.len(), 15, "{}", outcome.stdout);
    results
}

/// What the filter must answer for each call of `escape-probe filter`.
fn expected(name: &str) -> &'static str {
    match name {
        "above-known" | "clone3" => "ENOSYS",
        _ => "EPERM",
    }
}

/// Calls that the sandbox refuses without the filter too: the workload has no capabilities, and
/// a packet socket needs CAP_NET_RAW. The filter's answer is asserted, the difference is not.
const REFUSED_WITHOUT_THE_FILTER: [&str; 1] = ["socket(AF_INET,SOCK_PACKET)"];

fn assert_denied(flags: &[&str]) {
    let mut unfiltered = flags.to_vec();
    unfiltered.extend(["--disable-step", "workload-seccomp"]);
    let with = probe(flags);
    let without = probe(&unfiltered);
    let mut failures = Vec::new();
    for ((name, with), (_, without)) in with.iter().zip(&without) {
        let filtered = with == expected(name);
        let by_the_filter = with != without || REFUSED_WITHOUT_THE_FILTER.contains(&name.as_str());
        if !filtered || !by_the_filter {
            failures.push(format!(
                "{name}: {with} under the filter, {without} without it; expected {}",
                expected(name)
            ));
        }
    }
    assert!(failures.is_empty(), "{flags:?}:\n{}", failures.join("\n"));
}

#[test]
fn the_workload_filter_denies_what_dockers_default_profile_denies() {
    require_root!();
    // As nobody (a root caller's default) and as uid 0 without capabilities.
    assert_denied(&[]);
    assert_denied(&["--allow-root", "--user", "0"]);
}

#[test]
fn a_profile_that_allows_everything_is_stacked_on_the_builtin_filter() {
    require_root!();
    let dir = scratch();
    let profile = write_file(
        dir.path(),
        "allow-all.json",
        r#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 1}, "filter": []}}"#,
    );
    let profile = profile.to_str().unwrap();
    // Every built-in denial holds under it: user namespaces, memfd_create, clone3 (the head is
    // in front of the profile too), and the rest of Docker's list.
    assert_denied(&["--seccomp-profile", profile]);

    // The built-in program and the profile's: the kernel runs both, the strictest answer wins.
    let outcome = run(&[
        "--seccomp-profile",
        profile,
        "--",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(status_field(&outcome.stdout, "Seccomp_filters"), Some("2"));
}
