#!/usr/bin/env bash
# bench/manyfiles.sh - many files through a daemon with a small descriptor
# limit: DIRS directories of 1,000 empty files created with touch, listed
# with find and read back with cat through a daemon started under
# `ulimit -n 1024` (soft and hard).  Reports the seconds of each step, the
# errors seen, and the most descriptors the daemon held.
#
#   bench/manyfiles.sh [DIR [DIRS [BUILD]]]
#
# DIR (default /var/tmp/dfs-bench) on the disk under test; DIRS (default
# 200: 200,000 files); BUILD the CMake build tree (default ./build).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/tmp/dfs-bench}
dirs=${2:-200}
build=${3:-$top/build}
dfs=$build/fs/directfs
[ "$(id -u)" -eq 0 ] || { echo "bench/manyfiles.sh: run as root" >&2; exit 1; }
[ -x "$dfs" ] || { echo "bench/manyfiles.sh: build first ($dfs missing)" >&2; exit 1; }

mkdir -p "$dir"
work=$(mktemp -d "$dir/many.XXXXXX")
mkdir -p "$work/src" "$work/mnt"
trap 'mountpoint -q "$work/mnt" && fusermount3 -u "$work/mnt"; rm -rf "$work"' EXIT
ulimit -n 1024
"$dfs" "$work/src" "$work/mnt"
pid=$(getfattr --absolute-names --only-values -n user.directfs.pid "$work/mnt")
max=0
sample() {
	local k
	k=$(ls "/proc/$pid/fd" | wc -l)
	[ "$k" -gt "$max" ] && max=$k
	return 0
}
errs=$work/errors
t0=$(date +%s)
for ((i = 1; i <= dirs; i++)); do
	mkdir "$work/mnt/d$i"
	(cd "$work/mnt/d$i" && seq -f "f%g" 1000 | xargs touch) 2>>"$errs" || true
	((i % 10)) || sample
done
t1=$(date +%s)
n=$(find "$work/mnt" -type f 2>>"$errs" | wc -l)
t2=$(date +%s)
sample
find "$work/mnt" -type f -exec cat {} + >/dev/null 2>>"$errs" || true
t3=$(date +%s)
sample
echo "files: $n of $((dirs * 1000)); create $((t1 - t0)) s, find $((t2 - t1)) s, read $((t3 - t2)) s;" \
	"errors: $(wc -l <"$errs"); daemon descriptors at most $max under a limit of $(ulimit -n)"
[ -s "$errs" ] && head -n 3 "$errs"
exit 0
