# bench/common.sh - sourced by the benchmark scripts.
#   build_passthrough PATH   build libfuse's passthrough_ll example at PATH
#                            (from /usr/share/doc/libfuse3-dev/examples; at
#                            benchmark time, never part of directfs)
build_passthrough() {
	local ex=/usr/share/doc/libfuse3-dev/examples
	[ -x "$1" ] && return 0
	mkdir -p "$(dirname "$1")"
	gcc -O2 -Wall -I"$ex" "$ex/passthrough_ll.c" -o "$1" $(pkg-config --cflags --libs fuse3)
}
