#!/usr/bin/python3
"""The cost of the terminal relay: bytes per second through it against a direct pty.

    pty-bench.py SUPERVISOR [MEGABYTES] [RUNS] [OTHER_SUPERVISOR]

Writes a file of MEGABYTES (default 100) of 79-character text lines in a directory under
/var/lib (the sandbox's own /tmp is private), then, RUNS times (default 5) in turn, starts on a
new pty (its controlling terminal, as an operator's shell does) and times until the end of what
the terminal showed:

- direct:  cat FILE                                     (the pty the command writes to is read here)
- relay:   SUPERVISOR --log-level error -- cat FILE     (the sandbox's pty, relayed to this one)
- no tty:  SUPERVISOR --log-level error -- cat FILE, standard output a pipe (no pty, no relay)

and prints the median MB/s of each, the CPU time of the command and every process it waited
for per MB shown (the figure a loaded machine does not inflate), and the relay's ratio to the direct pty. With
OTHER_SUPERVISOR (another build, say the one before a change), its relay runs in the same turns
and its ratio is printed too. Run as root.

    pty-bench.py --boot SUPERVISOR [RUNS]

Boots `SUPERVISOR -- /bin/true` RUNS times (default 60) on a new pty and as many times without a
terminal (standard descriptors /dev/null), interleaved so that a changing load hits both alike,
and prints the median wall time and the median CPU time (user and system of the supervisor and
every process it waited for) of each; `/bin/true` alone on a pty and without shows what the
harness itself adds.
"""

import os
import pty
import resource
import shutil
import statistics
import sys
import tempfile
import time

LINE = (b"abcdefghijklmnopqrstuvwxyz0123456789" * 3)[:79] + b"\n"


def make_file(directory, megabytes):
    path = os.path.join(directory, "data")
    lines = megabytes * 1024 * 1024 // len(LINE)
    with open(path, "wb") as out:
        chunk = LINE * 4096
        for _ in range(lines // 4096):
            out.write(chunk)
        out.write(LINE * (lines % 4096))
    os.chmod(path, 0o644)
    return path


def on_pty(argv):
    """Runs argv on a new pty; returns (seconds, bytes the terminal showed)."""
    start = time.perf_counter()
    pid, master = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    shown = 0
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        shown += len(data)
    os.waitpid(pid, 0)
    os.close(master)
    return time.perf_counter() - start, shown


def on_pipe(argv):
    """Runs argv with standard output a pipe (no terminal at all)."""
    start = time.perf_counter()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(write, 1)
        os.dup2(null, 2)
        os.execv(argv[0], argv)
    os.close(write)
    shown = 0
    while True:
        data = os.read(read, 65536)
        if not data:
            break
        shown += len(data)
    os.waitpid(pid, 0)
    os.close(read)
    return time.perf_counter() - start, shown


def cpu_of(run, argv):
    """(wall seconds, CPU seconds, bytes shown) of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, shown = run(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, shown


def on_null(argv):
    """Runs argv with every standard descriptor /dev/null."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(argv[0], argv)
    os.waitpid(pid, 0)
    return time.perf_counter() - start, 0


def boot(supervisor, runs):
    argv = [supervisor, "--log-level", "error", "--", "/bin/true"]
    modes = {
        "terminal": (on_pty, argv),
        "no terminal": (on_null, argv),
        # The harness's own difference: /bin/true on a pty and without.
        "true, pty": (on_pty, ["/bin/true"]),
        "true, null": (on_null, ["/bin/true"]),
    }
    samples = {name: [] for name in modes}
    for _ in range(runs):
        for name, (run, command) in modes.items():
            samples[name].append(cpu_of(run, command)[:2])
    for name, values in samples.items():
        wall = statistics.median(v[0] for v in values) * 1000
        cpu = statistics.median(v[1] for v in values) * 1000
        print(f"{name:12} median wall {wall:6.1f} ms, CPU {cpu:5.1f} ms ({runs} runs)")


def main():
    if sys.argv[1] == "--boot":
        boot(os.path.abspath(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 60)
        return
    supervisor = os.path.abspath(sys.argv[1])
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    other = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
    directory = tempfile.mkdtemp(dir="/var/lib", prefix="pty-bench")
    os.chmod(directory, 0o755)
    try:
        data = make_file(directory, megabytes)
        cat = shutil.which("cat") or "/bin/cat"
        modes = {
            "direct": (on_pty, [cat, data]),
            "relay": (on_pty, [supervisor, "--log-level", "error", "--", cat, data]),
            "no tty": (on_pipe, [supervisor, "--log-level", "error", "--", cat, data]),
        }
        if other:
            modes["other"] = (on_pty, [other, "--log-level", "error", "--", cat, data])
        rates = {name: [] for name in modes}
        cpu = {name: [] for name in modes}
        for _ in range(runs):
            for name, (run, argv) in modes.items():
                seconds, used, shown = cpu_of(run, argv)
                rates[name].append(shown / seconds / 1e6)
                cpu[name].append(used * 1e3 / (shown / 1e6))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        for name, values in rates.items():
            print(
                f"{name:7} median {medians[name]:8.1f} MB/s  "
                f"(min {min(values):.1f}, max {max(values):.1f}, {runs} runs), "
                f"CPU {statistics.median(cpu[name]):5.1f} ms per MB (the command and its processes)"
            )
        print(f"relay / direct: {medians['relay'] / medians['direct']:.2f}")
        if other:
            print(f"other relay / direct: {medians['other'] / medians['direct']:.2f}")
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
