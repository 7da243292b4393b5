#!/usr/bin/env bash
# Description: what `cmake --install` puts on the system, and mounting the
# way Linux users mount.  The build is installed into a staging directory
# (DESTDIR) and, in a private mount namespace, laid over the real helper
# and binary directories with bind mounts, so mount(8) finds mount.directfs
# exactly where an installed system has it; the host is not touched.
# Then: `mount -t directfs`, fstab lines of type directfs and
# fuse.directfs (with noauto, nofail, _netdev and x-systemd.* words) used
# with `mount -a -T FILE` and `mount -T FILE MNT`, and `umount`, which
# returns only once the daemon has written out, synced and exited: data
# written just before is on SOURCE with no page resident.  The example
# systemd units (to another directory, and a directory over itself) pass
# systemd-analyze verify, and mount and unmount as systemd runs them.  A directory mounted over
# itself (mount -t directfs DIR DIR, and from fstab) and a mount point
# below SOURCE (from fstab) too.  A busy mount is
# refused and keeps its daemon; umount.directfs also waits for a daemon
# started by hand; a bad option fails the mount with the daemon's reason.
if [ -z "${DFS_HELPERS_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: mount tests run as root"; [ "${CI:-}" != true ] && exit 77; exit 1; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare(1)"; [ "${CI:-}" != true ] && exit 77; exit 1; }
	DFS_HELPERS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
: "${DFS_BUILD_DIR:?}" "${DFS_INSTALL_BINDIR:?}" "${DFS_HELPER_DIR:?}"

# A mount made through mount(8): its daemon went to the background; the
# fixture's cleanup unmounts it and waits for that pid.
adopt() { # MNT
	mounted "$1" || fail "$1 is not a directfs mount: $(findmnt -n "$1" || echo nothing there)"
	DFS_PID[$1]=$(attr "$1" pid) || fail "no user.directfs.pid on $1"
}
# The daemon must be gone (or a zombie nobody reaped yet).
exited() { # PID WHAT
	[ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] ||
		fail "$2: directfs (pid $1) still running when umount returned"
}
# umount(8) must return only after the daemon wrote out, synced and exited.
umount_waits() { # MNT
	local pid=${DFS_PID[$1]} rc=0
	timeout 120 umount "$1" || rc=$?
	[ $rc -eq 0 ] || fail "umount $1: exit $rc"
	exited "$pid" "umount $1"
	mounted "$1" && fail "$1 still mounted after umount"
	unset "DFS_PID[$1]"
}
direct_sha() { # FILE: its sha256, read without the page cache
	dd if="$1" iflag=direct bs=1M status=none | sha256sum | cut -d' ' -f1
}
on_disk() { # DATA BACKING: BACKING holds DATA, with no page resident
	assert_eq "$(resident "$2")" 0 "$2: pages resident"
	[ "$(direct_sha "$2")" = "$(sha "$1")" ] || fail "$2 differs from $1"
}

# --- what cmake --install puts where ---
stage=$T/stage
DESTDIR=$stage cmake --install "$DFS_BUILD_DIR" >"$T/install.log" 2>&1 ||
	fail "cmake --install: $(cat "$T/install.log")"
sbin=$stage$DFS_HELPER_DIR bin=$stage$DFS_INSTALL_BINDIR
for f in "$bin/directfs" "$bin/directfs-progress" "$sbin/mount.directfs" \
	"$sbin/umount.directfs"; do
	[ -f "$f" ] && [ -x "$f" ] || fail "not installed: ${f#"$stage"}"
done
[ "$(readlink "$sbin/mount.fuse.directfs")" = mount.directfs ] ||
	fail "mount.fuse.directfs is not a link to mount.directfs"
[ "$(readlink "$sbin/umount.fuse.directfs")" = umount.directfs ] ||
	fail "umount.fuse.directfs is not a link to umount.directfs"
for f in man1/directfs.1 man1/directfs-progress.1 man8/mount.directfs.8 \
	examples/mnt-directfs.mount examples/srv-backup.mount; do
	[ -n "$(find "$stage" -path "*/$f")" ] || fail "not installed: $f"
done
echo "install: ok ($(find "$stage" -type f -o -type l | sed "s|^$stage||" | sort | tr '\n' ' '))"

# --- installed, in this namespace only ---
dfs_lay_over_system "$stage"

head -c $((48 << 20)) /dev/urandom >"$T/big"
head -c $((3 << 20)) "$T/big" >"$T/mid"
head -c 777777 /dev/urandom >"$T/odd"

# --- mount -t directfs; data written just before umount ---
src=$T/src1 mnt=$T/mnt1
mkdir -p "$src" "$mnt"
timeout 60 mount -t directfs "$src" "$mnt" -o allow_other,buffer_size=1M ||
	fail "mount -t directfs: exit $?"
adopt "$mnt"
[ "$(findmnt -n -o FSTYPE,SOURCE "$mnt")" = "fuse.directfs $src" ] ||
	fail "mount -t directfs: $(findmnt -n "$mnt")"
grep -q "x-directfs" /run/mount/utab || fail "mount -t directfs: not recorded in utab"
# Unaligned sizes: each file's tail is written at release, then synced.
dd if="$T/big" of="$mnt/big" bs=1M status=none
cat "$T/odd" >"$mnt/odd"
umount_waits "$mnt"
on_disk "$T/big" "$src/big"
on_disk "$T/odd" "$src/odd"
grep -q "$mnt" /run/mount/utab && fail "umount left $mnt in utab"
echo "mount -t directfs, umount: ok"

# --- in place: mount -t directfs DIR DIR; umount waits ---
ip=$T/inplace
mkdir -p "$ip"
echo kept >"$ip/kept"
timeout 60 mount -t directfs "$ip" "$ip" || fail "mount -t directfs DIR DIR: exit $?"
adopt "$ip"
assert_eq "$(cat "$ip/kept")" kept "a file of DIR through its own mount"
dd if="$T/mid" of="$ip/mid" bs=1M status=none
umount_waits "$ip"
on_disk "$T/mid" "$ip/mid"
echo "in place, mount -t directfs DIR DIR and umount: ok"

# --- a bad option: the mount fails with the daemon's reason ---
rc=0
out=$(timeout 60 mount -t directfs "$src" "$mnt" -o buffer_size=3 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "mount -o buffer_size=3 succeeded"
grep -q "bad value for buffer_size: '3'" <<<"$out" || fail "mount -o buffer_size=3 said: $out"
mounted "$mnt" && fail "mount -o buffer_size=3 mounted anyway"
echo "bad option: ok (exit $rc: $out)"

# --- fstab: mount -a -T FILE, mount -T FILE MNT, umount ---
for i in 2 3 4; do mkdir -p "$T/src$i" "$T/mnt$i"; done
cat >"$T/fstab" <<EOF
# directfs lines as an /etc/fstab would have them
$T/src2 $T/mnt2 directfs nofail,_netdev,x-systemd.after=local-fs.target,buffer_size=4M 0 0
$T/src3 $T/mnt3 fuse.directfs defaults,nofail 0 0
$T/src4 $T/mnt4 directfs noauto,allow_other 0 0
EOF
timeout 60 mount -a -T "$T/fstab" || fail "mount -a -T: exit $?"
adopt "$T/mnt2"
adopt "$T/mnt3"
mounted "$T/mnt4" && fail "mount -a mounted the noauto line"
timeout 60 mount -T "$T/fstab" "$T/mnt4" || fail "mount -T FILE $T/mnt4: exit $?"
adopt "$T/mnt4"
for i in 2 3 4; do
	[ "$(findmnt -n -o FSTYPE,SOURCE "$T/mnt$i")" = "fuse.directfs $T/src$i" ] ||
		fail "fstab line $i: $(findmnt -n "$T/mnt$i")"
	cp "$T/mid" "$T/mnt$i/mid"
	cat "$T/odd" >"$T/mnt$i/odd"
done
# The fstab buffer_size reached the daemon: a 3M writer, slowed down,
# into mnt2 (4M windows) and mnt3 (the default 1M).  Once both have
# written 2M, mnt3's first window is on its SOURCE and nothing of mnt2's
# is: its one window leaves at close.
: "${DFS_SLOWWRITE:?}"
declare -A wpid
for i in 2 3; do
	"$DFS_SLOWWRITE" "$T/mnt$i/slow" $((3 << 20)) $((256 << 10)) 300 1 >/dev/null &
	wpid[$i]=$!
done
sz() { stat -c %s "$1" 2>/dev/null || echo 0; }
both_grown() { size_at_least "$T/mnt2/slow" $((2 << 20)) && size_at_least "$T/src3/slow" $((1 << 20)); }
wait_for 5 both_grown || : # the checks below say which did not
[ "$(sz "$T/src3/slow")" -ge $((1 << 20)) ] ||
	fail "default buffer_size: $(sz "$T/src3/slow") bytes on SOURCE during the write, want 1M"
kill -0 "${wpid[2]}" 2>/dev/null || fail "fstab buffer_size=4M: the writer finished first; slow it down"
assert_eq "$(sz "$T/src2/slow")" 0 "fstab buffer_size=4M: bytes on SOURCE during the write"
for i in 2 3; do wait "${wpid[$i]}" || fail "slowwrite into $T/mnt$i: exit $?"; done
for i in 2 3 4; do
	umount_waits "$T/mnt$i"
	on_disk "$T/mid" "$T/src$i/mid"
	on_disk "$T/odd" "$T/src$i/odd"
done
echo "fstab, mount -a, umount: ok"

# --- fstab lines in place: DIR over itself, and a mount point below its
# SOURCE (which shows the directory underneath through the mount) ---
mkdir -p "$T/inp" "$T/outer/below"
echo underneath >"$T/outer/below/marker"
cat >"$T/fstab2" <<EOF
$T/inp $T/inp directfs noauto 0 0
$T/outer $T/outer/below fuse.directfs noauto,nofail 0 0
EOF
for m in "$T/inp" "$T/outer/below"; do
	timeout 60 mount -T "$T/fstab2" "$m" || fail "mount -T FILE $m: exit $?"
	adopt "$m"
	cp "$T/mid" "$m/mid"
done
assert_eq "$(ls "$T/outer/below/below")" marker "the mount point below SOURCE, through the mount"
for m in "$T/inp" "$T/outer/below"; do umount_waits "$m"; done
on_disk "$T/mid" "$T/inp/mid"
on_disk "$T/mid" "$T/outer/mid"
echo "fstab in place and below SOURCE, umount: ok"

# --- the example systemd units: to another directory, and in place ---
verified="systemd-analyze not installed: unit syntax not checked"
if command -v systemd-analyze >/dev/null; then
	verified="systemd-analyze verify: ok"
fi
mkdir -p "$T/unitdir"
for name in mnt-directfs srv-backup; do
	unit=$(find "$stage" -name "$name.mount")
	[ -n "$unit" ] || fail "not installed: $name.mount"
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify "$unit" >"$T/verify.out" 2>&1 ||
			fail "systemd-analyze verify $unit: $(cat "$T/verify.out")"
	fi
	uwhat=$(sed -n 's/^What=//p' "$unit") uwhere=$(sed -n 's/^Where=//p' "$unit")
	utype=$(sed -n 's/^Type=//p' "$unit") uopts=$(sed -n 's/^Options=//p' "$unit")
	# What systemd runs for it: mount WHAT WHERE -t TYPE -o OPTIONS, then
	# umount; here with the test's directories, one and the same where
	# the unit's are.
	if [ "$uwhat" = "$uwhere" ]; then
		what=$T/unitdir where=$T/unitdir
	else
		what=$src where=$mnt
	fi
	echo old >"$what/old-$name"
	timeout 60 mount "$what" "$where" -t "$utype" -o "$uopts" || fail "$name's mount: exit $?"
	adopt "$where"
	assert_eq "$(cat "$where/old-$name")" old "$name: a file from before, through the mount"
	cp "$T/mid" "$where/mid"
	umount_waits "$where"
	on_disk "$T/mid" "$what/mid"
	verified+="; $name: mount -t $utype -o $uopts"
done
echo "systemd units: ok ($verified, umount)"

# --- a busy mount is refused, and its daemon keeps serving ---
timeout 60 mount -t directfs "$src" "$mnt" || fail "mount -t directfs: exit $?"
adopt "$mnt"
exec 6<"$mnt/odd"
timeout 60 umount "$mnt" 2>"$T/busy.err" && fail "umount of a busy mount succeeded"
mounted "$mnt" || fail "a refused umount unmounted"
kill -0 "${DFS_PID[$mnt]}" || fail "a refused umount stopped the daemon"
cmp <(cat <&6) "$T/odd" || fail "the busy mount stopped serving reads"
exec 6<&-
umount_waits "$mnt"
echo "busy: ok ($(head -n1 "$T/busy.err"))"

# --- umount.directfs for a daemon started by hand ---
"$DFS_INSTALL_BINDIR/directfs" "$src" "$mnt" || fail "directfs $src $mnt: exit $?"
adopt "$mnt"
pid=${DFS_PID[$mnt]}
dd if="$T/big" of="$mnt/hand" bs=1M status=none
timeout 120 "$DFS_HELPER_DIR/umount.directfs" "$mnt" || fail "umount.directfs: exit $?"
exited "$pid" "umount.directfs"
unset "DFS_PID[$mnt]"
on_disk "$T/big" "$src/hand"
echo "umount.directfs: ok"
echo PASS
