"""Summaries for bench/run.sh.

    summary.py round DIR         one round's tables; writes DIR/summary.json
    summary.py ranges DIR...     min-max of every figure over the rounds
    summary.py build START END HTML JSON   cold build time and where it goes (cargo --timings)
    summary.py table BUILD_JSON DIR...     every target, its range over the rounds, met or missed
                                 (BUILD_JSON empty: no cold build measured)
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
    print(f"{'boot (ms)':34s} {'median':>7s} {'mean':>7s} {'stdev':>6s} {'cpu':>6s}  median/floor")
    for k in wall:
        print(f"{k:34s} {med[k]:7.3f} {mean[k]:7.3f} {statistics.stdev(wall[k]):6.3f} "
              f"{cmean[k]:6.3f}  x{med[k] / med['floor']:.2f}")

    def ratio(a, b):
        return {"wall": med[a] / med[b], "means": mean[a] / mean[b], "cpu": cmean[a] / cmean[b]}

    def plus(a, b):
        return {"wall": med[a] - med[b], "means": mean[a] - mean[b], "cpu": cmean[a] - cmean[b]}

    s = {}
    for name, figures in {
        "sup/bwrap view": ratio("supervisor", "bwrap view"),
        "sup/bwrap view without --seccomp": ratio("supervisor", "bwrap view without --seccomp"),
        "sup/floor": ratio("supervisor", "floor"),
        "plugin with a report +ms": plus("supervisor + plugin --report", "supervisor --report"),
        "sup/bwrap steps": ratio("supervisor", "bwrap steps"),
        "sup --disable-step cgroup/bwrap view": ratio("supervisor --disable-step cgroup", "bwrap view"),
        "sup bwrap's work/bwrap view": ratio("supervisor, no allocation or cgroup", "bwrap view"),
        "sup bwrap's steps/bwrap steps": ratio("supervisor, no allocation, cgroup or view", "bwrap steps"),
        "cgroup step +ms": plus("supervisor", "supervisor --disable-step cgroup"),
        "uid allocation +ms": plus("supervisor", "supervisor --user 65534"),
        "view +ms": plus("supervisor", "supervisor --fs host-rw"),
        "report +ms": plus("supervisor --report", "supervisor"),
        "start over /bin/true +ms": plus("supervisor --version", "/bin/true"),
        "start over bwrap's +ms": plus("supervisor --version", "bwrap --version"),
        "landlock +ms": plus("supervisor, no allocation, cgroup or view",
                             "supervisor, no allocation, cgroup, view or landlock"),
        "both filters +ms": plus("supervisor, no allocation, cgroup, view or landlock",
                                 "supervisor, none of those nor seccomp"),
        "bwrap's filter +ms": plus("bwrap steps", "bwrap steps without --seccomp"),
        "sup bare/bwrap steps without --seccomp": ratio("supervisor, none of those nor seccomp",
                                                        "bwrap steps without --seccomp"),
        "sup bare - bwrap steps without --seccomp +ms": plus("supervisor, none of those nor seccomp",
                                                             "bwrap steps without --seccomp"),
    }.items():
        for kind, value in figures.items():
            s[f"{name} ({kind})"] = value
    for name in ("floor", "bwrap view", "supervisor"):
        s[f"{name} ms (wall)"] = med[name]
        s[f"{name} ms (cpu)"] = cmean[name]

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
    try:
        pty = open(f"{d}/pty.txt").read()
        s["pty relay/direct"] = float(re.search(r"relay / direct: ([0-9.]+)", pty).group(1))
    except (OSError, AttributeError):
        pass
    json.dump(s, open(f"{d}/summary.json", "w"), indent=1)


# (what, key in summary.json without its kind, bound, unit, kinds judged): a target is met when
# every round meets it in every kind judged (wall: medians; cpu: means of user + system time).
TARGETS = [
    ("boot / bubblewrap building the same view, --seccomp", "sup/bwrap view", 1.0, "x", ("wall", "cpu")),
    ("boot / the same bubblewrap without --seccomp", "sup/bwrap view without --seccomp", 1.0, "x", ("wall", "cpu")),
    ("boot / floor (unshare -n -p -i -m --fork --mount-proc)", "sup/floor", 1.5, "x", ("wall", "cpu")),
    ("a plugin (outer-sandbox), with --report", "plugin with a report +ms", 0.3, " ms", ("wall", "cpu")),
    ("RSS supervising with a plugin", "rss supervisor + plugin MiB", 4.0, " MiB", (None,)),
    ("terminal relay / direct pty (throughput)", "pty relay/direct", 0.9, "x", (None,)),
    ("filter cost, prctl (inspected) / libseccomp", "filter prctl", 1.10, "x", (None,)),
    ("filter cost, socket (inspected) / libseccomp", "filter socket", 1.10, "x", (None,)),
    ("filter cost, clone (inspected) / libseccomp", "filter clone", 1.10, "x", (None,)),
    ("filter cost, getppid (not inspected) / libseccomp", "filter getppid", 1.05, "x", (None,)),
]
# Shown for what each step costs; no target.
CONTEXT = [
    ("boot --disable-step cgroup / bubblewrap view", "sup --disable-step cgroup/bwrap view", "x"),
    ("boot, no uid allocated and no cgroup / bubblewrap view", "sup bwrap's work/bwrap view", "x"),
    ("the same without the view / bubblewrap's steps", "sup bwrap's steps/bwrap steps", "x"),
    ("the cgroup step (default against --disable-step cgroup)", "cgroup step +ms", " ms"),
    ("the uid allocated per run (default against --user 65534)", "uid allocation +ms", " ms"),
    ("the filesystem view (default against --fs host-rw)", "view +ms", " ms"),
    ("--report without a plugin", "report +ms", " ms"),
    ("boot / bubblewrap, the steps without a view", "sup/bwrap steps", "x"),
    ("the program's start over bubblewrap's (--version)", "start over bwrap's +ms", " ms"),
    ("Landlock (no allocation, cgroup, view; with, without)", "landlock +ms", " ms"),
    ("both seccomp filters (nor Landlock; with, without)", "both filters +ms", " ms"),
    ("bubblewrap's --seccomp (its steps; with, without)", "bwrap's filter +ms", " ms"),
    ("none of those / bubblewrap's steps, no --seccomp", "sup bare/bwrap steps without --seccomp", "x"),
    ("the same, difference", "sup bare - bwrap steps without --seccomp +ms", " ms"),
    ("RSS supervising, no plugin", "rss supervisor MiB", " MiB"),
]


def load(dirs):
    return [json.load(open(f"{d}/summary.json")) for d in dirs]


def ranges(dirs):
    rounds = load(dirs)
    print(f"== ranges over {len(rounds)} round(s): min - max")
    for key in rounds[0]:
        values = [r[key] for r in rounds if key in r]
        print(f"{key:44s} {min(values):8.3f} - {max(values):8.3f}")


def span(rounds, key, unit):
    values = [r[key] for r in rounds if key in r]
    if not values:
        return None, "not measured"
    low, high = min(values), max(values)
    text = f"{low:.2f}{unit}" if len(values) == 1 or f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}{unit}"
    return values, text


def table(build_json, dirs):
    rounds = load(dirs)
    print(f"== summary: every target over {len(rounds)} round(s); met when every round meets it "
          f"(wall: medians, cpu: CPU time; the lower bound is the better round)")
    print(f"{'target':56s} {'bound':>10s}  {'wall':>13s}  {'cpu / value':>13s}  verdict")
    for what, key, bound, unit, kinds in TARGETS:
        cells, met, measured = [], True, False
        higher_is_better = key == "pty relay/direct"
        for kind in ("wall", "cpu"):
            if kind in kinds:
                values, text = span(rounds, f"{key} ({kind})", unit)
            elif kind == "cpu" and kinds == (None,):
                values, text = span(rounds, key, unit)
            else:
                values, text = None, ""
            cells.append(text)
            if values:
                measured = True
                worst = min(values) if higher_is_better else max(values)
                met &= worst >= bound if higher_is_better else worst < bound if unit == " MiB" else worst <= bound
        op = ">=" if higher_is_better else "<" if unit == " MiB" else "<="
        verdict = ("met" if met else "missed") if measured else "not measured"
        print(f"{what:56s} {op + ' ' + str(bound) + unit:>10s}  {cells[0]:>13s}  {cells[1]:>13s}  {verdict}")
    if build_json:
        took = json.load(open(build_json))["seconds"]
        verdict = "met" if took < 90 else "missed"
        print(f"{'cold release build':56s} {'< 90 s':>10s}  {took:12.0f}s  {'':>13s}  {verdict}")
    else:
        print(f"{'cold release build':56s} {'< 90 s':>10s}  {'':>13s}  {'':>13s}  not measured (COLD_BUILD=0)")
    print()
    print("what each step costs (no target):")
    for what, key, unit in CONTEXT:
        cells = [span(rounds, f"{key} ({kind})", unit)[1] for kind in ("wall", "cpu")]
        if cells == ["not measured", "not measured"]:
            cells = ["", span(rounds, key, unit)[1]]
        print(f"{what:56s} {'':>10s}  {cells[0]:>13s}  {cells[1]:>13s}")


def build(start, end, html, out):
    took = float(end) - float(start)
    json.dump({"seconds": took}, open(out, "w"))
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
        build(*sys.argv[2:6])
    elif what == "table":
        table(sys.argv[2], sys.argv[3:])
