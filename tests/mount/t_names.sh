#!/usr/bin/env bash
# Description: hostile names and metadata through the mount, each checked
# on SOURCE and against a local directory where the outcome is an errno:
# 255-byte names (256 refused with ENAMETOOLONG), names with newlines and
# non-UTF-8 bytes, a 200-deep tree, symlinks pointing outside SOURCE
# (shown as links, their text intact, never followed by the daemon),
# hard links (one inode), sockets, fifos (data passes), device nodes (made;
# opening them obeys the mount's nodev), and rename with RENAME_WHITEOUT,
# refused with the errno of a local filesystem without whiteouts (EINVAL).
. "$(dirname "$0")/lib.sh"
command -v perl >/dev/null || skip "no perl (for sockets and renameat2)"

src=$T/src mnt=$T/mnt local=$T/local
mkdir -p "$src" "$local"
dfs_mount "$src" "$mnt"

# --- long names ---
n255=$(printf 'n%.0s' $(seq 255))
echo long >"$mnt/$n255" || fail "a 255-byte name"
[ "$(cat "$src/$n255")" = long ] || fail "255-byte name on SOURCE"
m255=$(printf 'm%.0s' $(seq 255))
mv "$mnt/$n255" "$mnt/$m255" || fail "rename to a 255-byte name"
[ -f "$src/$m255" ] && [ ! -e "$src/$n255" ] || fail "255-byte rename on SOURCE"
out=$(touch "$mnt/${n255}x" 2>&1) && fail "a 256-byte name was accepted"
want=$(touch "$local/${n255}x" 2>&1 | sed 's/.*: //' || true)
[ "${out##*: }" = "$want" ] || fail "256-byte name: '$out', local disk: '$want'"
echo "255-byte names: ok; 256: $want"

# --- newlines and bytes that are not UTF-8 ---
for name in $'new\nline' $'\xff\xfe\x80bad' $'tab\there' ' lead' 'trail ' '-dash' '*star?'; do
	printf '%s' "$name" >"$mnt/$name" || fail "create $(printf %q "$name")"
	[ "$(cat "$src/$name")" = "$name" ] || fail "$(printf %q "$name") on SOURCE"
done
diff <(cd "$src" && find . -mindepth 1 -maxdepth 1 -print0 | sort -z | od -c) \
	<(cd "$mnt" && find . -mindepth 1 -maxdepth 1 -print0 | sort -z | od -c) >/dev/null ||
	fail "the mount lists other names than SOURCE"
echo "odd names: ok (newline, non-UTF-8, tab, leading space, dash, glob characters)"

# --- a 200-deep tree ---
deep=$mnt/deep
for _ in $(seq 200); do deep=$deep/d; done
mkdir -p "$deep" || fail "mkdir -p of 200 levels"
echo bottom >"$deep/f"
[ "$(find "$src/deep" -type d | wc -l)" -eq 201 ] || fail "200-deep tree on SOURCE"
[ "$(cat "${deep/$mnt/$src}/f")" = bottom ] || fail "the file at the bottom on SOURCE"
rm -rf "$mnt/deep" || fail "rm -rf of the deep tree"
[ ! -e "$src/deep" ] || fail "deep tree left on SOURCE"
echo "200-deep tree: ok"

# --- symlinks out of SOURCE ---
echo outside >"$T/outside"
ln -s "$T/outside" "$src/abs"
ln -s ../../../../../../../../.. "$src/up"
ln -s "$T" "$src/dirlink"
[ "$(readlink "$mnt/abs")" = "$T/outside" ] || fail "readlink of an absolute link"
[ "$(readlink "$mnt/up")" = ../../../../../../../../.. ] || fail "readlink of ../.."
[ "$(stat -c %F "$mnt/abs")" = "symbolic link" ] || fail "the link is not shown as a link"
# The kernel follows a link the application names, as on a local disk ...
[ "$(cat "$mnt/abs")" = outside ] || fail "reading through an absolute link"
# ... but the daemon never does: an open through the mount of a name whose
# last component is a link it must not resolve gives what O_NOFOLLOW gives.
out=$(perl -e 'use Fcntl; sysopen(my $f, $ARGV[0], O_RDONLY|O_NOFOLLOW) and exit 0; print "$!"; exit 1' "$mnt/abs") &&
	fail "O_NOFOLLOW open of a link succeeded"
lout=$(perl -e 'use Fcntl; sysopen(my $f, $ARGV[0], O_RDONLY|O_NOFOLLOW) and exit 0; print "$!"; exit 1' "$src/abs") || true
[ "$out" = "$lout" ] || fail "O_NOFOLLOW on a link: '$out', on SOURCE: '$lout'"
ln -s "$T/outside" "$mnt/made" && [ "$(readlink "$src/made")" = "$T/outside" ] || fail "symlink made through the mount"
echo "symlinks out of SOURCE: ok (text kept, shown as links, O_NOFOLLOW: $out)"

# --- hard links ---
echo one >"$mnt/h1"
ln "$mnt/h1" "$mnt/h2" || fail "ln"
[ "$(stat -c %i "$mnt/h1")" = "$(stat -c %i "$mnt/h2")" ] || fail "hard links show two inodes"
assert_eq "$(stat -c %h "$mnt/h1")" 2 "link count"
echo two >>"$mnt/h2"
[ "$(cat "$mnt/h1")" = "$(printf 'one\ntwo')" ] || fail "a write through one link not seen through the other"
[ "$(stat -c %i "$src/h1")" = "$(stat -c %i "$src/h2")" ] || fail "not hard links on SOURCE"
rm "$mnt/h1"
[ "$(stat -c %h "$mnt/h2")" -eq 1 ] || fail "link count after rm"
echo "hard links: ok"

# --- sockets, fifos, device nodes ---
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 1) or die "$!\n"' "$mnt/sock" ||
	fail "bind a socket in the mount"
[ "$(stat -c %F "$mnt/sock")" = socket ] && [ "$(stat -c %F "$src/sock")" = socket ] || fail "socket type"
mkfifo "$mnt/fifo"
[ "$(stat -c %F "$src/fifo")" = fifo ] || fail "fifo on SOURCE"
(echo through >"$mnt/fifo") &
fifo_writer=$!
[ "$(timeout 10 cat "$mnt/fifo")" = through ] || fail "data through a fifo in the mount"
wait "$fifo_writer"
mknod "$mnt/null" c 1 3 || fail "mknod"
assert_eq "$(stat -c '%F %t %T' "$src/null")" "character special file 1 3" "device node on SOURCE"
if findmnt -n -o OPTIONS -M "$mnt" | grep -qw nodev; then
	out=$(echo x 2>&1 >"$mnt/null") && fail "a device node opened on a nodev mount"
	grep -q "Permission denied" <<<"$out" || fail "device node on nodev: $out"
	dev="nodev mount: opening it is refused"
else
	echo x >"$mnt/null" || fail "writing to a null device node"
	dev="written"
fi
echo "socket, fifo, device node: ok ($dev)"

# --- RENAME_WHITEOUT ---
case $(uname -m) in
x86_64) nr_renameat2=316 ;;
aarch64) nr_renameat2=276 ;;
*) skip "renameat2's system call number on $(uname -m)" ;;
esac
whiteout() { # DIR: renameat2(a, b, RENAME_WHITEOUT) in DIR; prints the error
	echo w >"$1/wa"
	perl -e 'my $r = syscall($ARGV[0], -100, $ARGV[1], -100, $ARGV[2], 4); print $r == 0 ? "ok" : "$!"' \
		"$nr_renameat2" "$1/wa" "$1/wb"
}
# A local filesystem without whiteouts: tmpfs has them, so ramfs stands in.
mkdir -p "$T/ram"
mount -t ramfs ramfs "$T/ram" || fail "mount ramfs"
LOOP_MNTS=("$T/ram" "${LOOP_MNTS[@]}")
want=$(whiteout "$T/ram")
got=$(whiteout "$mnt")
[ "$got" = "$want" ] || fail "RENAME_WHITEOUT: '$got', a filesystem without whiteouts: '$want'"
[ -f "$src/wa" ] && [ ! -e "$src/wb" ] || fail "a refused whiteout rename moved the file"
echo "RENAME_WHITEOUT: refused ($got), as on a filesystem without whiteouts"

mounted "$mnt" || fail "the daemon went away"
dfs_umount "$mnt"
dfs_check_log
echo PASS
