#!/usr/bin/env bash
# Description: a multi-user mount (-o allow_other) behaves like the local
# disk.  New files and directories belong to the caller on SOURCE, with
# setgid directories and supplementary groups honoured; a user cannot open
# another user's 0600 file; sticky directories stop rename and unlink of
# others' files; symlinks grant nothing.  Users are switched with setpriv.
# Other users must reach the scratch directory, wherever the build tree is.
DFS_TEST_DIR=/var/tmp
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || skip "no setpriv"

src=$T/src mnt=$T/mnt
mkdir -p "$src"
chmod 755 "$src"
dfs_mount "$src" "$mnt" -o allow_other

as() { # UID [GROUPS] -- CMD...: run as UID with GID=UID
	local uid=$1 groups=--clear-groups
	shift
	if [ "$1" != -- ]; then groups=--groups=$1; shift; fi
	shift
	setpriv --reuid="$uid" --regid="$uid" "$groups" -- "$@"
}
denied() { # what CMD...: must fail with "Permission denied" or "not permitted"
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$what: succeeded"; fi
	case $out in
	*"Permission denied"* | *"not permitted"*) ;;
	*) fail "$what: failed, but with: $out" ;;
	esac
}
owner() { stat -c %u:%g "$1"; }

mkdir "$mnt/pub"
chmod 1777 "$mnt/pub"
[ "$(stat -c %a "$src/pub")" = 1777 ] || fail "chmod 1777"

# Created as the caller.
as 65534 -- sh -c "echo hi >'$mnt/pub/n.txt'"
as 65534 -- mkdir "$mnt/pub/ndir"
as 65534 -- ln -s n.txt "$mnt/pub/nlink"
as 65534 -- mkfifo "$mnt/pub/nfifo"
assert_eq "$(owner "$src/pub/n.txt")" 65534:65534 "file owner on SOURCE"
assert_eq "$(owner "$src/pub/ndir")" 65534:65534 "directory owner"
[ "$(stat -c %u:%g "$src/pub/nlink")" = 65534:65534 ] || fail "symlink owner"
[ "$(owner "$src/pub/nfifo")" = 65534:65534 ] || fail "fifo owner"
[ "$(cat "$src/pub/n.txt")" = hi ] || fail "content"
echo "owned by the caller: ok"

# umask is the caller's, applied once.
as 65534 -- sh -c "umask 027; echo x >'$mnt/pub/masked'; mkdir '$mnt/pub/maskdir'"
assert_eq "$(stat -c %a "$src/pub/masked")" 640 "umask on file"
assert_eq "$(stat -c %a "$src/pub/maskdir")" 750 "umask on dir"
echo "umask: ok"

# Another user's 0600 file, and root's.
as 1000 -- sh -c "echo mine >'$mnt/pub/private'; chmod 600 '$mnt/pub/private'"
[ "$(owner "$src/pub/private")" = 1000:1000 ] || fail "owner 1000"
denied "read another user's 0600 file" as 65534 -- cat "$mnt/pub/private"
denied "write another user's 0600 file" as 65534 -- sh -c "echo x >>'$mnt/pub/private'"
echo secret >"$mnt/rootfile"
chmod 600 "$mnt/rootfile"
denied "read root's 0600 file" as 65534 -- cat "$mnt/rootfile"
[ "$(as 1000 -- cat "$mnt/pub/private")" = mine ] || fail "owner reads own file"
denied "chmod another user's file" as 65534 -- chmod 666 "$mnt/pub/private"
denied "chown to another user" as 65534 -- chown 65534 "$mnt/pub/private"
denied "create in root's 0755 directory" as 65534 -- touch "$mnt/nope"
[ ! -e "$src/nope" ] || fail "file created despite EACCES"
echo "0600 and 0755: ok"

# Sticky directory: others cannot remove or rename my file.
denied "unlink in a sticky directory" as 65534 -- rm -f "$mnt/pub/private"
denied "rename in a sticky directory" as 65534 -- mv "$mnt/pub/private" "$mnt/pub/stolen"
denied "rename over in a sticky directory" as 65534 -- mv "$mnt/pub/n.txt" "$mnt/pub/private"
[ -f "$src/pub/private" ] && [ ! -e "$src/pub/stolen" ] || fail "sticky: file moved"
as 65534 -- rm "$mnt/pub/n.txt"
[ ! -e "$src/pub/n.txt" ] || fail "owner could not unlink"
echo "sticky directory: ok"

# setgid directory and supplementary groups.
mkdir "$mnt/sg"
chgrp 4321 "$mnt/sg"
chmod 2777 "$mnt/sg"
as 65534 -- touch "$mnt/sg/f"
assert_eq "$(owner "$src/sg/f")" 65534:4321 "setgid directory"
mkdir "$mnt/team"
chgrp 4321 "$mnt/team"
chmod 0770 "$mnt/team"
as 65534 4321 -- touch "$mnt/team/ok"
assert_eq "$(owner "$src/team/ok")" 65534:65534 "group member create"
denied "create without the group" as 65534 -- touch "$mnt/team/no"
echo "setgid and supplementary groups: ok"

# A symlink pointing out of SOURCE gives nothing the user lacks.
ln -s /etc/shadow "$src/pub/shadow"
denied "read /etc/shadow through a symlink" as 65534 -- cat "$mnt/pub/shadow"
echo "symlinks: ok"

dfs_umount "$mnt"
dfs_check_log
echo PASS
