#!/usr/bin/env bash
# Description: mounts by an ordinary user, as sshfs users make them.  The
# build is installed in a private mount namespace (as t_helpers does), with
# /dev/fuse mode 0666 there as Debian's udev rule makes it (a node of our
# own bound over it: the host's stays as it is) and an fstab of our own.
# As the user (setpriv, HOME in the test's tree): `directfs ~/backing
# ~/mnt` through the setuid fusermount3, a copy reaching SOURCE with O_DIRECT
# (no page resident, state never fallback), the progress attributes and
# directfs-progress, `fusermount3 -u`; then an fstab line with `user`:
# `mount ~/mnt`, a copy, `umount ~/mnt` returning only once the daemon has
# synced and exited.  What the kernel does not allow a user is refused
# with a clear line: allow_other without user_allow_other, a mount point
# the user does not own; and root cannot look into the user's mount.
if [ -z "${DFS_USER_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: mount tests run as root"; [ "${CI:-}" != true ] && exit 77; exit 1; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare(1)"; [ "${CI:-}" != true ] && exit 77; exit 1; }
	DFS_USER_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
# The user must reach the test's tree: not under a build directory that
# may sit in root's home.
DFS_TEST_DIR=/var/tmp
. "$(dirname "$0")/lib.sh"
: "${DFS_BUILD_DIR:?}" "${DFS_INSTALL_BINDIR:?}" "${DFS_HELPER_DIR:?}"
command -v setpriv >/dev/null || skip "no setpriv"
[ -u "$(command -v fusermount3)" ] || skip "fusermount3 is not setuid root"

uid=65534 gid=65534 # nobody, nogroup
H=$T/home
as_user() { # CMD...: as the user, with HOME=$H
	setpriv --reuid=$uid --regid=$gid --clear-groups --reset-env env HOME="$H" "$@"
}

# --- installed, /dev/fuse 0666, an fstab: in this namespace only ---
DESTDIR=$T/stage cmake --install "$DFS_BUILD_DIR" >"$T/install.log" 2>&1 ||
	fail "cmake --install: $(cat "$T/install.log")"
dfs_lay_over_system "$T/stage"
dev=$(stat -c '%t %T' /dev/fuse)
mknod -m 0666 "$T/fuse" c $((0x${dev% *})) $((0x${dev#* }))
mount --bind "$T/fuse" /dev/fuse
LOOP_MNTS=(/dev/fuse "${LOOP_MNTS[@]}")
printf '%s %s directfs noauto,user,buffer_size=1M 0 0\n' "$H/backing" "$H/mnt" >"$T/fstab"
mount --bind "$T/fstab" /etc/fstab
LOOP_MNTS=(/etc/fstab "${LOOP_MNTS[@]}")
mkdir -p "$H/backing" "$H/mnt" "$H/mnt2"
chown -R $uid:$gid "$H"
daemon="$DFS_INSTALL_BINDIR/directfs"

head -c $((20 << 20)) /dev/urandom >"$T/data"
head -c 3333333 /dev/urandom >"$T/odd"
chmod 644 "$T/data" "$T/odd"

# A mount the user made: the fixture's cleanup unmounts it and waits.
adopt() { # MNT
	local pid
	pid=$(as_user getfattr --absolute-names --only-values -n user.directfs.pid "$1") ||
		fail "$1: no user.directfs.pid"
	DFS_PID[$1]=$pid
	assert_eq "$(stat -c %u "/proc/$pid")" $uid "uid of the daemon of $1"
}
# Data copied as the user is on SOURCE, owned by the user, never cached.
landed() { # DATA SRC-FILE [MNT-FILE: still mounted]
	local state
	if [ $# -gt 2 ]; then
		state=$(as_user getfattr --absolute-names --only-values -n user.directfs.state "$3")
		[ "$state" != fallback ] || fail "$3 was written without O_DIRECT"
	fi
	assert_eq "$(resident "$2")" 0 "$2: pages resident"
	assert_eq "$(stat -c %u:%g "$2")" $uid:$gid "owner of $2"
	same_file "$1" "$2"
}

# A file written into ~/mnt just before CMD, run as the user, unmounts it:
# CMD returns only once the daemon has exited (through umount.directfs,
# run by umount(8) or by hand), and the file is on SOURCE.
umount_waits() { # NAME CMD...
	local name=$1 pid=${DFS_PID[$H/mnt]}
	shift
	as_user dd if="$T/data" of="$H/mnt/$name" bs=1M status=none
	timeout 120 setpriv --reuid=$uid --regid=$gid --clear-groups "$@" >"$T/umount.err" 2>&1 ||
		fail "$* as the user: exit $?: $(cat "$T/umount.err")"
	[ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] ||
		fail "$* returned while the daemon (pid $pid) still runs"
	unset "DFS_PID[$H/mnt]"
	mounted "$H/mnt" && fail "still mounted after $*"
	landed "$T/data" "$H/backing/$name"
	grep -q "umount.directfs: directfs (pid $pid) has exited" "$T/umount.err" ||
		fail "$* did not wait through umount.directfs: $(cat "$T/umount.err")"
}

# --- directfs ~/backing ~/mnt; fusermount3 -u ~/mnt ---
as_user "$daemon" "$H/backing" "$H/mnt" -o buffer_size=1M 2>"$T/mount.err" ||
	fail "directfs as the user: exit $?: $(cat "$T/mount.err")"
mounted "$H/mnt" || fail "not mounted: $(cat "$T/mount.err")"
adopt "$H/mnt"
findmnt -n -o OPTIONS "$H/mnt" | grep -q "user_id=$uid" || fail "mount options: $(findmnt -n "$H/mnt")"
as_user cp "$T/data" "$H/mnt/data" || fail "cp as the user failed"
as_user "$DFS_INSTALL_BINDIR/directfs-progress" -i 0.1 "$H/mnt/data" >"$T/prog.out" 2>&1 ||
	fail "directfs-progress as the user: $(cat "$T/prog.out")"
tail -n 1 "$T/prog.out" | grep -q "written=$((20 << 20)) durable=$((20 << 20)) pending=0 .*state=idle$" ||
	fail "directfs-progress as the user: $(cat "$T/prog.out")"
landed "$T/data" "$H/backing/data" "$H/mnt/data"
# An unaligned tail, and the directory calls.
as_user mkdir "$H/mnt/dir"
as_user cp "$T/odd" "$H/mnt/dir/odd"
as_user mv "$H/mnt/dir/odd" "$H/mnt/dir/odd2"
# Its fsync runs at release, after cp returned: directfs-progress waits
# for it (it exits once the file is durable).
as_user timeout 20 "$DFS_INSTALL_BINDIR/directfs-progress" -i 0.1 "$H/mnt/dir/odd2" >/dev/null ||
	fail "directfs-progress on the odd copy: exit $?"
d=$(as_user getfattr --absolute-names --only-values -n user.directfs.durable "$H/mnt/dir/odd2")
[ "$d" = 3333333 ] || fail "durable of the odd copy is $d once directfs-progress ended"
# root sees nothing in a mount made without allow_other, as with sshfs.
ls "$H/mnt" >/dev/null 2>"$T/root.err" && fail "root could list the user's mount"
grep -q "Permission denied" "$T/root.err" || fail "root listing the user's mount: $(cat "$T/root.err")"
pid=${DFS_PID[$H/mnt]}
as_user fusermount3 -u "$H/mnt" || fail "fusermount3 -u as the user: exit $?"
wait_for 20 gone "$pid" || fail "the daemon still runs 20 s after fusermount3 -u"
unset "DFS_PID[$H/mnt]"
landed "$T/odd" "$H/backing/dir/odd2"
echo "directfs ~/backing ~/mnt as the user, fusermount3 -u: ok"

# --- fstab with user: mount ~/mnt, umount ~/mnt ---
as_user mount "$H/mnt" 2>"$T/fstab.err" || fail "mount ~/mnt as the user: exit $?: $(cat "$T/fstab.err")"
mounted "$H/mnt" || fail "mount ~/mnt: not mounted"
adopt "$H/mnt"
[ "$(findmnt -n -o FSTYPE,SOURCE "$H/mnt")" = "fuse.directfs $H/backing" ] ||
	fail "mount ~/mnt: $(findmnt -n "$H/mnt")"
echo "fstab user line: mount ~/mnt: ok"
umount_waits late umount -v "$H/mnt"
echo "fstab user line: umount ~/mnt waits: ok ($(tail -n 1 "$T/umount.err"))"

# --- directfs ~/backing ~/mnt; umount.directfs ~/mnt waits, as the user ---
# A mount made by running directfs is not in the utab, so umount(8) runs
# no helper for it; the user runs the helper by hand, and it waits.
as_user "$daemon" "$H/backing" "$H/mnt" -o buffer_size=1M 2>"$T/mount.err" ||
	fail "directfs as the user (again): exit $?: $(cat "$T/mount.err")"
adopt "$H/mnt"
umount_waits late2 "$DFS_HELPER_DIR/umount.directfs" "$H/mnt" -v
echo "umount.directfs ~/mnt as the user waits: ok"

# --- what a user may not do: refused, clearly, nothing mounted ---
rc=0
as_user "$daemon" "$H/backing" "$H/mnt2" -o allow_other >/dev/null 2>"$T/ao.err" || rc=$?
[ $rc -ne 0 ] && ! mounted "$H/mnt2" || fail "allow_other as a user without user_allow_other: exit $rc"
grep -q "user_allow_other" "$T/ao.err" || fail "allow_other refused without saying why: $(cat "$T/ao.err")"
mkdir -p "$T/rootmnt"
chmod 755 "$T/rootmnt"
rc=0
as_user "$daemon" "$H/backing" "$T/rootmnt" >/dev/null 2>"$T/own.err" || rc=$?
[ $rc -ne 0 ] && ! mounted "$T/rootmnt" || fail "a mount on root's directory by a user: exit $rc"
grep -q "no write access to mountpoint" "$T/own.err" || fail "mount on root's directory: $(cat "$T/own.err")"
echo "refused: ok ($(head -n 1 "$T/ao.err"); $(head -n 1 "$T/own.err"))"

dfs_check_log
echo PASS
