"""Writes, with libseccomp, a BPF program equivalent to sandbox-supervisor's built-in workload
filter (same calls, same argument checks, EPERM; clone3 ENOSYS) to the file named by argv[1],
in the raw form `bwrap --seccomp FD` loads."""
import errno
import socket
import sys

import seccomp

EPERM = seccomp.ERRNO(errno.EPERM)
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
for name in [
    "memfd_create", "ptrace", "bpf", "process_vm_readv", "process_vm_writev", "pidfd_open",
    "pidfd_getfd", "pidfd_send_signal", "io_uring_setup", "mount", "umount2", "pivot_root",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "setns", "userfaultfd",
    "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module",
]:
    f.add_rule(EPERM, name)
for family in [socket.AF_PACKET, 31, 40]:  # AF_BLUETOOTH, AF_VSOCK
    f.add_rule(EPERM, "socket", seccomp.Arg(0, seccomp.EQ, family))
f.add_rule(EPERM, "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_NETLINK), seccomp.Arg(2, seccomp.NE, 0))
for family in [socket.AF_INET, socket.AF_INET6]:
    f.add_rule(EPERM, "socket", seccomp.Arg(0, seccomp.EQ, family), seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, 3))
f.add_rule(EPERM, "execveat", seccomp.Arg(4, seccomp.MASKED_EQ, 0x1000, 0x1000))
for name in ["unshare", "clone"]:
    f.add_rule(EPERM, name, seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))
f.add_rule(EPERM, "seccomp", seccomp.Arg(0, seccomp.EQ, 1))
f.add_rule(EPERM, "prctl", seccomp.Arg(0, seccomp.EQ, 22))
with open(sys.argv[1], "wb") as out:
    f.export_bpf(out)
