#!/usr/bin/env bash
# bench/trees.sh - real trees copied with `rsync -a` and unpacked with
# `tar -x`, each followed by `sync`: straight into SOURCE, through libfuse's
# passthrough_ll with its defaults and through directfs with its defaults,
# in alternating rounds (A B C A B C ...) on one disk, with the medians.
#
#   bench/trees.sh [DIR [ROUNDS [BUILD]]]
#
# DIR (default /var/tmp/dfs-bench) is on the disk under test; ROUNDS
# (default 3); BUILD is the CMake build tree (default ./build).  The tree is
# /usr/include and /usr/share/doc, copied once to tmpfs (and tarred there)
# so the source side costs the same every time.  Runs as root: it mounts
# and drops the page cache before each case.  For directfs it also reports
# the pages of the copied files left resident once the mount is idle.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"
dir=${1:-/var/tmp/dfs-bench}
rounds=${2:-3}
build=${3:-$top/build}
dfs=$build/fs/directfs
pt=$build/bench/passthrough_ll

bench_require trees.sh "$dfs" "$pt"

mkdir -p "$dir"
work=$(mktemp -d "$dir/trees.XXXXXX")
shm=$(mktemp -d /dev/shm/dfs-trees.XXXXXX)
mnt=$work/mnt
cleanup() {
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

mkdir -p "$shm/tree"
cp -a /usr/include /usr/share/doc "$shm/tree/"
tar -C "$shm" -cf "$shm/tree.tar" tree
nfiles=$(find "$shm/tree" -type f | wc -l)
mib=$(du -sm "$shm/tree" | cut -f1)

now() { date +%s.%N; }
run() { # WORKLOAD DST: seconds
	local t0
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t0=$(now)
	case $1 in
	rsync) rsync -a "$shm/tree/" "$2/tree/" ;;
	tar) tar -C "$2" -xf "$shm/tree.tar" ;;
	esac
	sync
	echo "$(now) - $t0" | bc
}

declare -A times=()
for ((r = 1; r <= rounds; r++)); do
	for w in rsync tar; do
		src=$work/native
		mkdir -p "$src"
		times[$w-native]+="$(run $w "$src") "
		rm -rf "$src"

		src=$work/pt
		mkdir -p "$src" "$mnt"
		"$pt" -o source="$src" "$mnt"
		bench_wait_mount trees.sh "$mnt"
		times[$w-passthrough_ll]+="$(run $w "$mnt") "
		fusermount3 -u "$mnt"
		rm -rf "$src"

		src=$work/dfs
		mkdir -p "$src" "$mnt"
		"$dfs" "$src" "$mnt"
		bench_wait_mount trees.sh "$mnt"
		times[$w-directfs]+="$(run $w "$mnt") "
		bench_settled "$mnt"
		res=$(bench_resident "$src")
		echo "round $r, $w: directfs left $res pages resident"
		fusermount3 -u "$mnt"
		rm -rf "$src"
	done
done

printf '\n%s files, %s MiB (/usr/include, /usr/share/doc); %s rounds, seconds including sync\n\n' \
	"$nfiles" "$mib" "$rounds"
printf '| workload | case | rounds | median | / native | / passthrough_ll |\n|---|---|---|---|---|---|\n'
for w in rsync tar; do
	base=$(echo "${times[$w-native]}" | bench_median)
	ptm=$(echo "${times[$w-passthrough_ll]}" | bench_median)
	for c in native passthrough_ll directfs; do
		m=$(echo "${times[$w-$c]}" | bench_median)
		printf '| %s | %s | %s| %.2f | %.2f | %.2f |\n' "$w" "$c" "${times[$w-$c]}" "$m" \
			"$(echo "$m / $base" | bc -l)" "$(echo "$m / $ptm" | bc -l)"
	done
done
