#!/usr/bin/env bash
# directfs quick start.  Run as root on Debian 12 (apt-get, loop devices, mounts).
#   scripts/quickstart.sh mount   install packages, build, and mount the
#                                 default: SOURCE /var/lib/directfs/backing
#                                 at /mnt/directfs (override with
#                                 DIRECTFS_SOURCE and DIRECTFS_MOUNT)
#   scripts/quickstart.sh test    install packages, build, run every test:
#                                 once plainly (the daemon also under
#                                 valgrind), once with ASan/UBSan, the
#                                 unit tests once more with TSan, and the
#                                 mount tests against libfuse 3.18 and 3.17
#                                 (scripts/build-libfuse.sh)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

install_packages() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "run as root: the packages install with apt-get and the tests mount loop devices" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	xargs apt-get install -y -qq --no-install-recommends <"$top/scripts/debian-packages" >/dev/null
}

build_and_test() { # DIR CTEST-ARGS -- CMAKE-ARGS...
	local dir=$1 ctest_args=()
	shift
	while [ "$1" != -- ]; do ctest_args+=("$1"); shift; done
	shift
	cmake -S "$top" -B "$dir" -DDFS_WERROR=ON -DDFS_BUILD_TESTS=ON "$@" >/dev/null
	cmake --build "$dir" -j"$jobs" >/dev/null
	# Two at a time; those that time what they watch, read the machine's
	# page cache or install on it run alone (RUN_SERIAL,
	# tests/mount/CMakeLists.txt).
	(cd "$dir" && ctest --output-on-failure -j2 "${ctest_args[@]}" --no-tests=ignore)
}

mount_default() {
	local src=${DIRECTFS_SOURCE:-/var/lib/directfs/backing}
	local mnt=${DIRECTFS_MOUNT:-/mnt/directfs}
	cmake -S "$top" -B "$top/build" -DDFS_BUILD_TESTS=OFF >/dev/null
	cmake --build "$top/build" -j"$jobs" --target directfs directfs-progress umount.directfs >/dev/null
	mkdir -p "$src" "$mnt"
	if findmnt -n -M "$mnt" >/dev/null; then
		echo "$mnt is already mounted:"
		findmnt -M "$mnt"
		exit 0
	fi
	"$top/build/fs/directfs" -o allow_other "$src" "$mnt"
	cat <<-EOF
		directfs is mounted: $src is shown at $mnt.
		Copy into it with any tool; the page cache stays empty:
		    cp big.img $mnt/ && sync
		    fincore $src/big.img        # 0 pages resident
		Watch a copy (or the whole mount) reach the disk:
		    $top/build/tools/directfs-progress $mnt/big.img
		    getfattr --only-values -n user.directfs.durable $mnt/big.img
		The daemon logs to syslog (journalctl -t directfs).
		Unmount; it returns once the daemon has written out and synced
		every open file (fusermount3 -u $mnt returns before that):
		    $top/build/mount-helpers/umount.directfs $mnt
	EOF
}

case "${1:-}" in
mount)
	install_packages
	mount_default
	;;
test)
	install_packages
	# Every test (unit, mount, the daemon under valgrind); again with
	# AddressSanitizer and UBSan; the engine's tests with ThreadSanitizer.
	build_and_test "$top/build" --
	build_and_test "$top/build-asan" -- -DDFS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	build_and_test "$top/build-tsan" -L unit -- -DDFS_TSAN=ON -DCMAKE_BUILD_TYPE=Debug
	# Newer libfuses, built from Debian's source packages into private
	# prefixes: every mount test against unstable's (but the package's,
	# the harness's, and those of the tools and other SOURCEs, which do
	# not depend on libfuse), those whose wiring depends on libfuse
	# (label libfuse) against trixie's.
	"$top/scripts/build-libfuse.sh" sid "$top/build-libfuse/sid"
	build_and_test "$top/build-fuse-sid" -L mount -E '^t_(deb|deb13|bench|netfs|copycheck)$' -- \
		-DDFS_LIBFUSE_PREFIX="$top/build-libfuse/sid"
	"$top/scripts/build-libfuse.sh" trixie "$top/build-libfuse/trixie"
	build_and_test "$top/build-fuse-trixie" -L libfuse -- \
		-DDFS_LIBFUSE_PREFIX="$top/build-libfuse/trixie"
	;;
*)
	echo "usage: $0 mount|test" >&2
	exit 2
	;;
esac
