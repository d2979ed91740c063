//! The run's random id and the host's name.

use std::fs::File;

/// A random run id: a version 4 UUID from `getrandom(2)` (or `/dev/urandom` where that call is
/// refused), so that a SIEM can join the boot record, the final record and the findings.
pub fn run_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    // SAFETY: `bytes` is a live, writable buffer of exactly `bytes.len()` bytes for the duration
    // of the call, which writes at most that many.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if usize::try_from(got).ok() != Some(bytes.len()) {
        use std::io::Read;
        File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// This process's run, once `run` or `probe` drew its id: what every log line carries.
static CURRENT: std::sync::OnceLock<CurrentRun> = std::sync::OnceLock::new();

/// The identity every log line of a run carries (in its `run` span).
#[derive(Debug, Clone)]
pub(crate) struct CurrentRun {
    /// The run id.
    pub run_id: String,
    /// `--node-name` (or `$NODE_NAME`).
    pub node_name: Option<String>,
    /// `--label KEY=VALUE`, as `KEY=VALUE,KEY=VALUE`.
    pub labels: String,
}

/// Records this process's run (once) and returns the span every later log line is made in.
pub(crate) fn enter_run(run: CurrentRun) -> tracing::span::EnteredSpan {
    let run = CURRENT.get_or_init(|| run);
    tracing::info_span!(
        "run",
        run_id = %run.run_id,
        node = run.node_name.as_deref(),
        labels = (!run.labels.is_empty()).then_some(run.labels.as_str()),
    )
    .entered()
}

/// This process's run, once [`enter_run`] recorded it.
pub(crate) fn current_run() -> Option<&'static CurrentRun> {
    CURRENT.get()
}

/// The host's name (`uname`'s nodename, as `gethostname(2)` gives it), or `null` when it cannot be
/// read.
pub fn hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: `buffer` is live and writable for `buffer.len()` bytes; gethostname writes at most
    // that many (and the last byte stays 0 below, so the name is terminated).
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    Some(String::from_utf8_lossy(&buffer[..end]).into_owned()).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_random_version_4_uuids() {
        let first = run_id().unwrap();
        let second = run_id().unwrap();
        assert_ne!(first, second);
        let groups: Vec<&str> = first.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{first}");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{first}");
    }
}
