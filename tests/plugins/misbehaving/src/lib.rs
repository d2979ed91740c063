//! A test plugin that misbehaves in the way its configuration names (`{"mode": "..."}`):
//! `reject-config`, `panic-init`, `panic-tolerates`, `panic-handle`, `thread-init`,
//! `thread-handle`, `tolerate-undeclared`. Any other mode (`tolerate-everything`) declares and
//! tolerates every kind: the most permissive handler the supervisor's floor allows.

use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, SandboxFailureKind, Verdict,
};

struct Misbehaving {
    mode: String,
}

fn park_forever() {
    std::thread::spawn(|| loop {
        std::thread::park();
    });
}

impl FailurePolicy for Misbehaving {
    const NAME: &'static str = "misbehaving";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let mode = config
            .as_ref()
            .and_then(|config| config.get("mode"))
            .and_then(|mode| mode.as_str())
            .unwrap_or("")
            .to_owned();
        match mode.as_str() {
            "reject-config" => Err("mode reject-config refuses every configuration".to_owned()),
            "panic-init" => panic!("deliberate panic in init"),
            "thread-init" => {
                park_forever();
                Ok(Misbehaving { mode })
            }
            _ => Ok(Misbehaving { mode }),
        }
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
            "thread-handle" => {
                park_forever();
                Verdict::Tolerate
            }
            _ => Verdict::Tolerate,
        }
    }
}

export_plugin!(Misbehaving);
