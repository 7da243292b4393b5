#!/usr/bin/env bash
# Engine throughput against raw O_DIRECT dd on the same disk, interleaved in
# one run so the machine's noise hits both alike.
#   bench/engine.sh [DIR [SIZE_MIB [ROUNDS]]]     (run from a build tree or set BENCH_BIN)
set -euo pipefail
dir=${1:-/var/tmp}
mib=${2:-1024}
rounds=${3:-3}
bin=${BENCH_BIN:-$(dirname "$0")/../build/bench/engine_bench}
[ -x "$bin" ] || { echo "build first: $bin not found" >&2; exit 1; }
out="$dir/directfs-bench.$$"
trap 'rm -f "$out.dd" "$out.eng"' EXIT

cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
# MiB/s from dd's byte count and seconds (its own rate is rounded to 2 digits)
rate_dd() { dd if=/dev/zero of="$out.dd" bs=1M count="$mib" oflag=direct conv=fsync 2>&1 |
	awk '/copied/ {printf "%.0f", $1 / 1048576 / $(NF-3)}'; }
rate_eng() { "$bin" "$out.eng" "$mib" "$@" | awk '{print $(NF-1)}'; }

echo "disk: $(df -h --output=source,fstype "$dir" | tail -1), ${mib} MiB, ${rounds} rounds"
for r in $(seq "$rounds"); do
	c0=$(cached_kib)
	e=$(rate_eng "${@:4}")
	c1=$(cached_kib)
	d=$(rate_dd)
	res=$(fincore --bytes --noheadings --output RES "$out.eng" | tr -d ' ')
	echo "round $r: dd oflag=direct ${d} MiB/s   engine ${e} MiB/s" \
		"(= $(awk -v e="$e" -v d="$d" 'BEGIN{printf "%.0f", 100*e/d}')% of dd)" \
		"  cache growth $(( (c1 - c0) / 1024 )) MiB, engine file resident ${res} B"
	rm -f "$out.dd" "$out.eng"
done
