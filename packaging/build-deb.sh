#!/usr/bin/env bash
# Builds the Debian package of sandbox-supervisor: target/debian/sandbox-supervisor_VERSION_ARCH.deb.
#
# The release build (LTO, one codegen unit) is the long part, a few minutes on two cores; it is
# incremental, so a second run with target/release up to date takes seconds. Installs cargo-deb
# from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb

# The binary, the shipped plugins, and the generator of the man page and completions.
cargo build --release -p sandbox-supervisor -p sandbox-plugin-outer-sandbox -p sandbox-plugin-policy -p gen-assets
target_dir=${CARGO_TARGET_DIR:-target}
"$target_dir/release/gen-assets" "$target_dir/release/assets"
cargo deb -p sandbox-supervisor --no-build "$@"
