#!/usr/bin/env bash
# Description: copies leave nothing in any page cache.  Inside one mount,
# cp's copy_file_range runs in the daemon, disk to stage to disk: the
# source's inode in the mount gets no page (cachestat while it runs), -d
# logs copy_file_range, and the copy is intact,
# durable and uncached on SOURCE.  Unaligned ranges, ranges over staged
# bytes and past the end leave what a local copy_file_range leaves.
# Between two mounts (the source read-only) the kernel splices through
# the source mount's own page cache; the daemon drops the pages behind
# the stream, so at most 64 MiB of a 256 MiB file are cached at any time
# (all of it before).
. "$(dirname "$0")/lib.sh"
: "${DFS_CACHESTAT:?}"
command -v xfs_io >/dev/null || skip "no xfs_io (xfsprogs)"
"$DFS_CACHESTAT" / >/dev/null || skip "no cachestat(2) (Linux 6.5)"

src=$T/src mnt=$T/mnt ref=$T/ref
mkdir -p "$src" "$ref"
head -c $((64 << 20)) /dev/urandom >"$T/data"
dd if="$T/data" of="$src/a" bs=1M oflag=direct status=none
dfs_mount "$src" "$mnt" -d

# --- cp inside the mount: copy_file_range in the daemon ---
"$DFS_CACHESTAT" --max "$mnt/a" >"$T/max" &
sampler=$!
cp "$mnt/a" "$mnt/b"
kill -TERM $sampler
wait $sampler
assert_eq "$(cat "$T/max")" 0 "cp inside the mount: pages of the source cached in the mount"
grep -q "copy_file_range ino=" "$DFS_LOG" || fail "cp inside the mount sent no copy_file_range"
dfs_settled "$mnt"
assert_eq "$(resident "$src/a" "$src/b")" 0 "cp inside the mount: pages on SOURCE"
assert_eq "$(attr "$mnt/b" durable)" $((64 << 20)) "b: durable"
cmp "$T/data" "$src/b" || fail "b differs from a"
echo "cp inside the mount: ok (copy_file_range, nothing cached, durable, intact)"

# --- ranges: unaligned, over staged bytes, past the end; as a local file ---
cp "$T/data" "$ref/a"
ranges() { # DIR: the same commands on DIR's files
	xfs_io -f -c "pwrite -q -S 0x61 0 3000000" -c "pwrite -q -S 0x62 1048576 4096" \
		-c "copy_range -s 1000 -d 3 -l 2100000 $1/a" \
		-c "copy_range -s 5000 -d 1048000 -l 9000 $1/a" \
		-c "copy_range -s $((64 << 20)) -d 0 -l 4096 $1/a" \
		-c "copy_range -s $(((64 << 20) - 700)) -d 4000000 -l 4096 $1/a" "$1/c"
	# A source with bytes staged: written, not yet closed, then copied.
	xfs_io -c "pwrite -q -S 0x63 2000 70000" -c "copy_range -s 0 -d 300000 -l 200000 $1/a" "$1/a"
}
ranges "$ref" 2>"$T/xfs_io.err"
[ ! -s "$T/xfs_io.err" ] || fail "xfs_io on a local file: $(cat "$T/xfs_io.err")"
ranges "$mnt" 2>"$T/xfs_io.err"
[ ! -s "$T/xfs_io.err" ] || fail "xfs_io through the mount: $(cat "$T/xfs_io.err")"
cmp "$ref/c" "$mnt/c" || fail "c through the mount differs from a local file's"
cmp "$ref/a" "$mnt/a" || fail "a through the mount differs from a local file's"
dfs_settled "$mnt"
cmp "$ref/c" "$src/c" || fail "c on SOURCE differs from a local file's"
cmp "$ref/a" "$src/a" || fail "a on SOURCE differs from a local file's"
echo "ranges: ok (unaligned, staged, at and past the end)"
dfs_umount "$mnt"

# --- between two mounts: the splice through the source's page cache ---
mkdir -p "$T/dst"
head -c $((256 << 20)) /dev/urandom >"$T/big"
dd if="$T/big" of="$src/big" bs=1M oflag=direct status=none
dfs_mount "$src" "$T/ro" -o ro
dfs_mount "$T/dst" "$mnt"
"$DFS_CACHESTAT" --max "$T/ro/big" >"$T/max" &
sampler=$!
cp "$T/ro/big" "$mnt/big"
kill -TERM $sampler
wait $sampler
most=$(cat "$T/max")
[ "$most" -le 16384 ] || fail "cp between two mounts: $most pages of 65536 cached at once in the source mount"
dfs_settled "$mnt"
[ "$(resident "$src/big" "$T/dst/big")" = 0 ] || fail "pages of big resident on SOURCE"
cmp "$T/big" "$T/dst/big" || fail "big differs after the copy between mounts"
echo "between two mounts: ok (at most $most pages of 65536 cached at once)"
dfs_check_log "^   unique: [0-9]+, error: -[0-9]+ "
