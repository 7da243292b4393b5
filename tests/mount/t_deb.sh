#!/usr/bin/env bash
# Description: the Debian package.  From a copy of the source tree,
# `dpkg-buildpackage -us -uc -b` builds directfs_VERSION_ARCH.deb with
# debhelper's CMake support; lintian finds no error in it; it holds the
# daemon, directfs-progress, the mount helpers (both names), the manual
# pages, the bash completion, the example unit and the metrics service
# and timer (valid by systemd-analyze, not enabled), and depends on fuse3.
# `apt-get install ./directfs_*.deb` installs it on this machine; `man
# directfs` shows the page, the completion loads; `mount -t directfs`
# mounts through the installed helper and daemon, a copy reaches SOURCE
# with no page resident, `umount` waits for the daemon; `apt-get purge`
# removes every file it installed.  The machine is changed only while the
# test runs: the trap purges the package whatever happens.  A machine that
# already has the package installed is left alone (skip).
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)

for t in dpkg-buildpackage dh lintian apt-get man; do
	command -v $t >/dev/null || skip "no $t (scripts/debian-packages installs it)"
done
if dpkg-query -W -f '${Status}' directfs 2>/dev/null | grep -q installed; then
	skip "the directfs package is installed on this machine already; not touching it"
fi

installed=0
deb_cleanup() {
	local rc=$?
	set +e
	if [ $installed -eq 1 ]; then
		for m in $(findmnt -n -l -t fuse.directfs -o TARGET | grep "^$T/"); do umount "$m"; done
		apt-get purge -y -qq directfs >/dev/null 2>&1
	fi
	return $rc
}
trap 'deb_cleanup; _cleanup' EXIT

# --- build ---
pkg=$T/pkg/directfs
mkdir -p "$pkg"
tar -C "$top" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$pkg" -xf -
(cd "$pkg" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
	>"$T/build.log" 2>&1 || fail "dpkg-buildpackage: $(tail -n 30 "$T/build.log")"
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
deb=$T/pkg/directfs_${version}_${arch}.deb
[ -f "$deb" ] || fail "no $deb: $(ls "$T/pkg")"
echo "build: ok ($(basename "$deb"), $(stat -c %s "$deb") bytes)"

# --- lintian: no error ---
lintian --fail-on error "$deb" >"$T/lintian.log" 2>&1 || fail "lintian: $(cat "$T/lintian.log")"
echo "lintian: ok ($(grep -c '^[WIP]:' "$T/lintian.log" || true) warnings and notes, no error)"

# --- contents and dependencies ---
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/directfs /usr/bin/directfs-progress /sbin/mount.directfs /sbin/umount.directfs \
	/sbin/mount.fuse.directfs /sbin/umount.fuse.directfs /usr/share/man/man1/directfs.1.gz \
	/usr/share/man/man1/directfs-progress.1.gz /usr/share/man/man8/mount.directfs.8.gz \
	/usr/share/doc/directfs/examples/mnt-directfs.mount /usr/share/doc/directfs/examples/srv-backup.mount \
	/usr/share/doc/directfs/copyright \
	/usr/share/bash-completion/completions/directfs \
	/usr/share/bash-completion/completions/directfs-progress \
	/lib/systemd/system/directfs-metrics.service /lib/systemd/system/directfs-metrics.timer; do
	grep -qxF "$f" "$T/contents" || fail "the package lacks $f: $(cat "$T/contents")"
done
dpkg-deb -f "$deb" Depends | grep -qw fuse3 || fail "Depends: $(dpkg-deb -f "$deb" Depends)"
echo "contents: ok ($(wc -l <"$T/contents") paths; Depends: $(dpkg-deb -f "$deb" Depends))"

# --- install, mount -t directfs, copy, umount ---
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$T/install.log" 2>&1 ||
	fail "apt-get install: $(cat "$T/install.log")"
dpkg-query -W -f '${Status}' directfs | grep -q "install ok installed" || fail "not installed"
[ -x /sbin/mount.directfs ] && [ -x /usr/bin/directfs ] || fail "installed, but no helper or daemon"
# man directfs, man mount.directfs; the completion bash-completion loads.
for page in directfs directfs-progress mount.directfs umount.fuse.directfs; do
	MANPAGER=cat MANWIDTH=80 man "$page" 2>"$T/man.err" | grep -q "^NAME" ||
		fail "man $page: $(cat "$T/man.err")"
done
bash -c '. /usr/share/bash-completion/completions/directfs-progress && complete -p directfs-progress' |
	grep -q _directfs_progress || fail "the installed completion does not complete directfs-progress"
# ... and offers the installed daemon's options, read from its -h.
opts=$(bash -c '. /usr/share/bash-completion/completions/directfs && _directfs_read_help && echo "${_directfs_opts[*]}"')
grep -qw -- small_files= <<<"$opts" || fail "the installed completion offers: $opts"
# The metrics units: valid as installed (binary, man page), not enabled.
out=$(systemd-analyze verify /lib/systemd/system/directfs-metrics.service \
	/lib/systemd/system/directfs-metrics.timer 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify said: $out"
[ ! -e /etc/systemd/system/timers.target.wants/directfs-metrics.timer ] ||
	fail "installing enabled the metrics timer"
src=$T/src mnt=$T/mnt
mkdir -p "$src" "$mnt"
head -c $((20 << 20)) /dev/urandom >"$T/data"
timeout 60 mount -t directfs "$src" "$mnt" || fail "mount -t directfs: exit $?"
mounted "$mnt" || fail "mount -t directfs: $(findmnt -n "$mnt" || echo nothing mounted)"
pid=$(attr "$mnt" pid)
assert_eq "$(readlink "/proc/$pid/exe")" /usr/bin/directfs "the daemon's executable"
cp "$T/data" "$mnt/data"
# What the service runs, as installed.
/usr/bin/directfs-progress --prometheus --output "$T/directfs.prom" "$mnt" ||
	fail "the installed directfs-progress --prometheus: exit $?"
grep -q "^directfs_written_bytes_total{mountpoint=\"$mnt\",source=\"$src\"} $((20 << 20))$" "$T/directfs.prom" ||
	fail "the installed --prometheus wrote: $(cat "$T/directfs.prom")"
timeout 120 umount "$mnt" || fail "umount: exit $?"
[ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] ||
	fail "umount returned with the daemon (pid $pid) still running"
assert_eq "$(resident "$src/data")" 0 "pages of the copy resident"
same_file "$T/data" "$src/data"
echo "installed: ok (mount -t directfs, cp of 20 MiB, umount; /usr/bin/directfs was the daemon)"

# --- purge: nothing left ---
apt-get purge -y -qq directfs >"$T/purge.log" 2>&1 || fail "apt-get purge: $(cat "$T/purge.log")"
installed=0
dpkg-query -W -f '${Status}' directfs 2>/dev/null | grep -q installed && fail "still installed after purge"
while read -r f; do
	[ -f "$f" ] || [ -L "$f" ] || continue
	case $f in /usr/bin/* | /sbin/* | /usr/share/man/* | /usr/share/doc/directfs/* | /lib/systemd/system/*)
		fail "purge left $f" ;;
	esac
done <"$T/contents"
echo "purge: ok"
echo PASS
