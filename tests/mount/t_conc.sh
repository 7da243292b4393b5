#!/usr/bin/env bash
# Description: concurrency through the mount (conc.c): 8 writers to 8
# files and 4 writers in disjoint stripes of one file, with readers
# checking every acknowledged byte meanwhile, and a writer racing
# truncate; everything verified byte by byte through the mount and on
# SOURCE.  Request threads start as requests need them: a mount that has
# served nothing runs fewer than the eight writers need, and the writers
# get more, never over the ten allowed.  CI runs it under the sanitizer
# build too.
. "$(dirname "$0")/lib.sh"
: "${DFS_CONC:?DFS_CONC must name the conc helper}"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"
threads() { ls "/proc/$(dfs_pid "$mnt")/task" | wc -l; }
idle=$(threads)
timeout 600 "$DFS_CONC" "$mnt" "$src" || fail "conc: exit $?"
busy=$(threads)
# The idle count holds the main thread, the committer, the I/O threads
# and the first request thread.
[ "$busy" -gt "$idle" ] || fail "request threads: $idle before the writers, $busy after"
[ "$busy" -le $((idle + 9)) ] || fail "request threads: $idle idle, $busy busy: more than 10"
echo "request threads: $idle tasks idle, $busy after the writers"
mounted "$mnt" || fail "the daemon went away"
dfs_umount "$mnt"
dfs_check_log
echo PASS
