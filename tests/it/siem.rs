//! The report as a SIEM takes it: RFC 3339 timestamps, a run id, the host's name, the plugin's path
//! and digest, argv only on request, and a final record when the workload ends (`--report FILE`
//! rewritten complete, `--report-fd N` a second JSON line). Every record is validated against
//! docs/report.schema.json.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use sandbox_tests::{
    plugin, require_root, run_supervisor, run_with_report, scratch, sha256_of, supervisor_bin,
    validate_report, Launch,
};
use serde_json::Value;

/// Parses an RFC 3339 UTC timestamp as written by the supervisor into microseconds since the
/// epoch, checking every field's range (the schema's pattern checks only the shape).
fn micros(text: &str) -> i128 {
    let (date, time) = text.split_once('T').expect("T");
    let time = time.strip_suffix('Z').expect("UTC");
    let date: Vec<i128> = date.split('-').map(|part| part.parse().unwrap()).collect();
    let (hms, fraction) = time.split_once('.').expect("fraction");
    let hms: Vec<i128> = hms.split(':').map(|part| part.parse().unwrap()).collect();
    assert!(
        (1..=12).contains(&date[1]) && (1..=31).contains(&date[2]),
        "{text}"
    );
    assert!(hms[0] < 24 && hms[1] < 60 && hms[2] < 61, "{text}");
    assert_eq!(fraction.len(), 6, "{text}");
    // Days from civil (Howard Hinnant), independent of the supervisor's conversion.
    let (y, m, d) = (date[0] - i128::from(date[1] <= 2), date[1], date[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]) * 1_000_000)
        + fraction.parse::<i128>().unwrap()
}

fn now_micros() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i128
}

fn hostname() -> String {
    let output = Command::new("hostname").output().expect("hostname");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn report_file_is_rewritten_complete_with_the_workload_end() {
    require_root!();
    let before = now_micros();
    let (outcome, report) = run_with_report(
        &Launch::default(),
        ["--", "sh", "-c", "sleep 0.2; exit 3", "secret-token"],
    );
    let after = now_micros();
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert_eq!(report["record"], "final");
    assert_eq!(report["outcome"], "ended");
    assert_eq!(report["exit"]["outcome"], "exited");
    assert_eq!(report["exit"]["code"], 3);
    assert_eq!(report["exit"]["signal"], Value::Null);
    assert_eq!(report["exit"]["exit_code"], 3);

    // Timestamps: real RFC 3339 instants, in order, around this run; the duration agrees.
    let started = micros(report["started_at"].as_str().unwrap());
    let ended = micros(report["ended_at"].as_str().unwrap());
    assert!(before - 1_000 <= started && started <= ended && ended <= after + 1_000);
    let duration = report["exit"]["duration_ms"].as_i64().unwrap() as i128;
    assert!(duration >= 200, "the workload slept 200 ms: {duration}");
    assert!(((ended - started) / 1000 - duration).abs() <= 1);

    // Identity of the run and the host.
    let run_id = report["run_id"].as_str().unwrap();
    assert_eq!(run_id.len(), 36);
    assert_eq!(report["hostname"], hostname());
    assert_eq!(report["supervisor_version"], env!("CARGO_PKG_VERSION"));

    // argv is withheld by default: only the program, never the argument holding a secret.
    assert_eq!(report["workload"]["argv"], serde_json::json!(["sh"]));
    assert_eq!(report["workload"]["argv_complete"], false);
    assert!(!report.to_string().contains("secret-token"));
    let program = report["workload"]["program"].as_str().unwrap();
    assert!(
        program.starts_with('/') && program.ends_with("/sh"),
        "{program}"
    );

    // Capability sets by name are there (a SIEM alerts on a non-empty one).
    let caps = &report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "capabilities")
        .unwrap()["verified"]["sets"];
    assert_eq!(caps["effective"], serde_json::json!([]));

    // The strict handler has no plugin file.
    assert_eq!(report["handler"]["plugin"], Value::Null);
}

#[test]
fn run_ids_differ_between_runs() {
    require_root!();
    let (_, first) = run_with_report(&Launch::default(), ["--", "true"]);
    let (_, second) = run_with_report(&Launch::default(), ["--", "true"]);
    assert_ne!(first["run_id"], second["run_id"]);
}

#[test]
fn report_argv_lists_the_whole_command() {
    require_root!();
    let (outcome, report) = run_with_report(
        &Launch::default(),
        ["--report-argv", "--", "sh", "-c", "exit 0", "an argument"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        report["workload"]["argv"],
        serde_json::json!(["sh", "-c", "exit 0", "an argument"])
    );
    assert_eq!(report["workload"]["argv_complete"], true);
}

#[test]
fn plugin_path_and_sha256_are_those_of_the_loaded_file() {
    require_root!();
    let path = plugin("sandbox-plugin-outer-sandbox");
    let (outcome, report) = run_with_report(
        &Launch::default(),
        ["--handler-plugin", path.to_str().unwrap(), "--", "true"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(report["handler"]["plugin"]["path"], path.to_str().unwrap());
    assert_eq!(report["handler"]["plugin"]["sha256"], sha256_of(&path));
}

#[test]
fn aborted_boot_is_one_final_record_without_exit() {
    require_root!();
    let launch = Launch::nobody();
    let (outcome, report) = run_with_report(&launch, ["--no-userns", "--", "true"]);
    assert_eq!(outcome.code, 120, "{}", outcome.stderr);
    assert_eq!(report["record"], "final");
    assert_eq!(report["outcome"], "aborted");
    assert_eq!(report["exit"], Value::Null);
    assert!(
        micros(report["ended_at"].as_str().unwrap())
            >= micros(report["started_at"].as_str().unwrap())
    );
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("network-namespace refused"));
}

/// `--report-fd` on a FIFO: the boot record arrives as one line while the workload still runs
/// (it waits for a line on its standard input), the final record as a second line when it ends,
/// then end-of-file.
#[test]
fn report_fd_gets_a_boot_line_then_a_final_line() {
    require_root!();
    let dir = scratch();
    let fifo = dir.path().join("report.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3>"$1"; exec "$0" --report-fd 3 -- sh -c 'read line; kill -TERM $$'"#)
        .arg(supervisor_bin())
        .arg(&fifo)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(std::fs::File::open(&fifo).unwrap()).lines();

    let boot: Value = serde_json::from_str(&lines.next().expect("a boot line").unwrap()).unwrap();
    validate_report(&boot);
    assert_eq!(boot["record"], "boot");
    assert_eq!(boot["outcome"], "running");
    assert_eq!(boot["ended_at"], Value::Null);
    assert_eq!(boot["exit"], Value::Null);

    // The workload is still waiting for its line: nothing more has been written.
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let end: Value = serde_json::from_str(&lines.next().expect("a final line").unwrap()).unwrap();
    validate_report(&end);
    assert_eq!(end["record"], "final");
    assert_eq!(end["run_id"], boot["run_id"]);
    assert_eq!(end["started_at"], boot["started_at"]);
    assert_eq!(end["exit"]["outcome"], "killed");
    assert_eq!(end["exit"]["signal"], "SIGTERM");
    assert_eq!(end["exit"]["code"], Value::Null);
    assert_eq!(end["exit"]["exit_code"], 128 + 15);
    assert!(lines.next().is_none(), "nothing after the final line");

    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Debian's own validator (python3-jsonschema, older than the Rust crate) takes the schema: its
/// `$id` and references resolve, and it validates a final record and refuses a broken one.
#[test]
fn debian_python3_jsonschema_validates_the_report() {
    require_root!();
    let probe = Command::new("/usr/bin/python3")
        .args(["-c", "import jsonschema"])
        .output();
    if !probe.is_ok_and(|output| output.status.success()) {
        sandbox_tests::skip_or_fail("needs Debian's python3-jsonschema (tests/run.sh installs it)");
        return;
    }
    let (_, report) = run_with_report(&Launch::default(), ["--", "true"]);
    let mut broken = report.clone();
    broken["exit"]["outcome"] = "vanished".into();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.schema.json");
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
for line in sys.stdin:
    errors = [error.message for error in validator.iter_errors(json.loads(line))]
    print("valid" if not errors else "invalid: " + "; ".join(errors))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{report}\n{broken}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines.len(), 2, "{said}");
    assert_eq!(lines[0], "valid");
    assert!(lines[1].starts_with("invalid: "), "{said}");
}

// Reports and findings the workload cannot forge (issue 24).

/// A report directory the workload's uid can write in: it could rename the report away and put
/// its own at the path. Refused before anything ran, naming the directory and `--report-fd`.
#[test]
fn report_in_a_directory_the_workload_can_write_is_refused() {
    require_root!();
    let dir = scratch();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let marker = dir.path().join("ran");
    for flag in ["--report", "--findings"] {
        let path = open.join("record.json");
        let mut args: Vec<OsString> = vec![flag.into(), path.clone().into()];
        args.extend(
            sandbox_tests::marked(&marker, "mv {path} {path}.real; echo forged > {path}")
                .into_iter()
                .map(OsString::from),
        );
        let outcome = run_supervisor(&Launch::default(), args);
        assert_eq!(outcome.code, 2, "{flag}: {}", outcome.stderr);
        let line = outcome.error_line();
        assert!(
            line.contains(&format!("can write in {}", open.display()))
                && line.contains("--report-fd"),
            "{line}"
        );
        assert!(!marker.exists(), "{flag}: the workload ran");
        assert!(!path.exists(), "{flag}: the refused file was created");
    }
}

/// On the user-namespace route the workload is the caller's uid, which owns the report: any
/// `--report FILE` is refused, and `--report-fd` works.
#[test]
fn unprivileged_callers_report_file_is_refused_and_report_fd_works() {
    require_root!();
    let dir = scratch();
    let path = dir.path().join("report.json");
    let launch = Launch::nobody();
    let outcome = run_supervisor(
        &launch,
        [
            "--report".into(),
            path.clone().into_os_string(),
            "--".into(),
            "true".into(),
        ],
    );
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.error_line().contains("uid 65534 owns the file")
            && outcome.error_line().contains("--report-fd"),
        "{}",
        outcome.stderr
    );
    let (outcome, report) = run_with_report(&launch, ["--", "true"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(report["record"], "final");
}

/// Whatever replaces the report at its path while the workload runs (here the test itself, as a
/// workload with the path in reach would), the supervisor does not write its final record into
/// someone else's file, nor pass the workload's exit code as if all were well: it stops with an
/// error naming the path. Truncated findings are found the same way.
#[test]
fn a_report_or_findings_replaced_during_the_run_is_an_error() {
    require_root!();
    let dir = scratch();
    let report = dir.path().join("report.json");
    let findings = dir.path().join("findings.jsonl");
    let outer = plugin("sandbox-plugin-outer-sandbox");
    for (victim, forge) in [(&report, "rename"), (&findings, "truncate")] {
        let go = dir.path().join("go");
        let _ = std::fs::remove_file(&go);
        let child = Command::new(sandbox_tests::helper_bin("outer-seccomp"))
            .arg("netns")
            .arg("--")
            .arg(supervisor_bin())
            .args(["--report".as_ref(), report.as_os_str()])
            .args(["--findings".as_ref(), findings.as_os_str()])
            .args(["--outer-boundary", "vm", "--handler-plugin"])
            .arg(&outer)
            .args(["--", "sh", "-c"])
            .arg(format!(
                "while ! test -e {}; do sleep 0.05; done; exit 7",
                go.display()
            ))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The boot record is in place once the workload runs.
        while !std::fs::read_to_string(&report).is_ok_and(|text| text.contains("\"running\"")) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if forge == "rename" {
            std::fs::rename(victim, dir.path().join("real.json")).unwrap();
            std::fs::write(victim, "{\"forged\": true}\n").unwrap();
        } else {
            assert!(!std::fs::read_to_string(victim).unwrap().is_empty());
            std::fs::OpenOptions::new()
                .write(true)
                .open(victim)
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        std::fs::write(&go, "").unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(125), "{forge}: {stderr}");
        let line = stderr
            .lines()
            .find(|line| line.starts_with("sandbox-supervisor: error:"))
            .unwrap_or_else(|| panic!("{forge}: no error line in {stderr}"));
        assert!(line.contains(&victim.display().to_string()), "{line}");
        if forge == "rename" {
            assert_eq!(
                std::fs::read_to_string(victim).unwrap(),
                "{\"forged\": true}\n",
                "the supervisor wrote into the file at the path"
            );
        }
        let _ = std::fs::remove_file(dir.path().join("real.json"));
    }
}

/// A real-time signal killed the workload: the final record says `killed`, with the signal's
/// name and raw number, never "exited with 165" (nix's `Signal` has no real-time signals).
#[test]
fn a_real_time_signal_is_a_kill_with_its_number() {
    require_root!();
    let (outcome, report) = run_with_report(
        &Launch::default(),
        ["--", "bash", "-c", "kill -s RTMIN+3 $$"],
    );
    let number = libc::SIGRTMIN() + 3;
    assert_eq!(outcome.code, 128 + number, "{}", outcome.stderr);
    let exit = &report["exit"];
    assert_eq!(exit["outcome"], "killed", "{exit}");
    assert_eq!(exit["code"], Value::Null, "{exit}");
    assert_eq!(exit["signal"], "SIGRTMIN+3", "{exit}");
    assert_eq!(exit["signal_number"], number, "{exit}");
    assert_eq!(exit["exit_code"], 128 + number, "{exit}");
}
