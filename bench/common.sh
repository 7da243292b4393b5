# bench/common.sh - sourced by the benchmark scripts.
#   bench_require NAME DFS PT  root, a built directfs at DFS, and
#                            libfuse's passthrough_ll built at PT (from
#                            /usr/share/doc/libfuse3-dev/examples; at
#                            benchmark time, never part of directfs)
#   bench_wait_mount NAME MNT  wait (10 s at most) for a FUSE mount at MNT
#   bench_settled MNT        wait (10 s at most) for a directfs mount to be
#                            idle: every released file committed
#   bench_resident DIR       pages of the files under DIR in the page cache
#   bench_median             the median of the numbers on stdin
bench_require() {
	local ex=/usr/share/doc/libfuse3-dev/examples
	[ "$(id -u)" -eq 0 ] || { echo "bench/$1: run as root" >&2; exit 1; }
	[ -x "$2" ] || { echo "bench/$1: build first ($2 missing)" >&2; exit 1; }
	[ -x "$3" ] && return 0
	mkdir -p "$(dirname "$3")"
	gcc -O2 -Wall -I"$ex" "$ex/passthrough_ll.c" -o "$3" $(pkg-config --cflags --libs fuse3)
}

bench_wait_mount() {
	for _ in $(seq 100); do mountpoint -q "$2" && return 0; sleep 0.1; done
	echo "bench/$1: $2 did not mount" >&2
	exit 1
}

bench_settled() {
	for _ in $(seq 100); do
		[ "$(getfattr --absolute-names --only-values -n user.directfs.state "$1")" = idle ] &&
			return 0
		sleep 0.1
	done
}

bench_resident() {
	find "$1" -type f -print0 | xargs -0 -r fincore -n -b -o PAGES | awk '{s += $1} END {print s + 0}'
}

bench_median() {
	tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
