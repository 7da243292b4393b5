#!/usr/bin/env bash
# Description: stopping the daemon during a copy loses nothing that was
# acknowledged.  SIGTERM mid-copy: the daemon writes out and fsyncs, then
# unmounts; every byte write(2) acknowledged is on SOURCE.  A plain unmount
# of a busy mount is refused and the copy goes on; a lazy unmount lets the
# copy finish and the daemon exits once it is done, with all of it on
# SOURCE.  SIGKILL mid-copy: what was fsynced before is intact after a
# remount.
. "$(dirname "$0")/lib.sh"
: "${DFS_SLOWWRITE:?}"
total=$((64 << 20)) chunk=$((1 << 20))

expect() { # SEED BYTES -> $T/expect
	"$DFS_SLOWWRITE" - "$2" "$chunk" 0 "$1" >"$T/expect"
}
acked() { awk '/^acked/ {print $2}' "$1"; }
grown() { # FILE BYTES: wait (10 s at most) until FILE in the mount is that big
	wait_for 10 size_at_least "$1" "$2" || fail "$1 did not grow to $2 bytes within 10 s"
}

# --- SIGTERM in the middle of a copy ---
src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"
"$DFS_SLOWWRITE" "$mnt/term" $total $chunk 30 1 >"$T/w.out" 2>"$T/w.err" &
writer=$!
grown "$mnt/term" $((6 << 20))
kill -TERM "$(dfs_pid "$mnt")"
wait $writer && fail "the writer finished before SIGTERM took effect; slow it down"
dfs_wait "$mnt" || fail "daemon exit status $? after SIGTERM"
n=$(acked "$T/w.out")
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt $total ] || fail "acked ${n:-nothing} of $total; writer said: $(cat "$T/w.err" "$T/w.out")"
[ "$(resident "$src/term")" -eq 0 ] || fail "SIGTERM: pages resident"
expect 1 "$n"
cmp -n "$n" "$T/expect" "$src/term" || fail "SIGTERM: acknowledged bytes missing on SOURCE"
grep -q "all files written out and synced" "$DFS_LOG" || fail "no write-out message"
echo "SIGTERM mid-copy: ok ($n of $total bytes acknowledged, all on SOURCE; writer: $(cat "$T/w.err"))"

# --- unmount in the middle of a copy ---
: >"$DFS_LOG"
dfs_mount "$src" "$mnt"
"$DFS_SLOWWRITE" "$mnt/lazy" $total $chunk 20 2 >"$T/w.out" 2>"$T/w.err" &
writer=$!
grown "$mnt/lazy" $((6 << 20))
if fusermount3 -u "$mnt" 2>/dev/null; then fail "unmount of a busy mount succeeded"; fi
fusermount3 -uz "$mnt"
wait $writer || fail "the writer failed after a lazy unmount: $(cat "$T/w.err")"
dfs_wait "$mnt" || fail "daemon exit status $? after lazy unmount"
[ "$(resident "$src/lazy")" -eq 0 ] || fail "lazy unmount: pages resident"
expect 2 $total
same_file "$T/expect" "$src/lazy"
echo "unmount mid-copy: ok (busy unmount refused; lazy unmount: all $total bytes on SOURCE)"

# --- SIGKILL: what was fsynced before survives ---
: >"$DFS_LOG"
# Files on SOURCE that the copy never touches: not damaged by the kill.
mkdir -p "$src/other"
for i in 1 2 3; do head -c $((i * 300000)) /dev/urandom >"$src/other/o$i"; done
(cd "$src/other" && sha256sum o1 o2 o3) >"$T/other.sha"
dfs_mount "$src" "$mnt"
"$DFS_SLOWWRITE" - $((5 << 20)) $chunk 0 3 >"$T/synced"
dd if="$T/synced" of="$mnt/synced" bs=1M conv=fsync status=none
"$DFS_SLOWWRITE" "$mnt/killed" $total $chunk 30 4 >"$T/w.out" 2>"$T/w.err" &
writer=$!
grown "$mnt/killed" $((6 << 20))
kill -KILL "$(dfs_pid "$mnt")"
wait $writer && fail "the writer finished before SIGKILL"
dfs_wait "$mnt" || true
fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
dfs_mount "$src" "$mnt"
same_file "$T/synced" "$mnt/synced"
same_file "$T/synced" "$src/synced"
(cd "$mnt/other" && sha256sum -c --quiet "$T/other.sha") || fail "SIGKILL damaged files the copy never touched"
dfs_umount "$mnt"
echo "SIGKILL mid-copy: ok (the fsynced file is intact after remount, other files untouched, mount point usable again)"

dfs_check_log
echo PASS
