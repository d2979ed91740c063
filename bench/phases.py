"""Where one boot's time goes: runs `sandbox-supervisor -- /bin/true` under strace N times
(only the calls that mark a phase are traced, with --seccomp-bpf, so the others run at full
speed) and prints the median length of each phase in milliseconds.

    phases.py SUPERVISOR [N]

strace's own cost (about two context switches per traced call) is in every figure: read them
as shares, not as absolute times."""
import os
import re
import statistics
import subprocess
import sys
import tempfile

CALLS = "execve,clone,unshare,mount,seccomp,exit_group,write,socket"
PHASES = [
    ("start: loader, std, arguments, prepare (filters compiled)", "exec", "unshare"),
    ("unshare(CLONE_NEWNET) (the kernel)", "unshare", "unshare_end"),
    ("lo up and its netlink check", "unshare_end", "clone"),
    ("sandbox: init, mount ns, /proc, workload, caps, ids, filter", "clone", "ready"),
    ("verification from /proc, the prelude", "ready", "release"),
    ("release, execve, /bin/true runs", "release", "workload_exit"),
    ("teardown: init exits, namespaces freed, supervisor exits", "workload_exit", "end"),
]


def marks(path):
    lines = open(path).read().splitlines()
    first = lines[0].split()[0]
    m = {}
    for line in lines:
        pid, stamp, rest = line.split(None, 2)
        t = float(stamp)
        duration = re.search(r"<([0-9.]+)>$", rest)
        if rest.startswith("execve(") and pid == first:
            m.setdefault("exec", t)
        elif rest.startswith("unshare(CLONE_NEWNET"):
            m["unshare"] = t
            m["unshare_end"] = t + float(duration.group(1))
        elif rest.startswith("clone(") and "CLONE_NEWPID" in rest:
            m["clone"] = t
        elif rest.startswith('write(5, "\\377'):
            m["ready"] = t
        elif rest.startswith('write(7, "\\1"'):
            m["release"] = t
        elif rest.startswith("exit_group(") and pid not in (first,) and "workload_exit" not in m:
            m["workload_exit"] = t
        elif rest.startswith("+++ exited") and pid == first:
            m["end"] = t
    return m


def main():
    supervisor = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            out = os.path.join(tmp, f"{i}.strace")
            subprocess.run(
                ["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-e", f"trace={CALLS}", "-o", out,
                 supervisor, "--log-level", "error", "--", "/bin/true"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append(marks(out))
    total = statistics.median(r["end"] - r["exec"] for r in runs) * 1e3
    print(f"median over {n} traced boots (ms); whole boot {total:.3f}")
    for name, start, end in PHASES:
        values = [(r[end] - r[start]) * 1e3 for r in runs if start in r and end in r]
        print(f"  {statistics.median(values):7.3f}  {name}")


if __name__ == "__main__":
    main()
