#!/usr/bin/env bash
# Benchmarks sandbox-supervisor side by side with its peers on this machine, in one run, and prints
# the ratios that docs/performance.md reports. Needs root (namespaces, ids). Installs its Debian
# packages (hyperfine, bubblewrap, python3-seccomp, gcc) when missing.
#
#   bench/run.sh            # full run (about two minutes after the release build)
#   RUNS=20 bench/run.sh    # fewer hyperfine runs
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-200}
loop_n=${LOOP_N:-5000000}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v gcc >/dev/null || need+=(gcc)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || need+=(python3-seccomp)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --workspace --quiet
bin=target/release/sandbox-supervisor
plugin=$PWD/target/release/libsandbox_plugin_outer_sandbox.so
outer=target/release/outer-seccomp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/getppid-loop" bench/getppid-loop.c
/usr/bin/python3 bench/libseccomp-filter.py "$work/libseccomp.bpf"

echo "== machine"
echo "kernel $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "$($bin --version), $(hyperfine --version), $(bwrap --version)"

echo
echo "== 1. boot: time to run /bin/true"
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/boot.json" \
  -n 'unshare -n' 'unshare -n /bin/true' \
  -n 'bwrap --unshare-net' 'bwrap --dev-bind / / --unshare-net /bin/true' \
  -n 'sandbox-supervisor (all steps)' "$bin --log-level error -- /bin/true" \
  -n 'sandbox-supervisor + plugin' "$bin --log-level error --handler-plugin $plugin -- /bin/true" \
  -n 'sandbox-supervisor, strict, netns refused' -i "$outer netns -- $bin --log-level error -- /bin/true" \
  -n 'outer-seccomp alone' "$outer netns -- /bin/true" >/dev/null
python3 - "$work/boot.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
floor = r["unshare -n"]["mean"]
for name, x in r.items():
    print(f"{name:45s} mean {x['mean']*1e3:7.3f} ms  median {x['median']*1e3:7.3f} ms  ±{x['stddev']*1e3:6.3f}  x{x['mean']/floor:5.2f} of unshare -n")
sup = r["sandbox-supervisor (all steps)"]["mean"]
print(f"supervisor / bwrap: x{sup / r['bwrap --unshare-net']['mean']:.2f}")
print(f"plugin load + register: {(r['sandbox-supervisor + plugin']['mean'] - sup)*1e3:+.3f} ms (difference of means)")
print(f"refused-and-aborted run minus the outer launcher: {(r['sandbox-supervisor, strict, netns refused']['mean'] - r['outer-seccomp alone']['mean'])*1e3:.3f} ms")
PY

echo
for call in getppid prctl; do
  arg=""
  [ "$call" = prctl ] && arg=prctl
  echo "== 2. filter cost: $loop_n $call() calls"
  # All three through the same shell, because bwrap reads its program from descriptor 9 of each
  # run (dash redirects only 0-9).
  hyperfine --warmup 2 --runs 15 --export-json "$work/filter-$call.json" \
    -n 'no filter' "$work/getppid-loop $loop_n $arg" \
    -n 'bwrap --seccomp (libseccomp)' "bwrap --dev-bind / / --seccomp 9 $work/getppid-loop $loop_n $arg 9<$work/libseccomp.bpf" \
    -n 'sandbox-supervisor' "$bin --log-level error -- $work/getppid-loop $loop_n $arg" >/dev/null
  python3 - "$work/filter-$call.json" "$loop_n" <<'PY'
import json, sys
n = int(sys.argv[2])
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
bare = r["no filter"]["mean"]
sup = r["sandbox-supervisor"]["mean"]
bw = r["bwrap --seccomp (libseccomp)"]["mean"]
sd = {k: v["stddev"] for k, v in r.items()}
for name, key, t in [("no filter", "no filter", bare), ("sandbox-supervisor (2 programs)", "sandbox-supervisor", sup), ("bwrap + libseccomp (1 program)", "bwrap --seccomp (libseccomp)", bw)]:
    print(f"{name:35s} {t*1e3:8.1f} ms ±{sd[key]*1e3:5.1f}  {(t-bare)/n*1e9:6.1f} ns/call over no filter")
print(f"per-call filter cost, supervisor / libseccomp: x{(sup-bare)/max(bw-bare,1e-12):.2f}")
PY
  echo
done

echo "== 3. memory and size"
$bin --log-level error -- sleep 2 &
pid=$!
sleep 1
grep -E '^(VmHWM|VmRSS)' /proc/$pid/status | sed 's/^/supervisor (supervising): /'
wait $pid
$bin --log-level error --handler-plugin "$plugin" -- sleep 2 &
pid=$!
sleep 1
grep -E '^(VmHWM|VmRSS)' /proc/$pid/status | sed 's/^/supervisor + plugin: /'
wait $pid
ls -l "$bin" "$plugin" | awk '{printf "%s %.2f MiB\n", $NF, $5/1048576}'
