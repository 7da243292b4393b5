#!/usr/bin/env bash
# Description: directfs DIR DIR, a directory mounted over itself.  Its
# own files show at DIR, now cache-bypassing: a copy into DIR lands in
# the directory underneath (read through a descriptor opened before the
# mount), durable and uncached; find and du of DIR end.  A program that
# held a file open in DIR before the mount keeps reading that file
# directly (what the README tells users); after the unmount the files
# are where they were.  (mount -t directfs DIR DIR and umount: t_helpers.)
# A mount point strictly inside SOURCE is still refused.
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

# Strictly inside SOURCE: refused, before anything is mounted.
mkdir -p "$dir/inner"
out=$("$DFS_BIN" "$dir" "$dir/inner" 2>&1) && fail "a mount point inside SOURCE was taken"
grep -q "inside source" <<<"$out" || fail "inside SOURCE: $out"
mounted "$dir/inner" && fail "mounted inside SOURCE anyway"
echo "inside SOURCE: refused ($out)"
dfs_check_log
echo PASS
