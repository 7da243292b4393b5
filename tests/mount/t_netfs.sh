#!/usr/bin/env bash
# Description: SOURCE on a network filesystem.  sshfs (SFTP over TCP on
# 127.0.0.1, to an sftp-server behind socat: no ssh, no keys) is a FUSE
# network filesystem that takes O_DIRECT and reports no DIO alignment.
# (no_contain_symlinks: sshfs refuses to read a link with ".." in it
# otherwise; cp -r, not -a: SFTP's setstat follows a link, so sshfs cannot
# chown one whose target is not there yet.)
# A big file (more than the staging cap) with an unaligned tail and a tree with a symlink arrive
# intact on the server; nothing stays cached on the client (sshfs mounted
# with kernel_cache, so a buffered read does leave pages: the control);
# no file falls back to buffered writes; every file gets its own fsync
# on the server (syncfs on FUSE reaches no server, so group commit must
# not stand in for it); --verify reads both back over the network; random
# operations match a local reference.
. "$(dirname "$0")/lib.sh"
: "${DFS_VERIFY:?}" "${DFS_PROGRESS:?}"

sftp=
for p in /usr/lib/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; do
	[ -x "$p" ] && sftp=$p && break
done
command -v sshfs >/dev/null || skip "no sshfs"
command -v socat >/dev/null || skip "no socat"
[ -n "$sftp" ] || skip "no sftp-server (openssh-sftp-server)"

server=$T/server net=$T/net mnt=$T/mnt data=$T/data
mkdir -p "$server/src" "$net" "$data"
# The server: sftp-server per connection on a free port, logging each
# request (DEBUG1 names every fsync) to a file.
listening() { ss -Htln "sport = :$1" | grep -q .; } # PORT
listening_or_gone() { listening "$1" || gone "$2"; } # PORT PID
port=
for _ in $(seq 20); do
	p=$((20000 + RANDOM % 40000))
	ss -Htln "sport = :$p" | grep -q . && continue
	socat "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork" \
		EXEC:"$sftp -e -l DEBUG1" 2>>"$T/sftp.log" &
	spid=$!
	wait_for 2.5 listening_or_gone "$p" "$spid" || :
	if listening "$p"; then port=$p; break; fi
	kill $spid 2>/dev/null || true
done
[ -n "$port" ] || fail "socat did not listen on any port"
# Stop the server at exit, and unmount the client once directfs is down.
AT_EXIT+=("kill $spid 2>/dev/null; wait $spid 2>/dev/null")
sshfs -o "directport=$port,kernel_cache,no_contain_symlinks" "127.0.0.1:$server" "$net" ||
	fail "sshfs could not mount the server"
AT_EXIT=("fusermount3 -u '$net' 2>/dev/null || fusermount3 -uz '$net'" "${AT_EXIT[@]}")
findmnt -n -M "$net" -t fuse.sshfs >/dev/null || fail "sshfs is not mounted at $net"
dfs_mount "$net/src" "$mnt"
fsyncs() { grep -c "fsync \"$server/src/$1" "$T/sftp.log" || true; }

# --- a big file with an unaligned tail ---
head -c $((72 << 20)) /dev/urandom >"$data/big"
head -c 4567 /dev/urandom >>"$data/big"
before=$(fsyncs big)
cp "$data/big" "$mnt/big"
dfs_settled "$mnt"
same_file "$data/big" "$server/src/big"
assert_eq "$(attr "$mnt/big" durable)" $(((72 << 20) + 4567)) "big: durable"
assert_eq "$(resident "$net/src/big")" 0 "big: pages cached on the client"
[ $(($(fsyncs big) - before)) -ge 1 ] || fail "big: no fsync reached the server"
# The control: a buffered read through sshfs leaves pages, so the 0 above
# could have failed.
cat "$net/src/big" >/dev/null
control=$(resident "$net/src/big")
[ "$control" -gt 0 ] || fail "control: a buffered read through sshfs left no pages; the check above proves nothing"
echo 1 >/proc/sys/vm/drop_caches
echo "big file: ok (72 MiB + 4567 B intact on the server, 0 pages on the client; a buffered read left $control)"

# --- a tree: every file intact, uncached, and fsynced on its own ---
mkdir -p "$data/tree/a" "$data/tree/b"
for i in $(seq 30); do head -c $((i * 2500 + 7)) /dev/urandom >"$data/tree/a/f$i"; done
for i in $(seq 10); do head -c $((i * 40000)) /dev/urandom >"$data/tree/b/g$i"; done
ln -s ../a/f1 "$data/tree/b/link"
cp -r "$data/tree" "$mnt/tree"
dfs_settled "$mnt"
diff -r "$data/tree" "$server/src/tree" || fail "the tree on the server differs"
[ "$(readlink "$server/src/tree/b/link")" = ../a/f1 ] || fail "symlink on the server"
n=$(resident $(find "$net/src/tree" -type f))
[ "$n" -eq 0 ] || fail "tree: $n pages cached on the client"
got=$(fsyncs tree/)
[ "$got" -ge 40 ] || fail "tree: $got fsyncs reached the server for 40 files (a syncfs stood in for them?)"
for f in $(cd "$mnt" && find tree -type f); do
	st=$(attr "$mnt/$f" state)
	[ "$st" = idle ] || fail "$f: state $st (fallback or not durable)"
done
assert_eq "$(attr "$mnt" fallback_files)" 0 "fallback files"
grep -qi "fallback\|refused O_DIRECT" "$DFS_LOG" && fail "the daemon fell back: $(cat "$DFS_LOG")"
echo "tree: ok (40 files and a symlink intact, 0 pages cached, $got fsyncs on the server, none in fallback)"
# sshfs keeps no user xattrs: the copies went on without checksum tags,
# and the log said so once.
assert_eq "$(grep -c 'SOURCE keeps no user xattrs' "$DFS_LOG")" 1 "log lines about the missing tags"

# --- --verify reads both back over the network ---
"$DFS_PROGRESS" --verify "$data/big" "$mnt/big" >"$T/v.out" 2>&1 || fail "--verify big: $(cat "$T/v.out")"
"$DFS_PROGRESS" --verify "$data/tree" "$mnt/tree" >"$T/v.out" 2>&1 || fail "--verify tree: $(cat "$T/v.out")"
printf 'Q' | dd of="$server/src/tree/a/f9" bs=1 seek=100 conv=notrunc status=none
rc=0
"$DFS_PROGRESS" --verify "$data/tree" "$mnt/tree" >"$T/v.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "$mnt/tree/a/f9 differs from $data/tree/a/f9 at offset 100" "$T/v.out" ||
	fail "--verify after a change on the server: exit $rc, $(cat "$T/v.out")"
[ "$(resident "$net/src/big")" -eq 0 ] || fail "--verify left pages on the client"
echo "--verify: ok (a change made on the server is found)"

# --- random operations against a local reference ---
for s in 1 2; do
	VERIFY_NO_FALLOCATE=1 "$DFS_VERIFY" "$mnt/r$s" "$T/ref$s" $s 400 $((4 << 20)) "$net/src/r$s" ||
		fail "random operations, seed $s"
	same_file "$T/ref$s" "$server/src/r$s"
done
echo "random operations: ok (2 seeds x 400)"

dfs_umount "$mnt"
dfs_check_log "SOURCE keeps no user xattrs"
echo PASS
