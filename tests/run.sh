#!/usr/bin/env bash
# The project's test command: installs what the tests need, builds every crate (the tests load the
# real binary and real plugin shared objects), then runs every test.
#
# As root every privileged test runs; as another user they print why they were skipped, unless
# REQUIRE_PRIVILEGED_TESTS=1, which turns a missing privilege into a failure.
#
# What it changes on the host: the Debian packages below and cargo-deb at the version
# packaging/build-deb.sh pins (`cargo install`, for the package test), when missing and run as
# root. Nothing else: the tests that mount, install a package or make message queues do it in
# namespaces of their own (tests/src/bin/private-host.rs), and their scratch files go with them.
# `.ci/run` checks it (tests/host-state.sh).
#
# `tests/run.sh --install-only` installs what the tests need and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: setpriv and unshare (util-linux), ip (iproute2), python3, and
# the outer runtimes of the refusal matrix: gVisor's runsc, runc, and the containers' default
# seccomp profile (golang-github-containers-common), from which the matrix derives Docker's.
needed=()
command -v runsc >/dev/null || needed+=(runsc)
command -v runc >/dev/null || needed+=(runc)
[ -f /usr/share/containers/seccomp.json ] || needed+=(golang-github-containers-common)
command -v setpriv >/dev/null || needed+=(util-linux)
command -v ip >/dev/null || needed+=(iproute2)
# The workload runs python3 as an unprivileged user too: it must be the system one.
[ -x /usr/bin/python3 ] || needed+=(python3)
# Debian's JSON Schema validator checks the report schema too (tests/it/siem.rs).
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || needed+=(python3-jsonschema)
# The validators from PyPI (tests/src/python.rs) live in a virtual environment.
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || needed+=(python3-venv)
# The Debian package test: cargo-deb's dependency detection (dpkg-shlibdeps), man -w, lintian.
command -v dpkg-shlibdeps >/dev/null || needed+=(dpkg-dev)
command -v man >/dev/null || needed+=(man-db)
command -v lintian >/dev/null || needed+=(lintian)
# The package's zsh and fish completions, run by the shells themselves (tests/package.rs).
command -v zsh >/dev/null || needed+=(zsh)
command -v fish >/dev/null || needed+=(fish)
# The C plugin example is built with the system C compiler and archiver; readelf reads the build
# id --version prints and the glibc versions plugins need (tests/it/compatibility.rs, tests/c_plugin.rs).
command -v cc >/dev/null || needed+=(gcc)
command -v ar >/dev/null && command -v readelf >/dev/null || needed+=(binutils)
# strace shows what a plugin adds to a boot (tests/it/structure.rs).
command -v strace >/dev/null || needed+=(strace)
# tests/it/docker.rs runs the supervisor under `docker run` and needs a running Docker daemon (the
# CI machine has one): nothing is installed for it, since a daemon to start and leave running is
# more than a package. Its images are imported (`docker import`) from a root it assembles with tar
# and ldd, which every Debian has; no registry. Without a daemon it says why it skipped, or fails
# under REQUIRE_PRIVILEGED_TESTS=1.
if [ "${#needed[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}"
  else
    echo "tests/run.sh: missing ${needed[*]}; install them (apt-get install ${needed[*]})" >&2
    exit 1
  fi
fi
# The package test (root only) builds the .deb with cargo-deb (packaging/build-deb.sh), at the
# version the script pins.
cargo_deb_version=$(sed -n 's/^cargo_deb_version=//p' packaging/build-deb.sh)
if [ "$(id -u)" = 0 ] && [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
  cargo install --locked --force --quiet --version "$cargo_deb_version" cargo-deb
fi
[ "${1:-}" != --install-only ] || exit 0

cargo build --workspace --all-targets

# The tests copy the binary and plugins here, where an unprivileged user can run them; not under
# /tmp, /var/tmp or /run, which the workload's filesystem view replaces with a private tmpfs.
staging_base=/var/lib
[ -w "$staging_base" ] || staging_base="$PWD/target"
SANDBOX_TESTS_STAGING=$(mktemp -d -p "$staging_base" sandbox-tests.XXXXXX)
chmod 755 "$SANDBOX_TESTS_STAGING"
export SANDBOX_TESTS_STAGING
trap 'rm -rf "$SANDBOX_TESTS_STAGING"' EXIT
cargo test --workspace
