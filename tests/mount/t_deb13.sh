#!/usr/bin/env bash
# Description: the Debian package built on Debian 13 against its own
# libfuse3-dev (3.17).  debootstrap makes a minimal trixie root from this
# machine's Debian archive; in it, the build dependencies come from
# trixie, `dpkg-buildpackage -b` builds the package, which then depends
# on trixie's libfuse3-4, and `apt-get install` installs it.  The
# installed daemon mounts, a copy reaches SOURCE durable and uncached,
# a shared mapping works (libfuse 3.17 lifts the ENODEV of 3.14),
# umount.directfs waits for it.  The root is removed at exit, failed or not.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${DFS_MAPCHECK:?DFS_MAPCHECK must name the mapcheck helper}"

command -v debootstrap >/dev/null || skip "no debootstrap (scripts/debian-packages installs it)"
. "$top/scripts/debian-archive.sh"
read -r uri key < <(debian_archive) || true
[ -n "${uri:-}" ] || skip "no Debian archive in /etc/apt"

root=$T/trixie
deb13_cleanup() {
	local rc=$? m
	set +e
	for m in $(findmnt -n -l -o TARGET | grep "^$root/" | sort -r); do
		case $(findmnt -n -o FSTYPE "$m") in
		fuse.directfs) fusermount3 -u "$m" || fusermount3 -uz "$m" ;;
		*) umount "$m" || umount -l "$m" ;;
		esac
	done
	return $rc
}
trap 'deb13_cleanup; _cleanup' EXIT
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive "$@"; }

# --- a trixie root with the build dependencies ---
debootstrap --variant=minbase --keyring="$key" trixie "$root" "$uri" >"$T/debootstrap.log" 2>&1 ||
	fail "debootstrap trixie: $(tail -n 20 "$T/debootstrap.log")"
mount -t proc proc "$root/proc"
# Only /dev/fuse comes in (debootstrap made the usual nodes): nothing of
# the machine's /dev is under $T when it is removed.
[ -c "$root/dev/null" ] || fail "debootstrap made no /dev/null"
[ -e "$root/dev/fuse" ] || touch "$root/dev/fuse"
mount --bind /dev/fuse "$root/dev/fuse"
in_root apt-get update -qq >"$T/deps.log" 2>&1 || fail "apt-get update in the root: $(tail "$T/deps.log")"
in_root apt-get install -y -qq --no-install-recommends build-essential debhelper cmake pkgconf \
	libfuse3-dev libssl-dev libxxhash-dev fuse3 mount dpkg-dev fakeroot attr >"$T/deps.log" 2>&1 ||
	fail "build dependencies: $(tail -n 20 "$T/deps.log")"
dev=$(in_root dpkg-query -W -f '${Version}' libfuse3-dev)
echo "trixie root: ok (libfuse3-dev $dev)"

# --- build against it ---
mkdir -p "$root/build/directfs"
tar -C "$top" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$root/build/directfs" -xf -
in_root sh -c "cd /build/directfs && DEB_BUILD_OPTIONS=parallel=$(nproc) dpkg-buildpackage -us -uc -b" \
	>"$T/build.log" 2>&1 || fail "dpkg-buildpackage on trixie: $(tail -n 30 "$T/build.log")"
! grep -n "warning:" "$T/build.log" || fail "the build warned"
deb=$(ls "$root"/build/directfs_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
grep -q "libfuse3-4" <<<"$depends" && grep -qw fuse3 <<<"$depends" || fail "Depends: $depends"
echo "build: ok ($(basename "$deb"); Depends: $depends)"

# --- install, mount, copy, map, unmount ---
in_root apt-get install -y -qq "/build/$(basename "$deb")" >"$T/install.log" 2>&1 ||
	fail "apt-get install: $(tail -n 20 "$T/install.log")"
mkdir -p "$root/s" "$root/m"
head -c $((20 << 20)) /dev/urandom >"$T/data"
in_root directfs -o allow_other /s /m || fail "the installed directfs did not mount"
mounted "$root/m" || fail "nothing mounted at $root/m"
pid=$(attr "$root/m" pid)
assert_eq "$(readlink "/proc/$pid/exe")" "$root/usr/bin/directfs" "the daemon's executable"
lib=$(in_root sh -c 'readlink -f "$(dpkg -L libfuse3-4 | grep "/libfuse3\.so\.4$")"')
grep -qF "$lib" "/proc/$pid/maps" || fail "the daemon has not loaded trixie's $lib"
cp "$T/data" "$root/m/data"
# The commit follows the release within milliseconds.
wait_for 10 attr_is "$root/m/data" durable $((20 << 20)) || fail "durable $(attr "$root/m/data" durable) after 10 s"
out=$("$DFS_MAPCHECK" shared "$root/m/data") || fail "shared mapping through the package's daemon: $out"
in_root umount.directfs /m || fail "umount.directfs: exit $?"
[ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] ||
	fail "umount.directfs returned with the daemon still running"
[ "$(resident "$root/s/data")" -eq 0 ] || fail "pages of the copy resident"
printf '#' | cmp -n 1 - "$root/s/data" >/dev/null || fail "the mapped store did not reach SOURCE"
cmp -i 1:1 "$T/data" "$root/s/data" || fail "the copy differs"
echo "installed: ok (mount, cp of 20 MiB durable and uncached, MAP_SHARED, umount.directfs waited)"
echo PASS
