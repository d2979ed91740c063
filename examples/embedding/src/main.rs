//! Embedding the supervisor in a program of your own: register a failure handler written in Rust
//! with `set_failure_handler` at process start, then call `run`.
//!
//! `embedded-supervisor COMMAND [ARGS...]` runs COMMAND hardened; this handler tolerates only
//! refused namespaces, for the errno a cap-dropped pod gives (`EPERM`), and the run never takes the
//! user-namespace route (pods commonly forbid user namespaces).

use sandbox_supervisor::{
    run, set_failure_handler, FailureReport, HandlerFailure, RunOptions, SandboxFailureHandler,
    SandboxFailureKind, Verdict,
};

struct PodHandler;

impl SandboxFailureHandler for PodHandler {
    fn decider(&self) -> String {
        "embedded:pod-handler".to_owned()
    }

    fn declared(&self) -> Vec<SandboxFailureKind> {
        vec![
            SandboxFailureKind::NetworkNamespace,
            SandboxFailureKind::PidNamespace,
            SandboxFailureKind::MountNamespace,
        ]
    }

    fn handle(&self, report: &FailureReport) -> Result<Verdict, HandlerFailure> {
        let namespace = matches!(
            report.kind,
            SandboxFailureKind::NetworkNamespace
                | SandboxFailureKind::PidNamespace
                | SandboxFailureKind::MountNamespace
        );
        Ok(if namespace && report.errno_name == "EPERM" {
            Verdict::Tolerate
        } else {
            Verdict::Abort
        })
    }
}

fn main() {
    // WARN lines for tolerated refusals go through tracing; show them on standard error.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Once, first thing, before any hardening step can be refused.
    set_failure_handler(Box::new(PodHandler)).expect("the first registration succeeds");

    let command: Vec<_> = std::env::args_os().skip(1).collect();
    if command.is_empty() {
        eprintln!("usage: embedded-supervisor COMMAND [ARGS...]");
        std::process::exit(2);
    }
    match run(RunOptions {
        command,
        no_userns: true,
        ..RunOptions::default()
    }) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            sandbox_supervisor::exit::print_error(&err);
            std::process::exit(err.exit_code());
        }
    }
}
