"""Where one boot's time goes: traces `sandbox-supervisor -- /bin/true` N times with `perf trace`
(kernel tracepoints: no ptrace stop, no fork-following cost) for the calls that mark a phase, and
prints the median length of each phase in milliseconds.

    phases.py SUPERVISOR [N]

Wall time: on a loaded machine a phase also holds the time its process waited for a CPU."""
import os
import re
import statistics
import subprocess
import sys
import tempfile

CALLS = "unshare,clone,seccomp,execve,exit_group,write"
PHASES = [
    ("start: loader, std, arguments, prepare (filters compiled)", "exec", "unshare"),
    ("unshare(CLONE_NEWNET), in the kernel", "unshare", "unshare_end"),
    ("lo up, its netlink check, own status", "unshare_end", "clone"),
    ("clone(CLONE_NEWPID) of the supervisor, in the kernel", "clone", "clone_end"),
    ("init: mount ns, /proc; workload: clone, session, caps, ids, filter", "clone_end", "ready"),
    ("verification from /proc, the prelude", "ready", "release"),
    ("release, execve, /bin/true runs", "release", "workload_exit"),
    ("teardown: init reaps and exits, supervisor exits", "workload_exit", "end"),
]
LINE = re.compile(r"^\s*([0-9.]+) \(\s*([0-9.]*)\s*(?:ms)?\): (\S+)/(\d+) (\w+)\((.*)$")


def marks(path):
    m = {"exec": 0.0}
    supervisor = None
    for line in open(path):
        match = LINE.match(line)
        if not match:
            continue
        t, duration, comm, pid, call, rest = match.groups()
        t = float(t)
        duration = float(duration or 0)
        supervisor = supervisor or pid
        if call == "unshare" and "1073741824" in rest:
            m["unshare"], m["unshare_end"] = t, t + duration
        elif call == "clone" and "NEWPID" in rest:
            m["clone"], m["clone_end"] = t, t + duration
        elif call == "write" and "count: 8)" in rest and pid != supervisor:
            m.setdefault("ready", t)
        elif call == "write" and "count: 1)" in rest and pid == supervisor:
            m.setdefault("release", t)
        elif call == "exit_group" and comm == "true":
            m["workload_exit"] = t
        elif call == "exit_group" and pid == supervisor:
            m["end"] = t
    return m


def main():
    supervisor = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            out = os.path.join(tmp, f"{i}.trace")
            subprocess.run(
                ["perf", "trace", "-e", CALLS, "-o", out, "--", supervisor, "--log-level", "error",
                 "--", "/bin/true"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append(marks(out))
    total = statistics.median(r["end"] for r in runs if "end" in r)
    print(f"median over {n} traced boots, ms (whole boot to the supervisor's exit_group: {total:.3f})")
    for name, start, end in PHASES:
        values = [r[end] - r[start] for r in runs if start in r and end in r]
        print(f"  {statistics.median(values):7.3f}  {name}  ({len(values)} traces)")


if __name__ == "__main__":
    main()
