#!/usr/bin/env bash
# Description: a daemon started under the soft descriptor limit a shell or
# a systemd service gets (1,024) serves a tree of 3,000 files copied with
# cp -r: no application sees EMFILE, every file arrives, and the daemon
# runs with its soft limit raised to the hard one.
. "$(dirname "$0")/lib.sh"

# The soft limit a Debian shell or service starts with; the hard one as the
# machine has it.
ulimit -Sn 1024
hard=$(ulimit -Hn)
src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"
pid=$(dfs_pid "$mnt")
soft=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
# Under valgrind the process is valgrind, which keeps descriptors of its
# own and shows a limit of its making: the rest of the test still holds.
[ -n "${DFS_VALGRIND:-}" ] || [ "$soft" = "$hard" ] ||
	fail "the daemon's soft descriptor limit is $soft, not the hard $hard"

mkdir -p "$T/tree"
for d in $(seq 30); do
	mkdir "$T/tree/d$d"
	(cd "$T/tree/d$d" && touch $(seq -f "f%g" 100) && echo "$d" >f1)
done
cp -r "$T/tree" "$mnt/" 2>"$T/cp.err" || fail "cp -r of 3,000 files: $(head -n 3 "$T/cp.err")"
n=$(find "$src/tree" -type f | wc -l)
[ "$n" -eq 3000 ] || fail "$n of 3000 files arrived"
assert_eq "$(cat "$src/tree/d30/f1")" 30 "what d30/f1 holds"
diff -r "$T/tree" "$mnt/tree" || fail "the tree differs through the mount"
echo "3,000 files copied under 'ulimit -Sn 1024'; daemon soft limit $soft"
dfs_umount "$mnt"
dfs_check_log
echo PASS
