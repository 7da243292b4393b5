#!/usr/bin/env bash
# Description: setuid and setgid bits through a multi-user mount behave as
# on the local disk under it.  A write, a truncate (truncate(1) and an
# O_TRUNC open) and a fallocate by a process without CAP_FSETID clear
# setuid, and setgid where group-execute is set or the writer is not of
# the file's group; root (with CAP_FSETID) keeps them; root without
# CAP_FSETID does not.  Every case runs on SOURCE's own filesystem too, and
# the mode seen through the mount (stat right after the change) and on
# SOURCE must equal the local result.  The daemon writes as root, so
# without its own clearing the bits would survive every data write.
DFS_TEST_DIR=/var/tmp
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || skip "no setpriv"
command -v fallocate >/dev/null || skip "no fallocate(1)"

src=$T/src mnt=$T/mnt local=$T/local
mkdir -p "$src" "$local"
chmod 755 "$src" "$local"
dfs_mount "$src" "$mnt" -o allow_other

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
nocap() { setpriv --bounding-set -fsetid --inh-caps -fsetid -- "$@"; }

# One change to FILE by WHO (nobody, root, nocap).
change() { # WHO OP FILE
	local run
	case $1 in
	nobody) run=nobody ;;
	nocap) run=nocap ;;
	root) run= ;;
	esac
	case $2 in
	write) $run sh -c "echo x >>'$3'" ;;
	truncate) $run truncate -s 2 "$3" ;;
	otrunc) $run sh -c "echo y >'$3'" ;;
	fallocate) $run fallocate -l 8192 "$3" ;;
	esac
}

n=0
for mode in 4777 2777 6777 2767 4755; do
	for who in nobody nocap root; do
		for op in write truncate otrunc fallocate; do
			# 4755 is not writable by others: the owner writes it.
			owner=0
			[ "$mode" = 4755 ] && [ "$who" = nobody ] && owner=65534
			name=f-$mode-$who-$op
			for dir in "$local" "$mnt"; do
				echo data >"$dir/$name"
				chown "$owner" "$dir/$name"
				chmod "$mode" "$dir/$name"
				change "$who" "$op" "$dir/$name" ||
					fail "$op by $who on $dir/$name ($mode) failed"
			done
			want=$(stat -c %a "$local/$name")
			got=$(stat -c %a "$mnt/$name")
			on_src=$(stat -c %a "$src/$name")
			[ "$got" = "$want" ] ||
				fail "$op by $who of a $mode file: mount shows $got, local disk $want"
			[ "$on_src" = "$want" ] ||
				fail "$op by $who of a $mode file: SOURCE holds $on_src, local disk $want"
			cmp -s "$local/$name" "$mnt/$name" || fail "$name: contents differ from the local disk"
			n=$((n + 1))
		done
	done
done
# The cases that matter must have cleared something, or this test proves
# nothing about clearing.
[ "$(stat -c %a "$local/f-4777-nobody-write")" = 777 ] || fail "local write kept setuid"
[ "$(stat -c %a "$local/f-6777-root-write")" = 6777 ] || fail "local root write cleared the bits"
echo "setuid/setgid: $n cases (write, truncate, O_TRUNC, fallocate by nobody, root without CAP_FSETID, root) as on the local disk"

# The daemon serves other files afterwards.
echo fine >"$mnt/after"
[ "$(cat "$src/after")" = fine ] || fail "daemon not serving after the cases"
dfs_umount "$mnt"
dfs_check_log
echo PASS
