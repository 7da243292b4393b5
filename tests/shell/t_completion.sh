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
expect "directfs -o close=" flush sync
expect "directfs -o close=s" sync
expect "directfs -o buffer_size=4M,clo" 4M,close= 4M,clone_fd
expect "directfs -o buffer_size=4M,fallback=r" refuse
expect "directfs -o ro,readahead=" on off
expect "directfs -o priority=" full background
expect "directfs -o checksum=" xxh128 sha256 off
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
# Names with a blank or a ':' in them: one candidate each, and after a
# ':' only what follows it (readline replaces no more).
mkdir "$src/two words" "$src/a:b"
expect "directfs $src/tw" "$src/two words"
expect "directfs $src/a:" b
# directfs-progress: its options, --of a file, targets.
expect "directfs-progress --j" --json
expect "directfs-progress -" -i -w -s --of --json --verify -h --help
expect "directfs-progress --v" --verify
expect "directfs-progress --of $src/bf" "$src/bfile"
expect "directfs-progress -s " 
expect "directfs-progress $src/mn" "$src/mnt"

# --- as a person sees it: an interactive bash in tmux, keys typed, the
# prompt line read back.  The calls above check what the functions offer;
# only readline shows what it makes of an offer: it replaces just the text
# after the last '=', so offering "=flush" there made "close==".
if ! command -v tmux >/dev/null; then
	echo "SKIP: no tmux (scripts/debian-packages installs it)"
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi
sock=dfs-compl-$$
trap 'tmux -L "$sock" kill-server 2>/dev/null; rm -rf "$src"' EXIT
{
	echo "PS1='dfs\$ '"
	echo "PATH=$(dirname "$DFS_BIN"):\$PATH"
	echo ". '$DFS_COMPLETION'"
} >"$src/rc"
tmux -L "$sock" new-session -d -x 200 -y 20 "bash --noprofile --rcfile $src/rc -i"
pane() { tmux -L "$sock" capture-pane -p; }
prompt() { pane | grep '^dfs\$' | tail -n 1 | sed 's/ *$//'; }
await() { # LINE: the prompt line reads LINE within 5 s (tmux drops trailing blanks)
	local i want
	want=$(sed 's/ *$//' <<<"dfs\$ $1")
	for i in $(seq 50); do
		[ "$(prompt)" = "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
await "" || fail "no prompt in tmux: $(pane)"
typed() { # TYPED WANT: type TYPED and a Tab; the line must read WANT
	tmux -L "$sock" send-keys -l "$1"
	tmux -L "$sock" send-keys Tab
	await "$2" || fail "typed '$1' Tab: the line reads '$(prompt)', want 'dfs\$ $2'"
	echo "  tmux: '$1' Tab -> '$2'"
	tmux -L "$sock" send-keys C-u
	await "" || fail "the line was not cleared: '$(prompt)'"
}
typed "directfs -o fallback=r" "directfs -o fallback=refuse"
typed "directfs -oclose=f" "directfs -oclose=flush"
typed "directfs -o buffer_size=4M,sm" "directfs -o buffer_size=4M,small_files="
typed "directfs-progress --j" "directfs-progress --json"
# Two candidates: one Tab adds nothing, the second lists the bare values.
typed "directfs -o close=" "directfs -o close="
tmux -L "$sock" send-keys -l "directfs -o close="
tmux -L "$sock" send-keys Tab Tab
for i in $(seq 50); do
	pane | grep -Eq '^flush +sync *$' && break
	sleep 0.1
done
pane | grep -Eq '^flush +sync *$' || fail "close= Tab Tab lists: $(pane)"
echo "  tmux: 'directfs -o close=' Tab Tab lists flush sync"
echo PASS
