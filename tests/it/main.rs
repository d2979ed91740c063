//! The integration tests: the real binary, the real plugins, real kernel refusals, one module per
//! subject, all in this one test binary (`cargo test -p sandbox-tests --test it`; a module's tests
//! alone: `cargo test -p sandbox-tests --test it -- containment::`). The helpers they share are
//! the `sandbox-tests` library (tests/src).
//!
//! No test here changes its own process in a way another test could notice (credentials,
//! namespaces, seccomp filters, the environment, signal dispositions): whatever must be changed is
//! changed in a child (the supervisor, a helper binary, a forked probe that ends with `_exit`).
//! That is what lets them share one process.
//!
//! The package test (tests/package.rs) is a binary of its own although nothing of it is
//! process-wide either: it spends minutes in a release build (`cargo build --release`, both
//! cores), which beside the timing-bound tests here (a sandbox gone within 1 s of its
//! supervisor's death, a stop seen within 300 ms) would make them flaky, and it is the one test a
//! contributor runs alone (`cargo test -p sandbox-tests --test package`).

mod bounds;
mod c_plugin;
mod capabilities;
mod compatibility;
mod config;
mod containment;
mod correlation;
mod docker;
mod docs;
mod fail_closed;
mod faults;
mod filesystem;
mod filesystem_options;
mod filter_parity;
mod findings;
mod hardening;
mod host;
mod job_control;
mod kubernetes;
mod logs;
mod operator;
mod plugin_loading;
mod refusals;
mod release;
mod seccomp_filter;
mod seccomp_profiles;
mod siem;
mod simulate;
mod structure;
mod terminal;
mod uids;
