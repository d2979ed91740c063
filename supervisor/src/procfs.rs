//! One typed reader for what the supervisor and the tests read from `/proc`: a process's status
//! (ids, groups, capability sets, seccomp, no_new_privs, namespace pids), its namespace links and
//! its session, and the supervisor's own thread count.
//!
//! gVisor's status file lacks some lines (`NoNewPrivs`, `Seccomp_filters`): those fields are
//! `None`, and callers say "unknown" rather than guess.

use std::os::unix::fs::MetadataExt;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use nix::unistd::Pid;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The calling process (`/proc/self`).
    This,
    /// Another process, by its pid in the reader's PID namespace.
    Pid(Pid),
}

impl Process {
    fn dir(self) -> PathBuf {
        match self {
            Process::This => PathBuf::from("/proc/self"),
            Process::Pid(pid) => PathBuf::from(format!("/proc/{pid}")),
        }
    }
}

/// A `/proc` file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("failed to read {path}")]
pub struct ProcError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn read(path: PathBuf) -> Result<String, ProcError> {
    read_file(&path).map_err(|source| ProcError { path, source })
}

/// The size of a read of a `/proc` file: a page, what the kernel renders a `seq_file` into.
const PAGE: usize = 4096;

/// Reads on from `file` into `buffer` (which holds `filled` bytes) until a call returns nothing,
/// a page or more of free room per call. Plain `read` calls: `File::read_to_end` would first
/// `statx` and `lseek` the file for a size hint, which a `/proc` file does not give (0).
fn read_on(
    file: &mut std::fs::File,
    mut buffer: Vec<u8>,
    mut filled: usize,
) -> std::io::Result<String> {
    use std::io::Read;
    loop {
        if buffer.len() - filled < PAGE {
            buffer.resize(filled + 2 * PAGE, 0);
        }
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buffer.truncate(filled);
    String::from_utf8(buffer)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// Reads a `/proc` (or `/sys`) file the kernel renders whole (`status`, `stat`, `limits`,
/// `cgroup`, a sysctl: `single_open`, `proc_sys_read`) with one `read` call into a page-sized
/// buffer, where `read_to_string` grows its buffer from 32 bytes (eight calls for a `status`):
/// such a file comes back whole from one call when it fits, so a short read is its end. One
/// larger than the buffer is read on to its end.
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; PAGE];
    let first = loop {
        match file.read(&mut buffer) {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            other => break other?,
        }
    };
    if first < PAGE {
        buffer.truncate(first);
        return String::from_utf8(buffer)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err));
    }
    read_on(&mut file, buffer, first)
}

/// Reads a `/proc` file the kernel renders record by record, at most a page per call
/// (`mountinfo`, `/proc/net/unix`): a short read is not its end, so it is read until a call
/// returns nothing (a page of `mountinfo` is about 30 mounts: two calls for most namespaces).
pub fn read_records(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    read_on(&mut file, Vec::new(), 0)
}

/// The parsed `/proc/PID/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Real, effective, saved and filesystem uid.
    pub uid: Vec<u32>,
    /// Real, effective, saved and filesystem gid.
    pub gid: Vec<u32>,
    /// Supplementary groups, sorted, without duplicates.
    pub groups: Vec<u32>,
    /// `CapInh`, `CapPrm`, `CapEff`, `CapBnd`, `CapAmb`, in that order (`None` when absent).
    pub caps: Capabilities,
    /// `NoNewPrivs` (absent under gVisor).
    pub no_new_privs: Option<u64>,
    /// `Seccomp`: 0 off, 1 strict, 2 filter.
    pub seccomp: Option<u64>,
    /// `Seccomp_filters`: the number of filters attached (absent under gVisor and old kernels).
    pub seccomp_filters: Option<u64>,
    /// `NSpid`: the pid in each PID namespace, outermost first.
    pub nspid: Vec<u32>,
    /// `Threads`.
    pub threads: Option<u64>,
}

/// The five capability sets of a process, as bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// `CapInh`.
    pub inheritable: Option<u64>,
    /// `CapPrm`.
    pub permitted: Option<u64>,
    /// `CapEff`.
    pub effective: Option<u64>,
    /// `CapBnd`.
    pub bounding: Option<u64>,
    /// `CapAmb`.
    pub ambient: Option<u64>,
}

impl Capabilities {
    /// Every set that could be read, with its name.
    pub fn sets(&self) -> [(&'static str, Option<u64>); 5] {
        [
            ("CapInh", self.inheritable),
            ("CapPrm", self.permitted),
            ("CapEff", self.effective),
            ("CapBnd", self.bounding),
            ("CapAmb", self.ambient),
        ]
    }
}

impl Status {
    /// Reads and parses the status of `process`.
    pub fn read(process: Process) -> Result<Self, ProcError> {
        Ok(Self::parse(&read(process.dir().join("status"))?))
    }

    /// Parses the text of a status file.
    pub fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let numbers = |name: &str| -> Vec<u32> {
            field(name)
                .map(|value| {
                    value
                        .split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let number = |name: &str| field(name).and_then(|value| value.parse::<u64>().ok());
        let hex = |name: &str| field(name).and_then(|value| u64::from_str_radix(value, 16).ok());
        let mut groups = numbers("Groups");
        groups.sort_unstable();
        groups.dedup();
        Status {
            uid: numbers("Uid"),
            gid: numbers("Gid"),
            groups,
            caps: Capabilities {
                inheritable: hex("CapInh"),
                permitted: hex("CapPrm"),
                effective: hex("CapEff"),
                bounding: hex("CapBnd"),
                ambient: hex("CapAmb"),
            },
            no_new_privs: number("NoNewPrivs"),
            seccomp: number("Seccomp"),
            seccomp_filters: number("Seccomp_filters"),
            nspid: numbers("NSpid"),
            threads: number("Threads"),
        }
    }
}

/// The inode of `process`'s namespace of type `kind` (`net`, `pid`, `mnt`, `user`).
pub fn namespace_inode(process: Process, kind: &str) -> Result<u64, ProcError> {
    let path = process.dir().join("ns").join(kind);
    std::fs::metadata(&path)
        .map(|meta| meta.ino())
        .map_err(|source| ProcError { path, source })
}

/// Session id and controlling terminal (`tty_nr`) from `/proc/PID/stat`.
pub fn session(process: Process) -> Result<(i32, i32), ProcError> {
    let path = process.dir().join("stat");
    let text = read(path.clone())?;
    // The command name (field 2) is in parentheses and may contain anything: parse after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(3) ppid(4) pgrp(5) session(6) tty_nr(7).
    let parse = |index: usize| fields.get(index).and_then(|value| value.parse().ok());
    match (parse(3), parse(4)) {
        (Some(session), Some(tty)) => Ok((session, tty)),
        _ => Err(ProcError {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected stat format"),
        }),
    }
}

/// One mount of a mount namespace, from `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount id (new for every copy of a namespace).
    pub id: u64,
    /// The file system instance, `major:minor` (a copied mount keeps its instance; a fresh
    /// `proc` mount gets a new one).
    pub device: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Mounted read-only (`ro` in the per-mount options).
    pub read_only: bool,
}

/// `process`'s `mountinfo`, as text (read once where several checks parse it).
pub fn mountinfo(process: Process) -> Result<String, ProcError> {
    let path = process.dir().join("mountinfo");
    read_records(&path).map_err(|source| ProcError { path, source })
}

/// The mounts of a `mountinfo` text whose file system type is `fstype`, in order.
pub fn mounts_of_type_in(text: &str, fstype: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut fields = before.split_whitespace();
            let id = fields.next()?.parse().ok()?;
            let device = fields.nth(1)?.to_owned();
            let mount_point = fields.nth(1)?.to_owned();
            let read_only = fields.next()?.split(',').any(|option| option == "ro");
            (after.split_whitespace().next()? == fstype).then_some(Mount {
                id,
                device,
                mount_point,
                read_only,
            })
        })
        .collect()
}

/// The number of threads of the calling process (tasks in `/proc/self/task`).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_status_file() {
        let status = Status::parse(
            "Name:\tsh\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
             Groups:\t65534 65534 \nNSpid:\t4242\t2\nCapInh:\t0000000000000000\n\
             CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n\
             CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n",
        );
        assert_eq!(status.uid, vec![65534; 4]);
        assert_eq!(status.groups, vec![65534]);
        assert_eq!(status.nspid, vec![4242, 2]);
        assert_eq!(status.caps.bounding, Some(0x1ff_ffff_ffff));
        assert_eq!(status.caps.ambient, Some(0));
        assert_eq!(status.no_new_privs, Some(1));
        assert_eq!(status.seccomp_filters, Some(3));
    }

    #[test]
    fn missing_lines_are_unknown() {
        let status = Status::parse("Name:\tsh\nSeccomp:\t0\n");
        assert_eq!(status.no_new_privs, None);
        assert_eq!(status.seccomp_filters, None);
        assert_eq!(status.seccomp, Some(0));
    }

    #[test]
    fn lists_this_process_proc_mount() {
        let mounts = mounts_of_type_in(&mountinfo(Process::This).unwrap(), "proc");
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_point == "/proc" && m.device.contains(':')),
            "{mounts:?}"
        );
    }

    #[test]
    fn a_file_larger_than_the_first_read_is_read_whole() {
        let path = std::env::temp_dir().join(format!("procfs-read-{}", std::process::id()));
        let text: String = (0..3000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let read = read_file(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), text);
        let small = read_file(Path::new("/proc/self/status")).unwrap();
        assert!(small.contains("\nUid:") && small.ends_with('\n'), "{small}");
    }

    #[test]
    fn reads_this_process() {
        let status = Status::read(Process::This).unwrap();
        assert_eq!(status.uid[0], nix::unistd::getuid().as_raw());
        let (session, _tty) = session(Process::This).unwrap();
        assert_eq!(session, nix::unistd::getsid(None).unwrap().as_raw());
        assert!(namespace_inode(Process::This, "net").unwrap() > 0);
        assert!(thread_count() >= 1);
    }
}
