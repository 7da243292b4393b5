#!/usr/bin/env bash
# Description: one copy per byte.  With buffer_size equal to the request
# size (1M, both defaults), a WRITE of a whole window is traded into the
# stage: the request's buffer becomes the window's, with no copy (-d says
# "traded").
# dd bs=1M arrives intact and uncached with every request traded; traded
# windows over staged, truncated and sparse ranges leave exactly the
# bytes a local file holds; random operations with whole-window writes
# among them match a local reference at every step; with 4M buffers and
# 1M requests nothing is traded.
. "$(dirname "$0")/lib.sh"
: "${DFS_VERIFY:?}"

src=$T/src mnt=$T/mnt ref=$T/ref
mkdir -p "$ref"
head -c $((64 << 20)) /dev/urandom >"$T/data"
dfs_mount "$src" "$mnt" -d
traded() { grep -c "traded into the stage" "$DFS_LOG" || true; }

# --- dd bs=1M: every request traded, the bytes intact, nothing cached ---
dd if="$T/data" of="$mnt/a" bs=1M status=none
dfs_settled "$mnt"
# Resident pages first: hashing reads the file through the page cache.
assert_eq "$(resident "$src/a")" 0 "a: pages resident"
same_file "$T/data" "$src/a"
n=$(traded)
[ "$n" -ge 64 ] || fail "dd bs=1M of 64 MiB: $n requests traded, want 64"
echo "dd bs=1M: ok ($n of 64 requests traded, intact, 0 pages)"

# --- traded windows over staged, truncated and sparse ranges ---
both() { # dd ARGS..., on the mount's file and the reference's
	dd if="$T/data" of="$mnt/b" status=none "$@"
	dd if="$T/data" of="$ref/b" status=none "$@"
}
before=$(traded)
both bs=1M count=8
both bs=4096 skip=7 seek=300 count=3 conv=notrunc   # staged, inside window 1
both bs=1M skip=9 seek=1 count=1 conv=notrunc       # window 1 whole: traded over it
truncate -s $((5 * 1048576 + 524288)) "$mnt/b" "$ref/b"
both bs=1M skip=11 seek=5 count=1 conv=notrunc      # over the truncated end
both bs=1M skip=12 seek=20 count=1 conv=notrunc     # past the end: a hole before it
both bs=1000 skip=3 seek=2 count=1 conv=notrunc     # unaligned, copied
cmp "$ref/b" "$mnt/b" || fail "b through the mount differs from the reference"
dfs_settled "$mnt"
cmp "$ref/b" "$src/b" || fail "b on SOURCE differs from the reference"
assert_eq "$(stat -c %s "$src/b")" $((21 << 20)) "b: size"
[ $(($(traded) - before)) -ge 11 ] || fail "only $(($(traded) - before)) traded writes in the mixed sequence"
echo "staged, truncated, sparse: ok ($(($(traded) - before)) traded)"

# --- random operations, whole windows among them, checked at every step ---
before=$(traded)
for s in 1 2 3; do
	VERIFY_WINDOW=1048576 "$DFS_VERIFY" "$mnt/r$s" "$T/ref$s" $s 1500 $((6 << 20)) "$src/r$s" ||
		fail "random operations with whole windows, seed $s"
done
[ $(($(traded) - before)) -ge 100 ] || fail "random operations traded only $(($(traded) - before)) windows"
echo "random operations: ok (3 seeds x 1500, $(($(traded) - before)) windows traded)"
dfs_umount "$mnt"

# --- no trade where a request is smaller than a window ---
: >"$DFS_LOG"
dfs_mount "$src" "$mnt" -d -o buffer_size=4M
dd if="$T/data" of="$mnt/c" bs=1M status=none
dfs_umount "$mnt"
same_file "$T/data" "$src/c"
assert_eq "$(traded)" 0 "4M windows and 1M requests: traded"
echo "4M windows: ok (nothing traded, intact)"
dfs_check_log "unique: [0-9]+, error: |opcode: |trace: "
echo PASS
