//! The supervisor's own environment, cleared before a sandbox that can see it is made.
//!
//! Without a mount namespace of its own the workload's `/proc` is the host's, and without a PID
//! namespace of its own its `/proc` lists the host's processes: either way a workload of the
//! supervisor's uid can read `/proc/PID/environ` of the supervisor (and of the init, where the
//! kernel does not honour the init's non-dumpable state, as gVisor does not). That file shows the
//! memory the kernel placed the initial environment in, which unsetting a variable does not
//! touch: the supervisor reads what it needs (the workload's environment and `PATH` are copied
//! in `prepare`, `$XDG_RUNTIME_DIR` below), overwrites that memory with zeros and unsets every
//! variable, before the sandbox is cloned; the init, a copy of the supervisor, inherits the
//! cleared memory.

use crate::sandbox::Plan;
use crate::steps::Step;

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Whether the sandbox `plan` spawns could read the supervisor's `/proc` entries: it has no
/// mount namespace (its `/proc` is the host's) or no PID namespace (its `/proc` lists the
/// host's processes) of its own.
pub(crate) fn exposed(plan: &Plan) -> bool {
    !plan.performs(Step::MountNamespace) || !plan.performs(Step::PidNamespace)
}

/// `env_start` and `env_end` of `/proc/self/stat` (fields 50 and 51): where the kernel placed the
/// initial environment, what `/proc/PID/environ` shows.
fn environment_area(stat: &str) -> Option<(usize, usize)> {
    // The fields after the command name, which may hold spaces and parentheses; field 3 first.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let start: usize = fields.get(50 - 3)?.parse().ok()?;
    let end: usize = fields.get(51 - 3)?.parse().ok()?;
    (start != 0 && end > start && end - start <= 1 << 24).then_some((start, end))
}

/// Clears the supervisor's environment: every variable's text overwritten with zeros where it
/// lies, the whole initial environment area too, then every variable unset. Call it only while
/// the supervisor is single-threaded (before the sandbox is cloned). Returns how many variables
/// there were.
pub(crate) fn clear() -> usize {
    // What is still read after this point, read now.
    let _ = crate::steps::view::runtime_dir();
    let area = crate::procfs::read_file(std::path::Path::new("/proc/self/stat"))
        .ok()
        .and_then(|stat| environment_area(&stat));
    let mut count = 0;
    // SAFETY: the supervisor is single-threaded here, so nothing reads or changes the environment
    // meanwhile; every pointer of `environ` up to its null entry is a NUL-terminated string the C
    // library or the kernel placed in writable memory, and nothing else points into those strings
    // (every value the supervisor keeps was copied). The initial environment area is the kernel's,
    // in the writable stack mapping, and holds only the environment's strings.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let text = *entry;
            std::ptr::write_bytes(text, 0, libc::strlen(text));
            count += 1;
            entry = entry.add(1);
        }
        if let Some((start, end)) = area {
            std::ptr::write_bytes(start as *mut u8, 0, end - start);
        }
        libc::clearenv();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::environment_area;

    #[test]
    fn the_environment_area_is_read_past_the_command_name() {
        let mut stat = String::from("42 (a) b (c)) S");
        for field in 4..=52 {
            stat.push_str(&format!(" {field}"));
        }
        assert_eq!(environment_area(&stat), Some((50, 51)));
        assert_eq!(environment_area("42 (short) S 1 2 3"), None);
    }
}
