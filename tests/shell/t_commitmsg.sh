#!/usr/bin/env bash
# Description: scripts/check-commit.sh, the check of CONTRIBUTING.md's
# rules for commit messages, passes good messages and fails each kind of
# bad one, naming it; and every commit since the check came in keeps the
# rules (where the clone has that history).  No mount.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/scripts/check-commit.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/dfs-commitmsg-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
body=$'\n\nWhy, in lines of at most seventy-two columns: the symptom, what was\ntried, and the figures.\n\n  an indented command or table line may run longer than seventy-two columns\n'

good() { # MESSAGE
	printf '%s\n' "$1" >"$work/msg"
	out=$("$check" "$work/msg" 2>&1) || fail "a good message was refused: $1
$out"
}
bad() { # WHAT MESSAGE WANT
	local rc=0
	printf '%s\n' "$2" >"$work/msg"
	out=$("$check" "$work/msg" 2>&1) || rc=$?
	[ $rc -eq 1 ] || fail "$1: exit $rc, want 1: $out"
	grep -qF -- "$3" <<<"$out" || fail "$1: did not say \"$3\": $out"
	echo "caught: $1"
}

good "lib: a window's bitmap is cleared before reuse$body"
good "fs, tests: names that say what each file owns$body"
good "tree: one name per meaning"
good $'README: the quick start in two commands\n\n# a comment line from git\n'
bad "a long subject" "tests: $(printf 'x%.0s' $(seq 70))$body" "over 72"
bad "no part named" "Review mends: one fail that frees held fsyncs$body" "does not begin with the parts"
bad "a file for a part" "stage: flush the tail first$body" '"stage" is not a part'
bad "a path for a part" "tests/README.md: kinds of test$body" "does not begin with the parts"
bad "a period" "lib: a window's bitmap is cleared." "ends in a period"
bad "no blank line" $'lib: a window\nbody at once' "not blank"
bad "a long body line" "lib: a window$body$(printf 'y%.0s' $(seq 80))" "line 7 is 80 columns"
rc=0
"$check" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "no argument: exit $rc, want 2"

# The history since the check came in.
if git -C "$top" rev-parse -q --verify HEAD >/dev/null 2>&1; then
	first=$(git -C "$top" log --format=%H --diff-filter=A -- scripts/check-commit.sh | tail -n 1)
	if [ -n "$first" ]; then
		out=$(cd "$top" && "$check" --range "$first^..HEAD") || fail "commits break the rules:
$out"
		echo "commits since ${first:0:7}: $(git -C "$top" rev-list --count "$first^..HEAD") keep the rules"
	else
		echo "the check is not committed yet: history not checked"
	fi
else
	echo "not a git clone: history not checked"
fi
echo PASS
