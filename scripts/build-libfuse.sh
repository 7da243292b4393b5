#!/usr/bin/env bash
# Build another libfuse than the system's, from Debian's own source package,
# into a private prefix, for `cmake -DDFS_LIBFUSE_PREFIX=PREFIX`:
#
#   scripts/build-libfuse.sh SUITE PREFIX      e.g. trixie (3.17) or sid (3.18)
#
# The source comes from the same Debian archive this machine installs from
# (its apt sources name it), through a deb-src entry for SUITE that lives in
# a private apt state under PREFIX: the machine's own sources, lists and
# installed packages are not touched, and nothing is upgraded.  Needs
# dpkg-dev, meson, ninja-build and pkg-config (scripts/debian-packages);
# libfuse 3.18 builds its FUSE-over-io_uring support with liburing-dev and
# libnuma-dev (without either it builds none, silently).
# A prefix that already holds the suite's current version is left as it is.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SUITE PREFIX" >&2; exit 2; }
suite=$1
prefix=$(mkdir -p "$2" && cd "$2" && pwd)
apt_dir=$prefix/.apt

. "$(dirname "$0")/debian-archive.sh"
read -r uri key < <(debian_archive) || true
[ -n "${uri:-}" ] || { echo "$0: no Debian archive for this release in /etc/apt" >&2; exit 1; }

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts"
echo "deb-src [signed-by=$key] $uri $suite main" >"$apt_dir/sources.list"
apt=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
	-o APT::Sandbox::User=root)
apt-get "${apt[@]}" -qq update
version=$(apt-cache "${apt[@]}" showsrc fuse3 | awk '/^Version:/ {print $2}' | sort -V | tail -n 1)
[ -n "$version" ] || { echo "$0: no fuse3 source package in $suite" >&2; exit 1; }
# The stamp: the version, and whether io_uring support can be built.
stamp=$version
if pkg-config --exists liburing && [ -e /usr/include/numa.h ]; then stamp="$version io-uring"; fi
if [ -e "$prefix/lib/pkgconfig/fuse3.pc" ] && [ "$(cat "$prefix/.version" 2>/dev/null)" = "$stamp" ]; then
	echo "libfuse $version ($suite) is built in $prefix"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt[@]}" -qq source --download-only "fuse3=$version" >/dev/null)
# apt checked the files against the suite's signed index; the .dsc's own
# signature needs a keyring this machine may lack.
dpkg-source -x "$work"/fuse3_*.dsc "$work/src" >/dev/null 2>&1 ||
	{ echo "$0: dpkg-source -x failed" >&2; exit 1; }
meson setup "$work/build" "$work/src" --prefix="$prefix" --libdir=lib \
	-Dexamples=false -Dutils=false -Dtests=false >"$work/meson.log" ||
	{ cat "$work/meson.log" >&2; exit 1; }
ninja -C "$work/build" install >"$work/ninja.log" || { cat "$work/ninja.log" >&2; exit 1; }
echo "$stamp" >"$prefix/.version"
echo "libfuse $version ($suite) built into $prefix"
