#!/usr/bin/env bash
# directfs quick start.  Run as root on Debian 12 (apt-get, loop devices, mounts).
#   scripts/quickstart.sh test    install packages, build, run every test
#                                 (once plainly, once with ASan/UBSan)
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

build_and_test() { # DIR CMAKE-ARGS...
	local dir=$1
	shift
	cmake -S "$top" -B "$dir" -DDFS_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j"$jobs" >/dev/null
	(cd "$dir" && ctest --output-on-failure)
}

case "${1:-}" in
test)
	install_packages
	build_and_test "$top/build"
	build_and_test "$top/build-asan" -DDFS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	;;
*)
	echo "usage: $0 test" >&2
	exit 2
	;;
esac
