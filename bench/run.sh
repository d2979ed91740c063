#!/usr/bin/env bash
# Benchmarks sandbox-supervisor side by side with its floor and its peer on this machine and
# prints every target of docs/performance.md as a ratio (or a difference) within one round, with
# its range over the rounds, and a summary table with a met/missed verdict per target. Needs root
# (namespaces, ids, the supervisor's cgroup and uid allocation). Installs its Debian packages
# (hyperfine, bubblewrap, python3-seccomp, gcc) when missing.
#
#   bench/run.sh                      # 3 rounds, then the cold release build (about 15 minutes)
#   ROUNDS=1 RUNS=30 COLD_BUILD=0 bench/run.sh    # a quick look
#
# Each round prints the load average at its start (wall times on a loaded machine include the
# wait for a CPU; CPU times do not), then:
# - Boot: bench/spawn-bench.c starts the commands interleaved (one run of each in turn, so a
#   change of load hits all of them alike), the way `hyperfine -N` does (posix_spawn, wait4), and
#   opens libseccomp's program on descriptor 9 of every run for `bwrap --seccomp 9` (hyperfine
#   cannot reopen a descriptor per run). CPU time counts every process a command started.
# - Filter cost: bench/syscall-loop.c times its own loop in CPU time, run in the same namespaces
#   by all three (no filter: unshare; libseccomp: bwrap with the boot's steps).
# - Memory: VmRSS of the supervisor supervising `sleep`, without and with a plugin.
# - Terminal: bench/pty-bench.py, the relay's throughput against a direct pty.
# Then one `hyperfine -N` run of the floor and the supervisor as a cross-check, the cold build,
# and the summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
runs=${RUNS:-150}
loop_n=${LOOP_N:-2000000}
loop_runs=${LOOP_RUNS:-7}
cold_build=${COLD_BUILD:-1}
pty_mb=${PTY_MB:-50}
pty_runs=${PTY_RUNS:-5}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v gcc >/dev/null || need+=(gcc)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || need+=(python3-seccomp)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
py=/usr/bin/python3

cargo build --release -p sandbox-supervisor -p sandbox-plugin-outer-sandbox --quiet
bin=$PWD/target/release/sandbox-supervisor
plugin=$PWD/target/release/libsandbox_plugin_outer_sandbox.so
# Not under /tmp: the supervisor's filesystem view gives the workload a /tmp of its own.
work=$(mktemp -d -p /var/lib sandbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The workload runs as nobody: it must reach the loop program.
chmod 755 "$work"
gcc -O2 -o "$work/spawn-bench" bench/spawn-bench.c
gcc -O2 -o "$work/syscall-loop" bench/syscall-loop.c
len1=$($py bench/libseccomp-filter.py --optimize 1 "$work/libseccomp-1.bpf")
len2=$($py bench/libseccomp-filter.py --optimize 2 "$work/libseccomp-2.bpf")

true_=$(type -P true)
unshare=$(type -P unshare)
bwrap=$(type -P bwrap)
bwrap_steps="$bwrap --dev-bind / / --unshare-net --unshare-pid --unshare-ipc --proc /proc --new-session --die-with-parent --cap-drop ALL"
# bubblewrap building the view the supervisor builds by default: the host read-only, private
# /tmp, /var/tmp and /run, a minimal /dev, a fresh /proc, the same namespaces.
bwrap_view="$bwrap --ro-bind / / --tmpfs /tmp --tmpfs /var/tmp --tmpfs /run --dev /dev --proc /proc --unshare-net --unshare-pid --unshare-ipc --new-session --die-with-parent --cap-drop ALL"
# As root the supervisor also allocates a uid and a cgroup for each run (bubblewrap does
# neither): `--disable-step cgroup`, `--user 65534` (a fixed uid: no allocation) and `--fs
# host-rw` show what those steps cost; the targets are judged on the default boot.
sup="$bin --log-level error"
report=$work/report.json
{
  printf '/bin/true\t%s\n' "$true_"
  printf 'unshare -n\t%s -n %s\n' "$unshare" "$true_"
  printf 'floor\t%s -n -p -i -m --fork --mount-proc %s\n' "$unshare" "$true_"
  printf 'bwrap steps\t%s --seccomp 9 %s\n' "$bwrap_steps" "$true_"
  printf 'bwrap view\t%s --seccomp 9 %s\n' "$bwrap_view" "$true_"
  printf 'bwrap view without --seccomp\t%s %s\n' "$bwrap_view" "$true_"
  printf 'supervisor --version\t%s --version\n' "$bin"
  printf 'supervisor\t%s -- %s\n' "$sup" "$true_"
  printf 'supervisor --disable-step cgroup\t%s --disable-step cgroup -- %s\n' "$sup" "$true_"
  printf 'supervisor --fs host-rw\t%s --fs host-rw -- %s\n' "$sup" "$true_"
  printf 'supervisor --user 65534\t%s --user 65534 -- %s\n' "$sup" "$true_"
  # The work bubblewrap does too: no uid allocated, no cgroup (with and without the view).
  printf 'supervisor, no allocation or cgroup\t%s --user 65534 --disable-step cgroup -- %s\n' "$sup" "$true_"
  printf 'supervisor, no allocation, cgroup or view\t%s --user 65534 --disable-step cgroup --fs host-rw -- %s\n' "$sup" "$true_"
  # The gap to bubblewrap, step by step: Landlock, then both seccomp filters, left out too.
  printf 'supervisor, no allocation, cgroup, view or landlock\t%s --user 65534 --disable-step cgroup --fs host-rw --disable-step landlock -- %s\n' "$sup" "$true_"
  printf 'supervisor, none of those nor seccomp\t%s --user 65534 --disable-step cgroup --fs host-rw --disable-step landlock --disable-step supervisor-seccomp --disable-step workload-seccomp -- %s\n' "$sup" "$true_"
  printf 'bwrap steps without --seccomp\t%s %s\n' "$bwrap_steps" "$true_"
  printf 'bwrap --version\t%s --version\n' "$bwrap"
  printf 'supervisor --report\t%s --report %s -- %s\n' "$sup" "$report" "$true_"
  printf 'supervisor + plugin --report\t%s --handler-plugin %s --report %s -- %s\n' "$sup" "$plugin" "$report" "$true_"
} >"$work/boot.cmds"

echo "== machine"
echo "kernel $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "$($bin --version), $(hyperfine --version), $(bwrap --version), libseccomp $(dpkg-query -W -f '${Version}' libseccomp2 2>/dev/null || echo '?')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores: above $(nproc) the wall times include waiting for a CPU)"
echo "libseccomp's equivalent filter: $len1 instructions (optimize 1, priority chain), $len2 (optimize 2, binary tree)"

rss() {
  local pid
  "$bin" --log-level error "$@" -- sleep 2 &
  pid=$!
  sleep 1
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status"
  wait "$pid"
}

for round in $(seq "$rounds"); do
  dir=$work/round-$round
  mkdir -p "$dir"
  echo
  echo "== round $round/$rounds, load average at its start: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$work/spawn-bench" "$runs" 10 "$work/libseccomp-1.bpf" "$work/boot.cmds" >"$dir/boot.tsv"
  for i in $(seq "$loop_runs"); do
    for call in getppid ioctl prctl socket clone; do
      printf '%s\tnone\t%s\n' "$call" \
        "$("$unshare" -n -p -m --fork --mount-proc "$work/syscall-loop" "$call" "$loop_n")"
      for opt in 1 2; do
        # shellcheck disable=SC2086 # bwrap_steps is a list of words
        printf '%s\tlibseccomp-%s\t%s\n' "$call" "$opt" \
          "$($bwrap_steps --seccomp 9 "$work/syscall-loop" "$call" "$loop_n" 9<"$work/libseccomp-$opt.bpf")"
      done
      printf '%s\tsupervisor\t%s\n' "$call" \
        "$("$bin" --log-level error -- "$work/syscall-loop" "$call" "$loop_n")"
    done
  done >"$dir/filter.tsv"
  printf 'supervisor\t%s\n' "$(rss)" >"$dir/rss.tsv"
  printf 'supervisor + plugin\t%s\n' "$(rss --handler-plugin "$plugin" --report "$report")" >>"$dir/rss.tsv"
  echo "load average before the terminal relay: $(cut -d' ' -f1 /proc/loadavg)"
  $py bench/pty-bench.py "$bin" "$pty_mb" "$pty_runs" | tee "$dir/pty.txt"
  $py bench/summary.py round "$dir"
done

echo
echo "== cross-check with hyperfine -N ($runs runs each, not interleaved)"
hyperfine -N --warmup 10 --runs "$runs" --style none --export-json "$work/hyperfine.json" \
  -n floor "$unshare -n -p -i -m --fork --mount-proc $true_" \
  -n supervisor "$bin --log-level error -- $true_" >/dev/null
$py - "$work/hyperfine.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for name, x in r.items():
    print(f"{name:12s} mean {x['mean']*1e3:6.3f} ms  median {x['median']*1e3:6.3f} ms")
print(f"supervisor / floor: x{r['supervisor']['mean'] / r['floor']['mean']:.2f} (means), x{r['supervisor']['median'] / r['floor']['median']:.2f} (medians)")
PY

echo
$py bench/summary.py ranges "$work"/round-*

build_json=
if [ "$cold_build" = 1 ]; then
  echo
  echo "== cold release build: cargo build --release -p sandbox-supervisor, empty target directory"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$work/cold cargo build --release -p sandbox-supervisor --timings --quiet
  end=$(date +%s.%N)
  build_json=$work/build.json
  $py bench/summary.py build "$start" "$end" "$work/cold/cargo-timings/cargo-timing.html" "$build_json"
  if [ -n "${TIMINGS_OUT:-}" ]; then cp "$work/cold/cargo-timings/cargo-timing.html" "$TIMINGS_OUT"; fi
fi

echo
$py bench/summary.py table "$build_json" "$work"/round-*
