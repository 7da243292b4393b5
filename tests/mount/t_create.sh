#!/usr/bin/env bash
# Description: a create that reports failure leaves nothing behind.  The
# daemon creates the file on SOURCE first and then needs more (a
# descriptor for the new inode, the engine's O_DIRECT descriptor); when a
# later step fails, the application gets the error and SOURCE must not
# keep the file.  The failures are made with a preload shim
# (failshim.c) that refuses the daemon's reopens with EMFILE, and for
# real under a descriptor limit of 40 with many files held open.  The new
# inode's descriptor is opened by name, not through /proc.  A file
# that existed before a failed open keeps its bytes.  The daemon stays up,
# logs why (once a minute), and creates again once descriptors are back.
. "$(dirname "$0")/lib.sh"
: "${DFS_FAILSHIM:?DFS_FAILSHIM must name the failshim preload}"
command -v prlimit >/dev/null || skip "no prlimit"

src=$T/src mnt=$T/mnt gate=$T/gate
mkdir -p "$src/d"
echo old >"$src/d/existing"

mount_shim() { # ARGS...
	DFS_FAIL_OPEN=$gate dfs_mount_preloaded "$DFS_FAILSHIM" "$src" "$mnt" "$@"
}

# Every create fails after the file is made; nothing may stay.
tries() { # WHAT
	local i out
	for i in $(seq 20); do
		if out=$(sh -c "echo x >'$mnt/d/$1$i'" 2>&1); then
			fail "$1: create $i succeeded while the shim refuses reopens"
		fi
		case $out in *"Too many open files"*) ;; *) fail "$1: create $i failed with: $out" ;; esac
		[ ! -e "$src/d/$1$i" ] || fail "$1: failed create $i left $src/d/$1$i behind"
	done
	# O_EXCL (noclobber) too.
	if sh -C -c "echo x >'$mnt/d/$1-excl'" 2>/dev/null; then fail "$1: O_EXCL create succeeded"; fi
	[ ! -e "$src/d/$1-excl" ] || fail "$1: failed O_EXCL create left a file"
	# An existing file whose open fails keeps its bytes.
	if sh -c "echo new >'$mnt/d/existing'" 2>/dev/null; then
		[ "$1" = path ] || fail "$1: open of the existing file succeeded"
	fi
	[ "$(cat "$src/d/existing")" = old ] || [ "$1" = path ] ||
		fail "$1: the existing file lost its bytes: $(cat "$src/d/existing")"
	[ -e "$src/d/existing" ] || fail "$1: a failed open removed an existing file"
}

# 1. The descriptor of the new inode (O_PATH reopen) cannot be had.
mount_shim
echo path >"$gate"
tries path
[ "$(wc -l <"$gate.hits")" -ge 20 ] || fail "the shim refused only $(wc -l <"$gate.hits") reopens"
rm -f "$gate" "$gate.hits"
# The daemon said why, once (the rest of the minute is counted, not logged).
n=$(grep -c "create $src/d/path1: Too many open files: the daemon is out of file descriptors" "$DFS_LOG" || true)
[ "$n" -eq 1 ] || { cat "$DFS_LOG"; fail "EMFILE logged $n times for 21 failed creates, want once"; }
# Descriptors back: the same names (O_EXCL) can be made, so none is left.
for i in $(seq 20); do sh -C -c "echo y >'$mnt/d/path$i'" || fail "path$i cannot be created afterwards"; done
assert_eq "$(cat "$src/d/path7")" y "what path7 holds"
rm -f "$mnt"/d/path*
dfs_umount "$mnt"
echo "failed creates (no descriptor for the new inode): nothing left behind"

# 1b. A create opens the new inode's descriptor by its name in the
#     directory (checked to be the file it made), not through /proc:
#     with /proc reopens refused, creates go on.
mount_shim
echo procpath >"$gate"
for i in $(seq 20); do
	sh -c "echo p$i >'$mnt/d/byname$i'" || fail "create byname$i failed while only /proc reopens are refused"
done
assert_eq "$(cat "$src/d/byname7")" p7 "what byname7 holds"
[ ! -s "$gate.hits" ] || fail "creates reopened through /proc $(wc -l <"$gate.hits") times"
rm -f "$gate" "$gate.hits" "$src"/d/byname*
dfs_umount "$mnt"
echo "creates: the new inode's descriptor opened by name, not through /proc"

# 2. The engine cannot open its O_DIRECT descriptor (fallback=refuse
#    opens it at open).
echo old >"$src/d/existing"
mount_shim -o fallback=refuse
echo direct >"$gate"
tries direct
rm -f "$gate" "$gate.hits"
echo z >"$mnt/d/direct1" || fail "no create once the engine may open again"
assert_eq "$(cat "$src/d/direct1")" z "what direct1 holds"
dfs_umount "$mnt"
echo "failed creates (engine open refused): nothing left behind"

# 3. For real: a descriptor limit of 40 on the daemon, 60 files held open
#    through the mount, then creates.  Whatever fails leaves nothing.
rm -rf "$src/d"
mkdir -p "$src/d" "$src/h"
dfs_mount "$src" "$mnt" -o inode_fds=8
pid=$(dfs_pid "$mnt")
prlimit --pid "$pid" --nofile=40:40
(
	for i in $(seq 60); do exec {fd}>"$mnt/h/$i" 2>/dev/null || break; done
	: >"$T/holding"
	sleep 60
) &
holder=$!
wait_for 30 test -e "$T/holding" || fail "the holder did not open its files within 30 s"
failed=0 left=0
for i in $(seq 50); do
	if ! sh -c "echo x >'$mnt/d/f$i'" 2>/dev/null; then
		failed=$((failed + 1))
		[ -e "$src/d/f$i" ] && left=$((left + 1))
	fi
done
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
[ "$failed" -gt 0 ] || fail "no create failed under a limit of 40 descriptors with 60 files held"
[ "$left" -eq 0 ] || fail "$left of $failed failed creates left a file on SOURCE"
# Held files gone (their releases reach the daemon soon after): it
# creates again.
create_after() { sh -c "echo ok >'$mnt/d/after'" 2>/dev/null; }
wait_for 10 create_after || fail "no create within 10 s of the held files' close"
assert_eq "$(cat "$src/d/after")" ok "$src/d/after"
dfs_umount "$mnt"
echo "descriptor limit 40: $failed of 50 creates failed, none left a file"
echo PASS
