#!/usr/bin/env bash
# bench/mount.sh - directfs against raw O_DIRECT and libfuse's passthrough_ll,
# side by side in one run on one disk (the targets in the README, "Benchmarks").
#
#   bench/mount.sh [DIR [GIB [BUILD]]]
#
# DIR (default /var/tmp/dfs-bench) is on the disk under test; GIB (default 2)
# is the size written.  BUILD is the CMake build tree holding fs/directfs
# (default ./build).  Runs as root: it mounts, and drops the page cache
# before each case so every case starts from the same state.
#
# Cases, each `dd if=/dev/zero bs=1M count=GIB*1024 conv=fsync`:
#   raw          oflag=direct straight into DIR
#   directfs     through a directfs mount of DIR
#   passthrough  through passthrough_ll -o cache=never (built here from
#                /usr/share/doc/libfuse3-dev/examples; not part of directfs)
# plus `cp` of a GIB file from tmpfs into directfs followed by `sync -f` of
# SOURCE (cp itself does not fsync), and reads back: dd iflag=direct on DIR
# against dd through the mount.
#
# Reported per case: MiB/s, growth of the system's Cached (MiB), pages of
# the written file resident afterwards, and for directfs the daemon's CPU
# seconds and peak RSS.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"
dir=${1:-/var/tmp/dfs-bench}
gib=${2:-2}
build=${3:-$top/build}
count=$((gib * 1024))
mib=$count
dfs=$build/fs/directfs
pt=$build/bench/passthrough_ll

bench_require mount.sh "$dfs" "$pt"

mkdir -p "$dir"
work=$(mktemp -d "$dir/run.XXXXXX")
shm=$(mktemp -d /dev/shm/dfs-bench.XXXXXX) # cp's source: in memory, off the disk
declare -a pids=() mnts=()
cleanup() {
	set +e
	for m in "${mnts[@]}"; do
		[ -n "$m" ] || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
pages() { fincore -n -b -o PAGES "$1" | awk '{print $1 + 0}'; }

unmount() { # MNT PID
	fusermount3 -u "$1"
	for _ in $(seq 600); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	mnts=("${mnts[@]/$1/}")
}

rows=()
# run LABEL FILE-FOR-FINCORE CMD...
run() {
	local label=$1 file=$2 c0 c1 t0 t1
	shift 2
	drop
	c0=$(cached_kib)
	t0=$(now)
	"$@"
	t1=$(now)
	c1=$(cached_kib)
	rows+=("$(awk -v l="$label" -v m="$mib" -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" \
		-v p="$(pages "$file")" \
		'BEGIN {printf "| %s | %.0f | %+.0f | %d |", l, m / (b - a), (c1 - c0) / 1024, p}')")
}

daemon_cpu() { # PID -> CPU seconds so far
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}
daemon_hwm() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# raw O_DIRECT
mkdir -p "$work/raw"
run "dd oflag=direct on SOURCE (raw)" "$work/raw/f" \
	dd if=/dev/zero of="$work/raw/f" bs=1M count=$count oflag=direct conv=fsync status=none

# directfs
mkdir -p "$work/dsrc" "$work/dmnt"
"$dfs" -f "$work/dsrc" "$work/dmnt" 2>"$work/directfs.log" &
dpid=$!
pids+=($dpid)
mnts+=("$work/dmnt")
bench_wait_mount mount.sh "$work/dmnt"
cpu0=$(daemon_cpu $dpid)
run "dd bs=1M through directfs" "$work/dsrc/f" \
	dd if=/dev/zero of="$work/dmnt/f" bs=1M count=$count conv=fsync status=none
cpu1=$(daemon_cpu $dpid)
head -c $((gib << 30)) /dev/zero >"$shm/f"
run "cp of a ${gib} GiB file (in tmpfs) into directfs, then sync -f" "$work/dsrc/cp" \
	sh -c 'cp "$1" "$2" && sync -f "$3"' cp "$shm/f" "$work/dmnt/cp" "$work/dsrc"
rm -f "$shm/f"
run "read: dd iflag=direct on SOURCE" "$work/raw/f" \
	dd if="$work/raw/f" of=/dev/null bs=1M iflag=direct status=none
run "read: dd bs=1M through directfs" "$work/dsrc/f" \
	dd if="$work/dmnt/f" of=/dev/null bs=1M status=none
hwm=$(daemon_hwm $dpid)
unmount "$work/dmnt" $dpid

# passthrough_ll, cache=never
mkdir -p "$work/psrc" "$work/pmnt"
"$pt" -f -o source="$work/psrc",cache=never "$work/pmnt" 2>"$work/pt.log" &
ppid=$!
pids+=($ppid)
mnts+=("$work/pmnt")
bench_wait_mount mount.sh "$work/pmnt"
run "dd bs=1M through passthrough_ll -o cache=never" "$work/psrc/f" \
	dd if=/dev/zero of="$work/pmnt/f" bs=1M count=$count conv=fsync status=none
unmount "$work/pmnt" $ppid

echo "$gib GiB on $(df -T "$dir" | awk 'NR == 2 {print $2 " (" $1 ")"}'), $(date -u +%F)"
echo
echo "| case | MiB/s | Cached growth, MiB | file pages resident |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
awk -v a="$cpu0" -v b="$cpu1" -v g="$gib" -v h="$hwm" 'BEGIN {
	printf "directfs daemon: %.2f CPU-seconds per GiB written by dd; peak RSS %d MiB\n", (b - a) / g, h }'
