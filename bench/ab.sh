#!/usr/bin/env bash
# bench/ab.sh - two builds of the daemon against each other, in alternating
# rounds (A B A B ...), for a change the harness's --alt cannot express.
#
#   bench/ab.sh OLD-DAEMON NEW-DAEMON tmpfs|disk|multi|read|fio4k|small|meta ROUNDS [DIR]
#
# tmpfs: dd bs=1M count=4096 conv=fsync into a SOURCE on a tmpfs; disk: the
# same with 2 GiB into DIR (default /var/tmp/dfs-ab); multi: 8 files of
# 256 MiB at once there; read: dd bs=1M of a 2 GiB file there, caches
# dropped, with raw dd iflag=direct of it in each round as well; fio4k:
# the harness's fio4k (fio randwrite 4k, 256 MiB, verify=crc32c); small:
# the harness's small (cp -r of 5,000 files of 4 KiB, then sync); meta:
# its metadata stress (bench/mdstress, 4 x 2,000 rounds of 512 bytes; the
# binary from ./build, or MDSTRESS).  The daemon's CPU is taken once the
# mount is idle (every release committed).  Prints one line per case
# (seconds, daemon CPU-seconds), then the medians.  Runs as root (mounts,
# drops caches).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"
[ $# -ge 4 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
old=$1 new=$2 kind=$3 rounds=$4 dir=${5:-/var/tmp/dfs-ab}
src=$dir/src mnt=$dir/mnt dpid=
mkdir -p "$src" "$mnt"
cleanup() {
	set +e
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	[ -n "$dpid" ] && wait "$dpid"
	mountpoint -q "$src" && umount "$src"
	rm -rf "$dir"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
[ "$kind" = read ] && dd if=/dev/urandom of="$src/f" bs=1M count=2048 oflag=direct status=none
mdstress=${MDSTRESS:-$top/build/bench/mdstress}
if [ "$kind" = small ]; then
	small=$(mktemp -d /dev/shm/dfs-ab.XXXXXX)
	for i in 0 1 2 3 4 5 6 7 8 9; do
		mkdir "$small/d$i"
		head -c $((500 * 4096)) /dev/urandom | (cd "$small/d$i" && split -b 4096 -a 4 - f)
	done
	trap 'cleanup; rm -rf "$small"' EXIT
fi
for ((r = 1; r <= rounds; r++)); do
	if [ "$kind" = read ]; then
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(date +%s.%N)
		dd if="$src/f" of=/dev/null bs=1M iflag=direct status=none
		t1=$(date +%s.%N)
		printf '%s\t%s\t%d\t%.3f\t%.2f\n' read raw "$r" "$(echo "$t1 - $t0" | bc)" 0 |
			tee -a "$dir.tsv"
	fi
	for b in old new; do
		bin=$old
		[ $b = new ] && bin=$new
		[ "$kind" = tmpfs ] && mount -t tmpfs -o size=5g dfs-ab-src "$src"
		"$bin" -f "$src" "$mnt" 2>>"$dir.log" &
		dpid=$!
		bench_wait_mount ab.sh "$mnt"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		c0=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
		t0=$(date +%s.%N)
		case $kind in
		tmpfs) dd if=/dev/zero of="$mnt/f" bs=1M count=4096 conv=fsync status=none ;;
		disk) dd if=/dev/zero of="$mnt/f" bs=1M count=2048 conv=fsync status=none ;;
		read) dd if="$mnt/f" of=/dev/null bs=1M status=none ;;
		fio4k)
			fio --name=rand --filename="$mnt/r" --rw=randwrite --bs=4k --size=256M \
				--ioengine=psync --verify=crc32c --verify_fatal=1 --randrepeat=0 \
				--verify_state_save=0 >"$dir.fio"
			grep -q 'err= 0' "$dir.fio" || { echo "ab.sh: fio failed" >&2; exit 1; }
			sync -f "$mnt/r"
			;;
		small) cp -r "$small" "$mnt/small" && sync ;;
		meta) "$mdstress" "$mnt" 4 2000 512 >/dev/null ;;
		multi)
			pids=()
			for i in 1 2 3 4 5 6 7 8; do
				dd if=/dev/zero of="$mnt/f$i" bs=1M count=256 conv=fsync status=none &
				pids+=($!)
			done
			wait "${pids[@]}"
			;;
		*) echo "ab.sh: no kind $kind" >&2; exit 2 ;;
		esac
		t1=$(date +%s.%N)
		bench_settled "$mnt"
		c1=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
		fusermount3 -u "$mnt"
		wait "$dpid"
		dpid=
		printf '%s\t%s\t%d\t%.3f\t%.2f\n' "$kind" "$b" "$r" "$(echo "$t1 - $t0" | bc)" \
			"$(echo "($c1 - $c0) / $hz" | bc -l)" | tee -a "$dir.tsv"
		case $kind in
		tmpfs) umount "$src" ;;
		read) ;;
		*) rm -rf "${src:?}"/* ;;
		esac
	done
done
bs="old new"
[ "$kind" = read ] && bs="raw old new"
for b in $bs; do
	echo "$b: median $(awk -F'\t' -v b=$b '$2 == b {print $4}' "$dir.tsv" | bench_median) s," \
		"CPU $(awk -F'\t' -v b=$b '$2 == b {print $5}' "$dir.tsv" | bench_median) s"
done
rm -f "$dir.tsv" "$dir.log" "$dir.fio"
