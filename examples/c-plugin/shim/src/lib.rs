//! The shim between the frozen plugin ABI and a plugin written in C (`../sandbox_plugin.h`).
//!
//! sandbox-plugin-api's `export_plugin!` exports the root module and extension v1 and does what
//! every Rust plugin's glue does (panics caught at the boundary, unknown kinds answered `Abort`,
//! the context parsed key by key); this crate only converts between its types and the header's:
//! a `struct sandbox_report` per decision, NUL-terminated strings, and buffers for the reason and
//! the configuration's rejection. A verdict other than 0 or 1, or a declared kind code this API
//! does not know, is turned into a panic, which the supervisor reports as a plugin failure (exit
//! 119), as it would the same answer from any plugin.

use std::ffi::{c_char, c_int, CString};

use sandbox_plugin_api::{
    export_plugin, FailurePolicy, FailureReport, Ruling, SandboxFailureKind, Verdict,
};

/// `struct sandbox_report` of `sandbox_plugin.h`, field for field.
#[repr(C)]
struct CReport {
    kind: u32,
    errno_value: i32,
    syscall: *const c_char,
    errno_name: *const c_char,
    message: *const c_char,
    context_json: *const c_char,
    gvisor: c_int,
    container: *const c_char,
    threads: u64,
    effective_capabilities: u64,
    uid: u32,
    supervisor_version: *const c_char,
    plugin_api_version: *const c_char,
    missing: u32,
}

extern "C" {
    fn sandbox_plugin_init(
        config_json: *const c_char,
        message: *mut c_char,
        message_len: usize,
    ) -> c_int;
    fn sandbox_plugin_tolerates(kinds: *mut u32, capacity: usize) -> usize;
    fn sandbox_plugin_decide(
        report: *const CReport,
        reason: *mut c_char,
        reason_len: usize,
    ) -> c_int;
}

/// The header's `SANDBOX_CONTEXT_*` bit of each context key, in `FailureContext::KEYS` order.
const MISSING_BITS: [(&str, u32); 7] = [
    ("gvisor", 1 << 0),
    ("container", 1 << 1),
    ("threads", 1 << 2),
    ("effective_capabilities", 1 << 3),
    ("uid", 1 << 4),
    ("supervisor_version", 1 << 5),
    ("plugin_api_version", 1 << 6),
];

/// A string for C: NUL-terminated, with any interior NUL (which C cannot see past) replaced.
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// The text C wrote into `buffer`, up to its first NUL (all of it when there is none).
fn from_buffer(buffer: &[u8]) -> String {
    let end = buffer
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The C plugin, once `sandbox_plugin_init` accepted the configuration.
struct CPlugin {
    kinds: Vec<SandboxFailureKind>,
}

impl FailurePolicy for CPlugin {
    const NAME: &'static str = env!("SANDBOX_C_PLUGIN_NAME");
    const VERSION: &'static str = env!("SANDBOX_C_PLUGIN_VERSION");

    fn init(config: Option<serde_json::Value>) -> Result<Self, String> {
        let config = c_string(&config.map(|config| config.to_string()).unwrap_or_default());
        let mut message = [0u8; 512];
        // SAFETY: `config` is NUL-terminated and lives across the call; `message` is writable for
        // its length, which is passed.
        let refused = unsafe {
            sandbox_plugin_init(config.as_ptr(), message.as_mut_ptr().cast(), message.len())
        };
        if refused != 0 {
            let message = from_buffer(&message);
            return Err(match message.is_empty() {
                true => format!("sandbox_plugin_init returned {refused}"),
                false => message,
            });
        }
        let mut codes = [0u32; 64];
        // SAFETY: `codes` is writable for `codes.len()` elements, which is passed.
        let count = unsafe { sandbox_plugin_tolerates(codes.as_mut_ptr(), codes.len()) };
        let kinds = codes[..count.min(codes.len())]
            .iter()
            .map(|code| {
                SandboxFailureKind::from_code(*code).ok_or_else(|| {
                    format!("sandbox_plugin_tolerates declared kind code {code}, which this API does not know")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CPlugin { kinds })
    }

    fn tolerates(&self) -> Vec<SandboxFailureKind> {
        self.kinds.clone()
    }

    fn handle(&self, report: &FailureReport) -> Verdict {
        self.decide(report).verdict
    }

    fn decide(&self, report: &FailureReport) -> Ruling {
        let context = &report.context;
        let syscall = c_string(&report.syscall);
        let errno_name = c_string(&report.errno_name);
        let message = c_string(&report.message);
        let context_json = c_string(&serde_json::to_string(context).unwrap_or_default());
        let container = context.container.as_deref().map(c_string);
        let supervisor_version = context.supervisor_version.as_deref().map(c_string);
        let plugin_api_version = context.plugin_api_version.as_deref().map(c_string);
        let pointer =
            |text: &Option<CString>| text.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        let missing = MISSING_BITS
            .iter()
            .filter(|(key, _)| context.is_missing(key))
            .fold(0, |bits, (_, bit)| bits | bit);
        let c_report = CReport {
            kind: report.kind.code(),
            errno_value: report.errno,
            syscall: syscall.as_ptr(),
            errno_name: errno_name.as_ptr(),
            message: message.as_ptr(),
            context_json: context_json.as_ptr(),
            gvisor: c_int::from(context.gvisor),
            container: pointer(&container),
            threads: context.threads as u64,
            effective_capabilities: context.effective_capabilities,
            uid: context.uid,
            supervisor_version: pointer(&supervisor_version),
            plugin_api_version: pointer(&plugin_api_version),
            missing,
        };
        let mut reason = [0u8; 512];
        // SAFETY: every pointer in `c_report` is null or points to a NUL-terminated string that
        // lives until after the call; `reason` is writable for its length, which is passed.
        let verdict =
            unsafe { sandbox_plugin_decide(&c_report, reason.as_mut_ptr().cast(), reason.len()) };
        let reason = Some(from_buffer(&reason)).filter(|reason| !reason.is_empty());
        let verdict = match verdict {
            0 => Verdict::Abort,
            1 => Verdict::Tolerate,
            // Caught at the boundary: the supervisor stops with a plugin failure (119).
            other => {
                panic!("sandbox_plugin_decide answered {other}, neither 0 (abort) nor 1 (tolerate)")
            }
        };
        Ruling { verdict, reason }
    }
}

export_plugin!(CPlugin);
