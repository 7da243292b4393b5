#!/usr/bin/env bash
# scripts/check-rules.sh [TREE] - the written rules of the tree, checked.
#
#   1. lib/ includes no FUSE header.
#   2. docs/internals.md's file map names exactly the files of lib/, fs/,
#      tools/, mount-helpers/, bench/, scripts/ and tests/shell/, and the
#      list at the top of fs/fs.h names the .c files of fs/ in the same
#      order as the map.
#   3. Each .c file of lib/ and of fs/ calls only files below it in the
#      map's list of its directory (so no two files call each other and
#      there is no circle of files).  Who calls what comes from cscope's
#      cross-reference (-L -0: each reference to a name and the function
#      it is in), the functions each file defines from universal-ctags.
#
# TREE defaults to the tree this script is in.  Prints each violation,
# then exits 1 if there was any, 0 if none, 2 if a tool is missing.
set -euo pipefail
tree=$(cd "${1:-$(dirname "$0")/..}" && pwd)
for t in ctags cscope; do
	command -v "$t" >/dev/null || { echo "check-rules: no $t (universal-ctags, cscope)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/dfs-rules.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$tree"
bad=0
violation() { echo "rule broken: $*"; bad=1; }

# 1. No FUSE in lib/.
while IFS= read -r hit; do
	violation "lib/ includes a FUSE header: $hit"
done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](fuse|linux/fuse)' lib/*.c lib/*.h || true)

# 2. The file map.  Its entries: the first word of each line of the code
# block under "The files and what each owns", with the directory of the
# last heading line ("lib/  ...") before it.
awk '
	/^## The files and what each owns/ { inmap = 1; next }
	inmap && /^```/ { if (open) exit; open = 1; next }
	inmap && open {
		if ($0 ~ /^[^ ]/) { dir = $1; print dir; next }
		if ($0 ~ /^  [^ ]/) print dir $1
	}' docs/internals.md >"$work/map"
[ -s "$work/map" ] || violation "docs/internals.md: no file map found"
# The lines of the map under directory $1/.
map_entry() {
	awk -v d="$1/" '
		/^## The files and what each owns/ { inmap = 1; next }
		inmap && /^```/ { if (open) exit; open = 1; next }
		inmap && open {
			if ($0 ~ /^[^ ]/) on = ($1 == d)
			if (on) print
		}' docs/internals.md
}
: >"$work/map-bad"
for dir in lib fs; do
	# Each .c file has a line of its own, in call order; every line
	# names a file that exists.
	grep "^$dir/.*\.c$" "$work/map" | sort >"$work/listed.$dir"
	ls "$dir"/*.c | sort >"$work/tree.$dir"
	comm -13 "$work/listed.$dir" "$work/tree.$dir" | sed "s|^|docs/internals.md's map lacks |" >>"$work/map-bad"
	grep "^$dir/." "$work/map" | while read -r f; do
		[ -e "$f" ] || echo "docs/internals.md's map names a file not in the tree: $f"
	done >>"$work/map-bad"
done
# Headers, and the files of the other directories, whose lines name
# several files in prose: each must be named in its directory's lines.
for dir in lib fs tools mount-helpers bench scripts tests/shell; do
	entry=$(map_entry "$dir")
	[ -n "$entry" ] || { echo "docs/internals.md's map has no $dir/" >>"$work/map-bad"; continue; }
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		b=$(basename "$f")
		case $dir/$b in */CMakeLists.txt | lib/*.c | fs/*.c) continue ;; esac
		grep -qF -- "$b" <<<"$entry" || echo "docs/internals.md's map lacks $f" >>"$work/map-bad"
	done
done
if [ -s "$work/map-bad" ]; then
	while IFS= read -r l; do violation "$l"; done <"$work/map-bad"
fi
# fs/fs.h's list: the lines " *   name.c  ..." of its opening comment.
sed -n '1,/\*\//p' fs/fs.h | awk '$1 == "*" && $2 ~ /\.c$/ { print "fs/" $2 }' >"$work/fsh"
grep '^fs/.*\.c$' "$work/map" >"$work/map.fs.c"
cmp -s "$work/fsh" "$work/map.fs.c" ||
	violation "fs/fs.h lists fs/'s files as $(tr '\n' ' ' <"$work/fsh")but docs/internals.md as $(tr '\n' ' ' <"$work/map.fs.c")"

# Every reference to NAME in XREF, with the function it is in (cscope
# -L -0).  cscope 15.9 crashes now and then on a query (about one in two
# hundred here, at random): a crashed query is asked again, and a third
# crash ends the check as a tool's failure.
refs() { # NAME XREF
	local out try
	for try in 1 2 3; do
		if out=$(cscope -d -L -0 "$1" -f "$2" 2>/dev/null); then
			[ -z "$out" ] || printf '%s\n' "$out"
			return 0
		fi
	done
	echo "check-rules: cscope failed three times on $1" >&2
	exit 2
}

# 3. Calls go down the list.  rank[file] is its place in the map.
declare -A rank
n=0
while IFS= read -r f; do rank[$f]=$n; n=$((n + 1)); done < <(grep -E '^(lib|fs)/.*\.c$' "$work/map")
for dir in lib fs; do
	# Only the .c files: callers are functions of those.
	ls "$dir"/*.c >"$work/files.$dir"
	cscope -b -k -u -f "$work/xref.$dir" -i "$work/files.$dir"
	# Functions defined in each .c file (not static ones: no other file
	# can call those), as "FILE NAME".
	for f in "$dir"/*.c; do
		ctags -x --language-force=C --kinds-C=f --extras=-F "$f" |
			awk -v f="$f" '{ print f, $1 }'
	done >"$work/defs.$dir"
	while read -r def name; do
		[ -n "${rank[$def]+x}" ] || continue
		refs "$name" "$work/xref.$dir" |
			while read -r caller in _ text; do
				case $caller in *.c) ;; *) continue ;; esac
				[ "$in" = "<global>" ] && continue # not in a function
				# A call (or an address taken), not a struct of that name.
				[[ $text =~ (^|[^A-Za-z0-9_.])$name[[:space:]]*[\(,\)\;] ]] || continue
				[ "$caller" = "$def" ] && continue
				[ -n "${rank[$caller]+x}" ] || continue
				if [ "${rank[$caller]}" -gt "${rank[$def]}" ]; then
					echo "$caller calls $name of $def, which the map lists above it"
				fi
			done
	done <"$work/defs.$dir" | sort -u >>"$work/calls-bad"
done
if [ -s "$work/calls-bad" ]; then
	while IFS= read -r l; do violation "$l"; done <"$work/calls-bad"
fi
exit $bad
