#!/usr/bin/env bash
# Description: the bash completion (completion/directfs) as bash calls it:
# the line is split into words the way bash splits them (at blanks, and
# '=' as a word of its own), the function named by `complete` is called,
# and COMPREPLY must hold what a user would be offered.  No mount.
set -euo pipefail
: "${DFS_COMPLETION:?}" "${DFS_BIN:?}"
# The options come from `directfs -h`: the build's daemon, first on PATH.
PATH=$(dirname "$DFS_BIN"):$PATH
src=$(mktemp -d "${TMPDIR:-/tmp}/dfs-compl.XXXXXX")
trap 'rm -rf "$src"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# shellcheck source=/dev/null
. "$DFS_COMPLETION"
for cmd in directfs directfs-progress mount.directfs; do
	complete -p "$cmd" >/dev/null 2>&1 || fail "no completion registered for $cmd"
done

# complete LINE: the candidates for the end of LINE, one per line, sorted.
complete_line() {
	local line=$1 fn w
	COMP_LINE=$line COMP_POINT=${#line}
	COMP_WORDS=()
	for w in $line; do
		while [[ $w == *=* ]]; do
			[ -n "${w%%=*}" ] && COMP_WORDS+=("${w%%=*}")
			COMP_WORDS+=("=")
			w=${w#*=}
		done
		[ -n "$w" ] && COMP_WORDS+=("$w")
	done
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	fn=$(complete -p "${COMP_WORDS[0]}" | sed -E 's/.*-F ([^ ]+) .*/\1/')
	COMPREPLY=()
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() { # LINE WANT...
	local line=$1 got want
	shift
	got=$(complete_line "$line")
	want=$(printf '%s\n' "$@" | sort)
	[ "$got" = "$want" ] || fail "'$line': offered [$(tr '\n' ' ' <<<"$got")], want [$(tr '\n' ' ' <<<"$want")]"
	echo "  '$line' -> $(tr '\n' ' ' <<<"$got")"
}

# The daemon's options and their values, in a list, split or attached.
expect "directfs -o buf" buffer_size=
expect "directfs -o me" memory_cap=
expect "directfs -o close=" =flush =sync
expect "directfs -o close=s" sync
expect "directfs -o buffer_size=4M,clo" 4M,close= 4M,clone_fd
expect "directfs -o buffer_size=4M,fallback=r" refuse
expect "directfs -o ro,readahead=" =on =off
expect "directfs -o de" debug default_permissions depth=
expect "directfs -o ro,au" ro,auto_unmount
expect "directfs -oclose=f" flush
expect "directfs -oio" -oio_threads=
expect "directfs --v" --version
expect "mount.directfs src mnt -o small" small_files=
# Nothing but the daemon's -h decides: a daemon with other options offers
# those (and a name without '=' is a flag: no value offered after it).
mkdir "$src/fake"
printf '#!/bin/sh\nprintf "    -o newopt=a|bb   x\\n    -o flag\\n"\n' >"$src/fake/directfs"
chmod +x "$src/fake/directfs"
(
	PATH=$src/fake:$PATH
	expect "directfs -o " flag newopt=
	expect "directfs -o newopt=b" bb
	expect "directfs -o buf"
)
# SOURCE and MOUNTPOINT: directories only.
mkdir "$src/backing" "$src/mnt"
touch "$src/bfile"
expect "directfs $src/b" "$src/backing"
expect "directfs $src/backing $src/m" "$src/mnt"
# directfs-progress: its options, --of a file, targets.
expect "directfs-progress --j" --json
expect "directfs-progress -" -i -w -s --of --json -h --help
expect "directfs-progress --of $src/bf" "$src/bfile"
expect "directfs-progress -s " 
expect "directfs-progress $src/mn" "$src/mnt"
echo PASS
