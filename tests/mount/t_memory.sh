#!/usr/bin/env bash
# Description: the daemon's memory stays within memory_cap + 16 MiB
# (SPEC 6) whatever the number of writers and readers: 64 writers of 8 MiB
# at once (whole 1 MiB requests, then 100 KiB ones, which are copied and
# leave partial windows), with 4 sequential readers of a 128 MiB file beside
# them, on a tmpfs SOURCE (no disk to wait for).  Peak RSS (VmHWM) at most
# 80 MiB with the default 64 MiB cap (66 here; 13c452d reached 76 to 88,
# its request threads' buffers outside the cap).  Every file
# arrives whole.  Under AddressSanitizer the RSS is the sanitizer's
# (shadow memory, quarantine): there only the bytes are checked.
# The daemon asks the OOM killer to choose others first: started with a
# score of 500 (as a user session's programs get 100 or 200), it lowers
# its oom_score_adj to -900 where it holds CAP_SYS_RESOURCE, else to 0,
# the lowest anyone may set, says which, and keeps it through the writers.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt
mkdir -p "$src"
mount -t tmpfs -o size=2g dfs-memory "$src"
LOOP_MNTS=("$src" "${LOOP_MNTS[@]}")
head -c $((128 << 20)) /dev/urandom >"$src/r"
want=$(sha "$src/r")
asan=0
# Not `ldd | grep -q`: under pipefail, grep leaving early makes ldd's
# next write fail (SIGPIPE) and the pipeline false, as happened once.
case $(ldd "$DFS_BIN") in *libasan*) asan=1 ;; esac

if (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then lowest=-900; else lowest=0; fi
score=$(cat /proc/self/oom_score_adj)
for bs in 1048576 102400; do
	echo 500 >/proc/self/oom_score_adj # the daemon inherits it
	dfs_mount "$src" "$mnt"
	echo "$score" >/proc/self/oom_score_adj 2>/dev/null || echo 0 >/proc/self/oom_score_adj
	assert_eq "$(cat "/proc/$(dfs_pid "$mnt")/oom_score_adj")" $lowest "the daemon's oom_score_adj at mount"
	pids=()
	for i in $(seq 64); do
		dd if=/dev/zero of="$mnt/w$i" bs=$bs count=$(((8 << 20) / bs)) status=none &
		pids+=($!)
	done
	for i in 1 2 3 4; do
		sha256sum "$mnt/r" >"$T/r$i.sum" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "a writer or reader failed (bs=$bs)"; done
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$(dfs_pid "$mnt")/status")
	assert_eq "$(cat "/proc/$(dfs_pid "$mnt")/oom_score_adj")" $lowest "the daemon's oom_score_adj after the writers"
	dfs_umount "$mnt"
	for i in 1 2 3 4; do
		[ "$(cut -d' ' -f1 "$T/r$i.sum")" = "$want" ] || fail "reader $i read other bytes (bs=$bs)"
	done
	for i in $(seq 64); do
		assert_eq "$(stat -c %s "$src/w$i")" $(((8 << 20) / bs * bs)) "w$i: size (bs=$bs)"
		cmp -s -n $(((8 << 20) / bs * bs)) /dev/zero "$src/w$i" || fail "w$i: not zeros (bs=$bs)"
	done
	rm -f "$src"/w*
	if [ $asan = 0 ]; then
		[ "$hwm" -le $((80 << 10)) ] || fail "bs=$bs: peak RSS $((hwm >> 10)) MiB, over memory_cap + 16 MiB (80 MiB)"
	fi
	echo "64 writers (bs=$bs) and 4 readers: peak RSS $((hwm >> 10)) MiB$([ $asan = 1 ] && echo ' (AddressSanitizer: not held to 80 MiB)')"
done
[ $lowest = -900 ] || grep -q "oom_score_adj 0, not -900 (no CAP_SYS_RESOURCE)" "$DFS_LOG" ||
	fail "the daemon did not say its oom_score_adj stays at 0"
echo "oom_score_adj: $lowest at mount and after the writers, from 500 inherited"
dfs_check_log "oom_score_adj 0, not -900"
