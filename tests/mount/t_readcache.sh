#!/usr/bin/env bash
# Description: reading through the mount leaves nothing in SOURCE's page
# cache, on ext4, xfs, btrfs (plain, and compressed with zstd) and tmpfs.
# A tree of files from 100 bytes to 4 MiB (sizes around btrfs's 2 KiB
# inline limit, a 12.1 KiB file, unaligned ends) is written through the
# mount, settled (0 pages), then read back through it and compared: still
# 0 pages of any file on SOURCE.  btrfs reads inline and compressed extents
# through its page cache even for O_DIRECT, without an error, so the
# daemon drops what a read there may have left.  On tmpfs the pages are
# the files themselves: there the bytes are checked, and that no file
# holds more pages than its size.
. "$(dirname "$0")/lib.sh"
command -v mkfs.btrfs >/dev/null || skip "no mkfs.btrfs (btrfs-progs)"
command -v mkfs.xfs >/dev/null || skip "no mkfs.xfs (xfsprogs)"

tree=$T/tree
mkdir -p "$tree/d"
for s in 100 2000 2048 2049 4095 4096 4097 12390 65539 1048583 4194304; do
	head -c $s /dev/urandom >"$tree/f$s"
	head -c $((s / 2 + 1)) /dev/urandom >"$tree/d/g$s"
done
# Compressible: btrfs with compress=zstd stores it compressed.
head -c $((3 << 20)) <(yes directfs) >"$tree/text"

one() { # NAME TYPE [MOUNT-OPTIONS]
	local name=$1 type=$2 opts=${3:-} src=$T/$1 mnt=$T/m$1 pages
	case $type in
	tmpfs) mkdir -p "$src"; mount -t tmpfs -o size=256m dfs-readcache "$src"; LOOP_MNTS=("$src" "${LOOP_MNTS[@]}") ;;
	*) loop_fs "$type" 512 512 "$src" ;;
	esac
	if [ -n "$opts" ]; then mount -o remount,"$opts" "$src"; fi
	dfs_mount "$src" "$mnt"
	cp -r "$tree" "$mnt/"
	dfs_settled "$mnt"
	if [ "$type" != tmpfs ]; then
		pages=$(find "$src" -type f -print0 | xargs -0 fincore -n -b -o PAGES | awk '{s += $1} END {print s + 0}')
		[ "$pages" = 0 ] || fail "$name: $pages pages resident after writing"
	fi
	find "$mnt" -type f -exec cat {} + >/dev/null
	diff -r "$tree" "$mnt/tree" || fail "$name: the tree read back differs"
	if [ "$type" = tmpfs ]; then
		find "$src" -type f -printf '%s %p\n' | while read -r size f; do
			[ "$(resident "$f")" -le $(((size + 4095) / 4096)) ] || fail "$name: $f holds more pages than its size"
		done
	else
		pages=$(find "$src" -type f -print0 | xargs -0 fincore -n -b -o PAGES,FILE | awk '$1 > 0')
		[ -z "$pages" ] || fail "$name: pages resident after reading through the mount: $pages"
	fi
	dfs_umount "$mnt"
	echo "$name: ok"
}
one ext4 ext4
one xfs xfs
one btrfs btrfs
one btrfs-zstd btrfs compress=zstd
one tmpfs tmpfs
dfs_check_log
