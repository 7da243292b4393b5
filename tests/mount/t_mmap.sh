#!/usr/bin/env bash
# Description: memory mappings of files in the mount.  Private mappings
# work (the mapping shows the file's bytes; a change to it stays private).
# Shared mappings work where the kernel and libfuse allow them on FUSE
# direct I/O files (FUSE_DIRECT_IO_ALLOW_MMAP, libfuse 3.17 and later):
# coherent with read(2) and write(2) through the mount and with data the
# daemon staged, across processes, through msync and truncates; no page of
# the file left cached after the last close and munmap, neither on SOURCE
# nor in the mount's own inode; sqlite in WAL mode (200,000 rows,
# integrity_check) and LMDB work.  Elsewhere they fail with ENODEV,
# exactly, the daemon says so once in its log at mount, and it keeps
# serving the file; sqlite's WAL mode and LMDB then fail as documented.
# The kernel is told to drop a file's pages only after a mapping read it,
# and then they go; a stream through a mapping of a file nobody writes
# keeps only its last tens of MiB.
. "$(dirname "$0")/lib.sh"
: "${DFS_MAPCHECK:?DFS_MAPCHECK must name the mapcheck helper}"

src=$T/src mnt=$T/mnt
# No page of any of the files (on SOURCE) in the page cache.
uncached() {
	local n
	n=$(resident "$@")
	[ "$n" -eq 0 ] || fail "$n pages of $* resident"
}
# The page cache's size in KiB (Cached), and how far it has grown since
# a size taken before, in MiB.
cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
grown_mib() { echo $((($(cached_kib) - $1) / 1024)); }
# The page cache is back within 8 MiB of $c0 (KiB, from map_read).
given_back() { [ "$(grown_mib "$c0")" -lt 8 ]; }
# Map FILE (MAP_SHARED or MAP_PRIVATE) and read every page of it, then
# unmap and close: prints how much of the file was cached while mapped
# (MiB) and the page cache's size before (KiB).  The first by cachestat(2)
# on the mapping's own descriptor, so that other programs' files do not
# count; where the kernel lacks it (before 6.5), by the page cache's growth.
map_read() { # FLAG FILE
	local c0=$(cached_kib) out
	out=$(/usr/bin/python3 - "$1" "$2" "$c0" <<-'EOF'
		import ctypes, mmap, os, sys
		u64 = ctypes.c_uint64
		class Range(ctypes.Structure): _fields_ = [("off", u64), ("len", u64)]
		class Stat(ctypes.Structure): _fields_ = [(n, u64) for n in ("cache", "dirty", "writeback", "evicted", "recent")]
		libc = ctypes.CDLL(None, use_errno=True)
		fd = os.open(sys.argv[2], os.O_RDONLY)
		m = mmap.mmap(fd, 0, getattr(mmap, sys.argv[1]), mmap.PROT_READ)
		sum(m[i] for i in range(0, len(m), 4096))
		st = Stat()
		if libc.syscall(451, fd, ctypes.byref(Range(0, 0)), ctypes.byref(st), 0) == 0:
		    print(st.cache * os.sysconf("SC_PAGESIZE") // (1 << 20))
		else:
		    kib = int([l for l in open('/proc/meminfo') if l.startswith('Cached:')][0].split()[1])
		    print((kib - int(sys.argv[3])) // 1024)
		m.close(); os.close(fd)
	EOF
	) || fail "mapping $2 ($1): $out"
	echo "$out" "$c0"
}
dfs_mount "$src" "$mnt"
head -c 20000 /dev/urandom >"$T/data"
cp "$T/data" "$mnt/f"

out=$("$DFS_MAPCHECK" private "$mnt/f") || fail "private mapping: $out"
cmp -s "$T/data" "$src/f" || fail "a private mapping's change reached SOURCE"

if grep -q "shared mappings (mmap MAP_SHARED) of files in the mount get ENODEV" "$DFS_LOG"; then
	rc=0
	out=$("$DFS_MAPCHECK" shared "$mnt/f") || rc=$?
	[ "$rc" -eq 2 ] && [ "$out" = ENODEV ] || fail "shared mapping: want ENODEV, got $out (status $rc)"
	[ "$(grep -c "get ENODEV" "$DFS_LOG")" -eq 1 ] || fail "the ENODEV notice is not in the log exactly once"
	cmp -s "$T/data" "$mnt/f" || fail "the file changed after the refused mapping"
	echo "mmap: private ok; shared refused with ENODEV, as the log says ($(grep -o 'lib[a-z]* [0-9.]* has no[^(]*' "$DFS_LOG" | head -1))"
	# sqlite in WAL mode and LMDB map their files shared.
	out=$(sqlite3 "$mnt/wal.db" 'PRAGMA journal_mode=WAL; CREATE TABLE t(a);' 2>&1) &&
		fail "sqlite WAL without shared mappings: $out"
	grep -q "disk I/O error" <<<"$out" || fail "sqlite WAL: want 'disk I/O error', got: $out"
	out=$(/usr/bin/python3 -c "import lmdb; lmdb.open('$mnt/lmdb', map_size=1 << 24)" 2>&1) &&
		fail "LMDB opened without shared mappings"
	echo "mmap: sqlite WAL fails with 'disk I/O error', LMDB with: $(tail -n 1 <<<"$out")"
else
	out=$("$DFS_MAPCHECK" shared "$mnt/f") || fail "shared mapping: $out"
	[ "$(head -c 1 "$src/f")" = "#" ] || fail "a shared mapping's change did not reach SOURCE"
	# Coherence, with staged data, two processes, msync and truncates.
	head -c 20000 /dev/urandom >"$mnt/c"
	out=$("$DFS_MAPCHECK" coherent "$mnt/c" "$T/c.want") || fail "coherence: $out"
	cmp -s "$T/c.want" "$mnt/c" || fail "coherence: the mount's bytes differ"
	dfs_settled "$mnt"
	uncached "$src/c"
	cmp -s "$T/c.want" "$src/c" || fail "coherence: SOURCE's bytes differ"

	# No page left in the mount's own inode after the last close and
	# munmap: the page cache grows by the file's size while a reader
	# still holds it (32 MiB: under what a stream keeps, see below), and
	# gives it back once it is gone.
	dd if=/dev/urandom of="$mnt/big" bs=1M count=32 status=none
	dfs_settled "$mnt"
	r=$(map_read MAP_SHARED "$mnt/big") || exit 1
	read -r while_mapped c0 <<<"$r"
	[ "$while_mapped" -ge 24 ] ||
		fail "the check cannot see the mount's pages: only $while_mapped MiB cached while mapped"
	wait_for 10 given_back ||
		fail "$(grown_mib "$c0") MiB of the mount's inode still cached 10 s after the last close"
	after=$(grown_mib "$c0")
	uncached "$src/big"
	rm "$mnt/big"

	# sqlite in WAL mode: 200,000 rows in 20 transactions.
	{
		echo "PRAGMA journal_mode=WAL; CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c INTEGER); CREATE INDEX tc ON t(c);"
		for i in $(seq 20); do
			echo "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000) INSERT INTO t(b, c) SELECT randomblob(40), abs(random()) % 1000 FROM n; COMMIT;"
		done
	} >"$T/wal.sql"
	out=$(sqlite3 "$mnt/wal.db" <"$T/wal.sql" 2>&1) || fail "sqlite WAL: $out"
	out=$(sqlite3 "$mnt/wal.db" 'PRAGMA integrity_check; SELECT count(*) FROM t;' | tr '\n' ' ')
	[ "$out" = "ok 200000 " ] || fail "sqlite WAL: integrity_check and count say: $out"
	dfs_settled "$mnt"
	uncached "$src"/wal.db*
	out=$(sqlite3 "$src/wal.db" 'PRAGMA integrity_check; SELECT count(*) FROM t;' | tr '\n' ' ')
	[ "$out" = "ok 200000 " ] || fail "sqlite WAL on SOURCE: $out"

	# LMDB: 10,000 keys written, read back by a second process.
	/usr/bin/python3 - "$mnt/lmdb" <<-'EOF' || fail "LMDB write"
		import lmdb, sys
		env = lmdb.open(sys.argv[1], map_size=1 << 26)
		with env.begin(write=True) as t:
		    for i in range(10000):
		        t.put(b'k%d' % i, b'v%d' % (i * 7))
		env.close()
	EOF
	/usr/bin/python3 - "$mnt/lmdb" <<-'EOF' || fail "LMDB read back"
		import lmdb, sys
		env = lmdb.open(sys.argv[1], map_size=1 << 26, readonly=True)
		with env.begin() as t:
		    assert all(t.get(b'k%d' % i) == b'v%d' % (i * 7) for i in range(10000))
		env.close()
	EOF
	dfs_settled "$mnt"
	uncached "$src/lmdb/data.mdb"
	echo "mmap: private and shared mappings work: coherent, uncached after close ($while_mapped MiB while mapped, $after after), sqlite WAL 200,000 rows ok, LMDB 10,000 keys ok"
fi
echo still >"$mnt/g"
[ "$(cat "$src/g")" = still ] || fail "daemon not serving after the mappings"
dfs_umount "$mnt"
dfs_check_log

# The daemon tells the kernel to drop a file's pages (libfuse's debug log
# shows each notice) only after a mapping has read it: the kernel takes a
# notice as a change of the file and drops the answer of a getattr it is
# waiting for, so that a permission check in flight would go by the mode
# it held before.  A file only read and written through the mount gets
# none; one read through a private mapping gets one, and its pages go.
DFS_LOG=$T/debug.log # the debug log has error replies in it
dfs_mount "$src" "$mnt" -d
notices() { grep -c '^NOTIFY: code=2 ' "$DFS_LOG" || true; }
dd if=/dev/urandom of="$mnt/n" bs=1M count=32 status=none
cat "$mnt/n" >/dev/null
echo more >>"$mnt/n"
dfs_settled "$mnt"
noticed() { [ "$(notices)" -ne 0 ]; }
# A notice would come after the session is durable, which it now is.
stays_false 0.5 "a notice for a file no mapping read" noticed
r=$(map_read MAP_PRIVATE "$mnt/n") || exit 1
read -r held c0 <<<"$r"
[ "$held" -ge 24 ] || fail "the check cannot see the mount's pages: only $held MiB cached while mapped"
wait_for 5 noticed || fail "no notice within 5 s of one mapping's session"
assert_eq "$(notices)" 1 "notices after one mapping's session"
wait_for 10 given_back ||
	fail "$(grown_mib "$c0") MiB of the mount's inode still cached 10 s after a private mapping"
after=$(grown_mib "$c0")
echo "mmap: a notice only after a mapping read the file ($held MiB cached while mapped, $after after)"

# A stream through a mapping of a file nobody writes (or a splice: cp
# from another directfs mount) keeps at most the last 40 MiB or so: the
# daemon has the pages behind it dropped as it goes.
dd if=/dev/urandom of="$mnt/s" bs=1M count=192 status=none
dfs_settled "$mnt"
r=$(map_read MAP_PRIVATE "$mnt/s") || exit 1
read -r held c0 <<<"$r"
[ "$held" -le 64 ] || fail "a 192 MiB stream through a mapping: $held MiB cached at its end"
echo "mmap: a 192 MiB stream through a mapping: $held MiB cached at its end"
dfs_umount "$mnt"
echo PASS
