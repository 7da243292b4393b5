# SPDX-License-Identifier: MIT
# The mount fixture every mount test sources.
#
#   . lib.sh                      scratch dir $T, cleanup trap, skips (77)
#   dfs_mount SRC MNT [ARGS...]   start `directfs -f`, wait until mounted
#   dfs_umount MNT                fusermount3 -u (retries, then lazily),
#                                 wait for the daemon; returns its status
#   loop_fs TYPE MIB SECTOR DIR   mkfs (ext4, xfs, btrfs) a loop device, mount it at DIR
#   fail MSG                      print and exit 1
#   dfs_sysctl PATH VALUE         write VALUE to PATH (/proc/sys, or a
#                                 module parameter), the old value
#                                 restored at exit
#   attr PATH NAME                the value of user.directfs.NAME
#   dfs_mount_held SRC MNT GATE [ARGS...]
#                                 dfs_mount with the fsync-holding shim
#                                 (holdsync.c): fsyncs wait while GATE
#                                 exists; held counts them, and fail lets
#                                 them go
#
# Everything mounted, attached or started here is undone by the EXIT trap,
# even when a test fails: filesystems a test froze (listed in FROZEN) are
# thawed, daemons stopped by PID, FUSE mounts with fusermount3, then the
# test's own AT_EXIT commands run, loop mounts with umount, loop devices
# with losetup -d.
# The daemon logs to $T/daemon.log; dfs_check_log fails the test on an
# error line nobody expected.

set -euo pipefail

: "${DFS_BIN:?DFS_BIN must name the directfs binary}"
: "${DFS_TEST_DIR:=/var/tmp}"
export LC_ALL=C

# Say in one line what the machine lacks and skip (77).  In CI (CI=true)
# the machine has everything, so a skip is a failure.
skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: would skip, and in CI nothing may: $*" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	# A request the daemon has taken cannot be killed: let fsyncs held at
	# a gate (dfs_mount_held) go, so the cleanup's unmount does not wait.
	[ -z "${HOLD_GATE:-}" ] || rm -f "$HOLD_GATE"
	exit 1
}
# Microseconds in SECONDS (fractions too).
_usecs() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }'; }
# Wait for an event: run CMD every 50 ms until it succeeds; 1 if it has
# not within SECONDS of wall time (then the caller fails, saying what did
# not happen).
wait_for() { # SECONDS CMD...
	local end now
	end=$((${EPOCHREALTIME/[.,]/} + $(_usecs "$1")))
	shift
	until "$@"; do
		now=${EPOCHREALTIME/[.,]/}
		[ "$now" -lt "$end" ] || return 1
		sleep 0.05
	done
}
# Something must not happen: CMD (true when it has) is run every 50 ms for
# SECONDS, and the test fails the first time it is true, naming WHAT and
# the window it was watched for.  A slow machine can only make this
# watch longer, never pass it for something that happened.
stays_false() { # SECONDS WHAT CMD...
	local secs=$1 what=$2 i n
	n=$(awk -v s="$secs" 'BEGIN { n = int(s * 20); print n < 1 ? 1 : n }')
	shift 2
	for ((i = 0; i < n; i++)); do
		! "$@" || fail "$what (within $secs s)"
		sleep 0.05
	done
	! "$@" || fail "$what (within $secs s)"
}
assert_eq() { # GOT WANT WHAT
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}
# True once FILE has at least BYTES (false while it does not exist).
size_at_least() { # FILE BYTES
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]
}
# True once process PID has gone.
gone() { # PID
	! kill -0 "$1" 2>/dev/null
}

[ "$(id -u)" -eq 0 ] || skip "mount tests run as root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"

mkdir -p "$DFS_TEST_DIR"
T=$(mktemp -d "$DFS_TEST_DIR/mount.XXXXXX")
chmod 755 "$T"
DFS_LOG=$T/daemon.log
: >"$DFS_LOG"
declare -A DFS_PID=()  # mount point -> daemon pid
declare -a LOOP_MNTS=() LOOP_DEVS=() FROZEN=()
# Commands a test adds for what it started itself (a server, another
# FUSE mount under SOURCE): run at exit once the daemons have stopped.
declare -a AT_EXIT=()
declare -A SYSCTL_OLD=() # /proc/sys path -> value before the test

_cleanup() {
	local rc=$? m pid
	set +e
	for m in "${FROZEN[@]}"; do fsfreeze -u "$m" 2>/dev/null; done
	exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- # a failed test's open files keep mounts busy
	for m in "${!DFS_PID[@]}"; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
	done
	for m in "${!DFS_PID[@]}"; do
		pid=${DFS_PID[$m]}
		wait_for 10 gone "$pid" || kill -KILL "$pid"
	done
	for m in "${AT_EXIT[@]}"; do eval "$m"; done
	for m in "${LOOP_MNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
	for m in "${LOOP_DEVS[@]}"; do losetup -d "$m"; done
	for m in "${!SYSCTL_OLD[@]}"; do echo "${SYSCTL_OLD[$m]}" >"$m"; done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -s "$DFS_LOG" ]; then
		echo "--- daemon log ---" >&2
		tail -n 40 "$DFS_LOG" >&2
	fi
	rm -rf "$T"
	exit $rc
}
trap _cleanup EXIT

dfs_sysctl() { # PATH VALUE
	[ -w "$1" ] || skip "no $1 (a kernel older than the test needs)"
	[ -n "${SYSCTL_OLD[$1]+set}" ] || SYSCTL_OLD[$1]=$(cat "$1")
	echo "$2" >"$1"
}

mounted() { # MNT
	findmnt -n -M "$1" -t fuse.directfs >/dev/null 2>&1
}

# With DFS_VALGRIND=1 the daemon runs under valgrind memcheck: an invalid
# access or a definite leak makes it exit 99, which dfs_umount returns.
dfs_mount() { # SRC MNT [ARGS...]
	local src=$1 mnt=$2 pid run=("$DFS_BIN")
	shift 2
	if [ -n "${DFS_VALGRIND:-}" ]; then
		command -v valgrind >/dev/null || skip "no valgrind"
		run=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
			--errors-for-leak-kinds=definite
			--suppressions="$(dirname "${BASH_SOURCE[0]}")/valgrind.supp" "$DFS_BIN")
	fi
	mkdir -p "$src" "$mnt"
	"${run[@]}" -f "$@" "$src" "$mnt" >>"$DFS_LOG" 2>&1 &
	pid=$!
	DFS_PID[$mnt]=$pid
	# Mounted, or the daemon gone: a daemon that exits fails at once.
	wait_for 30 _up_or_gone "$mnt" "$pid" || fail "directfs did not mount $mnt within 30 s"
	mounted "$mnt" || { unset "DFS_PID[$mnt]"; fail "directfs exited before mounting $mnt"; }
	# The kernel answers a first request only after the daemon's init,
	# which logs what it took: callers may read the log from here on.
	stat "$mnt" >/dev/null 2>&1 || true
}
_up_or_gone() { # MNT PID
	mounted "$1" || gone "$2"
}

# In a private mount namespace (unshare -m), make the build installed
# under STAGE (DESTDIR) look installed on the system: each system
# directory gets a stand-in, a directory of links to what it holds plus
# the staged files, bind-mounted over it; libmount's utab gets a tmpfs of
# its own.  Bind mounts need nothing a kernel may lack (overlayfs may).
dfs_lay_over_system() { # STAGE
	local hdir bdir
	: "${DFS_HELPER_DIR:?}" "${DFS_INSTALL_BINDIR:?}"
	hdir=$(realpath "$DFS_HELPER_DIR") bdir=$(realpath "$DFS_INSTALL_BINDIR") ||
		fail "$DFS_HELPER_DIR or $DFS_INSTALL_BINDIR missing"
	_lay_over "$1$DFS_HELPER_DIR" "$hdir"
	[ "$bdir" = "$hdir" ] || _lay_over "$1$DFS_INSTALL_BINDIR" "$bdir"
	mkdir -p /run/mount
	mount -t tmpfs dfs-utab /run/mount
	LOOP_MNTS=(/run/mount "${LOOP_MNTS[@]}")
	[ -x "$DFS_HELPER_DIR/mount.directfs" ] || fail "laid over: no $DFS_HELPER_DIR/mount.directfs"
}
_lay_over() { # STAGED-DIR SYSTEM-DIR
	local over f
	over=$T/over$(echo "$2" | tr / _)
	mkdir -p "$over"
	for f in "$2"/* "$2"/.[!.]*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		# A name the stage has too (directfs installed on the machine):
		# the staged file, not a link that would point at itself once
		# the stand-in is mounted over the directory.
		[ -e "$1/$(basename "$f")" ] || [ -L "$1/$(basename "$f")" ] && continue
		ln -s "$f" "$over/$(basename "$f")"
	done
	cp -a "$1"/. "$over"/
	mount --bind "$over" "$2"
	LOOP_MNTS=("$2" "${LOOP_MNTS[@]}")
}

dfs_pid() { # MNT
	echo "${DFS_PID[$1]}"
}

# Wait (up to 120 s) for a daemon to exit; its exit status.
dfs_wait() { # MNT
	local pid=${DFS_PID[$1]} rc=0
	wait_for 120 gone "$pid" || fail "directfs for $1 still running 120 s after unmount"
	wait "$pid" 2>/dev/null || rc=$?
	unset "DFS_PID[$1]"
	[ $rc -eq 127 ] && rc=0 # not our child (a daemon that forked): status unknown
	return $rc
}

dfs_umount() { # MNT
	local mnt=$1
	wait_for 5 fusermount3 -u "$mnt" 2>/dev/null || ! mounted "$mnt" || fusermount3 -uz "$mnt"
	dfs_wait "$mnt"
}

# Fail on daemon log lines that say something went wrong, except those
# matching the given extended regex (what the test provoked).
dfs_check_log() { # [ALLOWED-ERE]
	local bad
	bad=$(grep -Ei 'fail|error|refuse|cannot|warning' "$DFS_LOG" | grep -Ev "${1:-^$}" || true)
	[ -z "$bad" ] || fail "unexpected daemon log lines: $bad"
}

loop_fs() { # TYPE MIB SECTOR DIR
	local type=$1 mib=$2 sector=$3 dir=$4 img dev
	img=$T/$(basename "$dir").img
	truncate -s "${mib}M" "$img"
	dev=$(losetup --find --show --sector-size "$sector" "$img") || skip "no loop devices"
	LOOP_DEVS+=("$dev")
	case $type in
	ext4) mkfs.ext4 -q -F -b 4096 "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	btrfs) mkfs.btrfs -q -f "$dev" >/dev/null ;;
	esac
	mkdir -p "$dir"
	mount "$dev" "$dir"
	LOOP_MNTS=("$dir" "${LOOP_MNTS[@]}")
}

# A progress attribute: the value of user.directfs.NAME (10 s at most).
# True while PATH's progress attribute NAME reads VALUE.
attr_is() { # PATH NAME VALUE
	[ "$(attr "$1" "$2" 2>/dev/null)" = "$3" ]
}
attr() { # PATH NAME
	timeout 10 getfattr --absolute-names --only-values -n "user.directfs.$2" "$1"
}

# Wait (10 s at most) for the mount to be idle: every released file
# committed (durable, its pages dropped).  A small file passes through the
# page cache between its close and its group commit, a few milliseconds.
dfs_settled() { # MNT
	wait_for 10 attr_is "$1" state idle ||
		fail "$1: not idle 10 s after the last close (state $(attr "$1" state))"
}

# Resident pages of files (fincore), summed.
resident() {
	fincore -n -b -o PAGES "$@" | awk '{s += $1} END {print s + 0}'
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

same_file() { # A B
	[ "$(sha "$1")" = "$(sha "$2")" ] || fail "$2 differs from $1"
}

# A daemon whose fsyncs wait while GATE exists (tests/mount/holdsync.c).
dfs_mount_held() { # SRC MNT GATE [ARGS...]
	: "${DFS_HOLDSYNC:?DFS_HOLDSYNC must name the fsync-holding shim}"
	HOLD_GATE=$3
	local src=$1 mnt=$2
	shift 3
	DFS_HOLD_FSYNC=$HOLD_GATE dfs_mount_preloaded "$DFS_HOLDSYNC" "$src" "$mnt" "$@"
}

# dfs_mount with a test shim preloaded into the daemon (its settings in
# the environment the caller gives this call).
dfs_mount_preloaded() { # SHIM SRC MNT [ARGS...]
	local shim=$1
	shift
	# ASan must come first among preloads; the shims only wrap libc calls.
	LD_PRELOAD=$shim ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		dfs_mount "$@"
}
# How many fsyncs have waited at the gate.
held() {
	if [ -f "$HOLD_GATE.held" ]; then wc -l <"$HOLD_GATE.held"; else echo 0; fi
}
