//! A test plugin that misbehaves in the way its configuration names (`{"mode": "..."}`):
//! `reject-config`, `panic-init`, `panic-tolerates`, `panic-handle`, `thread-init`,
//! `thread-handle`, `tolerate-undeclared`, `sleep-init`, `sleep-handle`, `fork-init`,
//! `double-fork-init`, `fork-reject`, `fork-handle`, `open-handle`, `versions` (aborts with a
//! reason that names the versions the supervisor told it and its own). Any other mode
//! (`tolerate-everything`) declares and tolerates every kind: the most permissive handler the
//! supervisor's floor allows.
//!
//! `sleep-handle` and the `fork-*` modes write the pid of the process that sleeps to the file named by
//! `"pidfile"`; `open-handle` opens the file named by `"open"` in `handle` without close-on-exec and
//! keeps the descriptor.

use std::io::Write;
use std::time::Duration;

use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
};

struct Misbehaving {
    mode: String,
    pidfile: Option<String>,
    open: Option<String>,
}

fn park_forever() {
    std::thread::spawn(|| loop {
        std::thread::park();
    });
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn write_pid(pidfile: Option<&str>) {
    if let Some(path) = pidfile {
        let mut file = std::fs::File::create(path).expect("create the pid file");
        write!(file, "{}", std::process::id()).expect("write the pid file");
    }
}

/// Forks; the child writes its pid and sleeps forever. Returns in the parent.
fn fork_sleeper(pidfile: Option<&str>) {
    // SAFETY: the supervisor is single-threaded while it loads plugins; the child only writes a
    // file and sleeps, and never returns into the supervisor.
    if unsafe { libc::fork() } == 0 {
        write_pid(pidfile);
        // Let go of the caller's pipes: a test sees the process itself, not a hang.
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            for fd in 0..3 {
                // SAFETY: duplicates an open descriptor onto the standard ones.
                unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
            }
        }
        sleep_forever();
    }
}

fn string(config: &Option<serde_json::Value>, key: &str) -> Option<String> {
    config
        .as_ref()
        .and_then(|config| config.get(key))
        .and_then(|value| value.as_str())
        .map(str::to_owned)
}

impl FailurePolicy for Misbehaving {
    const NAME: &'static str = "misbehaving";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let mode = string(&config, "mode").unwrap_or_default();
        let pidfile = string(&config, "pidfile");
        let open = string(&config, "open");
        match mode.as_str() {
            "reject-config" => {
                return Err("mode reject-config refuses every configuration".to_owned())
            }
            "panic-init" => panic!("deliberate panic in init"),
            "thread-init" => park_forever(),
            "sleep-init" => sleep_forever(),
            "fork-init" => fork_sleeper(pidfile.as_deref()),
            "fork-reject" => {
                fork_sleeper(pidfile.as_deref());
                return Err("mode fork-reject forks, then refuses its configuration".to_owned());
            }
            "double-fork-init" => {
                // SAFETY: as in `fork_sleeper`; the intermediate child forks once more and exits.
                let child = unsafe { libc::fork() };
                if child == 0 {
                    fork_sleeper(pidfile.as_deref());
                    // SAFETY: ends the intermediate child without running anything else.
                    unsafe { libc::_exit(0) };
                }
                let mut status = 0;
                // SAFETY: reaps the intermediate child, which exits at once.
                unsafe { libc::waitpid(child, &mut status, 0) };
            }
            _ => {}
        }
        Ok(Misbehaving {
            mode,
            pidfile,
            open,
        })
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        match self.mode.as_str() {
            "panic-tolerates" => panic!("deliberate panic in tolerates"),
            "tolerate-undeclared" => Vec::new(),
            _ => SandboxFailureKind::ALL.to_vec(),
        }
    }

    fn handle(&self, _report: &FailureReport) -> Verdict {
        match self.mode.as_str() {
            "panic-handle" => panic!("deliberate panic in handle"),
            "thread-handle" => park_forever(),
            "sleep-handle" => {
                write_pid(self.pidfile.as_deref());
                sleep_forever();
            }
            "fork-handle" => fork_sleeper(self.pidfile.as_deref()),
            "open-handle" => {
                let path = std::ffi::CString::new(self.open.clone().unwrap_or_default())
                    .expect("a path without NUL");
                // SAFETY: a valid NUL-terminated path; the descriptor is leaked on purpose,
                // without close-on-exec, as a careless plugin would.
                unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            }
            _ => {}
        }
        Verdict::Tolerate
    }

    fn decide(&self, report: &FailureReport) -> Ruling {
        match self.mode.as_str() {
            "versions" => Ruling::abort(format!(
                "supervisor {}, plugin API {}, built with {}",
                report.context.supervisor_version.as_deref().unwrap_or("?"),
                report.context.plugin_api_version.as_deref().unwrap_or("?"),
                sandbox_plugin_api::VERSION
            )),
            _ => self.handle(report).into(),
        }
    }
}

export_plugin!(Misbehaving);
