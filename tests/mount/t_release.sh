#!/usr/bin/env bash
# Description: the last release writes out and fsyncs without the inode's
# lock.  While a release is stuck in its fsync (held by a preload shim in
# the daemon), an open for reading, a truncate, an open for appending and
# the progress attributes of the same file return at once; the bytes and
# the figures come out right once the fsync is let go.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt gate=$T/gate
dfs_mount_held "$src" "$mnt" "$gate"
# Run a command that must not wait for a held fsync: 5 s at most.
quick() { # WHAT COMMAND...
	local what=$1 pid
	shift
	"$@" &
	pid=$!
	if ! wait_for 5 gone "$pid"; then
		rm -f "$gate"
		wait "$pid" || true
		fail "$what waited for another release's fsync"
	fi
	wait "$pid" || fail "$what failed"
}
read_f() { cat "$mnt/f" >"$T/read"; }
append_f() { dd if="$T/c" of="$mnt/f" oflag=append conv=notrunc status=none; }

# A copy whose release gets stuck in fsync.
head -c 3000000 /dev/urandom >"$T/a"
head -c 1000000 /dev/urandom >"$T/b"
cp "$T/a" "$mnt/f"
touch "$gate"
quick "cp (its own release's fsync)" cp "$T/b" "$mnt/f"
held_some() { [ "$(held)" -ge 1 ]; }
wait_for 10 held_some || fail "the release never reached its fsync"
state=$(attr "$mnt/f" state) || fail "the state attribute waited for the fsync"
[ "$state" = syncing ] || fail "state is '$state' while the release fsyncs, not syncing"

# The same file, meanwhile: none of these may wait for that fsync.
quick "an open for reading" read_f
cmp -s "$T/read" "$T/b" || fail "read during the fsync differs from what was written"
quick "a truncate" truncate -s 500000 "$mnt/f"
assert_eq "$(stat -c %s "$mnt/f")" 500000 "size after truncate"
head -c 70000 /dev/urandom >"$T/c"
quick "an open for appending" append_f
[ -f "$gate" ] || fail "the gate went away: nothing was held"
{ head -c 500000 "$T/b"; cat "$T/c"; } >"$T/want"

# Let the fsyncs go: everything ends durable, exact and uncached.
rm "$gate"
f_settled() { attr_is "$mnt/f" state idle && attr_is "$mnt/f" durable 570000; }
wait_for 10 f_settled || :
assert_eq "$(attr "$mnt/f" state)" idle "state 10 s after the fsyncs went on"
assert_eq "$(attr "$mnt/f" durable)" 570000 "durable 10 s after the fsyncs went on"
same_file "$T/want" "$mnt/f"
assert_eq "$(resident "$src/f")" 0 "pages of the file resident"
same_file "$T/want" "$src/f"
echo "held fsyncs: $(held); open, truncate and append during them returned at once"

dfs_umount "$mnt"
same_file "$T/want" "$src/f"
dfs_check_log
echo PASS
