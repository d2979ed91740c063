//! A test plugin that writes the context JSON of each report, exactly as the supervisor sent it
//! (the raw `context_json` string, before any glue parses it), to the file its configuration
//! names (`{"path": "/abs/file"}`), one line per report, and tolerates every kind it declares
//! (the namespace kinds).

use std::io::Write;
use std::sync::OnceLock;

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RVec};
use sandbox_plugin_api::ffi::{FailureReportRef, HandlerMod, HandlerModRef, PluginError};

static PATH: OnceLock<String> = OnceLock::new();

fn error(message: &str) -> PluginError {
    PluginError {
        panicked: false,
        message: message.into(),
    }
}

extern "C" fn init(config: RStr<'_>) -> RResult<(), PluginError> {
    let path = config
        .as_str()
        .split('"')
        .skip_while(|part| *part != "path")
        .nth(2)
        .map(str::to_owned);
    match path {
        Some(path) if path.starts_with('/') => {
            let _ = PATH.set(path);
            RResult::ROk(())
        }
        _ => RResult::RErr(error("needs {\"path\": \"/absolute/file\"}")),
    }
}

extern "C" fn tolerates() -> RResult<RVec<u32>, PluginError> {
    RResult::ROk(RVec::from(vec![1, 4, 5]))
}

extern "C" fn handle(report: FailureReportRef) -> RResult<u32, PluginError> {
    let Some(path) = PATH.get() else {
        return RResult::RErr(error("called before init"));
    };
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{}", report.context_json().as_str()));
    match written {
        Ok(()) => RResult::ROk(1),
        Err(err) => RResult::RErr(error(&format!("writing {path}: {err}"))),
    }
}

#[abi_stable::export_root_module]
fn root_module() -> HandlerModRef {
    HandlerMod {
        name: RStr::from_str("context-echo"),
        version: RStr::from_str("0.1.0"),
        init,
        tolerates,
        handle,
    }
    .leak_into_prefix()
}
