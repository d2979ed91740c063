//! `sandbox-supervisor simulate`: ask a plugin about made-up refusals, without root and without
//! hardening anything.
//!
//! The plugin is loaded through the real loader (trust checks, ABI checks, deadline, `init`,
//! `tolerates`) and asked through the real glue (a forked child per call, the host's floor:
//! undeclared kinds, out-of-range verdicts, panics), exactly as in a run. Only the refusals and
//! the environment context are made up: each `KIND=ERRNO` becomes one report, with a context that
//! starts as a plain host (no gVisor, no container clue, one thread, no capabilities, the caller's
//! uid) and that `--context KEY=VALUE` changes. Vendors run it in CI to pin their plugin's
//! decisions.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::exit::ExitCode;
use crate::handler::context::FailureContext;
use crate::handler::plugin::{PluginRequest, PluginSetupError};
use crate::handler::{ask, FailureReport, SandboxFailureHandler, SandboxFailureKind};

/// What to simulate; the library's form of `simulate`'s command line.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// `--handler-plugin`.
    pub handler_plugin: PathBuf,
    /// `--handler-config`.
    pub handler_config: Option<PathBuf>,
    /// `--handler-plugin-sha256`.
    pub handler_plugin_sha256: Option<[u8; 32]>,
    /// `--handler-timeout`.
    pub handler_timeout: Option<Duration>,
    /// `KIND=ERRNO[,KIND=ERRNO...]` arguments, as given.
    pub refusals: Vec<String>,
    /// `--context KEY=VALUE` arguments, as given.
    pub context: Vec<String>,
}

/// `simulate` could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// A `KIND=ERRNO` argument is malformed.
    #[error("invalid refusal {given:?}: {why} (expected KIND=ERRNO, for example network-namespace=EPERM)")]
    Refusal {
        /// The argument.
        given: String,
        /// What is wrong.
        why: String,
    },
    /// A `--context KEY=VALUE` argument is malformed.
    #[error("invalid --context {given:?}: {why}")]
    Context {
        /// The argument.
        given: String,
        /// What is wrong.
        why: String,
    },
    /// `--handler-config` could not be read.
    #[error(transparent)]
    Config(Box<crate::error::SupervisorError>),
    /// The plugin could not be loaded or initialised.
    #[error(transparent)]
    Plugin(#[from] PluginSetupError),
}

impl SimulateError {
    /// The documented exit code (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            SimulateError::Refusal { .. } | SimulateError::Context { .. } => ExitCode::Usage.code(),
            SimulateError::Config(err) => err.exit_code(),
            SimulateError::Plugin(PluginSetupError::Load(_)) => ExitCode::PluginLoad.code(),
            SimulateError::Plugin(PluginSetupError::Failure(_)) => ExitCode::PluginFailure.code(),
        }
    }
}

/// One simulated decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimulatedDecision {
    /// The kind's name.
    pub kind: String,
    /// The made-up errno.
    pub errno: i32,
    /// Its name.
    pub errno_name: String,
    /// `tolerated` or `aborted`.
    pub decision: &'static str,
    /// Who decided (`plugin:NAME@VERSION`).
    pub decider: String,
    /// The plugin's reason, if it gave one.
    pub reason: Option<String>,
    /// The line a run would print for an abort (`null` when tolerated).
    pub error: Option<String>,
    /// The exit code a run would stop with (`null` when tolerated).
    pub would_exit: Option<i32>,
}

/// What `simulate` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Simulation {
    /// Schema version of this document.
    pub version: u32,
    /// The handler, in the report's shape: `{"decider": ..., "declared": [...]}`.
    pub handler: Value,
    /// The made-up context every report carried.
    pub context: FailureContext,
    /// One decision per `KIND=ERRNO`, in order.
    pub decisions: Vec<SimulatedDecision>,
}

/// The system call a simulated refusal names: the one a run's refusal of that step names first
/// (the step catalogue's `first_call`).
fn simulated_syscall(kind: SandboxFailureKind) -> &'static str {
    crate::steps::Step::of_kind(kind).map_or("unknown", |step| step.info().first_call.name())
}

/// Parses `KIND=ERRNO[,KIND=ERRNO...]` (ERRNO a name such as `EPERM` or a number).
pub fn parse_refusals(given: &[String]) -> Result<Vec<(SandboxFailureKind, i32)>, SimulateError> {
    let mut refusals = Vec::new();
    for item in given.iter().flat_map(|arg| arg.split(',')) {
        let error = |why: String| SimulateError::Refusal {
            given: item.to_owned(),
            why,
        };
        let (kind, errno) = item
            .split_once('=')
            .ok_or_else(|| error("no '='".to_owned()))?;
        let kind = SandboxFailureKind::from_name(kind.trim()).ok_or_else(|| {
            error(format!(
                "unknown kind {:?} (known: {})",
                kind.trim(),
                SandboxFailureKind::ALL.map(|kind| kind.name()).join(", ")
            ))
        })?;
        let errno = errno.trim();
        let errno = match errno.parse::<i32>() {
            Ok(number) if number > 0 => number,
            Ok(number) => return Err(error(format!("errno {number} is not positive"))),
            Err(_) => sandbox_plugin_api::errno::from_name(errno)
                .ok_or_else(|| error(format!("unknown errno name {errno:?}")))?,
        };
        refusals.push((kind, errno));
    }
    if refusals.is_empty() {
        return Err(SimulateError::Refusal {
            given: String::new(),
            why: "no refusal given".to_owned(),
        });
    }
    Ok(refusals)
}

/// The made-up context: a plain host (with the real supervisor and plugin API versions), changed by `KEY=VALUE` items (`gvisor=true`,
/// `container=/.dockerenv` (empty for none), `threads=N`, `effective_capabilities=HEX`, `uid=N`,
/// `supervisor_version=V`, `plugin_api_version=V`, `outer_boundary=gvisor|container|vm`).
pub fn parse_context(given: &[String]) -> Result<FailureContext, SimulateError> {
    let mut context = FailureContext::default();
    context.threads = 1;
    context.uid = nix::unistd::getuid().as_raw();
    context.supervisor_version = Some(env!("CARGO_PKG_VERSION").to_owned());
    context.plugin_api_version = Some(sandbox_plugin_api::VERSION.to_owned());
    for item in given {
        let error = |why: String| SimulateError::Context {
            given: item.clone(),
            why,
        };
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| error("expected KEY=VALUE".to_owned()))?;
        let number = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| error(format!("{value:?} is not a number")))
        };
        match key {
            "gvisor" => {
                context.gvisor = value
                    .parse()
                    .map_err(|_| error("expected true or false".to_owned()))?;
            }
            "container" => context.container = (!value.is_empty()).then(|| value.to_owned()),
            "threads" => context.threads = number(value)? as usize,
            "uid" => {
                context.uid = u32::try_from(number(value)?)
                    .map_err(|_| error(format!("{value} is not a uid")))?;
            }
            "effective_capabilities" => {
                let hex = value.trim_start_matches("0x");
                context.effective_capabilities = u64::from_str_radix(hex, 16)
                    .map_err(|_| error(format!("{value:?} is not a hexadecimal mask")))?;
            }
            "supervisor_version" => context.supervisor_version = Some(value.to_owned()),
            "plugin_api_version" => context.plugin_api_version = Some(value.to_owned()),
            "outer_boundary" => {
                context.outer_boundary = match value {
                    "" => None,
                    _ => Some(
                        crate::handler::context::OuterBoundary::from_name(value)
                            .ok_or_else(|| error("expected gvisor, container or vm".to_owned()))?
                            .name()
                            .to_owned(),
                    ),
                }
            }
            other => {
                return Err(error(format!(
                    "unknown key {other:?} (known: gvisor, container, threads, uid, \
                     effective_capabilities, supervisor_version, plugin_api_version, outer_boundary)"
                )))
            }
        }
    }
    Ok(context)
}

/// Loads the plugin and asks it about every refusal in `options`.
pub fn simulate(options: &SimulateOptions) -> Result<Simulation, SimulateError> {
    let refusals = parse_refusals(&options.refusals)?;
    let context = parse_context(&options.context)?;
    let config = options
        .handler_config
        .as_deref()
        .map(crate::boot::run::read_config)
        .transpose()
        .map_err(|err| SimulateError::Config(Box::new(err)))?;
    let handler = crate::handler::plugin::load(&PluginRequest {
        path: options.handler_plugin.clone(),
        sha256: options.handler_plugin_sha256,
        digest: false,
        config,
        timeout: options
            .handler_timeout
            .unwrap_or(crate::handler::plugin::DEFAULT_TIMEOUT),
    })?;
    let decisions = refusals
        .into_iter()
        .map(|(kind, errno)| {
            let report =
                FailureReport::new(kind, simulated_syscall(kind), errno, "simulated refusal")
                    .with_context(context.clone());
            simulate_one(&handler, report)
        })
        .collect();
    Ok(Simulation {
        version: 1,
        handler: json!({
            "decider": handler.decider(),
            "declared": handler
                .declared()
                .iter()
                .map(|kind| kind.name())
                .collect::<Vec<_>>(),
        }),
        context,
        decisions,
    })
}

fn simulate_one(handler: &dyn SandboxFailureHandler, report: FailureReport) -> SimulatedDecision {
    let kind = report.kind.name().to_owned();
    let errno = report.errno;
    let errno_name = report.errno_name.clone();
    match ask(handler, report) {
        Ok(tolerated) => SimulatedDecision {
            kind,
            errno,
            errno_name,
            decision: "tolerated",
            decider: tolerated.decider.to_string(),
            reason: tolerated.reason,
            error: None,
            would_exit: None,
        },
        Err(refused) => {
            let would_exit =
                crate::error::SupervisorError::NotTolerated(refused.clone()).exit_code();
            let reason = refused.reason().map(str::to_owned);
            let decider = refused.decider().to_string();
            SimulatedDecision {
                kind,
                errno,
                errno_name,
                decision: "aborted",
                decider,
                reason,
                error: Some(crate::exit::one_line(&refused)),
                would_exit: Some(would_exit),
            }
        }
    }
}

impl Simulation {
    /// The exit code of `simulate`: the code a run would stop with when the plugin itself failed
    /// on a refusal (a panic, a missed deadline, a verdict out of range or for an undeclared
    /// kind: [`ExitCode::PluginFailure`]), else 0, whatever the decisions. An abort the
    /// plugin decided is an answer, not a failure.
    pub fn exit_code(&self) -> i32 {
        self.decisions
            .iter()
            .find_map(|row| {
                row.would_exit
                    .filter(|code| *code == ExitCode::PluginFailure.code())
            })
            .unwrap_or(0)
    }

    /// The simulation as one JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The simulation as a text table.
    pub fn table(&self) -> String {
        let mut text = format!(
            "handler: {}\ndeclared: [{}]\ncontext: {}\n",
            self.handler["decider"].as_str().unwrap_or_default(),
            self.handler["declared"]
                .as_array()
                .map(|kinds| kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            serde_json::to_string(&self.context).unwrap_or_default(),
        );
        text.push_str(&format!(
            "{:<20} {:<10} {:<10} {:<4} REASON\n",
            "KIND", "ERRNO", "DECISION", "EXIT"
        ));
        for row in &self.decisions {
            let reason = match (&row.reason, &row.error) {
                (Some(reason), _) => reason.clone(),
                (None, Some(error)) if row.decision == "aborted" => error.clone(),
                _ => "-".to_owned(),
            };
            text.push_str(&format!(
                "{:<20} {:<10} {:<10} {:<4} {}\n",
                row.kind,
                row.errno_name,
                row.decision,
                row.would_exit
                    .map_or("-".to_owned(), |code| code.to_string()),
                reason
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_parse_names_numbers_and_lists() {
        let parsed = parse_refusals(&[
            "network-namespace=EPERM,workload-seccomp=22".to_owned(),
            "pid-namespace=ENOSYS".to_owned(),
        ])
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                (SandboxFailureKind::NetworkNamespace, 1),
                (SandboxFailureKind::WorkloadSeccomp, 22),
                (SandboxFailureKind::PidNamespace, 38),
            ]
        );
        assert!(parse_refusals(&["bogus=EPERM".to_owned()]).is_err());
        assert!(parse_refusals(&["network-namespace=EBOGUS".to_owned()]).is_err());
        assert!(parse_refusals(&["network-namespace".to_owned()]).is_err());
        assert!(parse_refusals(&[]).is_err());
    }

    #[test]
    fn context_starts_as_a_plain_host() {
        let context = parse_context(&[]).unwrap();
        assert!(!context.gvisor);
        assert_eq!(context.container, None);
        let context =
            parse_context(&["gvisor=true".to_owned(), "container=/.dockerenv".to_owned()]).unwrap();
        assert!(context.gvisor);
        assert_eq!(context.container.as_deref(), Some("/.dockerenv"));
        assert!(parse_context(&["colour=blue".to_owned()]).is_err());
    }
}
