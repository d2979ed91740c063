//! `escape-probe MODE [ARGS]`: tries, from inside the sandbox, the escapes a contained workload
//! must not have, and prints one line per attempt, `WHAT RESULT`, where RESULT is `OK` or the
//! errno's name. Every attempt is harmless if it succeeds (the tests check that it does not).
//!
//! - `tty MARKER`: the terminal. `tty_nr N` (the controlling terminal from `/proc/self/stat`, 0 for
//!   none), `open(/dev/tty)`, then `ioctl(TIOCSTI)` of each byte of MARKER on `/dev/tty` (when it
//!   opened) and on descriptor 0.
//! - `ldisc`: `ioctl(TIOCSETD, N_NULL)` on descriptor 0, which leaves a terminal dead (nothing
//!   echoed, nothing read) until someone sets `N_TTY` back.
//! - `takeover MARKER`: the terminal on descriptor 0 when it is no session's controlling terminal.
//!   `ioctl(TIOCSCTTY)` on descriptor 0 and `ioctl(TIOCSTI)` of each byte of MARKER on it, then
//!   `open(/proc/self/fd/0)` without `O_NOCTTY` (which
//!   makes it the controlling terminal of a session leader that has none), `tty_nr N`, then
//!   `ioctl(TIOCSTI)` of each byte of MARKER on the reopened descriptor.
//! - `rewrite-output`: the supervisor's log, when it shares the workload's standard error.
//!   `ftruncate` of descriptors 2 and 1 to 0 and `lseek` of descriptor 2 to 0, then a fake
//!   `sandbox-supervisor:` line on standard error.
//! - `reach PID`: a process outside the sandbox. `open(/proc/PID/mem)` for reading and writing,
//!   and `kill(PID, 0)` (the permission check of a real signal, without sending one).
//! - `procs`: the processes this workload can see. `procs N...` (the numeric entries of `/proc`,
//!   sorted) and `pid1-arg ARG` for each argument of `/proc/1/cmdline`.
//! - `root-ops DIR`: what capabilities guard. `mknod(DIR/blk, block 7:0)` (removed again if it
//!   was made), `sethostname` to the current name, `open(/proc/sys/kernel/core_pattern, O_WRONLY)`
//!   (closed without writing).
//! - `filter`: calls Docker's default profile denies, with arguments that fail harmlessly or only
//!   touch this process when let through: `mount_setattr`, `socket(AF_INET, SOCK_PACKET)`, the
//!   keyrings, `quotactl_fd`, `personality(READ_IMPLIES_EXEC)`, `kcmp`, `process_madvise`,
//!   `open_by_handle_at`, `name_to_handle_at`, the first number above `mseal` (the newest call the
//!   supervisor knows), `memfd_create`, `unshare(CLONE_NEWUSER)`, `clone3`.

use std::ffi::CString;
use std::os::fd::AsRawFd;

fn result(rc: libc::c_long) -> String {
    if rc < 0 {
        format!("{:?}", nix::errno::Errno::last())
    } else {
        "OK".to_owned()
    }
}

fn errno_of(err: &std::io::Error) -> String {
    format!(
        "{:?}",
        nix::errno::Errno::from_raw(err.raw_os_error().unwrap_or(0))
    )
}

/// Pushes each byte of `marker` into the input queue of the terminal `fd`.
fn tiocsti(fd: libc::c_int, marker: &[u8]) -> String {
    for byte in marker {
        // SAFETY: TIOCSTI reads one byte through the pointer, which points to a live u8.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCSTI, byte as *const u8) };
        if rc < 0 {
            return result(rc.into());
        }
    }
    "OK".to_owned()
}

fn tty(marker: &str) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name, which ends at the last ')': state ppid pgrp session tty_nr.
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let tty_nr = rest.split(' ').nth(4).expect("tty_nr");
    println!("tty_nr {tty_nr}");
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        Ok(file) => {
            println!("open(/dev/tty) OK");
            println!(
                "TIOCSTI(/dev/tty) {}",
                tiocsti(file.as_raw_fd(), marker.as_bytes())
            );
        }
        Err(err) => println!("open(/dev/tty) {}", errno_of(&err)),
    }
    println!("TIOCSTI(fd0) {}", tiocsti(0, marker.as_bytes()));
}

fn ldisc() {
    let n_null: libc::c_int = 27;
    // SAFETY: TIOCSETD reads one int through the pointer, which points to a live c_int.
    let rc = unsafe { libc::ioctl(0, libc::TIOCSETD, &n_null) };
    println!("TIOCSETD(fd0) {}", result(rc.into()));
}

fn takeover(marker: &str) {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal from another session).
    let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    println!("TIOCSCTTY(fd0) {}", result(rc.into()));
    println!("TIOCSTI(fd0) {}", tiocsti(0, marker.as_bytes()));
    let reopened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/fd/0");
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    println!("tty_nr {}", rest.split(' ').nth(4).expect("tty_nr"));
    match reopened {
        Ok(file) => {
            println!("open(/proc/self/fd/0) OK");
            println!(
                "TIOCSTI(reopened) {}",
                tiocsti(file.as_raw_fd(), marker.as_bytes())
            );
        }
        Err(err) => println!("open(/proc/self/fd/0) {}", errno_of(&err)),
    }
}

fn rewrite_output() {
    for fd in [2, 1] {
        // SAFETY: ftruncate takes integers; it changes at most the file behind this descriptor.
        let rc = unsafe { libc::ftruncate(fd, 0) };
        println!("ftruncate(fd{fd}) {}", result(rc.into()));
    }
    // SAFETY: lseek takes integers.
    let rc = unsafe { libc::lseek(2, 0, libc::SEEK_SET) };
    println!("lseek(fd2) {}", result(rc as libc::c_long));
    eprintln!("sandbox-supervisor: INFO fake: every step enforced");
}

fn reach(pid: i32) {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
    {
        Ok(_) => println!("open(/proc/PID/mem) OK"),
        Err(err) => println!("open(/proc/PID/mem) {}", errno_of(&err)),
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    println!("kill(PID,0) {}", result(rc.into()));
}

fn procs() {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("procs {}", pids.join(" "));
    let cmdline = std::fs::read("/proc/1/cmdline").expect("read /proc/1/cmdline");
    for arg in cmdline.split(|b| *b == 0).filter(|arg| !arg.is_empty()) {
        println!("pid1-arg {}", String::from_utf8_lossy(arg));
    }
}

fn root_ops(dir: &str) {
    let node = CString::new(format!("{dir}/blk")).expect("path");
    // SAFETY: `node` is a NUL-terminated path; mknod creates at most that one file.
    let rc = unsafe { libc::mknod(node.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(7, 0)) };
    println!("mknod(block) {}", result(rc.into()));
    if rc == 0 {
        // SAFETY: removes the node just made at the same NUL-terminated path.
        unsafe { libc::unlink(node.as_ptr()) };
    }
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("read the hostname");
    let name = name.trim_end().as_bytes();
    // SAFETY: `name` is valid for `name.len()` bytes; setting the current name changes nothing.
    let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    println!("sethostname {}", result(rc.into()));
    match std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/core_pattern")
    {
        Ok(_) => println!("open(core_pattern,O_WRONLY) OK"),
        Err(err) => println!("open(core_pattern,O_WRONLY) {}", errno_of(&err)),
    }
}

/// A raw system call with up to five integer or pointer arguments.
fn raw(nr: libc::c_long, args: &[u64]) -> String {
    let mut all = [0u64; 5];
    all[..args.len()].copy_from_slice(args);
    // SAFETY: every caller passes integers, null pointers, or pointers to NUL-terminated static
    // strings; each call fails with these arguments, or changes only this short-lived process.
    result(unsafe { libc::syscall(nr, all[0], all[1], all[2], all[3], all[4]) })
}

fn filter() {
    let text = |bytes: &'static [u8]| bytes.as_ptr() as u64;
    let me = u64::from(std::process::id());
    let bad_fd = u64::MAX;
    let calls: [(&str, libc::c_long, &[u64]); 15] = [
        (
            "mount_setattr",
            libc::SYS_mount_setattr,
            &[bad_fd, text(b"\0")],
        ),
        (
            "socket(AF_INET,SOCK_PACKET)",
            libc::SYS_socket,
            &[libc::AF_INET as u64, 10],
        ),
        (
            "add_key",
            libc::SYS_add_key,
            &[
                text(b"user\0"),
                text(b"sandbox-parity\0"),
                text(b"x\0"),
                1,
                libc::KEY_SPEC_THREAD_KEYRING as u64,
            ],
        ),
        (
            "keyctl",
            libc::SYS_keyctl,
            &[
                libc::KEYCTL_GET_KEYRING_ID as u64,
                libc::KEY_SPEC_SESSION_KEYRING as u64,
                0,
            ],
        ),
        (
            "request_key",
            libc::SYS_request_key,
            &[text(b"user\0"), text(b"sandbox-parity-none\0"), 0, 0],
        ),
        ("quotactl_fd", libc::SYS_quotactl_fd, &[bad_fd, 0, 0, 0]),
        ("kcmp", libc::SYS_kcmp, &[me, me, 0, 0, 0]),
        (
            "process_madvise",
            libc::SYS_process_madvise,
            &[bad_fd, 0, 0, 0, 0],
        ),
        (
            "open_by_handle_at",
            libc::SYS_open_by_handle_at,
            &[libc::AT_FDCWD as u64, 0, 0],
        ),
        (
            "name_to_handle_at",
            libc::SYS_name_to_handle_at,
            &[libc::AT_FDCWD as u64, text(b"/\0"), 0, 0, 0],
        ),
        ("above-known", libc::SYS_mseal + 1, &[bad_fd, 0, 0, 0, 0]),
        ("memfd_create", libc::SYS_memfd_create, &[text(b"x\0"), 0]),
        ("clone3", libc::SYS_clone3, &[0, 0]),
        (
            "unshare(CLONE_NEWUSER)",
            libc::SYS_unshare,
            &[libc::CLONE_NEWUSER as u64],
        ),
        // Last: it changes how this process maps memory.
        (
            "personality(READ_IMPLIES_EXEC)",
            libc::SYS_personality,
            &[0x0040_0000],
        ),
    ];
    for (name, nr, args) in calls {
        println!("{name} {}", raw(nr, args));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["tty", marker] => tty(marker),
        ["ldisc"] => ldisc(),
        ["rewrite-output"] => rewrite_output(),
        ["takeover", marker] => takeover(marker),
        ["reach", pid] => reach(pid.parse().expect("PID")),
        ["procs"] => procs(),
        ["root-ops", dir] => root_ops(dir),
        ["filter"] => filter(),
        _ => {
            eprintln!("usage: escape-probe tty MARKER | ldisc | takeover MARKER | rewrite-output | reach PID | procs | root-ops DIR | filter");
            std::process::exit(2);
        }
    }
}
