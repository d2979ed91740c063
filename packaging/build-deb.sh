#!/usr/bin/env bash
# Builds the Debian package of sandbox-supervisor: target/debian/sandbox-supervisor_VERSION-REVISION_ARCH.deb
# (this script: packaging/build-deb.sh).
#
# The release build (LTO, one codegen unit) is the long part, a few minutes on two cores; it is
# incremental, so a second run with target/release up to date takes seconds. Needs cargo-deb at
# exactly the version below (tests/run.sh --install-only installs it) and dpkg-deb.
#
# cargo-deb writes the package; this script then adds what cargo-deb does not: compressed man
# pages (before) and DEBIAN/md5sums (after, by rebuilding the package with dpkg-deb), so that
# `dpkg --verify sandbox-supervisor` sees a changed binary, plugin or page.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_deb_version=3.8.0
found=$(cargo deb --version 2>/dev/null || true)
if [ "$found" != "cargo-deb $cargo_deb_version" ]; then
  echo "build-deb.sh: error: needs cargo-deb $cargo_deb_version (found: ${found:-none}); install it with: cargo install --locked --force --version $cargo_deb_version cargo-deb" >&2
  exit 1
fi

# The binary, the shipped plugins, and the generator of the man pages and completions.
cargo build --release -p sandbox-supervisor -p sandbox-plugin-outer-sandbox -p sandbox-plugin-policy -p gen-assets
target_dir=${CARGO_TARGET_DIR:-target}
assets="$target_dir/release/assets"
"$target_dir/release/gen-assets" "$assets"
gzip -9nf "$assets"/man1/*.1

deb=$(cargo deb -p sandbox-supervisor --no-build "$@" | tail -n 1)
[ -f "$deb" ] || { echo "build-deb.sh: error: cargo deb named no package file ($deb)" >&2; exit 1; }

# DEBIAN/md5sums: unpack, list the digest of every file, pack again (owned by root).
work=$(mktemp -d -p "$target_dir" deb-md5sums.XXXXXX)
trap 'rm -rf "$work"' EXIT
dpkg-deb --raw-extract "$deb" "$work/root"
chmod 755 "$work/root"
(cd "$work/root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)
chmod 644 "$work/root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$work/root" "$deb" >/dev/null
echo "$deb"
