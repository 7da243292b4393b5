#!/usr/bin/env bash
# Description: the written rules of the tree hold (scripts/check-rules.sh:
# no FUSE in lib/, docs/internals.md's file map true to the tree and to
# fs/fs.h, each file of lib/ and fs/ calling only files below it), and
# the check catches each kind of break: it is run on copies of the tree,
# each with one violation planted, and must fail naming it.  No mount.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/scripts/check-rules.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/dfs-rules-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$check" "$top" 2>&1) || fail "the tree breaks its written rules:
$out"

# A copy of what the check reads.
copy() { # DIR
	mkdir -p "$1/tests"
	(cd "$top" && cp -r lib fs tools mount-helpers bench docs scripts "$1"/ &&
		cp -r tests/shell "$1/tests/")
}
# plant NAME WANT: in a fresh copy $w, after the caller's change, the
# check must fail with a line containing WANT.
planted() { # WHAT WANT
	local got rc=0
	got=$("$check" "$w" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "$1: the check exited $rc, want 1:
$got"
	grep -qF -- "$2" <<<"$got" || fail "$1: the check did not say \"$2\":
$got"
	echo "caught: $1"
}

w=$work/1; copy "$w"
sed -i '0,/#include/s//#include <fuse_lowlevel.h>\n#include/' "$w/lib/log.c"
planted "a FUSE header in lib/" "lib/ includes a FUSE header: lib/log.c"

w=$work/2; copy "$w"
sed -i '/^  pace\.c  /d' "$w/docs/internals.md"
planted "a lib/ file left out of the map" "map lacks lib/pace.c"

w=$work/3; copy "$w"
sed -i 's/^  pace\.c  /  ghost.c /' "$w/docs/internals.md"
planted "a file in the map that is not in the tree" "not in the tree: lib/ghost.c"

w=$work/4; copy "$w"
touch "$w/bench/new.sh"
planted "a bench/ file left out of the map" "map lacks bench/new.sh"

w=$work/5; copy "$w"
printf '\nvoid fs_log_planted(void);\nvoid fs_log_planted(void)\n{\n\tfs_create(0, 0, 0, 0, 0);\n}\n' >>"$w/fs/logsink.c"
planted "fs/: a call up the list" "fs/logsink.c calls fs_create of fs/fileops.c"

w=$work/6; copy "$w"
printf '\nvoid dfs_log_planted(void);\nvoid dfs_log_planted(void)\n{\n\tdfs_engine_now(0);\n}\n' >>"$w/lib/log.c"
planted "lib/: a call up the list" "lib/log.c calls dfs_engine_now of lib/engine.c"

w=$work/7; copy "$w"
# fs.h's list with inodeops.c and fileops.c swapped.
awk '/^ \*   inodeops\.c / { held = $0; next } { print } held && /^ \*   fileops\.c / { print held; held = "" }' \
	"$top/fs/fs.h" >"$w/fs/fs.h"
planted "fs/fs.h's list out of the map's order" "fs/fs.h lists fs/'s files as"
echo PASS
