#!/usr/bin/env bash
# Description: bad invocations fail before mounting, with one clear line on
# stderr and a non-zero exit: SOURCE missing or not a directory, MOUNTPOINT
# missing or busy, bad option values, unknown options.  -h
# documents every option; fstab words are accepted and ignored; the
# options given reach the daemon (a 64K buffer shows as writes reaching
# SOURCE before close); -d traces each request.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt
mkdir -p "$src" "$mnt"
touch "$T/file"

refused() { # PATTERN ARGS...: directfs must fail with one line matching PATTERN
	local pat=$1 rc=0 out
	shift
	out=$(timeout 20 "$DFS_BIN" "$@" 2>&1 >/dev/null) || rc=$?
	[ $rc -ne 0 ] || fail "directfs $*: exit 0"
	[ $rc -ne 124 ] || fail "directfs $*: hung"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "directfs $*: not one line: $out"
	printf '%s\n' "$out" | grep -Eq "$pat" || fail "directfs $*: '$out' does not match '$pat'"
	[ "$(findmnt -n -M "$mnt" | wc -l)" -eq "${want_mounts:-0}" ] || fail "directfs $*: mounted anyway"
	echo "  refused: $out"
}

refused 'source .*/nonexistent: No such file' "$T/nonexistent" "$mnt"
refused 'source .*/file: not a directory' "$T/file" "$mnt"
refused 'mount point .*/nomnt: No such file' "$src" "$T/nomnt"
refused 'mount point .*/file: not a directory' "$src" "$T/file"
refused 'usage' "$src"
refused 'usage' "$src" "$mnt" extra
# Every option with values it refuses: the line names the option and the
# value given (memory_cap=1K once blamed a buffer size nobody set).
for ov in buffer_size=lots buffer_size=1000 buffer_size=0 buffer_size=512M \
	depth=-1 depth=0 depth=65 depth=two memory_cap=1X memory_cap=1K memory_cap=0 \
	close=sometimes fallback=maybe io_threads=0 io_threads=65 io_threads=x \
	timeout=-1 timeout=3601 timeout=soon inode_fds=0 inode_fds=x small_files=x \
	small_files=-1 readahead=maybe request_size=5000 request_size=128M request_size=0 \
	priority=low checksum=md5 checksum=; do
	refused "^directfs: bad value for ${ov%%=*}: '${ov#*=}' \(.+\)$" -o "$ov" "$src" "$mnt"
done
# A value refused in combination names both.
refused "^directfs: bad value for memory_cap: '1M' \(less than buffer_size=4M" \
	-o buffer_size=4M,memory_cap=1M "$src" "$mnt"
refused 'unknown option' -o no_such_option "$src" "$mnt"

# Busy: something is mounted there already.
dfs_mount "$src" "$mnt"
want_mounts=1 refused 'busy' "$src" "$mnt"
dfs_umount "$mnt"
echo "bad invocations: ok"

help=$("$DFS_BIN" -h)
for o in buffer_size depth memory_cap close=flush fallback=uncached io_threads timeout \
	inode_fds small_files readahead=on priority=full debug default_permissions fsname subtype allow_other; do
	grep -q -- "$o" <<<"$help" || fail "-h does not document $o"
done
"$DFS_BIN" -V | grep -q 'directfs version' || fail "-V"
echo "help: ok"

# fstab words are ignored; the options take effect.
dfs_mount "$src" "$mnt" -o noauto,nofail,_netdev,x-systemd.automount,comment=x,defaults,buffer_size=64K,depth=1,memory_cap=1M,close=sync,io_threads=2,priority=background
exec 3>"$mnt/small"
head -c 300000 /dev/zero | tr '\0' 'a' >"$T/a300k"
# The shell's own redirection: one descriptor, no child's close.
IFS= read -r -d '' body <"$T/a300k" || true
printf '%s' "$body" >&3
n=$(stat -c %s "$src/small")
exec 3>&-
[ "$n" -ge 65536 ] || fail "buffer_size=64K: SOURCE had $n bytes before close"
same_file "$T/a300k" "$src/small"
dfs_umount "$mnt"
echo "options and fstab words: ok"

# In the background, as users run it: the daemon forks, and must still
# write (its I/O threads are started after the fork).
"$DFS_BIN" "$src" "$mnt" || fail "directfs in the background: exit $?"
mounted "$mnt" || fail "not mounted after directfs returned"
bgpid=$(pgrep -f -x "$DFS_BIN $src $mnt") || fail "no daemon process"
DFS_PID[$mnt]=$bgpid
head -c 9000001 /dev/urandom >"$T/bg"
timeout 60 cp "$T/bg" "$mnt/bg" || fail "cp into the background daemon's mount failed or hung"
same_file "$T/bg" "$src/bg"
dfs_umount "$mnt" || fail "background daemon exit status $?"
echo "background daemon: ok"

# -d traces each request with its inode, offset and size, after
# libfuse's own line for it: a write at an odd offset, a read, a
# truncate, an xattr and a name are all there with their figures.
tlog=$T/trace.log
DFS_LOG_SAVED=$DFS_LOG DFS_LOG=$tlog
dfs_mount "$src" "$mnt" -d
DFS_LOG=$DFS_LOG_SAVED
head -c 70000 /dev/urandom >"$T/t70k"
dd if="$T/t70k" of="$mnt/traced" bs=70000 seek=1 conv=notrunc status=none
dd if="$mnt/traced" of=/dev/null bs=4096 skip=5 count=1 status=none
truncate -s 1000 "$mnt/traced"
setfattr -n user.note -v x "$mnt/traced"
mv "$mnt/traced" "$mnt/traced2"
dfs_umount "$mnt"
ino=$(grep -oE 'trace: create parent=1 name=traced mode=0100644 flags=[0-7]+ pid=[0-9]+' "$tlog" | head -n 1) ||
	fail "-d: no create line: $(grep trace "$tlog" | head)"
node=$(grep -oE 'trace: write ino=[0-9]+ fh=[0-9]+ off=70000 size=70000 pid=[0-9]+' "$tlog" | head -n 1 | sed -E 's/.*ino=([0-9]+).*/\1/')
[ -n "$node" ] || fail "-d: no write line with off=70000 size=70000: $(grep 'trace: write' "$tlog" | head)"
grep -q "opcode: WRITE (16), nodeid: $node," "$tlog" || fail "-d: libfuse's own line for the write is missing"
grep -Eq "trace: read ino=$node fh=[0-9]+ off=20480 size=[0-9]+ pid=" "$tlog" || fail "-d: no read line at 20480: $(grep 'trace: read' "$tlog")"
grep -Eq "trace: setattr ino=$node valid=0x[0-9a-f]+ .* size=1000 pid=" "$tlog" || fail "-d: no truncate line: $(grep 'trace: setattr' "$tlog")"
grep -Eq "trace: setxattr ino=$node name=user.note size=1 flags=0x0 pid=" "$tlog" || fail "-d: no setxattr line"
grep -Eq "trace: rename parent=1 name=traced newparent=1 newname=traced2 flags=0x[0-9a-f]+ pid=" "$tlog" || fail "-d: no rename line"
grep -Eq "trace: release ino=$node " "$tlog" || fail "-d: no release line"
[ "$(stat -c %s "$src/traced2")" = 1000 ] || fail "-d: the traced mount did not work"
caps=$(grep -o 'capabilities taken (libfuse [0-9.]*):.*' "$tlog") || fail "-d: no line of the capabilities taken"
grep -q ' posix_locks' <<<"$caps" && grep -q ' flock_locks' <<<"$caps" ||
	fail "-d: lock capabilities not taken: $caps"
if grep -q "get ENODEV" "$tlog"; then
	! grep -q direct_io_allow_mmap <<<"$caps" || fail "-d: shared mappings taken and refused: $caps"
else
	grep -q direct_io_allow_mmap <<<"$caps" || fail "-d: shared mappings neither taken nor refused: $caps"
fi
echo "-d tracing: ok ($(grep -c 'trace: ' "$tlog") lines; $(grep -m1 -o 'trace: write.*' "$tlog")); $caps"

dfs_check_log 'refuse|unknown'
echo PASS
