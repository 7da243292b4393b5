#!/usr/bin/env bash
# Description: directfs-progress --verify SRC DEST checks what reached the
# disk.  A file with an unaligned tail and a tree verify as the same and
# leave neither side in the page cache; a block zeroed on the disk under
# SOURCE's cached pages is found where cmp finds nothing; a changed last
# byte, a short copy, a missing file, an extra file, a retargeted symlink
# and a file of another type are each named; it waits for a copy still
# being written and -w bounds that wait; a terminal gets its line; bad
# invocations and paths outside a mount exit 2.
. "$(dirname "$0")/lib.sh"
: "${DFS_PROGRESS:?}" "${DFS_SLOWWRITE:?}"

command -v filefrag >/dev/null || skip "no filefrag (e2fsprogs)"
loop_fs ext4 256 512 "$T/disk"
src=$T/disk/src mnt=$T/mnt data=$T/data
mkdir -p "$src" "$data"
dfs_mount "$src" "$mnt"

verify() { "$DFS_PROGRESS" --verify "$@"; }
# Run --verify, want exit status WANT and (if given) a line on stderr.
expect() { # WANT ERE SRC DEST [ARGS...]
	local want=$1 ere=$2 rc=0
	shift 2
	verify "$@" >"$T/v.out" 2>"$T/v.err" || rc=$?
	[ $rc -eq "$want" ] || fail "--verify $*: exit $rc, want $want: $(cat "$T/v.out" "$T/v.err")"
	[ -z "$ere" ] || grep -Eq "$ere" "$T/v.err" || fail "--verify $*: stderr $(cat "$T/v.err"), want /$ere/"
}

# --- a file and a tree, the same; nothing left in the page cache ---
head -c $((64 << 20)) /dev/urandom >"$data/big"
head -c 12345 /dev/urandom >>"$data/big"
mkdir -p "$data/tree/a/b" "$data/tree/c"
for i in $(seq 100); do head -c $((i * 1111)) /dev/urandom >"$data/tree/a/f$i"; done
for i in $(seq 50); do head -c $((i * 33333)) /dev/urandom >"$data/tree/a/b/g$i"; done
: >"$data/tree/c/empty"
ln -s ../a/f1 "$data/tree/c/link"
mkfifo "$data/tree/c/fifo"
cp "$data/big" "$mnt/big"
cp -a "$data/tree" "$mnt/tree"
sync
echo 1 >/proc/sys/vm/drop_caches
expect 0 "" "$data/big" "$mnt/big"
grep -q "^verified $mnt/big: the same as $data/big (1 files, 64.0 MiB, " "$T/v.out" || fail "file: $(cat "$T/v.out")"
expect 0 "" "$data/tree" "$mnt/tree"
grep -q "^verified $mnt/tree: the same as $data/tree (151 files, " "$T/v.out" || fail "tree: $(cat "$T/v.out")"
grep -Eq "^[0-9.]+ verify $mnt/tree compared=[0-9]+ total=[0-9]+ rate=[0-9]+ files=[0-9]+/151$" "$T/v.out" ||
	fail "no plain progress line: $(cat "$T/v.out")"
n=$(resident "$data/big" "$src/big" $(find "$data/tree" "$src/tree" -type f))
[ "$n" -eq 0 ] || fail "--verify left $n pages in the page cache"
echo "the same: ok (a file and a tree of 151 files, 0 pages resident after)"

# --- it reads the disk, not the page cache ---
# Cache SOURCE's copy, then zero file block 100 on the device under it
# (O_DIRECT, so the cached pages stay as they were): cmp, reading through
# the cache, finds nothing; --verify reads the disk and does.
cat "$src/big" >/dev/null
[ "$(resident "$src/big")" -gt 0 ] || fail "could not cache $src/big"
phys=$(filefrag -v -b4096 "$src/big" | awk -v want=100 '
	$1 ~ /^[0-9]+:$/ { if (want >= $2 + 0 && want <= $3 + 0) { print $4 + want - $2; exit } }')
[ -n "$phys" ] || fail "no physical block for file block 100: $(filefrag -v -b4096 "$src/big")"
dev=$(findmnt -n -o SOURCE --target "$T/disk")
dd if=/dev/zero of="$dev" bs=4096 seek="$phys" count=1 oflag=direct conv=notrunc status=none
cmp "$src/big" "$data/big" || fail "cmp saw the zeroed block: the test did not keep the cache"
expect 1 "^directfs-progress: $mnt/big differs from $data/big at offset 409600$" "$data/big" "$mnt/big"
rm "$mnt/big"
echo "reads the disk: ok (cmp through the cache: equal; --verify: offset 409600)"

# --- each kind of difference is named ---
printf 'Z' | dd of="$mnt/tree/a/f100" bs=1 seek=$((100 * 1111 - 1)) conv=notrunc status=none
expect 1 "^directfs-progress: $mnt/tree/a/f100 differs from $data/tree/a/f100 at offset 111099$" "$data/tree/a/f100" "$mnt/tree/a/f100"
cp "$data/tree/a/f100" "$mnt/tree/a/f100"
truncate -s 5000 "$mnt/tree/a/b/g7"
expect 1 "^directfs-progress: $mnt/tree/a/b/g7 is shorter than $data/tree/a/b/g7: they differ at offset 5000$" "$data/tree" "$mnt/tree"
cp "$data/tree/a/b/g7" "$mnt/tree/a/b/g7"
rm "$mnt/tree/a/f42"
expect 1 "^directfs-progress: $mnt/tree/a/f42: missing \(it is in $data/tree/a\)$" "$data/tree" "$mnt/tree"
cp "$data/tree/a/f42" "$mnt/tree/a/f42"
echo extra >"$mnt/tree/c/extra"
expect 1 "^directfs-progress: $mnt/tree/c/extra: not in $data/tree/c$" "$data/tree" "$mnt/tree"
rm "$mnt/tree/c/extra"
ln -sfn ../a/f2 "$mnt/tree/c/link"
expect 1 "^directfs-progress: $mnt/tree/c/link points to '../a/f2', $data/tree/c/link to '../a/f1'$" "$data/tree" "$mnt/tree"
ln -sfn ../a/f1 "$mnt/tree/c/link"
rm "$mnt/tree/c/empty" && mkdir "$mnt/tree/c/empty"
expect 1 "^directfs-progress: $mnt/tree/c/empty is a directory, $data/tree/c/empty a regular file$" "$data/tree" "$mnt/tree"
rmdir "$mnt/tree/c/empty" && : >"$mnt/tree/c/empty"
expect 1 "^directfs-progress: $mnt/nothing: missing$" "$data/big" "$mnt/nothing"
expect 0 "" "$data/tree" "$mnt/tree"
echo "differences named: ok (last byte, short, missing, extra, symlink, type, no DEST)"

# --- it waits for a copy still being written; -w bounds the wait ---
"$DFS_SLOWWRITE" "$mnt/slow" $((6 << 20)) 262144 60 5 >/dev/null &
wpid=$!
"$DFS_SLOWWRITE" - $((6 << 20)) 262144 0 5 >"$data/slow"
wait_for 5 test -e "$mnt/slow" || fail "the slow writer has not created $mnt/slow"
verify "$data/slow" "$mnt/slow" >"$T/v.out" 2>"$T/v.err" || fail "--verify of a copy in progress: $(cat "$T/v.out" "$T/v.err")"
kill -0 $wpid 2>/dev/null && fail "--verify ended while the writer was still writing"
wait $wpid || fail "slowwrite failed"
grep -q "waiting for $mnt/slow to reach the disk" "$T/v.err" || fail "--verify did not say it waits: $(cat "$T/v.err")"
# A tree: the mount root's files in flight below DEST are waited for.
mkdir "$mnt/t2" "$data/t2"
"$DFS_SLOWWRITE" - $((3 << 20)) 262144 0 6 >"$data/t2/s"
"$DFS_SLOWWRITE" "$mnt/t2/s" $((3 << 20)) 262144 60 6 >/dev/null &
wpid=$!
wait_for 5 test -e "$mnt/t2/s" || fail "the slow writer has not created $mnt/t2/s"
verify "$data/t2" "$mnt/t2" >"$T/v.out" 2>"$T/v.err" || fail "--verify of a tree in progress: $(cat "$T/v.out" "$T/v.err")"
kill -0 $wpid 2>/dev/null && fail "--verify of a tree ended while its file was written"
wait $wpid
grep -q "waiting for $mnt/t2 to reach the disk" "$T/v.err" || fail "tree: did not say it waits: $(cat "$T/v.err")"
exec 5>>"$mnt/slow"
t0=$(date +%s%N)
expect 2 "^directfs-progress: $mnt/slow: still being written" "$data/slow" "$mnt/slow" -w 0.5
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ms -ge 400 ] && [ $ms -lt 3000 ] || fail "-w 0.5 took $ms ms"
exec 5>&-
echo "waits for the copy: ok (file and tree; -w 0.5 on an open file: exit 2 after $ms ms)"

# --- a terminal ---
script -qefc "$DFS_PROGRESS --verify $data/tree $mnt/tree" "$T/tty.out" >/dev/null || fail "on a tty: $(cat -v "$T/tty.out")"
grep -q $'\r\e\[Kverifying '"$mnt/tree: .* of .* (100%), .*/s, 151 of 151 files" "$T/tty.out" &&
	grep -q "verified $mnt/tree: the same as $data/tree (151 files, " "$T/tty.out" || fail "on a tty: $(cat -v "$T/tty.out")"
echo "terminal: ok"

# --- trouble: exit 2 ---
expect 2 "^directfs-progress: $T/data: not in a directfs mount$" "$data/big" "$T/data"
expect 2 "^directfs-progress: $T/none: No such file or directory$" "$T/none" "$mnt/tree"
for bad in "" "$data/big $mnt/tree extra" "--json $data/tree $mnt/tree" "-s 1K $data/tree $mnt/tree"; do
	rc=0
	# shellcheck disable=SC2086
	verify $bad >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "--verify $bad: exit $rc, want 2"
done
echo "trouble: ok"

dfs_umount "$mnt"
dfs_check_log
echo PASS
