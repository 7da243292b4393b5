#!/usr/bin/env bash
# Description: memory mappings of files in the mount.  Private mappings
# work (the mapping shows the file's bytes; a change to it stays private).
# Shared mappings work where the kernel and libfuse allow them on FUSE
# direct I/O files (FUSE_DIRECT_IO_ALLOW_MMAP: a change reaches the file);
# elsewhere they fail with ENODEV, exactly, the daemon says so once in its
# log at mount, and it keeps serving the file.
. "$(dirname "$0")/lib.sh"
: "${DFS_MAPCHECK:?DFS_MAPCHECK must name the mapcheck helper}"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"
head -c 20000 /dev/urandom >"$T/data"
cp "$T/data" "$mnt/f"

out=$("$DFS_MAPCHECK" private "$mnt/f") || fail "private mapping: $out"
cmp -s "$T/data" "$src/f" || fail "a private mapping's change reached SOURCE"

if grep -q "shared mappings (mmap MAP_SHARED) of files in the mount get ENODEV" "$DFS_LOG"; then
	rc=0
	out=$("$DFS_MAPCHECK" shared "$mnt/f") || rc=$?
	[ "$rc" -eq 2 ] && [ "$out" = ENODEV ] || fail "shared mapping: want ENODEV, got $out (status $rc)"
	[ "$(grep -c "get ENODEV" "$DFS_LOG")" -eq 1 ] || fail "the ENODEV notice is not in the log exactly once"
	cmp -s "$T/data" "$mnt/f" || fail "the file changed after the refused mapping"
	echo "mmap: private ok; shared refused with ENODEV, as the log says ($(grep -o 'lib[a-z]* [0-9.]* has no[^(]*' "$DFS_LOG" | head -1))"
else
	out=$("$DFS_MAPCHECK" shared "$mnt/f") || fail "shared mapping: $out"
	[ "$(head -c 1 "$src/f")" = "#" ] || fail "a shared mapping's change did not reach SOURCE"
	echo "mmap: private and shared mappings work"
fi
echo still >"$mnt/g"
[ "$(cat "$src/g")" = still ] || fail "daemon not serving after the mappings"
dfs_umount "$mnt"
dfs_check_log
echo PASS
