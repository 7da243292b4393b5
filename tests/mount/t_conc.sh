#!/usr/bin/env bash
# Description: concurrency through the mount (conc.c): 8 writers to 8
# files and 4 writers in disjoint stripes of one file, with readers
# checking every acknowledged byte meanwhile, and a writer racing
# truncate; everything verified byte by byte through the mount and on
# SOURCE.  CI runs it under the sanitizer build too.
. "$(dirname "$0")/lib.sh"
: "${DFS_CONC:?DFS_CONC must name the conc helper}"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt" -o buffer_size=1M
timeout 600 "$DFS_CONC" "$mnt" "$src" || fail "conc: exit $?"
mounted "$mnt" || fail "the daemon went away"
dfs_umount "$mnt"
dfs_check_log
echo PASS
