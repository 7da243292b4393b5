#!/usr/bin/env bash
# Description: group commit.  Releases hand their files to one committer
# that fsyncs them in batches.  While the committer is held in the fsync of
# a batch (by a preload shim in the daemon), a cp -r of small files and a
# sync return, the files read back whole, and fsync(2) of another file
# returns with that file durable; once the committer goes on, every file
# ends durable and uncached.  With the commit held, a long copy waits once
# inode_fds files are pending, and the daemon's descriptors stay bounded.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt gate=$T/gate
dfs_mount_held "$src" "$mnt" "$gate"

mkdir -p "$T/batch"
for i in $(seq 40); do head -c $((i * 997)) /dev/urandom >"$T/batch/b$i"; done
echo batch >"$gate" # hold only fsyncs of paths with "batch" in them
timeout 20 cp -r "$T/batch" "$mnt/" || fail "cp -r waited for the held commit"
timeout 20 sync || fail "sync waited for the held commit"
held_some() { [ "$(held)" -ge 1 ]; }
wait_for 10 held_some || fail "no fsync of the batch was held within 10 s"
diff -r "$T/batch" "$src/batch" >/dev/null || fail "the batch differs on SOURCE after cp -r && sync"
pending=0
for i in $(seq 40); do
	[ "$(attr "$mnt/batch/b$i" durable)" -lt $((i * 997)) ] && pending=$((pending + 1))
done
[ "$pending" -ge 1 ] || fail "every file of the batch is durable while its commit is held"
assert_eq "$(attr "$mnt/batch/b1" state)" syncing "state of a held file"

# fsync of another file does not wait for the batch.
head -c 5000 /dev/urandom >"$T/solo"
timeout 10 dd if="$T/solo" of="$mnt/solo" conv=fsync status=none ||
	fail "fsync of another file waited for the held batch"
assert_eq "$(attr "$mnt/solo" durable)" 5000 "solo's durable after its fsync"
echo "held: $(held) fsync(s); $pending of 40 files not yet durable; cp -r, sync and another file's fsync returned"

rm "$gate"
mount_idle() { [ "$(attr "$mnt" state)" = idle ] && [ "$(attr "$mnt" pending)" -eq 0 ]; }
wait_for 20 mount_idle ||
	fail "the mount is not idle 20 s after the committer went on: $(attr "$mnt" state)"
for i in $(seq 40); do
	f=$mnt/batch/b$i
	assert_eq "$(attr "$f" durable)" $((i * 997)) "$f: durable"
	assert_eq "$(attr "$f" state)" idle "$f: state"
done
assert_eq "$(resident "$src"/batch/* "$src/solo")" 0 "pages of the batch and solo resident"
same_file "$T/solo" "$src/solo"
diff -r "$T/batch" "$src/batch" || fail "the batch differs on SOURCE"
echo "after the commit: 40 files durable and uncached"
dfs_umount "$mnt"

# A stalled commit bounds what waits for it: with inode_fds=16, at most 16
# released files hold descriptors; the copy waits instead.
rm -f "$gate.held"
dfs_mount_held "$src" "$mnt" "$gate" -o inode_fds=16
mkdir -p "$T/many"
for i in $(seq 200); do head -c 3000 /dev/urandom >"$T/many/m$i"; done
echo many >"$gate"
cp -r "$T/many" "$mnt/" &
cp_pid=$!
wait_for 10 held_some || fail "no fsync of the copy was held within 10 s"
stays_false 2 "cp -r of 200 files finished while their commits were held" gone "$cp_pid"
fds=$(ls "/proc/$(dfs_pid "$mnt")/fd" | wc -l)
[ "$fds" -le 100 ] || fail "the daemon holds $fds descriptors while the commit is held"
rm "$gate"
wait "$cp_pid" || fail "cp -r failed once the commit went on"
wait_for 20 mount_idle || fail "the mount is not idle 20 s after the committer went on"
for i in $(seq 200); do
	assert_eq "$(attr "$mnt/many/m$i" durable)" 3000 "many/m$i: durable"
done
diff -r "$T/many" "$mnt/many" || fail "the 200 files read back wrong"
echo "a held commit: the copy waited with $fds daemon descriptors; then 200 files durable"
dfs_umount "$mnt"
dfs_check_log
echo PASS
