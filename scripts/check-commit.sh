#!/usr/bin/env bash
# scripts/check-commit.sh FILE | --range REVS - commit messages against
# CONTRIBUTING.md's rules for them:
#
#   1. The subject is at most 72 characters and does not end in a period.
#   2. It begins with the parts of the tree it changes, from PARTS below,
#      joined by ", ", then ": " (`lib: ...`, `fs, tests: ...`); `tree:`
#      for a change across the whole tree.
#   3. A blank line follows the subject, and the body's lines are at most
#      72 columns (an indented line, a table or a command, may be longer).
#
# FILE is a message (as git's commit-msg hook gets it: `ln -s
# ../../scripts/check-commit.sh .git/hooks/commit-msg`); --range checks
# each commit of `git rev-list REVS`.  Prints each violation; exits 1 if
# there was any, 0 if none, 2 on a bad invocation.
set -euo pipefail
PARTS='lib fs tools mount-helpers tests bench docs README CONTRIBUTING man completion debian scripts ci tree'
bad=0

check_message() { # NAME < MESSAGE
	local name=$1 subject second prefix p n=0 line
	IFS= read -r subject || subject=
	IFS= read -r second || second=
	say() { echo "$name: $*"; bad=1; }
	[ "${#subject}" -le 72 ] || say "subject is ${#subject} characters, over 72: $subject"
	[[ $subject != *. ]] || say "subject ends in a period: $subject"
	if [[ $subject =~ ^([A-Za-z-]+(, [A-Za-z-]+)*):\ [^\ ] ]]; then
		prefix=${BASH_REMATCH[1]}
		for p in ${prefix//,/ }; do
			[[ " $PARTS " == *" $p "* ]] || say "\"$p\" is not a part of the tree ($PARTS): $subject"
		done
	else
		say "subject does not begin with the parts it changes (\"lib: \", \"fs, tests: \"): $subject"
	fi
	[ -z "$second" ] || say "the line after the subject is not blank"
	while IFS= read -r line; do
		n=$((n + 1))
		[[ $line == [[:space:]]* || $line == '|'* ]] && continue
		[ "${#line}" -le 72 ] || say "line $((n + 2)) is ${#line} columns, over 72"
	done
}

case ${1:-} in
--range)
	[ $# -eq 2 ] || { echo "usage: $0 FILE | --range REVS" >&2; exit 2; }
	for c in $(git rev-list "$2"); do
		# The message as written, comments and all (%B).
		check_message "$(git log -1 --format='%h' "$c")" < <(git log -1 --format=%B "$c")
	done
	;;
'' | -*) echo "usage: $0 FILE | --range REVS" >&2; exit 2 ;;
*)
	# git's hook gets the message with its comment lines; they go.
	check_message "$1" < <(grep -v '^#' "$1")
	;;
esac
exit $bad
