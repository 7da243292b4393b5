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

bench_require smallfiles.sh "$dfs" "$pt"

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

declare -A times=()
for ((r = 1; r <= rounds; r++)); do
	src=$work/native.$r
	mkdir -p "$src"
	times[native]+="$(copy "$src") "
	rm -rf "$src"

	src=$work/pt.$r
	mkdir -p "$src" "$mnt"
	"$pt" -o source="$src" "$mnt"
	bench_wait_mount smallfiles.sh "$mnt"
	times[passthrough_ll]+="$(copy "$mnt") "
	fusermount3 -u "$mnt"
	rm -rf "$src"

	src=$work/dfs.$r
	mkdir -p "$src" "$mnt"
	"$dfs" "$src" "$mnt"
	bench_wait_mount smallfiles.sh "$mnt"
	times[directfs]+="$(copy "$mnt") "
	# Durable and uncached, once the committer is done.
	bench_settled "$mnt"
	bad=0
	while read -r f; do
		size=$(stat -c %s "$f")
		[ "$(getfattr --absolute-names --only-values -n user.directfs.durable "$f")" = "$size" ] ||
			bad=$((bad + 1))
	done < <(find "$mnt/tree" -type f)
	res=$(bench_resident "$src/tree")
	echo "round $r: directfs files not durable: $bad, pages resident: $res"
	fusermount3 -u "$mnt"
	rm -rf "$src"
done

base=$(echo "${times[native]}" | bench_median)
printf '\n%s files of 4 KiB, cp -r then sync; %s rounds, seconds\n\n' "$files" "$rounds"
printf '| case | rounds | median | / native |\n|---|---|---|---|\n'
for c in native passthrough_ll directfs; do
	m=$(echo "${times[$c]}" | bench_median)
	printf '| %s | %s| %.2f | %.2f |\n' "$c" "${times[$c]}" "$m" "$(echo "$m / $base" | bc -l)"
done
