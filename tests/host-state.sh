#!/usr/bin/env bash
# The host state the tests must leave as they found it. `.ci/run` calls it around tests/run.sh:
#
#   tests/host-state.sh save DIR    records the state in DIR
#   tests/host-state.sh check DIR   records it again and fails, with a diff, when anything differs
#
# What is recorded: the mounts of this mount namespace (/proc/self/mountinfo without the mount
# ids, which a remount renumbers), /dev/mqueue and its queues, the installed Debian packages
# (recorded after `tests/run.sh --install-only`, so the packages the script installs on purpose
# are already in the first record), the files under /etc and /usr/lib/sandbox-supervisor (type,
# mode, owner, content digest), the entries of /tmp, /var/tmp and /run (two levels, but for the
# uid lock directories, which stay: their files instead), every
# sandbox group under /sys/fs/cgroup (one a sandbox made and left; a stale group found before
# the tests may be gone after, removed by the supervisor as documented), the network
# interfaces of this namespace, processes of the project (the supervisor, the tests' helpers,
# runsc, runc) still running, and Docker's containers and images (tests/it/docker.rs imports an
# image per test and runs containers of it).
#
# HOST_STATE_IGNORE, an extended regular expression: lines matching it are left out of both
# records when they are compared (for a machine where other people's work changes /tmp at the same
# time; CI sets none).
set -euo pipefail

SECTIONS=(mounts mqueue packages files scratch cgroups network processes docker)

section() {
  case $1 in
    mounts)
      # Fields 1 and 2 are the mount id and the parent's id.
      cut -d' ' -f3- /proc/self/mountinfo | sort ;;
    mqueue)
      if [ -e /dev/mqueue ]; then
        find /dev/mqueue -printf '%p %y %m %u %g\n' | sort
      else
        echo "/dev/mqueue absent"
      fi ;;
    packages)
      dpkg-query -W -f='${binary:Package} ${Version} ${db:Status-Abbrev}\n' 2>/dev/null | sort ;;
    files)
      for dir in /etc /usr/lib/sandbox-supervisor; do
        [ -e "$dir" ] || { echo "$dir absent"; continue; }
        find "$dir" -xdev -printf '%p %y %m %u %g %l\n' | sort
        find "$dir" -xdev -type f -print0 | sort -z | xargs -0r sha256sum
      done ;;
    scratch)
      find /tmp /var/tmp -mindepth 1 -maxdepth 1 -printf '%p %y %u\n' | sort
      # The uid lock directories stay once made (docs/operators.md); a lock file left in them
      # does not. Left out too: what Docker's daemon and containerd make below /run when they
      # start their first container (the docker section compares the containers themselves), and
      # libmount's directory, which mount(8) makes at its first use on a fresh machine.
      find /run -mindepth 1 -maxdepth 2 -printf '%p %y %u\n' 2>/dev/null |
        grep -Ev '^/run/sandbox-supervisor(/uids)? d root$' |
        grep -Ev '^/run/(containerd|docker/(netns|runtime-runc|containerd)|mount)(/[^ ]*)? d root$' |
        sort || true
      find /run/sandbox-supervisor/uids -mindepth 1 -printf '%p %y %u\n' 2>/dev/null | sort ;;
    cgroups)
      # The sandboxes' groups (named sandbox-supervisor-*, below whatever group the supervisor ran
      # in). Other groups on the machine come and go with other programs (container runtimes,
      # the machine's own agents), which this check must not mistake for the tests' leftovers.
      find /sys/fs/cgroup -mindepth 1 -type d -name 'sandbox-supervisor*' 2>/dev/null | sort ;;
    network)
      ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sort ;;
    processes)
      # The project's programs (comm is cut to 15 characters) and the outer runtimes.
      ps -eo comm=,args= |
        grep -E '^(sandbox-supervi|sandbox-observe|syscall-probe|escape-probe|outer-seccomp|fake-success|private-host|runsc|runsc-gofer|runsc-sandbox|runc) ' |
        sort || true ;;
    docker)
      # Every container (running or not) and every image, intermediate layers included; nothing
      # when no daemon answers.
      if docker info >/dev/null 2>&1; then
        docker ps -a --no-trunc --format 'container {{.ID}} {{.Names}} {{.Image}}' | sort
        docker images -a --no-trunc --format 'image {{.ID}} {{.Repository}}:{{.Tag}}' | sort
      else
        echo "no Docker daemon"
      fi ;;
  esac
}

record() {
  local out=$1
  mkdir -p "$out"
  for name in "${SECTIONS[@]}"; do
    section "$name" >"$out/$name"
  done
}

# A record's section without the lines HOST_STATE_IGNORE matches.
kept() {
  if [ -n "${HOST_STATE_IGNORE:-}" ]; then
    grep -Ev -- "$HOST_STATE_IGNORE" "$1" || true
  else
    cat "$1"
  fi
}

case "${1:-}" in
  save)
    [ -n "${2:-}" ] || { echo "usage: $0 save DIR" >&2; exit 2; }
    record "$2/before"
    echo "host-state: recorded in $2/before ($(cat "$2"/before/* | wc -l) lines)"
    ;;
  check)
    [ -n "${2:-}" ] || { echo "usage: $0 check DIR" >&2; exit 2; }
    [ -d "$2/before" ] || { echo "host-state: no record in $2 (run save first)" >&2; exit 2; }
    record "$2/after"
    changed=0
    for name in "${SECTIONS[@]}"; do
      diff -U0 <(kept "$2/before/$name") <(kept "$2/after/$name") >"$2/$name.diff" || true
      # A sandbox group found before the tests is one a supervisor killed earlier left behind; the
      # supervisor removes such groups at its next start (steps/cgroup), as it should. Only a group
      # the tests leave counts.
      pattern='^[-+]'
      [ "$name" != cgroups ] || pattern='^[+]'
      if grep -E "$pattern" "$2/$name.diff" | grep -Ev '^(---|\+\+\+) ' >"$2/$name.lines"; then
        [ "$changed" = 1 ] || echo "host-state: the tests changed the host ('-' before, '+' after):" >&2
        changed=1
        echo "== $name" >&2
        cat "$2/$name.lines" >&2
      fi
    done
    [ "$changed" = 0 ] || exit 1
    echo "host-state: the host is as before the tests"
    ;;
  *)
    echo "usage: $0 save DIR | check DIR" >&2
    exit 2
    ;;
esac
