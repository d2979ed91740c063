"""Writes, with libseccomp, a BPF program equivalent to sandbox-supervisor's built-in workload
filter (supervisor/src/steps/seccomp/, docs/seccomp.md) to the file named by the last argument, in
the raw form `bwrap --seccomp FD` loads; prints its length in instructions on stdout.

    libseccomp-filter.py [--optimize 1|2] OUT

Equivalent: the same calls denied with EPERM whatever their arguments (the prelude's and the
workload's lists), the same argument checks (socket, personality, clone, unshare, execveat,
seccomp, prctl), clone3 answering ENOSYS, and calls of another
architecture killing the process. personality is approximated (see below). Not expressible in libseccomp and left out: ENOSYS for every
number above the newest known call (one comparison on the supervisor's side). libseccomp compares
all 64 bits of an argument where the built-in filter compares the low 32.

--optimize 2 asks libseccomp for its binary tree over syscall numbers (the default, 1, is a chain
sorted by priority); bench/run.sh uses whichever is faster for the call measured: both are
printed."""
import errno
import socket
import sys

import seccomp

X86_64 = {
    # Calls libseccomp 2.5 does not name yet.
    "lsm_get_self_attr": 459,
    "lsm_set_self_attr": 460,
    "lsm_list_modules": 461,
}

PRELUDE_DENIED = [
    "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "bpf", "perf_event_open", "userfaultfd", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load",
]
WORKLOAD_DENIED = [
    "memfd_create", "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "setns", "quotactl", "quotactl_fd", "add_key", "keyctl", "request_key",
    "open_by_handle_at", "name_to_handle_at", "acct", "swapon", "swapoff", "reboot", "syslog",
    "vhangup", "sethostname", "setdomainname", "settimeofday", "clock_settime", "fanotify_init",
    "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mbind", "set_mempolicy",
    "get_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages", "nfsservctl",
    "lookup_dcookie",
    # x86_64 only
    "iopl", "ioperm", "uselib", "ustat", "sysfs", "_sysctl", "getpmsg", "putpmsg", "afs_syscall",
    "tuxcall", "security", "vserver",
]
CLONE_NAMESPACES = [
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
]
CLONE_NEWTIME = 0x80
SOCK_PACKET = 10
AF_BLUETOOTH, AF_ALG, AF_VSOCK = 31, 38, 40


def number(name):
    nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    if nr < 0:
        nr = X86_64[name]
    return nr


def main(argv):
    optimize = int(argv[argv.index("--optimize") + 1]) if "--optimize" in argv else 1
    out = argv[-1]

    eperm = seccomp.ERRNO(errno.EPERM)
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    f.set_attr(seccomp.Attr.CTL_OPTIMIZE, optimize)
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for name in PRELUDE_DENIED + WORKLOAD_DENIED:
        f.add_rule(eperm, number(name))

    masked = lambda index, bits: seccomp.Arg(index, seccomp.MASKED_EQ, bits, bits)
    equal = lambda index, value: seccomp.Arg(index, seccomp.EQ, value)
    type_is = lambda value: seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, value)

    f.add_rule(eperm, "socket", type_is(SOCK_PACKET))
    for family in [socket.AF_PACKET, AF_BLUETOOTH, AF_VSOCK, AF_ALG]:
        f.add_rule(eperm, "socket", equal(0, family))
    f.add_rule(eperm, "socket", equal(0, socket.AF_NETLINK),
               seccomp.Arg(2, seccomp.NE, 0))  # NETLINK_ROUTE
    for family in [socket.AF_INET, socket.AF_INET6]:
        f.add_rule(eperm, "socket", equal(0, family), type_is(socket.SOCK_RAW))
    # libseccomp takes one comparison per argument and rule, and no rule with the default
    # action, so "none of the five allowed values" cannot be written: approximated by denying
    # the two bits that matter (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) unless bit 31 is set (the
    # query 0xffffffff). personality is on no measured path.
    for bit in [0x0040_0000, 0x0004_0000]:
        f.add_rule(eperm, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, 0x8000_0000 | bit, bit))
    for bit in CLONE_NAMESPACES:
        f.add_rule(eperm, "clone", masked(0, bit))
    for bit in CLONE_NAMESPACES + [CLONE_NEWTIME]:
        f.add_rule(eperm, "unshare", masked(0, bit))
    f.add_rule(eperm, "execveat", masked(4, 0x1000))  # AT_EMPTY_PATH
    f.add_rule(eperm, "seccomp", equal(0, 1))  # SECCOMP_SET_MODE_FILTER
    f.add_rule(eperm, "prctl", equal(0, 22))  # PR_SET_SECCOMP
    with open(out, "wb") as sink:
        f.export_bpf(sink)
    with open(out, "rb") as written:
        print(len(written.read()) // 8)


if __name__ == "__main__":
    main(sys.argv[1:])
