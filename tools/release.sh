#!/usr/bin/env bash
# Makes the releases recorded in RELEASES into annotated git tags (PACKAGE-vVERSION), after
# checking them, so that the tags can be recreated wherever the repository is mirrored.
#
#   tools/release.sh [--check] [--git-dir DIR] [--root DIR]
#
#   --check     check only; create no tag
#   --git-dir   the repository whose history is checked and where the tags are made (default:
#               the repository of --root)
#   --root      the checkout whose RELEASES and tests/fixtures are read (default: this script's)
#
# For every released line it checks that the commit exists and is in the history of HEAD, that the
# package's manifest at that commit carries the version, and, for sandbox-plugin-api, that the
# frozen fixture exists and its src/ is exactly plugin-api/src at that commit. A "next" line must
# be the version the working tree's manifest carries. An existing tag must be annotated and point
# at the recorded commit (then it is left alone: running the script again changes nothing); a tag
# that points elsewhere is an error, never moved.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
git_dir=""
check_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check_only=1 ;;
    --git-dir) git_dir="$2"; shift ;;
    --root) root="$(cd "$2" && pwd)"; shift ;;
    *) echo "release.sh: error: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$git_dir" ]; then
  git_dir="$(git -C "$root" rev-parse --git-common-dir)"
  case "$git_dir" in /*) ;; *) git_dir="$root/$git_dir" ;; esac
fi
g() { git --git-dir="$git_dir" "$@"; }

failures=0
fail() { echo "release.sh: error: $*" >&2; failures=$((failures + 1)); }

# The version a manifest text carries: its own `version = "X"`, or the workspace's.
manifest_version() { # manifest_text workspace_text
  local own
  own="$(printf '%s\n' "$1" | sed -n 's/^version = "\(.*\)"$/\1/p' | head -n1)"
  if [ -n "$own" ]; then echo "$own"; return; fi
  printf '%s\n' "$2" | sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' | head -n1
}

manifest_path() {
  case "$1" in
    sandbox-plugin-api) echo plugin-api/Cargo.toml ;;
    sandbox-supervisor) echo supervisor/Cargo.toml ;;
    *) return 1 ;;
  esac
}

[ -f "$root/RELEASES" ] || { echo "release.sh: error: $root/RELEASES is missing" >&2; exit 1; }
tags=()
while read -r package version commit fixture rest; do
  case "$package" in ''|'#'*) continue ;; esac
  if [ -n "${rest:-}" ] || [ -z "${fixture:-}" ]; then
    fail "RELEASES: malformed line: $package $version $commit ${fixture:-} ${rest:-}"
    continue
  fi
  manifest="$(manifest_path "$package")" || { fail "RELEASES: unknown package $package"; continue; }
  if [ "$commit" = next ]; then
    have="$(manifest_version "$(cat "$root/$manifest")" "$(cat "$root/Cargo.toml")")"
    [ "$have" = "$version" ] || fail "$package $version is next, but $manifest carries $have"
    continue
  fi
  if ! g cat-file -e "$commit^{commit}" 2>/dev/null; then
    fail "$package $version: commit $commit is not in the repository"
    continue
  fi
  if ! g merge-base --is-ancestor "$commit" HEAD; then
    fail "$package $version: commit $commit is not in the history of HEAD"
  fi
  have="$(manifest_version "$(g show "$commit:$manifest")" "$(g show "$commit:Cargo.toml")")"
  [ "$have" = "$version" ] || fail "$package $version: $manifest at ${commit:0:12} carries $have"
  if [ "$package" = sandbox-plugin-api ]; then
    if [ "$fixture" = - ] || [ ! -d "$root/$fixture/src" ]; then
      fail "$package $version: no frozen fixture (copy plugin-api/src at ${commit:0:12} to tests/fixtures/plugin-api-$version/src)"
    else
      released="$(g ls-tree -r --name-only "$commit" plugin-api/src | sed 's|^plugin-api/src/||' | sort)"
      copied="$(cd "$root/$fixture/src" && find . -type f | sed 's|^\./||' | sort)"
      [ "$released" = "$copied" ] || fail "$package $version: $fixture/src has other files than plugin-api/src at ${commit:0:12}"
      for file in $released; do
        [ -f "$root/$fixture/src/$file" ] || continue
        want="$(g rev-parse "$commit:plugin-api/src/$file")"
        got="$(git hash-object "$root/$fixture/src/$file")"
        [ "$want" = "$got" ] || fail "$package $version: $fixture/src/$file differs from the released plugin-api/src/$file"
      done
    fi
  fi
  tags+=("$package-v$version $commit $package $version")
done < "$root/RELEASES"

if [ "$failures" -gt 0 ]; then
  echo "release.sh: $failures problem(s); no tag was made" >&2
  exit 1
fi

for entry in "${tags[@]}"; do
  read -r tag commit package version <<<"$entry"
  if g rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
    if [ "$(g cat-file -t "refs/tags/$tag")" != tag ]; then
      fail "tag $tag exists but is not annotated"
    elif [ "$(g rev-parse "refs/tags/$tag^{commit}")" != "$commit" ]; then
      fail "tag $tag points at $(g rev-parse --short "refs/tags/$tag^{commit}"), not at ${commit:0:12}"
    else
      echo "$tag: exists at ${commit:0:12}"
    fi
  elif [ "$check_only" = 1 ]; then
    echo "$tag: would be made at ${commit:0:12}"
  else
    # A tagger identity for machines without one (the tag's content names the release only).
    GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$(g config user.name || echo 'sandbox-supervisor release')}" \
    GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$(g config user.email || echo 'release@invalid')}" \
      g tag -a "$tag" "$commit" -m "$package $version"
    echo "$tag: made at ${commit:0:12}"
  fi
done
[ "$failures" -eq 0 ] || exit 1
