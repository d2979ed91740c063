//! `syscall-probe denied|regain-root`: makes system calls with harmless arguments and prints one
//! line per call, `NAME RESULT`, where RESULT is `OK` or the errno's name. `syscall-probe calls
//! NR[,ARG...] ...` makes the calls given (numbers, up to five arguments) and prints
//! `NR[,ARG...] RESULT` for each: the caller chooses harmless ones. Every call is chosen so
//! that, if the workload filter let it through, it would fail harmlessly or create a descriptor
//! that is closed at exit.

use std::ffi::CString;

fn errno_name(errno: i32) -> String {
    format!("{:?}", nix::errno::Errno::from_raw(errno))
}

/// Runs a raw system call and returns `OK` or the errno's name.
fn call(nr: i64, args: [u64; 5]) -> String {
    // SAFETY: every caller passes arguments that are either integers, null pointers or pointers to
    // live buffers of this function's caller; the calls are expected to fail or to return a
    // descriptor, and touch no Rust-owned memory otherwise.
    let rc = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4]) };
    if rc < 0 {
        errno_name(nix::errno::Errno::last_raw())
    } else {
        "OK".to_owned()
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "calls" {
        for spec in std::env::args().skip(2) {
            let numbers: Vec<u64> = spec
                .split(',')
                .map(|number| number.parse().expect("a number"))
                .collect();
            let mut args = [0u64; 5];
            for (slot, value) in args.iter_mut().zip(&numbers[1..]) {
                *slot = *value;
            }
            println!("{spec} {}", call(numbers[0] as i64, args));
        }
        return;
    }
    let empty = CString::new("").unwrap();
    let empty = empty.as_ptr() as u64;
    let nonexistent = CString::new("/nonexistent-probe-path").unwrap();
    let nonexistent = nonexistent.as_ptr() as u64;
    let me = std::process::id() as u64;
    let minus_one = u64::MAX;
    let calls: Vec<(&str, i64, [u64; 5])> = match mode.as_str() {
        "denied" => vec![
            ("memfd_create", libc::SYS_memfd_create, [empty, 0, 0, 0, 0]),
            (
                "ptrace",
                libc::SYS_ptrace,
                [libc::PTRACE_PEEKDATA as u64, 1, 0, 0, 0],
            ),
            ("bpf", libc::SYS_bpf, [0, 0, 0, 0, 0]),
            (
                "process_vm_readv",
                libc::SYS_process_vm_readv,
                [me, 0, 0, 0, 0],
            ),
            (
                "process_vm_writev",
                libc::SYS_process_vm_writev,
                [me, 0, 0, 0, 0],
            ),
            ("pidfd_open", libc::SYS_pidfd_open, [me, 0, 0, 0, 0]),
            (
                "pidfd_getfd",
                libc::SYS_pidfd_getfd,
                [minus_one, 0, 0, 0, 0],
            ),
            (
                "pidfd_send_signal",
                libc::SYS_pidfd_send_signal,
                [minus_one, 0, 0, 0, 0],
            ),
            ("io_uring_setup", libc::SYS_io_uring_setup, [0, 0, 0, 0, 0]),
            ("mount", libc::SYS_mount, [0, nonexistent, 0, 0, 0]),
            ("umount2", libc::SYS_umount2, [nonexistent, 0, 0, 0, 0]),
            (
                "pivot_root",
                libc::SYS_pivot_root,
                [nonexistent, nonexistent, 0, 0, 0],
            ),
            ("fsopen", libc::SYS_fsopen, [0, 0, 0, 0, 0]),
            ("fsconfig", libc::SYS_fsconfig, [minus_one, 0, 0, 0, 0]),
            ("fsmount", libc::SYS_fsmount, [minus_one, 0, 0, 0, 0]),
            ("fspick", libc::SYS_fspick, [minus_one, 0, 0, 0, 0]),
            (
                "move_mount",
                libc::SYS_move_mount,
                [minus_one, 0, minus_one, 0, 0],
            ),
            ("open_tree", libc::SYS_open_tree, [minus_one, 0, 0, 0, 0]),
            ("setns", libc::SYS_setns, [minus_one, 0, 0, 0, 0]),
            ("userfaultfd", libc::SYS_userfaultfd, [0, 0, 0, 0, 0]),
            (
                "perf_event_open",
                libc::SYS_perf_event_open,
                [0, 0, 0, 0, 0],
            ),
            ("kexec_load", libc::SYS_kexec_load, [0, 0, 0, minus_one, 0]),
            (
                "kexec_file_load",
                libc::SYS_kexec_file_load,
                [minus_one, minus_one, 0, 0, 0],
            ),
            ("init_module", libc::SYS_init_module, [0, 0, empty, 0, 0]),
            (
                "finit_module",
                libc::SYS_finit_module,
                [minus_one, empty, 0, 0, 0],
            ),
            (
                "delete_module",
                libc::SYS_delete_module,
                [nonexistent, libc::O_NONBLOCK as u64, 0, 0, 0],
            ),
            (
                "socket(AF_PACKET)",
                libc::SYS_socket,
                [libc::AF_PACKET as u64, libc::SOCK_RAW as u64, 0, 0, 0],
            ),
            (
                "socket(AF_BLUETOOTH)",
                libc::SYS_socket,
                [libc::AF_BLUETOOTH as u64, libc::SOCK_STREAM as u64, 0, 0, 0],
            ),
            (
                "socket(AF_VSOCK)",
                libc::SYS_socket,
                [libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64, 0, 0, 0],
            ),
            (
                "socket(AF_NETLINK,NETLINK_AUDIT)",
                libc::SYS_socket,
                [
                    libc::AF_NETLINK as u64,
                    libc::SOCK_RAW as u64,
                    libc::NETLINK_AUDIT as u64,
                    0,
                    0,
                ],
            ),
            (
                "socket(AF_INET,SOCK_RAW)",
                libc::SYS_socket,
                [
                    libc::AF_INET as u64,
                    libc::SOCK_RAW as u64,
                    libc::IPPROTO_ICMP as u64,
                    0,
                    0,
                ],
            ),
            (
                "execveat(AT_EMPTY_PATH)",
                libc::SYS_execveat,
                [minus_one, empty, 0, 0, libc::AT_EMPTY_PATH as u64],
            ),
            (
                "unshare(CLONE_NEWUSER)",
                libc::SYS_unshare,
                [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0],
            ),
            // CLONE_THREAD without CLONE_SIGHAND is EINVAL if the filter lets it through.
            (
                "clone(CLONE_NEWUSER)",
                libc::SYS_clone,
                [
                    (libc::CLONE_NEWUSER | libc::CLONE_THREAD) as u64,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            (
                "seccomp(SET_MODE_FILTER)",
                libc::SYS_seccomp,
                [libc::SECCOMP_SET_MODE_FILTER as u64, 0, 0, 0, 0],
            ),
            (
                "prctl(PR_SET_SECCOMP)",
                libc::SYS_prctl,
                [libc::PR_SET_SECCOMP as u64, 2, 0, 0, 0],
            ),
            ("clone3", libc::SYS_clone3, [0, 0, 0, 0, 0]),
            // An x32 call (bit 30 set); ENOSYS without a filter where the kernel has no x32.
            (
                "x32:getppid",
                0x4000_0000 | libc::SYS_getppid,
                [0, 0, 0, 0, 0],
            ),
            // Allowed variants, expected to succeed.
            (
                "socket(AF_NETLINK,NETLINK_ROUTE)",
                libc::SYS_socket,
                [
                    libc::AF_NETLINK as u64,
                    libc::SOCK_RAW as u64,
                    libc::NETLINK_ROUTE as u64,
                    0,
                    0,
                ],
            ),
            (
                "socket(AF_INET,SOCK_STREAM)",
                libc::SYS_socket,
                [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0],
            ),
            (
                "socket(AF_UNIX,SOCK_STREAM)",
                libc::SYS_socket,
                [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0],
            ),
        ],
        "regain-root" => vec![("setuid(0)", libc::SYS_setuid, [0, 0, 0, 0, 0])],
        _ => {
            eprintln!("usage: syscall-probe denied|regain-root");
            std::process::exit(2);
        }
    };
    for (name, nr, args) in calls {
        println!("{name} {}", call(nr, args));
    }
}
