#!/usr/bin/env bash
# Description: locks through the mount are SOURCE's locks.  Two mounts of
# one SOURCE; a process holds each kind of lock (fcntl POSIX, OFD, flock;
# write and read) on SOURCE, through the first mount or the second, and
# another process tries each kind at each of the three places: every
# outcome must equal the one of both processes on SOURCE (one local
# disk), and a killed holder's locks go.  Also: byte ranges; F_GETLK
# names the holder; closing any descriptor ends a process's POSIX locks;
# F_SETLKW waits, is woken when the holder goes, and gives EINTR on a
# signal; a dozen waiting requests leave the mount serving others; data
# written under a lock is on SOURCE once the lock is let go; killing the
# daemon lets its locks go.
. "$(dirname "$0")/lib.sh"
: "${DFS_LOCKER:?DFS_LOCKER must name the lock helper}"
L=$DFS_LOCKER

src=$T/src m1=$T/m1 m2=$T/m2
mkdir -p "$src"
dfs_mount "$src" "$m1"
dfs_mount "$src" "$m2"
head -c 100000 /dev/urandom >"$src/f"

declare -a HOLDERS=()
trap_holders() { for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; done; }
# Start a holder; its pid in HELD once it holds the lock.
hold() { # OP KIND TYPE FILE [START LEN]
	local ready=$T/ready.$RANDOM op=$1
	shift
	if [ "$op" = writeunlock ]; then # FILE DATA
		"$L" "$op" "$1" "$2" "$ready" >"$T/holder.out" 2>&1 &
	else
		"$L" "$op" "$1" "$2" "$3" "$ready" "${@:4}" >"$T/holder.out" 2>&1 &
	fi
	HELD=$!
	HOLDERS+=("$HELD")
	wait_for 5 ready_or_gone "$ready" "$HELD" ||
		fail "holder $op $* did not lock within 5 s: $(cat "$T/holder.out")"
	[ -e "$ready" ] || fail "holder $op $* exited: $(cat "$T/holder.out")"
	rm -f "$ready"
}
ready_or_gone() { [ -e "$1" ] || gone "$2"; } # READY-FILE PID
unhold() { kill -KILL "$HELD"; wait "$HELD" 2>/dev/null || true; }
try() { timeout 10 "$L" try "$@" 2>&1 || true; }
# True once a try of KIND w on FILE takes the lock (its answer kept in got).
let_go() { got=$(try "$1" w "$2"); [ "$got" = locked ]; } # KIND FILE
place() { case $1 in src) echo "$src" ;; m1) echo "$m1" ;; m2) echo "$m2" ;; esac; }

# The matrix: holder (kind, type, place) against a try (kind, type,
# place); each outcome against the same pair on SOURCE alone.
n=0
for hk in posix ofd flock; do
	for ht in w r; do
		for hp in src m1 m2; do
			hold hold $hk $ht "$(place $hp)/f"
			for tk in posix ofd flock; do
				for tt in w r; do
					for tp in src m1 m2; do
						echo "$hk $ht $hp / $tk $tt $tp: $(try $tk $tt "$(place $tp)/f")"
						n=$((n + 1))
					done
				done
			done
			unhold
			# The killed holder's locks are gone, at every place:
			# POSIX locks at once (the close's flush is synchronous);
			# OFD locks and flocks when the kernel's release of the
			# file arrives, which it sends after the close returns.
			# (A try lets go of what it took before it exits.)
			for tp in src m1 m2; do
				got=$(try $hk w "$(place $tp)/f")
				if [ "$got" != locked ] && [ $hk != posix ] && [ $hp != src ]; then
					wait_for 5 let_go $hk "$(place $tp)/f" || : # the matrix shows it
				fi
				echo "$hk $ht $hp killed / $hk w $tp: $got"
			done
		done
	done
done >"$T/matrix"
# What one local disk says: the holder's place does not matter there.
awk '{ k = $1 " " $2 " / " $5 " " $6; split($0, a, ": "); r = a[2];
       if ($3 == "src" && $7 == "src:") want[k] = r; got[NR] = k "|" r; line[NR] = $0 }
     END { bad = 0
       for (i = 1; i <= NR; i++) { split(got[i], g, "|");
	 if (line[i] ~ /killed/) { if (g[2] != "locked") { print "still locked: " line[i]; bad++ } continue }
	 if (!(g[1] in want)) { print "no local outcome for " line[i]; bad++; continue }
	 if (g[2] != want[g[1]]) { print line[i] " (one local disk: " want[g[1]] ")"; bad++ } }
       exit bad > 0 }' "$T/matrix" >&2 || fail "lock outcomes differ from one local disk"
grep -q '^posix w src / posix w src: busy$' "$T/matrix" || fail "a local write lock did not conflict"
grep -q '^flock w src / posix w src: locked$' "$T/matrix" || fail "flock conflicted with POSIX locally"
echo "lock matrix: $n pairs (POSIX, OFD, flock; read, write; SOURCE, two mounts) as on one disk; killed holders' locks gone"

# Byte ranges.
hold hold posix w "$m1/f" 0 100
[ "$(try posix w "$src/f" 100 100)" = locked ] || fail "a lock on [0,100) blocked [100,200)"
[ "$(try posix w "$src/f" 50 10)" = busy ] || fail "a lock on [0,100) did not block [50,60)"
[ "$(try ofd r "$m2/f" 99 1)" = busy ] || fail "a write lock on [0,100) let a read lock of byte 99 through"
# F_GETLK names the holder: through the same mount, and a process on
# SOURCE seen through the mount.
got=$(timeout 10 "$L" getlk w "$m1/f" 10 10)
[ "$got" = "w pid=$HELD" ] || fail "F_GETLK through the holder's mount: '$got', want 'w pid=$HELD'"
got=$(timeout 10 "$L" getlk w "$m2/f" 10 10)
case $got in "w pid="*) ;; *) fail "F_GETLK through the other mount: '$got'" ;; esac
[ "$(timeout 10 "$L" getlk w "$m1/f" 100 10)" = unlocked ] || fail "F_GETLK saw a lock past the range"
unhold
hold hold posix r "$src/f"
got=$(timeout 10 "$L" getlk w "$m1/f")
[ "$got" = "r pid=$HELD" ] || fail "F_GETLK of a SOURCE holder through the mount: '$got', want 'r pid=$HELD'"
unhold
echo "byte ranges and F_GETLK as locally"

# Closing any descriptor of the file ends the process's POSIX locks,
# not its OFD locks or flock.
for k in posix ofd flock; do
	hold closeother $k w "$m1/f"
	want=$( [ $k = posix ] && echo locked || echo busy)
	[ "$(try $k w "$src/f")" = "$want" ] || fail "$k lock after closing another descriptor: want $want"
	unhold
done
echo "close(2) of another descriptor ends POSIX locks only"

# Whether process PID waits in a lock call: fcntl (72) or flock (73) on
# x86_64; elsewhere, waiting for the daemon's answer.
in_lock_call() { # PID
	case $(cut -d' ' -f1 /proc/$1/syscall 2>/dev/null):$(cat /proc/$1/wchan 2>/dev/null) in
	72:* | 73:*) return 0 ;;
	*:request_wait_answer) [ "$(uname -m)" != x86_64 ] ;;
	*) return 1 ;;
	esac
}

# F_SETLKW waits and is woken; a signal gives EINTR.  Not under
# valgrind 3.19, which holds its own lock across F_OFD_SETLKW (it knows
# only F_SETLKW may block), so the daemon's other threads stop meanwhile.
if [ -n "${DFS_VALGRIND:-}" ]; then
	echo "valgrind: the waiting steps are left out"
else
hold hold posix w "$src/f"
timeout 20 "$L" wait posix w "$m1/f" >"$T/wait.out" 2>&1 &
waiter=$!
waiter_gone() { ! kill -0 $waiter 2>/dev/null; }
stays_false 0.5 "F_SETLKW through the mount did not wait: $(cat "$T/wait.out")" waiter_gone
unhold
wait $waiter || fail "the waiter did not get the lock after the holder went: $(cat "$T/wait.out")"
assert_eq "$(cat "$T/wait.out")" locked "waiter"
for k in posix ofd flock; do
	hold hold $k w "$m2/f"
	"$L" wait $k w "$m1/f" >"$T/wait.out" 2>&1 &
	waiter=$!
	# Signal it once it waits in the lock call.
	wait_for 10 in_lock_call $waiter || fail "$k: the waiter is not in its lock call after 10 s"
	kill -USR1 $waiter
	rc=0
	timeout 5 tail --pid=$waiter -f /dev/null || fail "$k: the waiter did not end on a signal"
	wait $waiter || rc=$?
	[ $rc -eq 3 ] && [ "$(cat "$T/wait.out")" = eintr ] || fail "$k: waiter after a signal: rc $rc, $(cat "$T/wait.out")"
	unhold
done
echo "F_SETLKW, F_OFD_SETLKW and flock wait, are woken, and give EINTR on a signal"

# A dozen waiters (more than libfuse's ten threads) leave the mount serving.
hold hold flock w "$src/f"
pids=()
for i in $(seq 12); do
	timeout 30 "$L" wait flock w "$m1/f" >"$T/w$i.out" 2>&1 &
	pids+=($!)
done
all_in_lock_call() { # (each pid is timeout's; the locker is its child)
	local p
	for p in "${pids[@]}"; do in_lock_call "$(pgrep -P "$p")" || return 1; done
}
wait_for 10 all_in_lock_call || fail "12 waiters are not all in their lock call after 10 s"
timeout 5 cat "$m1/f" >/dev/null || fail "the mount stopped serving with 12 lock requests waiting"
timeout 5 ls "$m1" >/dev/null || fail "the mount stopped serving names with 12 lock requests waiting"
unhold
for p in "${pids[@]}"; do wait "$p" || fail "a waiter did not get the lock in turn"; done
echo "12 waiting requests: the mount went on serving; each got the lock in turn"
fi

# Data written under a lock reaches SOURCE when the lock is let go,
# before the file is closed (a reader on SOURCE takes the lock next).
hold writeunlock "$m1/f" locked-write
[ "$(head -c 12 "$src/f")" = locked-write ] || fail "data written under a lock not on SOURCE after the unlock"
unhold
echo "data written under a lock is on SOURCE once it is let go"

# The daemon killed: its locks go with it.
hold hold posix w "$m2/f"
[ "$(try posix w "$src/f")" = busy ] || fail "no conflict before the kill"
kill -KILL "$(dfs_pid "$m2")"
unhold
fusermount3 -uz "$m2" 2>/dev/null || true
unset "DFS_PID[$m2]"
[ "$(try posix w "$src/f")" = locked ] || fail "a killed daemon's lock stayed"
echo "a killed daemon's locks go"

trap_holders
dfs_umount "$m1"
dfs_check_log
echo PASS
