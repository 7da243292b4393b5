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
	local what=$1 pid i
	shift
	"$@" &
	pid=$!
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
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
for _ in $(seq 100); do [ "$(held)" -ge 1 ] && break; sleep 0.1; done
[ "$(held)" -ge 1 ] || fail "the release never reached its fsync"
state=$(attr "$mnt/f" state) || fail "the state attribute waited for the fsync"
[ "$state" = syncing ] || fail "state is '$state' while the release fsyncs, not syncing"

# The same file, meanwhile: none of these may wait for that fsync.
quick "an open for reading" read_f
cmp -s "$T/read" "$T/b" || fail "read during the fsync differs from what was written"
quick "a truncate" truncate -s 500000 "$mnt/f"
[ "$(stat -c %s "$mnt/f")" -eq 500000 ] || fail "size after truncate: $(stat -c %s "$mnt/f")"
head -c 70000 /dev/urandom >"$T/c"
quick "an open for appending" append_f
[ -f "$gate" ] || fail "the gate went away: nothing was held"
{ head -c 500000 "$T/b"; cat "$T/c"; } >"$T/want"

# Let the fsyncs go: everything ends durable, exact and uncached.
rm "$gate"
for _ in $(seq 100); do
	[ "$(attr "$mnt/f" state)" = idle ] && [ "$(attr "$mnt/f" durable)" -eq 570000 ] && break
	sleep 0.1
done
[ "$(attr "$mnt/f" state)" = idle ] || fail "state after the fsyncs: $(attr "$mnt/f" state)"
[ "$(attr "$mnt/f" durable)" -eq 570000 ] || fail "durable after the fsyncs: $(attr "$mnt/f" durable)"
same_file "$T/want" "$mnt/f"
[ "$(resident "$src/f")" -eq 0 ] || fail "$(resident "$src/f") pages of the file resident"
same_file "$T/want" "$src/f"
echo "held fsyncs: $(held); open, truncate and append during them returned at once"

dfs_umount "$mnt"
same_file "$T/want" "$src/f"
dfs_check_log
echo PASS
