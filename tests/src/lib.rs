//! The helpers every integration test shares (tests/it, tests/package.rs), in one place: find the
//! built binary and plugins, run the supervisor the way an operator would (as root, as nobody,
//! under an outer seccomp profile or runtime), collect what can be seen from outside, interpret
//! the seccomp programs, and imitate other hosts.
//!
//! The binary and the plugin shared objects are built by `cargo build --workspace`, which the
//! README's test command runs before `cargo test`.

mod artifacts;
/// The one classic-BPF interpreter of the tests: runs a seccomp program on one call as the
/// kernel does, and says what it answered and how it got there (instructions run, comparisons
/// made, `seccomp_data` offsets loaded). The supervisor's unit tests include the same file. Only
/// the instructions the supervisor's programs use are known: another one, or a jump out of the
/// program, fails the test.
pub mod bpf;
mod host;
mod launch;
mod observe;
pub mod outer;
mod privilege;
pub mod python;
/// An operator's terminal (a pseudo-terminal pair) to run the supervisor from.
pub mod terminal;

pub use artifacts::*;
pub use host::*;
pub use launch::*;
pub use observe::*;
pub use privilege::*;
