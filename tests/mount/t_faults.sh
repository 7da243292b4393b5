#!/usr/bin/env bash
# Description: backing faults through the mount.  A full disk: the copy
# fails with ENOSPC (at write or close, never silently), the daemon stays
# up, the file written before is intact, and deleting the failed file
# frees its space at once for a new copy; the same with cp, rsync and tar.
# No daemon thread holds CAP_SYS_RESOURCE, which would pass quotas.
# A SOURCE that refuses O_DIRECT (ramfs): files are written correctly in
# fallback, logged once; with fallback=refuse the mount is refused.
. "$(dirname "$0")/lib.sh"

# --- ENOSPC on a 48 MiB ext4 ---
loop_fs ext4 48 512 "$T/small"
src=$T/small/src mnt=$T/mnt
mkdir -p "$src"
avail_kib() { df --output=avail -k "$src" | tail -n 1; }
free_kib() { [ "$(avail_kib)" -ge "$1" ]; } # KIB: true once that much is free
dfs_mount "$src" "$mnt"
head -c 5000000 /dev/urandom >"$T/before"
cp "$T/before" "$mnt/before"
if dd if=/dev/zero of="$mnt/fill" bs=1M count=100 2>"$T/dd.err"; then
	fail "dd of 100 MiB onto a 48 MiB filesystem succeeded"
fi
grep -q "No space left on device" "$T/dd.err" || fail "dd failed without ENOSPC: $(cat "$T/dd.err")"
mounted "$mnt" || fail "the daemon went away after ENOSPC"
same_file "$T/before" "$mnt/before"
rm "$mnt/fill"
# Deleting the failed file frees its space at once, as on a local disk
# (its release error is not kept for a file that can never be opened).
wait_for 5 free_kib 30000 || fail "deleting the failed file freed nothing: $(avail_kib) KiB free"
head -c 20000000 /dev/urandom >"$T/after"
cp "$T/after" "$mnt/after" || fail "a 20 MB copy after deleting the failed file"
same_file "$T/after" "$src/after"
rm "$mnt/after"

# cp, rsync and tar of more than the free space: each fails with ENOSPC,
# leaves the file written before intact, and gives the space back when its
# partial file is deleted.
head -c 60000000 /dev/urandom >"$T/big"
mkdir -p "$T/tarsrc" && cp "$T/big" "$T/tarsrc/big" && tar -C "$T/tarsrc" -cf "$T/big.tar" big
space_back() { # WHAT
	wait_for 5 free_kib 30000 || fail "$1: deleting the partial file freed nothing: $(avail_kib) KiB free"
}
tool_enospc() { # WHAT CMD...
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$what of 60 MB onto 48 MiB succeeded"; fi
	grep -q "No space left on device" <<<"$out" || fail "$what failed without ENOSPC: $out"
	mounted "$mnt" || fail "the daemon went away after $what"
	same_file "$T/before" "$mnt/before"
	rm -rf "${mnt:?}/$what"
	space_back "$what"
	echo "ENOSPC with $what: ok"
}
tool_enospc cp cp "$T/big" "$mnt/cp"
mkdir -p "$mnt/rsync"
tool_enospc rsync rsync "$T/big" "$mnt/rsync/"
mkdir -p "$mnt/tar"
tool_enospc tar tar -C "$mnt/tar" -xf "$T/big.tar"
dfs_umount "$mnt"
echo "ENOSPC: ok ($(tail -n 1 "$T/dd.err" | cut -c1-60)...)"

# --- quotas bind the daemon's writes ---
# The daemon writes everyone's data, so it drops CAP_SYS_RESOURCE (with
# it the kernel lets writes past disk quotas) from every thread.  Quotas
# themselves cannot be turned on here (this kernel has no QFMT_V2, no
# XFS_QUOTA, no TMPFS_QUOTA): the capability is what is checked.
dfs_mount "$T/src" "$T/mntq"
pid=$(dfs_pid "$T/mntq")
for st in /proc/"$pid"/task/*/status; do
	eff=$(awk '/^CapEff:/ {print $2}' "$st")
	[ $((0x$eff >> 24 & 1)) -eq 0 ] || fail "daemon thread $st has CAP_SYS_RESOURCE (CapEff $eff)"
done
dfs_umount "$T/mntq"
echo "quotas: no daemon thread holds CAP_SYS_RESOURCE"

# --- a SOURCE without O_DIRECT ---
mkdir -p "$T/ram"
mount -t ramfs ramfs "$T/ram" || skip "no ramfs"
LOOP_MNTS=("$T/ram" "${LOOP_MNTS[@]}")
if dd if=/dev/zero of="$T/ram/probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	skip "ramfs accepts O_DIRECT on this kernel"
fi
rm -f "$T/ram/probe"
dfs_mount "$T/ram" "$mnt"
cp "$T/before" "$mnt/one"
cp "$T/after" "$mnt/two"
same_file "$T/before" "$T/ram/one"
same_file "$T/after" "$T/ram/two"
state=$(attr "$mnt/two" state)
[ "$state" = fallback ] || fail "state of a file written in fallback: $state"
dfs_umount "$mnt"
[ "$(grep -c 'refuses O_DIRECT' "$DFS_LOG")" -eq 1 ] || fail "fallback not logged exactly once"
out=$("$DFS_BIN" -o fallback=refuse "$T/ram" "$mnt" 2>&1) && fail "fallback=refuse mounted ramfs"
grep -q "refuses O_DIRECT" <<<"$out" || fail "fallback=refuse: $out"
echo "no O_DIRECT: ok (fallback writes correct bytes; fallback=refuse: $out)"

dfs_check_log 'No space left|refuses O_DIRECT|not written|stays in error|failed'
echo PASS
