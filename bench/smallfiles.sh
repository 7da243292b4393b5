#!/usr/bin/env bash
# bench/smallfiles.sh - a tree of small files copied with `cp -r` and then
# `sync`, straight into SOURCE, through libfuse's passthrough_ll with its
# defaults and through directfs with its defaults, in alternating rounds
# (A B C A B C ...) on one disk, with the median of each.
#
#   bench/smallfiles.sh [DIR [ROUNDS [FILES [BUILD]]]]
#
# DIR (default /var/tmp/dfs-bench) is on the disk under test; ROUNDS
# (default 3); FILES (default 5000) files of 4 KiB in directories of 500,
# copied from tmpfs.  BUILD is the CMake build tree (default ./build).
# Runs as root: it mounts and drops the page cache before each case.
# Reported: seconds per case and round, the medians, the ratios to the
# native copy, and for directfs that every file ended durable (its
# user.directfs.durable equals its size) with no page resident.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"
dir=${1:-/var/tmp/dfs-bench}
rounds=${2:-3}
files=${3:-5000}
build=${4:-$top/build}
dfs=$build/fs/directfs
pt=$build/bench/passthrough_ll

[ "$(id -u)" -eq 0 ] || { echo "bench/smallfiles.sh: run as root" >&2; exit 1; }
[ -x "$dfs" ] || { echo "bench/smallfiles.sh: build first ($dfs missing)" >&2; exit 1; }
build_passthrough "$pt"

mkdir -p "$dir"
work=$(mktemp -d "$dir/small.XXXXXX")
shm=$(mktemp -d /dev/shm/dfs-small.XXXXXX)
mnt=$work/mnt
cleanup() {
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

for ((i = 0; i < files; i++)); do
	d=$shm/tree/d$((i / 500))
	[ -d "$d" ] || mkdir -p "$d"
	head -c 4096 /dev/urandom >"$d/f$i"
done

now() { date +%s.%N; }
# One case: copy the tree into DST (a fresh directory) and sync; seconds.
copy() { # DST
	local t0
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t0=$(now)
	cp -r "$shm/tree" "$1/" && sync
	echo "$(now) - $t0" | bc
}
# Wait for a FUSE mount to appear.
wait_mount() {
	for _ in $(seq 100); do mountpoint -q "$mnt" && return 0; sleep 0.1; done
	echo "bench/smallfiles.sh: $mnt did not mount" >&2
	exit 1
}

declare -A times=()
for ((r = 1; r <= rounds; r++)); do
	src=$work/native.$r
	mkdir -p "$src"
	times[native]+="$(copy "$src") "
	rm -rf "$src"

	src=$work/pt.$r
	mkdir -p "$src" "$mnt"
	"$pt" -o source="$src" "$mnt"
	wait_mount
	times[passthrough_ll]+="$(copy "$mnt") "
	fusermount3 -u "$mnt"
	rm -rf "$src"

	src=$work/dfs.$r
	mkdir -p "$src" "$mnt"
	"$dfs" "$src" "$mnt"
	wait_mount
	times[directfs]+="$(copy "$mnt") "
	# Durable and uncached, once the committer is done.
	for _ in $(seq 100); do
		[ "$(getfattr --absolute-names --only-values -n user.directfs.state "$mnt")" = idle ] && break
		sleep 0.1
	done
	bad=0
	while read -r f; do
		size=$(stat -c %s "$f")
		[ "$(getfattr --absolute-names --only-values -n user.directfs.durable "$f")" = "$size" ] ||
			bad=$((bad + 1))
	done < <(find "$mnt/tree" -type f)
	res=$(find "$src/tree" -type f -print0 | xargs -0 fincore -n -b -o PAGES | awk '{s += $1} END {print s + 0}')
	echo "round $r: directfs files not durable: $bad, pages resident: $res"
	fusermount3 -u "$mnt"
	rm -rf "$src"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
base=$(echo "${times[native]}" | median)
printf '\n%s files of 4 KiB, cp -r then sync; %s rounds, seconds\n\n' "$files" "$rounds"
printf '| case | rounds | median | / native |\n|---|---|---|---|\n'
for c in native passthrough_ll directfs; do
	m=$(echo "${times[$c]}" | median)
	printf '| %s | %s| %.2f | %.2f |\n' "$c" "${times[$c]}" "$m" "$(echo "$m / $base" | bc -l)"
done
