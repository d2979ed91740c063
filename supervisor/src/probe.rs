//! `sandbox-supervisor probe`: try every step in a throwaway child and say what a run would do.
//!
//! The child enters a network namespace, installs the prelude, drops privileges (with `--user`),
//! sets no_new_privs and installs the workload filter, in the order of a real run, and reports
//! each result; the parent asks the configured handler about each refusal (without the WARN a run
//! would log). Nothing is changed in the calling process except loading the plugin.

use std::io::{Read, Write};

use nix::errno::Errno;
use nix::unistd::ForkResult;
use serde::{Deserialize, Serialize};

use crate::exit;
use crate::failure::{failure_handler, judge, FailureReport, Refused, SandboxFailureKind};
use crate::run::{install_prelude, PreludeError, SupervisorError};

/// What `probe` needs.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// `--handler-plugin`.
    pub handler_plugin: Option<std::path::PathBuf>,
    /// `--handler-config`.
    pub handler_config: Option<std::path::PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--handler-timeout`.
    pub handler_timeout: Option<std::time::Duration>,
    /// `--user`.
    pub user: Option<String>,
}

/// What the host did with one step in the throwaway child.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attempt {
    step: String,
    allowed: bool,
    syscall: Option<String>,
    errno: Option<i32>,
}

/// One row of the answer.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRow {
    /// The step.
    pub step: String,
    /// `allowed`, `refused` or `not-requested`.
    pub host: &'static str,
    /// The refused call.
    pub syscall: Option<String>,
    /// Its errno name.
    pub errno_name: Option<String>,
    /// What a run would do: `enforced`, `tolerated`, `aborted`, `not-requested`.
    pub decision: &'static str,
    /// Who decided about a refusal.
    pub decider: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeAnswer {
    /// Schema version of this document.
    pub version: u32,
    /// The handler a run would use.
    pub handler: String,
    /// Environment clues.
    pub environment: crate::context::FailureContext,
    /// One row per step, in boot order.
    pub steps: Vec<ProbeRow>,
    /// Whether a real run would boot.
    pub boots: bool,
    /// The exit code a real run would stop with, when it would not boot.
    pub would_exit: Option<i32>,
}

/// Runs the probe.
pub fn probe(options: &ProbeOptions) -> Result<ProbeAnswer, SupervisorError> {
    if let Some(path) = &options.handler_plugin {
        crate::run::register_plugin(
            path,
            options.handler_config.as_deref(),
            options.handler_plugin_sha256,
            options.handler_timeout,
        )?;
    }
    let identity = crate::run::resolve_identity(options.user.as_deref())?;
    let prelude = crate::seccomp::compile_prelude()?;
    let workload = crate::seccomp::compile_workload(None)?;
    let attempts = attempt_in_child(&prelude, &workload, identity.as_ref())?;

    let handler = failure_handler();
    let context = crate::context::detect();
    let mut steps = Vec::new();
    let mut would_exit = None;
    for attempt in attempts {
        let kind = SandboxFailureKind::from_name(&attempt.step);
        let errno_name = attempt.errno.map(crate::failure::errno_name);
        let (host, decision, decider) = match (attempt.allowed, kind) {
            (true, _) => ("allowed", "enforced", None),
            (false, None) if attempt.syscall.is_none() => ("not-requested", "not-requested", None),
            // The privilege drop: never tolerable.
            (false, None) => {
                would_exit.get_or_insert(exit::PRIVILEGE_DROP);
                ("refused", "aborted", Some("never tolerable".to_owned()))
            }
            (false, Some(kind)) => {
                let report = FailureReport::new(
                    kind,
                    attempt.syscall.clone().unwrap_or_default(),
                    attempt.errno.unwrap_or(0),
                    "refused in the probe child",
                )
                .with_context(context.clone());
                match judge(handler, report) {
                    Ok(tolerated) => ("refused", "tolerated", Some(tolerated.decider)),
                    Err(refused) => {
                        let code = SupervisorError::Refused(refused.clone()).exit_code();
                        would_exit.get_or_insert(code);
                        let decider = match refused {
                            Refused::Aborted { decider, .. }
                            | Refused::Undeclared { decider, .. } => decider,
                            Refused::HandlerFailed { failure, .. } => failure.decider,
                        };
                        ("refused", "aborted", Some(decider))
                    }
                }
            }
        };
        steps.push(ProbeRow {
            step: attempt.step,
            host,
            syscall: attempt.syscall,
            errno_name,
            decision,
            decider,
        });
    }
    Ok(ProbeAnswer {
        version: 1,
        handler: handler.decider(),
        environment: context,
        boots: would_exit.is_none(),
        would_exit,
        steps,
    })
}

impl ProbeAnswer {
    /// The answer as a table for people.
    pub fn table(&self) -> String {
        let mut out = format!("handler: {}\n", self.handler);
        out.push_str(&format!(
            "{:<20} {:<14} {:<36} {:<8} {:<14} {}\n",
            "STEP", "HOST", "CALL", "ERRNO", "DECISION", "DECIDER"
        ));
        for row in &self.steps {
            out.push_str(&format!(
                "{:<20} {:<14} {:<36} {:<8} {:<14} {}\n",
                row.step,
                row.host,
                row.syscall.as_deref().unwrap_or("-"),
                row.errno_name.as_deref().unwrap_or("-"),
                row.decision,
                row.decider.as_deref().unwrap_or("-"),
            ));
        }
        match self.would_exit {
            None => out.push_str("result: a run would boot\n"),
            Some(code) => {
                out.push_str(&format!("result: a run would stop with exit code {code}\n"))
            }
        }
        out
    }

    /// The answer as a JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the answer serializes")
    }
}

/// Forks a child that tries each step and writes its attempts as JSON to a pipe.
fn attempt_in_child(
    prelude: &seccompiler::BpfProgram,
    workload: &crate::seccomp::WorkloadFilter,
    identity: Option<&crate::identity::Identity>,
) -> Result<Vec<Attempt>, SupervisorError> {
    let threads = crate::plugin::thread_count();
    if threads != 1 {
        return Err(SupervisorError::Threads(threads));
    }
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| {
            crate::spawn::SpawnError {
                what: "create the probe pipe",
                source,
            }
        })?;
    let mut scratch = identity.map(crate::identity::DropScratch::new);
    // SAFETY: the process is single-threaded (checked above), so the child is a complete copy with
    // every lock free; the child ends with `_exit` and never returns into the caller.
    match unsafe { nix::unistd::fork() }.map_err(|source| crate::spawn::SpawnError {
        what: "fork",
        source,
    })? {
        ForkResult::Child => {
            drop(read_end);
            let attempts = attempts(prelude, workload, identity, scratch.as_mut());
            let text = serde_json::to_vec(&attempts).unwrap_or_default();
            let mut pipe = std::fs::File::from(write_end);
            let _ = pipe.write_all(&text);
            // SAFETY: `_exit` ends the throwaway child without running the parent's cleanup.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut text = Vec::new();
            let read = std::fs::File::from(read_end).read_to_end(&mut text);
            while let Err(Errno::EINTR) = nix::sys::wait::waitpid(child, None) {}
            read.map_err(|err| {
                SupervisorError::ChildVerify(format!("failed to read the probe child: {err}"))
            })?;
            serde_json::from_slice(&text).map_err(|err| {
                SupervisorError::ChildVerify(format!("the probe child said nothing usable: {err}"))
            })
        }
    }
}

/// The child's side: the steps of a run, each tried whatever happened to the previous one.
fn attempts(
    prelude: &seccompiler::BpfProgram,
    workload: &crate::seccomp::WorkloadFilter,
    identity: Option<&crate::identity::Identity>,
    scratch: Option<&mut crate::identity::DropScratch>,
) -> Vec<Attempt> {
    let attempt = |step: &str, result: Result<(), (String, Errno)>| match result {
        Ok(()) => Attempt {
            step: step.to_owned(),
            allowed: true,
            syscall: None,
            errno: None,
        },
        Err((syscall, errno)) => Attempt {
            step: step.to_owned(),
            allowed: false,
            syscall: Some(syscall),
            errno: Some(errno as i32),
        },
    };
    let netns = match crate::netns::enter() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refusal)) => Err((refusal.syscall.to_owned(), refusal.errno)),
        Err(verify) => Err((format!("verification: {verify}"), Errno::UnknownErrno)),
    };
    let prelude = match install_prelude(prelude) {
        Ok(_) => Ok(()),
        Err(PreludeError::Refused(report)) => Err((report.syscall, Errno::from_raw(report.errno))),
        Err(PreludeError::Verify(mode)) => Err((
            format!("verification: PR_GET_SECCOMP is {mode}"),
            Errno::UnknownErrno,
        )),
    };
    let drop = match (identity, scratch) {
        (Some(identity), Some(scratch)) => Some(
            crate::identity::drop_to(identity, scratch)
                .map_err(|(stage, errno)| (stage.syscall().to_owned(), errno)),
        ),
        _ => None,
    };
    let filter = crate::seccomp::set_no_new_privs()
        .map_err(|errno| ("prctl(PR_SET_NO_NEW_PRIVS)".to_owned(), errno))
        .and_then(|()| {
            workload.programs.iter().try_for_each(|program| {
                crate::seccomp::install(program)
                    .map_err(|errno| ("seccomp(SECCOMP_SET_MODE_FILTER)".to_owned(), errno))
            })
        });
    let mut attempts = vec![
        attempt("network-namespace", netns),
        attempt("supervisor-seccomp", prelude),
        attempt("workload-seccomp", filter),
    ];
    attempts.push(match drop {
        Some(result) => attempt("privilege-drop", result),
        None => Attempt {
            step: "privilege-drop".to_owned(),
            allowed: false,
            syscall: None,
            errno: None,
        },
    });
    attempts
}
