#!/usr/bin/env bash
# Description: SOURCE on a distributed filesystem: a GlusterFS replica-2
# volume on this machine (its own glusterd, two bricks, the FUSE client),
# as hyperconverged setups run it, where the bricks' page cache is this
# machine's too.  A big file with an unaligned tail and a tree arrive
# intact on both bricks; no page of them stays cached on the client or on
# either brick (a tail is padded and written with O_DIRECT, then the file
# cut to its size: lib/dfs_engine.h, tail), while a buffered copy into the
# volume does leave pages there (the control); each file's own fsync
# reached both bricks before it counted durable (the volume's profile
# counts them); POSIX, OFD and flock locks taken through two directfs
# mounts, each on a client mount of its own, conflict.  glusterd is
# started and stopped here, and the volume removed, even on failure.
. "$(dirname "$0")/lib.sh"
: "${DFS_LOCKER:?}" "${DFS_PROGRESS:?}"

for c in glusterd gluster glusterfs; do
	command -v $c >/dev/null || skip "no $c (Debian: glusterfs-server, glusterfs-client)"
done
# Bricks must be named by an address glusterd takes for its own, and it
# refuses 127.0.0.0/8.  A machine with none gets one on lo for the test
# (from the benchmarking range), taken away at exit.
ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
if [ -z "$ip" ]; then
	ip=198.18.254.1
	ip addr add "$ip/32" dev lo || skip "no IPv4 address other than loopback, and none can be added"
	AT_EXIT+=("ip addr del $ip/32 dev lo")
fi
ss -Htln 'sport = :24007' | grep -q . && skip "port 24007 is taken (another glusterd runs)"

g=$T/gluster vol=dfs$$
mkdir -p "$g/wd" "$g/run" "$g/log" "$g/b1" "$g/b2" "$g/c1" "$g/c2"
cat >"$g/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $g/wd
    option run-directory $g/run
    option glusterd-sockfile $g/run/glusterd.socket
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
gcli() { timeout 120 gluster --mode=script --glusterd-sock="$g/run/glusterd.socket" \
	--log-file="$g/log/cli.log" "$@"; }
# The bricks log where glusterd says, under /var/log/glusterfs: their
# files go with the volume.
brick_logs() { local b; for b in b1 b2; do
	echo "/var/log/glusterfs/bricks/$(echo "${g#/}/$b/brick" | tr / -).log"; done; }
stop_gluster() {
	local c p socks=
	# Each brick's socket, named on its command line (-S), is in
	# /var/run/gluster: it goes too.
	for p in "$g"/run/vols/"$vol"/*.pid "$g"/run/shd/"$vol"/*.pid; do
		[ -s "$p" ] || continue
		socks+=" $(tr '\0' '\n' <"/proc/$(cat "$p")/cmdline" 2>/dev/null | sed -n '/^-S$/{n;p}')"
	done
	for c in c1 c2; do
		findmnt -n -M "$g/$c" >/dev/null && { umount "$g/$c" || umount -l "$g/$c"; }
	done
	gcli volume stop "$vol" force >/dev/null 2>&1
	gcli volume delete "$vol" >/dev/null 2>&1
	for p in "$g"/run/vols/"$vol"/*.pid "$g"/run/shd/"$vol"/*.pid "$g/run/glusterd.pid"; do
		[ -s "$p" ] || continue
		kill "$(cat "$p")" 2>/dev/null
		wait_for 10 gone "$(cat "$p")" || kill -KILL "$(cat "$p")" 2>/dev/null
	done
	rm -f $(brick_logs) $socks
}
AT_EXIT=("stop_gluster" "${AT_EXIT[@]}") # before the address goes
glusterd -f "$g/glusterd.vol" -p "$g/run/glusterd.pid" -l "$g/log/glusterd.log" ||
	fail "glusterd did not start: $(tail -5 "$g/log/glusterd.log")"
wait_for 20 test -S "$g/run/glusterd.socket" || fail "glusterd made no socket"
gcli volume create "$vol" replica 2 "$ip:$g/b1/brick" "$ip:$g/b2/brick" force >/dev/null ||
	fail "volume create: $(tail -5 "$g/log/cli.log")"
# No self-heal daemon (one process fewer to stop); no quick-read, which
# reads every file of up to 64 KiB into its cache at lookup, through the
# bricks' page cache: a read cache of the volume's own, not what directfs
# writes (README: SOURCE on a shared filesystem).
gcli volume set "$vol" cluster.self-heal-daemon off >/dev/null
gcli volume set "$vol" performance.quick-read off >/dev/null
gcli volume start "$vol" >/dev/null || fail "volume start: $(tail -5 "$g/log/glusterd.log")"
gcli volume profile "$vol" start >/dev/null
for c in c1 c2; do
	glusterfs --volfile-server="$ip" --volfile-id="$vol" -l "$g/log/$c.log" "$g/$c" ||
		fail "glusterfs client $c: $(tail -5 "$g/log/$c.log")"
	wait_for 20 findmnt -n -M "$g/$c" -t fuse.glusterfs ||
		fail "the volume is not mounted at $g/$c"
done
mkdir "$g/c1/src"
m1=$T/m1 m2=$T/m2 data=$T/data
mkdir -p "$data"
dfs_mount "$g/c1/src" "$m1"
dfs_mount "$g/c2/src" "$m2"

# FSYNC requests each brick has answered, from the volume's profile.
fsyncs() { # BRICK (b1 or b2)
	gcli volume profile "$vol" info cumulative |
		awk -v b="$ip:$g/$1/brick" '/^Brick:/ { on = $2 == b } on && $NF == "FSYNC" { n = $(NF-1) } END { print n + 0 }'
}
pages_everywhere() { # PATH below SOURCE: pages of it on the clients and both bricks
	local p=$1
	resident "$m1/$p" "$g/c1/src/$p" "$g/c2/src/$p" "$g/b1/brick/src/$p" "$g/b2/brick/src/$p"
}

# --- a big file with an unaligned tail ---
head -c $((72 << 20)) /dev/urandom >"$data/big"
head -c 4567 /dev/urandom >>"$data/big"
s1=$(fsyncs b1) s2=$(fsyncs b2)
cp "$data/big" "$m1/big"
dfs_settled "$m1"
assert_eq "$(attr "$m1/big" durable)" $(((72 << 20) + 4567)) "big: durable"
assert_eq "$(pages_everywhere big)" 0 "big: pages on the client and the bricks"
[ "$(fsyncs b1)" -gt "$s1" ] && [ "$(fsyncs b2)" -gt "$s2" ] ||
	fail "big: no fsync reached both bricks (b1 $s1 -> $(fsyncs b1), b2 $s2 -> $(fsyncs b2))"
same_file "$data/big" "$g/b1/brick/src/big"
same_file "$data/big" "$g/b2/brick/src/big"
echo "big file: ok (72 MiB + 4567 B on both bricks, 0 pages, fsynced on both)"

# --- a tree: every file intact on both bricks, uncached, fsynced ---
mkdir -p "$data/tree/a" "$data/tree/b"
for i in $(seq 30); do head -c $((i * 2500 + 7)) /dev/urandom >"$data/tree/a/f$i"; done
for i in $(seq 10); do head -c $((i * 40000)) /dev/urandom >"$data/tree/b/g$i"; done
: >"$data/tree/b/empty"
ln -s ../a/f1 "$data/tree/b/link"
s1=$(fsyncs b1) s2=$(fsyncs b2)
cp -a "$data/tree" "$m1/tree"
dfs_settled "$m1"
n=0
for f in $(cd "$data" && find tree -type f); do
	n=$((n + $(pages_everywhere "$f")))
	[ -s "$data/$f" ] || continue
	assert_eq "$(attr "$m1/$f" durable)" "$(stat -c %s "$data/$f")" "$f: durable"
done
assert_eq "$n" 0 "tree: pages on the client and the bricks"
for b in b1 b2; do
	diff -r "$data/tree" "$g/$b/brick/src/tree" || fail "the tree on brick $b differs"
	[ "$(readlink "$g/$b/brick/src/tree/b/link")" = ../a/f1 ] || fail "symlink on brick $b"
done
echo 1 >/proc/sys/vm/drop_caches # what diff read
# 40 files with bytes, each fsynced on its own (no syncfs on FUSE).
d1=$(($(fsyncs b1) - s1)) d2=$(($(fsyncs b2) - s2))
[ $d1 -ge 40 ] && [ $d2 -ge 40 ] || fail "tree: $d1 and $d2 fsyncs reached the bricks for 40 files"
assert_eq "$(attr "$m1" fallback_files)" 0 "fallback files"
"$DFS_PROGRESS" --verify "$data/tree" "$m1/tree" >"$T/v.out" 2>&1 || fail "--verify tree: $(cat "$T/v.out")"
assert_eq "$(pages_everywhere tree/a/f9)" 0 "--verify: pages left"
echo "tree: ok (41 files and a symlink on both bricks, 0 pages, $d1 and $d2 fsyncs)"

# The control: a buffered copy straight into the volume leaves pages on
# the bricks, so the zeros above could have failed.
cp "$data/tree/b/g10" "$g/c1/src/control"
sync
control=$(resident "$g/b1/brick/src/control" "$g/b2/brick/src/control")
[ "$control" -gt 0 ] || fail "control: a buffered copy into the volume left no pages on the bricks"
echo "control: a buffered copy left $control pages on the bricks"

# --- locks through two directfs mounts, on two clients of the volume ---
L=$DFS_LOCKER
echo x >"$m1/lk"
for k in posix ofd flock; do
	rm -f "$T/ready"
	"$L" hold $k w "$m1/lk" "$T/ready" &
	hp=$!
	wait_for 10 test -e "$T/ready" || fail "$k: the holder did not lock"
	assert_eq "$("$L" try $k w "$m2/lk" || :)" busy "$k: a write lock through the other mount"
	assert_eq "$("$L" try $k r "$m2/lk" || :)" busy "$k: a read lock through the other mount"
	kill $hp
	wait $hp 2>/dev/null || :
	wait_for 10 eval '[ "$("$L" try '$k' w "$m2/lk")" = locked ]' ||
		fail "$k: the lock did not end with its holder"
done
echo "locks: ok (POSIX, OFD and flock conflict across the two mounts, and end with the holder)"

dfs_umount "$m2"
dfs_umount "$m1"
dfs_check_log
echo PASS
