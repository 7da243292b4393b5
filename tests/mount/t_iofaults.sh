#!/usr/bin/env bash
# Description: a failing device under the mount.  A preload shim
# (failshim.c) makes the daemon's own disk calls fail: the O_DIRECT writes
# of staged data, the plain write of the unaligned tail, and the fsync.
# For each, with EIO (and EDQUOT, ENOSPC for data), the application's
# copy fails with that error at write, close or fsync (never silently),
# user.directfs.state of the file says error:NAME, the error is sticky
# (while the file stays open, every later fsync and write of it fails),
# and the daemon keeps serving other files; once the device is well again, a new copy is intact.
. "$(dirname "$0")/lib.sh"
: "${DFS_FAILSHIM:?DFS_FAILSHIM must name the failshim preload}"

src=$T/src mnt=$T/mnt gate=$T/gate
mkdir -p "$src"
DFS_FAIL_IO=$gate dfs_mount_preloaded "$DFS_FAILSHIM" "$src" "$mnt"
# 3 MiB of whole blocks and a tail of 100 bytes.
head -c $((3 * 1024 * 1024 + 100)) /dev/urandom >"$T/data"

case_() { # KIND ERRNO-NAME MESSAGE
	local kind=$1 err=$2 msg=$3 f=$mnt/$1-$2 out state
	echo "$kind $err $kind-$err" >"$gate"
	exec 3>"$f" # the session lasts while this is open
	if out=$(dd if="$T/data" of="$f" bs=1M conv=notrunc,fsync 2>&1); then
		fail "$kind $err: dd succeeded"
	fi
	grep -q "$msg" <<<"$out" || fail "$kind $err: dd failed with: $out"
	[ "$(wc -l <"$gate.hits")" -ge 1 ] || fail "$kind $err: the shim never fired"
	rm -f "$gate" "$gate.hits"
	state=$(attr "$f" state)
	[ "$state" = "error:$err" ] || fail "$kind $err: state is $state"
	# Sticky, with the device well again: the next fsync and write fail.
	if out=$(dd if=/dev/null of="$f" conv=notrunc,fsync 2>&1); then
		fail "$kind $err: an fsync after the error succeeded"
	fi
	grep -q "$msg" <<<"$out" || fail "$kind $err: the next fsync failed with: $out"
	if out=$(echo more | dd of="$f" conv=notrunc oflag=append status=none 2>&1); then
		fail "$kind $err: a write after the error succeeded"
	fi
	exec 3>&-
	# Other files are served, and a new copy is intact.
	cp "$T/data" "$mnt/ok-$kind-$err" || fail "$kind $err: copy after the fault"
	same_file "$T/data" "$src/ok-$kind-$err"
	rm -f "$f" "$mnt/ok-$kind-$err"
	echo "$kind write $err: dd fails with '$msg', state error:$err, sticky, daemon serving"
}

case_ direct EIO "Input/output error"
case_ direct EDQUOT "Disk quota exceeded"
case_ direct ENOSPC "No space left on device"
case_ plain EIO "Input/output error"
case_ sync EIO "Input/output error"

mounted "$mnt" || fail "the daemon went away"
dfs_umount "$mnt"
echo PASS
