#!/usr/bin/env bash
# Description: trees of many files.  A daemon whose descriptor limit is
# 1,024, soft and hard, serves 10,000 files created, listed and read back
# through it without EMFILE, holding a bounded number of descriptors
# (remembered inodes are kept by file handle).  Files and directories
# renamed or deleted on SOURCE behind the mount's back behave as on a local
# disk, also once their descriptors were evicted.  A small-file tree
# copied with cp -r ends durable and uncached, file by file.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt
fds() { ls "/proc/$(dfs_pid "$mnt")/fd" | wc -l; }

# --- 10,000 files under a hard limit of 1,024 ---
# (DFS_TREE_DIRS directories of 1,000: 10 unless said; the valgrind run
# takes 2: still twice the limit.)
dirs=${DFS_TREE_DIRS:-10}
# The whole test runs under it (it needs few descriptors of its own).
ulimit -n 1024
dfs_mount "$src" "$mnt"
grep -q '^Max open files *1024 *1024 ' "/proc/$(dfs_pid "$mnt")/limits" ||
	fail "the daemon's limits: $(grep 'open files' "/proc/$(dfs_pid "$mnt")/limits")"
max=0
mkdir "$mnt/many"
for d in $(seq "$dirs"); do
	mkdir "$mnt/many/d$d"
	(cd "$mnt/many/d$d" && seq -f "f%g" 1000 | xargs touch) 2>"$T/err" ||
		fail "creating files: $(head -n 2 "$T/err")"
	echo "$d" >"$mnt/many/d$d/f1"
	n=$(fds)
	[ "$n" -gt "$max" ] && max=$n
done
n=$(find "$mnt/many" -type f 2>"$T/err" | wc -l)
[ "$n" -eq $((dirs * 1000)) ] || fail "find lists $n of $((dirs * 1000)) files: $(head -n 2 "$T/err")"
find "$mnt/many" -type f -exec cat {} + >"$T/all" 2>"$T/err" || fail "reading back: $(head -n 2 "$T/err")"
[ "$(cat "$T/all" | wc -l)" -eq "$dirs" ] || fail "read back $(wc -l <"$T/all") lines, not $dirs"
n=$(fds)
[ "$n" -gt "$max" ] && max=$n
# A quarter of the limit for remembered inodes and files waiting for their
# commit together, at most 20 for libfuse's ten threads' splice pipes, and
# a few of its own.
[ "$max" -le 300 ] || fail "the daemon held $max descriptors"
echo "$((dirs * 1000)) files under a limit of 1,024: at most $max descriptors held"
dfs_umount "$mnt"

# --- behind the mount's back, with descriptors evicted ---
dfs_mount "$src" "$mnt" -o inode_fds=16,timeout=0
mkdir "$mnt/d"
for i in $(seq 100); do echo "file $i" >"$mnt/d/f$i"; done
stat "$mnt"/d/f* >/dev/null # remembered: 100 inodes, at most 16 descriptors
mv "$src/d/f1" "$src/d/g1"
rm "$src/d/f2"
mv "$src/d" "$src/e"
[ "$(cat "$mnt/e/g1")" = "file 1" ] || fail "a file renamed on SOURCE reads wrong"
[ "$(cat "$mnt/e/f3")" = "file 3" ] || fail "a file in a renamed directory reads wrong"
[ ! -e "$mnt/d" ] || fail "a directory renamed away on SOURCE is still there"
[ ! -e "$mnt/e/f2" ] || fail "a file deleted on SOURCE is still there"
err=$(cat "$mnt/e/f2" 2>&1) && fail "cat of a deleted file worked"
grep -q "No such file" <<<"$err" || fail "cat of a deleted file: $err"
echo new >"$mnt/e/new" || fail "creating in a renamed directory"
[ "$(cat "$src/e/new")" = new ] || fail "the new file is not in the renamed directory on SOURCE"
# Open through the mount, deleted on SOURCE: still readable and writable.
exec 3<>"$mnt/e/f4"
rm "$src/e/f4"
stat "$mnt"/e/f[5-9]* >/dev/null # evict its descriptor
echo "more" >&3 || fail "writing a file deleted on SOURCE while open"
[ "$(cat /proc/self/fd/3)" = "$(printf 'more\n4\n')" ] ||
	fail "a file deleted on SOURCE while open reads '$(cat /proc/self/fd/3)'"
exec 3>&-
# A directory deleted on SOURCE while a shell stands in it.
mkdir "$mnt/gone"
(
	cd "$mnt/gone"
	rm -r "$src/gone"
	err=$(touch x 2>&1) && exit 1
	grep -q "No such file" <<<"$err"
) || fail "creating in a directory deleted on SOURCE did not fail with ENOENT"
echo "renames and deletes behind the mount's back: as on a local disk"
dfs_umount "$mnt"

# --- cp -r of small files: on SOURCE at once, then durable and uncached ---
dfs_mount "$src" "$mnt"
mkdir -p "$T/small"
for i in $(seq 500); do head -c $((i * 37 % 9000 + 1)) /dev/urandom >"$T/small/s$i"; done
cp -r "$T/small" "$mnt/" && sync
diff -r "$T/small" "$mnt/small" || fail "the small files read back wrong after cp -r && sync"
# durable follows from the committer, a moment later.
dfs_settled "$mnt"
for i in $(seq 500); do
	f=$mnt/small/s$i
	size=$(stat -c %s "$f")
	assert_eq "$(attr "$f" durable)" "$size" "$f: durable"
done
assert_eq "$(resident "$src"/small/*)" 0 "pages of the small files resident"
diff -r "$T/small" "$src/small" || fail "the small files differ on SOURCE"
echo "cp -r of 500 small files: all durable, 0 pages resident"
dfs_umount "$mnt"
dfs_check_log
echo PASS
