"""Summaries for bench/run.sh.

    summary.py round DIR         one round's tables; writes DIR/summary.json
    summary.py ranges DIR...     min-max of every ratio over the rounds, targets met or missed
    summary.py build START END HTML   cold build time and where it goes (cargo --timings)
"""
import json
import re
import statistics
import sys
from collections import defaultdict

MIB = 1024


def boot(path):
    wall, cpu = defaultdict(list), defaultdict(list)
    for line in open(path):
        name, w, c = line.rstrip("\n").split("\t")
        wall[name].append(float(w) * 1e3)
        cpu[name].append(float(c) * 1e3)
    return wall, cpu


def round_summary(d):
    wall, cpu = boot(f"{d}/boot.tsv")
    med = {k: statistics.median(v) for k, v in wall.items()}
    mean = {k: statistics.fmean(v) for k, v in wall.items()}
    cmean = {k: statistics.fmean(v) for k, v in cpu.items()}
    # cpu: user and system time of the command and every process it started (spawn-bench is a
    # subreaper): what the boot costs the machine, whatever else runs on it.
    print(f"{'boot (ms)':26s} {'median':>7s} {'mean':>7s} {'stdev':>6s} {'cpu':>6s}  median/floor")
    for k in wall:
        print(f"{k:26s} {med[k]:7.3f} {mean[k]:7.3f} {statistics.stdev(wall[k]):6.3f} "
              f"{cmean[k]:6.3f}  x{med[k] / med['floor']:.2f}")
    s = {
        "floor_ms": med["floor"],
        "bwrap_ms": med["bwrap"],
        "supervisor_ms": med["supervisor"],
        "sup/floor": med["supervisor"] / med["floor"],
        "sup/floor (means)": mean["supervisor"] / mean["floor"],
        "sup/floor (cpu)": cmean["supervisor"] / cmean["floor"],
        "sup/bwrap": med["supervisor"] / med["bwrap"],
        "sup/bwrap (means)": mean["supervisor"] / mean["bwrap"],
        "sup/bwrap (cpu)": cmean["supervisor"] / cmean["bwrap"],
        "floor cpu ms": cmean["floor"],
        "bwrap cpu ms": cmean["bwrap"],
        "supervisor cpu ms": cmean["supervisor"],
        "plugin +ms (cpu)": cmean["supervisor + plugin"] - cmean["supervisor"],
        "start over /bin/true ms (cpu)": cmean["supervisor --version"] - cmean["/bin/true"],
        "sup/bwrap without --seccomp": med["supervisor"] / med["bwrap without --seccomp"],
        "bwrap view ms": med["bwrap view"],
        "sup/bwrap view": med["supervisor"] / med["bwrap view"],
        "sup/bwrap view (means)": mean["supervisor"] / mean["bwrap view"],
        "sup/bwrap view (cpu)": cmean["supervisor"] / cmean["bwrap view"],
        "view +ms": med["supervisor"] - med["supervisor --fs host-rw"],
        "view +ms (cpu)": cmean["supervisor"] - cmean["supervisor --fs host-rw"],
        "plugin +ms": med["supervisor + plugin"] - med["supervisor"],
        "plugin +ms (means)": mean["supervisor + plugin"] - mean["supervisor"],
        "start over /bin/true ms": med["supervisor --version"] - med["/bin/true"],
    }

    ns = defaultdict(lambda: defaultdict(list))
    for line in open(f"{d}/filter.tsv"):
        call, config, value = line.split()
        ns[call][config].append(float(value))
    print()
    print(f"{'filter (ns/call, CPU)':22s} {'none':>7s} {'libsecc-1':>9s} {'libsecc-2':>9s} "
          f"{'supervisor':>10s}  cost over none: sup / best libseccomp")
    for call, configs in ns.items():
        m = {k: statistics.median(v) for k, v in configs.items()}
        cost = {k: m[k] - m["none"] for k in m}
        best = min(cost["libseccomp-1"], cost["libseccomp-2"])
        ratio = cost["supervisor"] / best if best > 0 else float("nan")
        print(f"{call:22s} {m['none']:7.1f} {m['libseccomp-1']:9.1f} {m['libseccomp-2']:9.1f} "
              f"{m['supervisor']:10.1f}  {cost['supervisor']:5.1f} / {best:5.1f} = x{ratio:.2f}")
        s[f"filter {call}"] = ratio
        s[f"filter {call} sup ns"] = cost["supervisor"]
        s[f"filter {call} libseccomp ns"] = best

    print()
    for line in open(f"{d}/rss.tsv"):
        name, kb = line.rstrip("\n").split("\t")
        print(f"RSS while supervising, {name}: {int(kb) / MIB:.2f} MiB ({kb} kB)")
        s[f"rss {name} MiB"] = int(kb) / MIB
    json.dump(s, open(f"{d}/summary.json", "w"), indent=1)


TARGETS = [
    ("sup/floor", "boot / floor (unshare -n -p -m --fork --mount-proc)", "<=", 1.25),
    ("sup/bwrap", "boot / bubblewrap, same steps, libseccomp filter", "<=", 0.8),
    ("sup/bwrap view", "boot / bubblewrap building the same filesystem view", "<=", 1.0),
    ("plugin +ms", "plugin load, ms over boot", "<=", 0.3),
    ("filter prctl", "filter cost, prctl (inspected) / libseccomp", "<=", 1.10),
    ("filter socket", "filter cost, socket (inspected) / libseccomp", "<=", 1.10),
    ("filter clone", "filter cost, clone (inspected) / libseccomp", "<=", 1.10),
    ("filter getppid", "filter cost, getppid (not inspected) / libseccomp", "<=", 1.05),
    ("filter ioctl", "filter cost, ioctl (not inspected) / libseccomp", "<=", 1.05),
    ("rss supervisor MiB", "RSS supervising, MiB", "<", 3.0),
    ("rss supervisor + plugin MiB", "RSS supervising with a plugin, MiB", "<", 4.0),
]


def ranges(dirs):
    rounds = [json.load(open(f"{d}/summary.json")) for d in dirs]
    print(f"== ranges over {len(rounds)} round(s): min - max (a target is met when the worst round meets it)")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        target = next((t for t in TARGETS if t[0] == key), None)
        verdict = ""
        if target:
            _, _, op, bound = target
            worst = max(values)
            ok = worst <= bound if op == "<=" else worst < bound
            best = min(values)
            some = best <= bound if op == "<=" else best < bound
            verdict = f"  target {op} {bound}: " + ("met" if ok else "missed in some rounds" if some else "missed")
        print(f"{key:34s} {min(values):8.3f} - {max(values):8.3f}{verdict}")


def build(start, end, html):
    took = float(end) - float(start)
    print(f"cold build: {took:.1f} s wall")
    text = open(html).read()
    match = re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S)
    if not match:
        print("(no UNIT_DATA in the timings page)")
        return
    units = json.loads(match.group(1))
    total = sum(u["duration"] for u in units)
    print(f"{len(units)} units, {total:.1f} s of compiler time in all (x{total / took:.2f} parallel)")
    print("slowest units (s): " + ", ".join(
        f"{u['name']} {u['target'].strip() or 'lib'} {u['duration']:.1f}"
        for u in sorted(units, key=lambda u: -u["duration"])[:12]))
    last = max(units, key=lambda u: u["start"] + u["duration"])
    print(f"last to finish: {last['name']} (from {last['start']:.1f} s, {last['duration']:.1f} s)")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "round":
        round_summary(sys.argv[2])
    elif what == "ranges":
        ranges(sys.argv[2:])
    elif what == "build":
        build(*sys.argv[2:5])
