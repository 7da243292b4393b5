#!/usr/bin/env bash
# Description: staged data is visible.  Bytes written but still staged
# (the backing file does not have them yet) are read back through the
# mount through another descriptor (tests/mount/staged.c); stat from
# another process shows the logical size
# while a copy grows.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"

"$DFS_STAGED" "$mnt" "$src"

# stat during a copy: a writer that pauses between 300 KiB chunks.
head -c $((300 * 1024 * 12)) /dev/urandom >"$T/chunks"
: >"$mnt/growing"
(
	for i in $(seq 0 11); do
		dd if="$T/chunks" bs=300K skip=$i count=1 status=none
		sleep 0.3
	done
) >>"$mnt/growing" &
writer=$!
sizes=()
while kill -0 $writer 2>/dev/null; do
	sizes+=("$(stat -c %s "$mnt/growing")")
	sleep 0.25
done
wait $writer
prev=-1 grew=0
for s in "${sizes[@]}"; do
	[ "$s" -ge "$prev" ] || fail "size went back from $prev to $s"
	[ "$s" -gt "$prev" ] && [ "$prev" -ge 0 ] && grew=$((grew + 1))
	prev=$s
done
[ $grew -ge 4 ] || fail "stat saw the size grow only $grew times: ${sizes[*]}"
same_file "$T/chunks" "$src/growing"
echo "stat during a copy: ok (${sizes[*]})"

dfs_umount "$mnt"
dfs_check_log
echo PASS
