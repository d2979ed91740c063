//! `run`: the library's entry point. It prepares the inputs, drives the boot sequence
//! ([`crate::boot`]) with "decide and stop", releases the verified workload, writes the report
//! and supervises the sandbox until the workload ends.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::boot::{DecideAndStop, Prepared};
use crate::error::SupervisorError;
use crate::exit;
use crate::handler::plugin::PluginRequest;
use crate::handler::{set_failure_handler, SandboxFailureHandler};
use crate::options::RunOptions;
use crate::record::{Decider, HandlerRecord, HardeningReport, Outcome};
use crate::sandbox::Released;

/// Boots the sandbox and runs `options.command` in it; returns the workload's exit code (128+N when
/// signal N killed it).
///
/// Call it from a single-threaded process. It registers the plugin's handler when
/// `options.handler_plugin` is set; an embedder that registered its own handler leaves it unset.
/// With `options.report` set, the hardening report is written once the workload's `execve`
/// succeeded, or when the boot stops.
pub fn run(options: RunOptions) -> Result<i32, SupervisorError> {
    // The caller's descriptors are marked close-on-exec while the process has one thread (the
    // uid's scan opens and closes its own from the identity on); a failure stops the boot in
    // `start`, where the report records it.
    let inherited = close_inherited_on_exec();
    // The supervised signals are blocked first: a SIGTERM during the boot stops it cleanly (the
    // sandbox killed, the report written) instead of killing the supervisor half-way.
    let mask = crate::sandbox::supervise::block_signals().map_err(SupervisorError::Supervise)?;
    let signals = crate::sandbox::signal_fd()?;
    let mut options = options;
    let mut report = new_report(&options)?;
    let _span = enter_span(&report);
    let (identity, writers) = identity_and_writers(&options)?;
    let writer = open_sink(options.report.take(), &writers, |sink, source| {
        SupervisorError::ReportOpen { sink, source }
    })?;
    let mut findings = open_sink(options.findings.take(), &writers, |sink, source| {
        SupervisorError::FindingsOpen { sink, source }
    })?;
    // The plugin's digest is only for the records: a run that writes none does not hash it.
    let recorded = writer.is_some() || findings.is_some();
    let booted =
        inherited.and_then(|()| start(&options, identity, recorded, mask, &signals, &mut report));
    let result = match booted {
        Ok((sandbox, plan)) => {
            report.outcome = Outcome::Running;
            Ok((sandbox, plan))
        }
        Err(err) => {
            report.error = Some(exit::one_line(&err));
            if let Some(step) = err.unverified_step() {
                let record = report.step(step);
                record.decision = crate::record::Decision::Aborted;
                record.decider = Some(Decider::Verification);
            }
            report.finish(None);
            Err(err)
        }
    };
    if let Some(findings) = &mut findings {
        let found = findings_of(&report, result.as_ref().err());
        match crate::record::findings::write(&found, findings) {
            Ok(()) => {}
            Err(write_err) if result.is_err() => {
                tracing::error!("failed to write the findings: {write_err}")
            }
            Err(write_err) => {
                let (sandbox, plan) = result.expect("checked");
                let _ = nix::sys::signal::kill(sandbox.init, Signal::SIGKILL);
                crate::boot::teardown(&plan, &mut report);
                return Err(SupervisorError::Findings(write_err));
            }
        }
    }
    let mut writer = writer;
    if let Some(writer) = &mut writer {
        match report.write(writer) {
            Ok(()) => {}
            // The boot already failed: a report that cannot be written is only logged.
            Err(write_err) if result.is_err() => {
                tracing::error!("failed to write the hardening report: {write_err}")
            }
            Err(write_err) => {
                let (sandbox, plan) = result.expect("checked");
                let _ = nix::sys::signal::kill(sandbox.init, Signal::SIGKILL);
                crate::boot::teardown(&plan, &mut report);
                return Err(SupervisorError::Report(write_err));
            }
        }
    }
    let (mut sandbox, mut plan) = result?;
    let supervised = {
        // The operator's terminal, if any, is raw from here until the output is dropped, at the
        // end of this block: before the teardown, the report and the end line.
        let mut output = plan.take_output(sandbox.terminal.take());
        let group = plan.group();
        let bounds = crate::sandbox::supervise::Bounds {
            timeout: options.timeout,
            kill_after: options.kill_after,
            group: group.as_ref(),
        };
        crate::sandbox::supervise::supervise_bounded(sandbox, &bounds, &mut output)
            .map_err(SupervisorError::Supervise)
    };
    // The workload has been reaped: the steps that clean up do, and add to the final record.
    crate::boot::teardown(&plan, &mut report);
    let supervised = supervised?;
    report.finish_supervised(&supervised);
    crate::boot::bounds::log_end(&report);
    if let Some(writer) = &mut writer {
        // A path that no longer names the report opened at boot is an error, never a record
        // left for someone else's file to contradict.
        report.write(writer).map_err(SupervisorError::Report)?;
    }
    if let Some(findings) = &mut findings {
        end_findings(&report, findings)?;
    }
    Ok(supervised.exit_code())
}

/// The findings of a decided boot: one per decided refusal, or, for a boot the failure handler
/// stopped before any step (`error`: 118, 119, 125), the one that says why.
fn findings_of(
    report: &HardeningReport,
    error: Option<&SupervisorError>,
) -> Vec<crate::record::findings::DetectionFinding> {
    let now = crate::record::Timestamp::now();
    let mut found = crate::record::findings::findings(report, now);
    if let (true, Some(err)) = (found.is_empty(), error) {
        found.extend(crate::record::findings::handler_finding(
            report,
            err.exit_code(),
            now,
        ));
    }
    found
}

/// The findings when the run ends: the workload's end at a bound, with what it used, appended;
/// then the whole file checked again.
fn end_findings(
    report: &HardeningReport,
    findings: &mut crate::record::ReportWriter,
) -> Result<(), SupervisorError> {
    let ended = crate::record::findings::end_findings(report, crate::record::Timestamp::now());
    crate::record::findings::write(&ended, findings).map_err(SupervisorError::Findings)?;
    findings.check().map_err(SupervisorError::Findings)
}

/// The report of a run of `options`, before its boot: the context (the declared boundary
/// included), the config file, a fresh run id, the argv as the operator wants it recorded.
fn new_report(options: &RunOptions) -> Result<HardeningReport, SupervisorError> {
    let mut report = HardeningReport::new(
        crate::handler::context::detect(options.outer_boundary),
        &options.command,
    );
    report.config = options.config.clone();
    report.run_id = crate::record::run_id().map_err(SupervisorError::RunId)?;
    report.redact_argv(options.report_argv);
    report.node_name = options.node_name.clone();
    report.labels = options.labels.iter().cloned().collect();
    Ok(report)
}

/// The workload's identity, or why no uid could be allocated for it.
type Planned = Result<crate::steps::identity::Prepared, crate::steps::identity::alloc::AllocError>;

/// The identity a prepared workload will have, and through it who the workload may be for the
/// report and findings destinations (none it could rewrite or replace). A root caller's uid is
/// allocated and locked here, once; one that cannot be allocated is kept as the boot's error, so
/// that it stops the boot after the report is open, which says why.
fn identity_and_writers(
    options: &RunOptions,
) -> Result<(Planned, Vec<crate::record::forgery::Writer>), SupervisorError> {
    let mut identity = match crate::steps::identity::prepare(options) {
        Err(SupervisorError::Uid(err)) => Err(err),
        other => Ok(other?),
    };
    // An allocated uid is proved free of the host's tasks by a scan on a thread of its own,
    // settled before the spawn. It is settled now when the uid is needed now (the report's and
    // findings' paths are checked against it) or when a handler that runs code of its own is
    // loaded or registered (a plugin's loader counts the supervisor's threads; a decision is
    // taken in a forked child): only the strict default's boot keeps the supervisor
    // single-threaded without it.
    let settle_now = options.report.is_some()
        || options.findings.is_some()
        || options.handler_plugin.is_some()
        || crate::handler::handler_registered();
    if let (true, Ok(planned)) = (settle_now, &mut identity) {
        if let Err(err) = planned.settle() {
            identity = Err(err);
        }
    }
    // A root caller's uid that could not be allocated stops the boot before any workload: no
    // one could forge the report then (counting the root caller in would refuse every report
    // path it owns, hiding the reason with a usage error).
    let writers = match &identity {
        Ok(planned) if options.report.is_some() || options.findings.is_some() => {
            crate::record::forgery::writers(planned.identity.as_ref())
        }
        _ => Vec::new(),
    };
    Ok((identity, writers))
}

/// Enters the run's span: every later log line of this process carries its id, node and labels.
pub(crate) fn enter_span(report: &HardeningReport) -> tracing::span::EnteredSpan {
    let labels: Vec<String> = report
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    crate::record::enter_run(crate::record::CurrentRun {
        run_id: report.run_id.clone(),
        node_name: report.node_name.clone(),
        labels: labels.join(","),
    })
}

/// Opens a report or findings destination, if one was given; `error` names a failure.
fn open_sink(
    sink: Option<crate::record::ReportSink>,
    writers: &[crate::record::forgery::Writer],
    error: impl FnOnce(String, crate::record::ReportOpenError) -> SupervisorError,
) -> Result<Option<crate::record::ReportWriter>, SupervisorError> {
    sink.map(|sink| {
        let name = sink.to_string();
        sink.open(writers).map_err(|source| error(name, source))
    })
    .transpose()
}

/// Registers the handler, prepares, boots, releases: everything up to a running workload. Returns
/// the sandbox and its plan (for the teardown); a boot that stops is torn down here.
fn start(
    options: &RunOptions,
    identity: Planned,
    recorded: bool,
    mask: nix::sys::signal::SigSet,
    signals: &nix::sys::signalfd::SignalFd,
    report: &mut HardeningReport,
) -> Result<(crate::sandbox::Sandbox, crate::sandbox::Plan), SupervisorError> {
    // The handler comes first: it must be in place before the first step can be refused, and a
    // plugin that fails to load must stop the boot before anything has changed.
    let mut plugin = None;
    let mut config = None;
    if let Some(path) = &options.handler_plugin {
        let (sha256, recorded_config) = register_plugin(
            path,
            options.handler_config.as_deref(),
            options.handler_plugin_sha256,
            options.handler_timeout,
            recorded,
        )?;
        config = recorded_config;
        plugin = sha256
            .filter(|_| recorded)
            .map(|sha256| plugin_file_record(path, sha256));
    }
    report.handler = handler_record();
    report.handler.plugin = plugin;
    report.handler.config = config;
    let identity = identity.map_err(SupervisorError::Uid)?;
    let mut prepared: Prepared = crate::boot::prepare(options, None, mask, identity)?;
    let output = crate::sandbox::output::Output::prepare().map_err(|source| {
        crate::sandbox::SpawnError::Call {
            what: "create the output relay's pipes",
            source,
        }
    })?;
    if output.relays() {
        tracing::debug!(fds = ?output.relayed(), "seekable output: the sandbox writes into a pipe the supervisor appends to it");
    }
    prepared.plan.relay_output(output);
    // A terminal on a standard descriptor: the workload gets a pty of the sandbox's own instead.
    prepared
        .plan
        .give_terminal(crate::sandbox::pty::Planned::detect());
    report.workload.env = prepared.env_names.clone();
    report.seccomp_profile = prepared.seccomp_profile.clone();
    report.workload.program = Some(prepared.program.display().to_string());
    match boot_and_release(options, &mut prepared, report, signals) {
        Ok(sandbox) => Ok((sandbox, prepared.plan)),
        Err(err) => {
            crate::boot::teardown(&prepared.plan, report);
            Err(err)
        }
    }
}

/// The boot, "decide and stop", and the release of the verified workload.
fn boot_and_release(
    options: &RunOptions,
    prepared: &mut Prepared,
    report: &mut HardeningReport,
    signals: &nix::sys::signalfd::SignalFd,
) -> Result<crate::sandbox::Sandbox, SupervisorError> {
    let paused = crate::boot::boot(
        options,
        prepared,
        &mut crate::boot::Linux,
        &mut DecideAndStop,
        report,
        signals,
    )?;
    match paused.release()? {
        Released::Running(sandbox) => {
            tracing::info!(
                pid = sandbox.workload.as_raw(),
                program = %prepared.program.display(),
                "workload started: pid {} ({})",
                sandbox.workload.as_raw(),
                prepared.program.display()
            );
            Ok(sandbox)
        }
        Released::ExecFailed(source) => Err(SupervisorError::Exec {
            program: prepared.program.display().to_string(),
            source,
        }),
    }
}

/// The registered handler as the report and `probe` describe it.
pub(crate) fn handler_record() -> HandlerRecord {
    let handler = crate::handler::failure_handler();
    HandlerRecord {
        decider: handler.decider(),
        declared: handler.declared().iter().map(|kind| kind.name()).collect(),
        plugin: None,
        config: None,
    }
}

/// The loaded plugin's path and SHA-256, for the report: the digest the loader took of the
/// descriptor it loaded ([`register_plugin`] with `digest`), so the file is neither opened nor
/// hashed again, and a file replaced at `path` since the load cannot lend its digest.
pub(crate) fn plugin_file_record(path: &Path, sha256: [u8; 32]) -> crate::record::PluginFileRecord {
    crate::record::PluginFileRecord {
        path: path.display().to_string(),
        sha256: hex::encode(sha256),
    }
}

/// Loads the plugin at `path`, prints its declaration and registers it as the failure handler.
/// Returns the file's SHA-256 when `digest` (for a report) or a pin asked for it, and the
/// configuration's path and the SHA-256 of the text the plugin got.
pub fn register_plugin(
    path: &Path,
    config: Option<&Path>,
    sha256: Option<[u8; 32]>,
    timeout: Option<std::time::Duration>,
    digest: bool,
) -> Result<(Option<[u8; 32]>, Option<crate::options::FileDigest>), SupervisorError> {
    use sha2::Digest;
    let digest_of = |text: &String| crate::options::FileDigest {
        path: config
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
        sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
    };
    let config = config.map(read_config).transpose()?;
    let recorded = config.as_ref().map(digest_of);
    let handler = crate::handler::plugin::load(&PluginRequest {
        path: path.to_owned(),
        sha256,
        digest,
        config,
        timeout: timeout.unwrap_or(crate::handler::plugin::DEFAULT_TIMEOUT),
    })?;
    let declared: Vec<&str> = handler.declared().iter().map(|kind| kind.name()).collect();
    let decider = handler.decider();
    tracing::info!(
        plugin = %path.display(),
        "failure handler loaded: {decider} may tolerate [{}]; every other refusal aborts",
        declared.join(", "),
    );
    let sha256 = handler.sha256();
    set_failure_handler(Box::new(handler))?;
    Ok((sha256, recorded))
}

/// Reads `--handler-config` and checks that it is JSON.
pub fn read_config(path: &Path) -> Result<String, SupervisorError> {
    let error = |source: Box<dyn std::error::Error + Send + Sync>| SupervisorError::HandlerConfig {
        path: path.to_owned(),
        source,
    };
    let bytes = crate::input::read_capped(path, "handler configuration")
        .map_err(|err| error(err.into_fault().into()))?;
    let text = String::from_utf8(bytes).map_err(|err| error(err.into()))?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|err| error(err.into()))?;
    Ok(text)
}

/// Marks every descriptor the caller left open above 2 close-on-exec, and checks the flag took:
/// none may reach the workload, whatever the sandbox's own `close_range(CLOSE_RANGE_CLOEXEC)`
/// answers (an outer filter answering it 0 marks nothing). Listed from `/proc/self/fd` (taken
/// as none where it cannot be opened: the workload's `close_range` is then the only guard). The
/// listing must show its own descriptor (a `getdents64` that only answered success lists
/// nothing), and a descriptor whose flag cannot be set or read stops the run: nothing is passed
/// over (an `F_GETFD` refused by an outer filter handed the caller's descriptors on).
fn close_inherited_on_exec() -> Result<(), SupervisorError> {
    use std::os::fd::AsRawFd;
    let Ok(dir) = std::fs::File::open("/proc/self/fd") else {
        return Ok(());
    };
    let own = dir.as_raw_fd();
    let fds = listed_descriptors(own).map_err(SupervisorError::InheritedDescriptorsUnlisted)?;
    if !fds.contains(&own) {
        return Err(SupervisorError::InheritedDescriptorsUnlisted(
            nix::errno::Errno::EIO,
        ));
    }
    // One thread: nothing closes a listed descriptor meanwhile (an EBADF is a filter's answer).
    for fd in fds.into_iter().filter(|&fd| fd > 2 && fd != own) {
        // SAFETY: fcntl takes a descriptor and integers; FD_CLOEXEC is the only descriptor flag.
        let set = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        let set_errno = nix::errno::Errno::last();
        // SAFETY: as above.
        let now = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if set != 0 || now < 0 || now & libc::FD_CLOEXEC == 0 {
            let source = if set != 0 {
                set_errno
            } else if now < 0 {
                nix::errno::Errno::last()
            } else {
                nix::errno::Errno::EPERM
            };
            return Err(SupervisorError::InheritedDescriptor { fd, source });
        }
    }
    Ok(())
}

/// The descriptor numbers the open directory `dir` (`/proc/self/fd`) lists, read with
/// `getdents64`.
fn listed_descriptors(dir: i32) -> Result<Vec<i32>, nix::errno::Errno> {
    let mut fds = Vec::new();
    let mut buffer = vec![0u8; crate::dirents::BUFFER];
    crate::dirents::each(dir, &mut buffer, |name, _| {
        if let Some(fd) = name.to_str().ok().and_then(|name| name.parse().ok()) {
            fds.push(fd);
        }
    })?;
    Ok(fds)
}
