#!/usr/bin/env bash
# hack/dashboard-assets.sh -- the dashboard's chart library (make dashboard-assets).
#
# Fetches Apache ECharts from the npm registry at the version pinned in
# internal/dashboard/static/vendor/echarts.lock, refuses the tarball unless
# its sha512 is the lock's integrity (the value `npm view echarts@<version>
# dist.integrity` prints, the one package-lock.json files carry), and copies
# the files the lock names (the minified bundle, LICENSE, NOTICE) into that
# directory, where the dashboard embeds them with go:embed. They are not
# committed (.gitignore): a fresh clone runs this once, and `go build`
# without them still works (the dashboard then says plots need them).
#
# Idempotent: when every file is there with the sha256 the lock records, it
# runs no command. Needs npm only when it fetches. NPM_REGISTRY overrides
# the registry npm is configured with.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENDOR="$ROOT/internal/dashboard/static/vendor"
LOCK="$VENDOR/echarts.lock"

die() {
	echo "dashboard-assets: $*" >&2
	exit 1
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

version=$(sed -n 's/^version=//p' "$LOCK")
tarball=$(sed -n 's/^tarball=//p' "$LOCK")
integrity=$(sed -n 's/^integrity=//p' "$LOCK")
[[ -n $version && -n $tarball && $integrity == sha512-* ]] || die "$LOCK needs version=, tarball= and integrity=sha512-..."
mapfile -t files < <(sed -n 's/^file=//p' "$LOCK")
((${#files[@]})) || die "$LOCK names no file= to copy"

# Every file present with its recorded sha256: nothing to do.
current=1
for f in "${files[@]}"; do
	read -r name _ sum <<<"$f"
	if [[ ! -f $VENDOR/$name || $(sha256 "$VENDOR/$name") != "$sum" ]]; then
		current=0
		break
	fi
done
if ((current)); then
	exit 0
fi

command -v npm >/dev/null || die "npm is needed to fetch echarts@$version (Node.js's npm client)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "dashboard-assets: fetching echarts@$version from the npm registry" >&2
npm_args=(pack "echarts@$version" --pack-destination "$tmp" --silent)
if [[ -n ${NPM_REGISTRY:-} ]]; then
	npm_args+=(--registry "$NPM_REGISTRY")
fi
(cd "$tmp" && npm "${npm_args[@]}" >/dev/null) || die "npm pack echarts@$version failed"
[[ -f $tmp/$tarball ]] || die "npm pack did not write $tarball (found: $(ls "$tmp"))"

got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 | tr -d '\n')"
if [[ $got != "$integrity" ]]; then
	die "INTEGRITY MISMATCH for $tarball: the lock says $integrity, the registry served $got; nothing was copied"
fi

mkdir -p "$tmp/x"
paths=()
for f in "${files[@]}"; do
	read -r _ path _ <<<"$f"
	paths+=("$path")
done
tar -xzf "$tmp/$tarball" -C "$tmp/x" "${paths[@]}" || die "$tarball lacks one of: ${paths[*]}"

# The tarball is the one pinned; its files must also be the ones recorded,
# so that a new version is reviewed file by file before it is used.
bad=0
for f in "${files[@]}"; do
	read -r name path sum <<<"$f"
	now=$(sha256 "$tmp/x/$path")
	if [[ $now != "$sum" ]]; then
		echo "dashboard-assets: $path of $tarball has sha256 $now; $LOCK records $sum" >&2
		bad=1
	fi
done
((bad == 0)) || die "the files differ from the lock; nothing was copied"

for f in "${files[@]}"; do
	read -r name path _ <<<"$f"
	install -m 0644 "$tmp/x/$path" "$VENDOR/$name.tmp"
	mv -f "$VENDOR/$name.tmp" "$VENDOR/$name"
done
echo "dashboard-assets: echarts@$version ($integrity) in ${VENDOR#"$ROOT"/}" >&2
