//! `sandbox-observe`: run as a workload, prints what it has, one `key value` line each, for tests
//! that compare the report with what the workload really observes: its network, PID and mount
//! namespaces as seen from inside, its session and terminal, its ids, its capability sets, its
//! seccomp state and no_new_privs, and whether its ancestors' environments (the init's, the
//! supervisor's, as far as its `/proc` shows them) hold a variable named `FAULT_SECRET`.

use std::io::Write;

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|value| value.split_whitespace().collect::<Vec<_>>().join(","))
        .unwrap_or_else(|| "-".to_owned())
}

fn main() {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key} {value}\n"));
    let link = |path: &str| {
        std::fs::read_link(path)
            .map(|target| target.display().to_string())
            .unwrap_or_else(|_| "-".to_owned())
    };
    line("netns", link("/proc/self/ns/net"));
    // The init enters a cgroup namespace once it has joined the sandbox's group.
    line("cgroupns", link("/proc/self/ns/cgroup"));
    for (name, resource) in [("core", libc::RLIMIT_CORE), ("nofile", libc::RLIMIT_NOFILE)] {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
        unsafe { libc::getrlimit(resource, &mut limit) };
        line(name, format!("{}:{}", limit.rlim_cur, limit.rlim_max));
    }
    line("pid", std::process::id().to_string());
    // With a fresh /proc for its own PID namespace, /proc/self names the pid the workload sees.
    line("proc_self", link("/proc/self"));
    // SAFETY: getsid(0) and getpgrp take no pointer.
    line("sid", unsafe { libc::getsid(0) }.to_string());
    // A controlling terminal would open.
    line("ctty", std::fs::File::open("/dev/tty").is_ok().to_string());
    let init = std::fs::read("/proc/1/cmdline").unwrap_or_default();
    let init = String::from_utf8_lossy(&init).replace('\0', " ");
    line("init", init.trim().replace(' ', "_"));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for field in [
        "Uid",
        "Gid",
        "Groups",
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
        "Seccomp_filters",
    ] {
        line(field, status_field(&status, field));
    }
    // The filesystem view: the root is mounted read-only (the host's is not).
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root_ro = mountinfo
        .lines()
        .rfind(|line| line.split_whitespace().nth(4) == Some("/"))
        .and_then(|line| line.split_whitespace().nth(5))
        .is_some_and(|options| options.split(',').any(|option| option == "ro"));
    line("root_ro", root_ro.to_string());
    // Landlock: its rules give /proc no write access, where the kernel lets a process write its
    // own comm.
    let comm = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/comm")
        .map(|_| "ok".to_owned())
        .unwrap_or_else(|err| format!("errno{}", err.raw_os_error().unwrap_or(0)));
    line("comm_write", comm);
    // Does the workload filter deny creating a user namespace?
    // SAFETY: unshare takes an integer; a child process would be needed to undo it, but this
    // process ends right after printing.
    let userns = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
    line(
        "unshare_user",
        if userns == 0 { "ok" } else { "refused" }.to_owned(),
    );
    // The ancestors its /proc shows (the init, the supervisor: a PPid of 0 is outside the PID
    // namespace): how many environments it could read, and whether one held the secret.
    let (mut read, mut secret) = (0, false);
    let mut pid = "self".to_owned();
    for _ in 0..3 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        pid = status_field(&status, "PPid");
        if pid == "0" || pid == "-" {
            break;
        }
        if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
            read += 1;
            secret |= environ
                .split(|byte| *byte == 0)
                .any(|entry| entry.starts_with(b"FAULT_SECRET="));
        }
    }
    line("ancestor_environs_read", read.to_string());
    line("ancestor_secret", secret.to_string());
    let _ = std::io::stdout().write_all(out.as_bytes());
}
