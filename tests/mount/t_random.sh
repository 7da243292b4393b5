#!/usr/bin/env bash
# Description: thousands of seeded random operations (pwrite, pread,
# append, truncate, fallocate, fsync, close/reopen, two handles) on a file
# in the mount and on a reference file, compared after every step; over
# plain SOURCE, over ext4 and xfs on 4096-byte-sector loop devices
# (512-aligned I/O refused), and with tiny buffers so windows are written, reclaimed and
# read back constantly.  Where the daemon allows shared mappings (libfuse
# 3.17 and later: no ENODEV notice in its log), loads and stores through
# shared mappings join the operations.  Seeds: DFS_SEEDS (default "1 2 3").
. "$(dirname "$0")/lib.sh"
: "${DFS_VERIFY:?}"
seeds=${DFS_SEEDS:-1 2 3}
ops=${DFS_OPS:-2500}

run() { # LABEL SRC MNT MAXSIZE [DIRECTFS-ARGS...]
	local label=$1 src=$2 mnt=$3 max=$4 s
	shift 4
	dfs_mount "$src" "$mnt" "$@"
	maps=1
	grep -q "get ENODEV" "$DFS_LOG" && maps=0
	for s in $seeds; do
		VERIFY_MAPS=$maps "$DFS_VERIFY" "$mnt/f$s" "$T/ref$s" "$s" "$ops" "$max" "$src/f$s" ||
			fail "$label: seed $s (rerun: $DFS_VERIFY FILE REF $s $ops $max)"
	done
	dfs_umount "$mnt"
	for s in $seeds; do same_file "$T/ref$s" "$src/f$s"; done
	echo "$label: ok$([ "$maps" = 1 ] && echo ", mapped set too")"
}

run "plain SOURCE" "$T/src" "$T/mnt" $((8 << 20))
run "tiny buffers" "$T/src2" "$T/mnt2" $((2 << 20)) -o buffer_size=64K,memory_cap=256K,depth=1

loop_fs ext4 256 4096 "$T/ext4k"
[ "$(blockdev --getss "${LOOP_DEVS[0]}")" -eq 4096 ] || fail "loop device sector size"
run "ext4 on 4096-byte sectors" "$T/ext4k/src" "$T/mnt3" $((8 << 20))

# xfs wants 300 MiB at least; the image is sparse.
loop_fs xfs 320 4096 "$T/xfs4k"
[ "$(blockdev --getss "${LOOP_DEVS[1]}")" -eq 4096 ] || fail "loop device sector size (xfs)"
run "xfs on 4096-byte sectors" "$T/xfs4k/src" "$T/mnt4" $((8 << 20))

dfs_check_log
echo PASS
