#!/usr/bin/env bash
# Description: directfs DIR DIR, a directory mounted over itself.  Its
# own files show at DIR, now cache-bypassing: a copy into DIR lands in
# the directory underneath (read through a descriptor opened before the
# mount), durable and uncached; find and du of DIR end.  A program that
# held a file open in DIR before the mount keeps reading that file
# directly (what the README tells users); after the unmount the files
# are where they were.  (mount -t directfs DIR DIR and umount: t_helpers.)
# A mount point below SOURCE shows, through the mount, the directory
# underneath it (a non-recursive bind mount's view): find, du and rsync
# of the mount end, copies land in SOURCE uncached, and rmdir of the
# mount point through the mount is EBUSY.
. "$(dirname "$0")/lib.sh"

dir=$T/data
mkdir -p "$dir/sub"
echo before >"$dir/old"
for i in $(seq 20); do head -c $((i * 5000)) /dev/urandom >"$dir/sub/f$i"; done
exec 3<"$dir"        # the directory underneath, for the checks below
exec 4<"$dir/old"    # a file a program had open before the mount
under=/proc/$$/fd/3

dfs_mount "$dir" "$dir"
assert_eq "$(cat "$dir/old")" before "the old file through the mount"
assert_eq "$(attr "$dir" pid)" "$(dfs_pid "$dir")" "the root's pid attribute (DIR is the mount)"
assert_eq "$(find "$dir" | wc -l)" 23 "names find sees in DIR"
timeout 20 du -s "$dir" >/dev/null || fail "du of DIR did not end"
head -c $((30 << 20)) /dev/urandom >"$T/big"
cp "$T/big" "$dir/big"
dfs_settled "$dir"
assert_eq "$(resident "$under/big")" 0 "pages of the copy resident" # before reading it
assert_eq "$(attr "$dir/big" durable)" $((30 << 20)) "durable of the copy"
same_file "$T/big" "$under/big"
# The program that had old open before the mount reads it directly.
assert_eq "$(cat <&4)" before "a descriptor opened before the mount"
echo changed >"$dir/old"
assert_eq "$(cat "$under/old")" changed "old changed through the mount, seen underneath"
dfs_umount "$dir"
same_file "$T/big" "$dir/big"
echo "directfs DIR DIR: ok (old files shown, a 30 MiB copy durable and uncached underneath)"

rm -f "$dir/big"
exec 3<&- 4<&-

# A mount point below SOURCE: through the mount, that directory shows
# what lies underneath it (as a non-recursive bind mount does), never the
# mount again; nothing walking the mount recurses or hangs.
mkdir -p "$dir/inner"
echo underneath >"$dir/inner/marker"
dfs_mount "$dir" "$dir/inner"
m=$dir/inner
assert_eq "$(ls "$m/inner")" marker "the mount point's directory seen through the mount"
assert_eq "$(cat "$m/inner/marker")" underneath "a file under the mount point, through the mount"
assert_eq "$(timeout 20 find "$m" | wc -l)" 25 "names find sees in the mount"
timeout 20 du -s "$m" >/dev/null || fail "du of the mount did not end"
timeout 60 rsync -a "$m/" "$T/copy/" || fail "rsync of the mount did not end: exit $?"
assert_eq "$(ls "$T/copy/inner")" marker "what rsync copied of the mount point"
head -c $((8 << 20)) /dev/urandom >"$T/mid"
cp "$T/mid" "$m/sub/mid"
dfs_settled "$m"
assert_eq "$(resident "$dir/sub/mid")" 0 "pages of a copy through the inner mount"
same_file "$T/mid" "$dir/sub/mid"
out=$(rmdir "$m/inner" 2>&1) && fail "rmdir of the mount point through the mount succeeded"
grep -q "busy" <<<"$out" || fail "rmdir of the mount point: $out"
dfs_umount "$m"
echo "a mount point below SOURCE: ok (it shows what is underneath; find, du, rsync end)"
dfs_check_log
echo PASS
