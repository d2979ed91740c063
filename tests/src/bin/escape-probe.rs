//! `escape-probe MODE [ARGS]`: tries, from inside the sandbox, the escapes a contained workload
//! must not have, and prints one line per attempt, `WHAT RESULT`, where RESULT is `OK` or the
//! errno's name. Every attempt is harmless if it succeeds (the tests check that it does not).
//!
//! - `tty MARKER`: the terminal. `tty_nr N` (the controlling terminal from `/proc/self/stat`, 0 for
//!   none), `open(/dev/tty)`, then `ioctl(TIOCSTI)` of each byte of MARKER on `/dev/tty` (when it
//!   opened) and on descriptor 0.
//! - `reach PID`: a process outside the sandbox. `open(/proc/PID/mem)` for reading and writing,
//!   and `kill(PID, 0)` (the permission check of a real signal, without sending one).
//! - `procs`: the processes this workload can see. `procs N...` (the numeric entries of `/proc`,
//!   sorted) and `pid1-arg ARG` for each argument of `/proc/1/cmdline`.
//! - `root-ops DIR`: what capabilities guard. `mknod(DIR/blk, block 7:0)` (removed again if it
//!   was made), `sethostname` to the current name, `open(/proc/sys/kernel/core_pattern, O_WRONLY)`
//!   (closed without writing).

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["tty", marker] => tty(marker),
        ["reach", pid] => reach(pid.parse().expect("PID")),
        ["procs"] => procs(),
        ["root-ops", dir] => root_ops(dir),
        _ => {
            eprintln!("usage: escape-probe tty MARKER | reach PID | procs | root-ops DIR");
            std::process::exit(2);
        }
    }
}
