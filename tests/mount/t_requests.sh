#!/usr/bin/env bash
# Description: requests as large as -o request_size and the kernel's
# /proc/sys/fs/fuse/max_pages_limit allow, with every libfuse (the daemon
# reads /dev/fuse itself after INIT).  With the limit at 256 pages an 8M
# wish gets 1 MiB requests and a notice saying what to raise; raised to
# 2048 pages, writes and reads of 8 MiB arrive whole (-d traces them),
# st_blksize says so, and unaligned, sparse and appending writes of that
# size land byte for byte as on a local disk, with nothing cached.
# -o io_uring where libfuse has it (its -h lists it; else it refuses the
# option): with the kernel's enable_uring off, a notice and /dev/fuse;
# on, the requests come over the ring (-d marks them), bytes intact.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt ref=$T/ref
mkdir -p "$src" "$mnt" "$ref"
head -c $((48 << 20)) /dev/urandom >"$T/data"

# The sizes of the write (or read) requests the daemon traced since mark.
sizes() { # write|read
	tail -c +$((mark + 1)) "$DFS_LOG" | sed -n "s/.* $1 ino=.* size=\([0-9]*\).*/\1/p" | sort -n | uniq -c
}
largest() { sizes "$1" | awk 'END { print $2 + 0 }'; }

# The same steps on the mount and on a local directory.
steps() { # DIR
	dd if="$T/data" of="$1/seq" bs=8M status=none
	dd if="$T/data" of="$1/odd" bs=8M seek=4097 oflag=seek_bytes conv=notrunc status=none
	dd if="$T/data" of="$1/sparse" bs=8M count=2 seek=100 status=none
	dd if="$T/data" of="$1/app" bs=8M count=1 status=none
	dd if="$T/data" of="$1/app" bs=8M count=2 oflag=append conv=notrunc status=none
}
compare() { # DIR: the mount (before unmounting) or SOURCE (after)
	local f
	for f in seq odd sparse app; do
		[ "$1" = "$mnt" ] || [ "$(fincore -nb -o RES "$1/$f" | awk '{print $1}')" = 0 ] ||
			fail "$f: pages resident on SOURCE"
		cmp "$ref/$f" "$1/$f" || fail "$1/$f differs from the local disk"
		[ "$(stat -c %s "$1/$f")" = "$(stat -c %s "$ref/$f")" ] || fail "$1/$f: size differs"
	done
}
steps "$ref"

# --- the kernel's default limit: the wish is cut to 1 MiB, with a word ---
lim=/proc/sys/fs/fuse/max_pages_limit
dfs_sysctl $lim 256
mark=$(stat -c %s "$DFS_LOG")
dfs_mount "$src" "$mnt" -d -o request_size=8M
grep -q "requests of up to 1024 KiB, not 8192 KiB: .*max_pages_limit allows 256 pages" "$DFS_LOG" ||
	fail "no notice that the kernel cut the requests"
steps "$mnt"
assert_eq "$(largest write)" 1048576 "limit 256: largest write"
assert_eq "$(stat -c %o "$mnt/seq")" 1048576 "limit 256: st_blksize"
compare "$mnt"
dfs_umount "$mnt" || fail "daemon exit status $?"
compare "$src"
rm -f "$src"/*
echo "limit 256, request_size=8M: 1 MiB requests, notice logged, bytes as on ext4"

# --- raised: 8 MiB arrives whole, reads too ---
dfs_sysctl $lim 2048
mark=$(stat -c %s "$DFS_LOG")
dfs_mount "$src" "$mnt" -d -o request_size=8M
grep -q "requests up to 8192 KiB" "$DFS_LOG" || fail "the daemon did not ask for 8 MiB"
steps "$mnt"
echo "writes: $(sizes write | tr '\n' ' ')"
assert_eq "$(largest write)" 8388608 "limit 2048: largest write"
assert_eq "$(stat -c %o "$mnt/seq")" 8388608 "limit 2048: st_blksize"
mark=$(stat -c %s "$DFS_LOG")
dd if="$mnt/seq" of="$T/back" bs=8M iflag=direct status=none
cmp "$T/data" "$T/back" || fail "read back in 8 MiB requests differs"
assert_eq "$(largest read)" 8388608 "limit 2048: largest read"
compare "$mnt"
dfs_umount "$mnt" || fail "daemon exit status $?"
compare "$src"
rm -f "$src"/*
echo "limit 2048, request_size=8M: 8 MiB writes and reads, bytes as on ext4, 0 pages resident"

# --- raised, but no wish: the default stays 1 MiB ---
mark=$(stat -c %s "$DFS_LOG")
dfs_mount "$src" "$mnt" -d
dd if="$T/data" of="$mnt/seq" bs=8M status=none
assert_eq "$(largest write)" 1048576 "default: largest write"
dfs_umount "$mnt" || fail "daemon exit status $?"
cmp "$T/data" "$src/seq" || fail "default: SOURCE differs"
echo "limit 2048, default: 1 MiB requests"
# --- FUSE over io_uring ---
uring=/sys/module/fuse/parameters/enable_uring
if ! "$DFS_BIN" -h 2>&1 | grep -q -- '-o io_uring'; then
	out=$(timeout 20 "$DFS_BIN" -f -o io_uring "$src" "$mnt" 2>&1) && fail "-o io_uring: accepted by a libfuse without it"
	grep -q "unknown option" <<<"$out" || fail "-o io_uring: '$out'"
	echo "io_uring: this libfuse has none, and refuses the option"
else
	dfs_sysctl $uring N
	mark=$(stat -c %s "$DFS_LOG")
	dfs_mount "$src" "$mnt" -d -o io_uring
	grep -q "io_uring asked for, but this kernel offers none" "$DFS_LOG" || fail "no notice with enable_uring=N"
	dd if="$T/data" of="$mnt/ring" bs=1M status=none
	[ "$(sizes write | awk '{n += $1} END {print n + 0}')" -gt 0 ] || fail "no writes traced"
	tail -c +$((mark + 1)) "$DFS_LOG" | grep -q "trace: .* io_uring$" && fail "enable_uring=N, yet requests came over io_uring"
	dfs_umount "$mnt" || fail "daemon exit status $?"
	cmp "$T/data" "$src/ring" || fail "io_uring off: SOURCE differs"
	dfs_sysctl $uring Y
	mark=$(stat -c %s "$DFS_LOG")
	dfs_mount "$src" "$mnt" -d -o io_uring
	dd if="$T/data" of="$mnt/ring" bs=1M conv=notrunc status=none
	dd if="$T/data" of="$mnt/ring2" bs=8M seek=4097 oflag=seek_bytes status=none
	cmp "$T/data" "$mnt/ring" || fail "io_uring: the mount's bytes differ"
	ring=$(tail -c +$((mark + 1)) "$DFS_LOG" | grep -c "trace: write .* io_uring$" || true)
	[ "$ring" -gt 0 ] || fail "enable_uring=Y: no write came over io_uring"
	dfs_umount "$mnt" || fail "daemon exit status $?"
	[ "$(fincore -nb -o RES "$src/ring" | awk '{print $1}')" = 0 ] || fail "io_uring: pages resident"
	cmp "$T/data" "$src/ring" || fail "io_uring: SOURCE differs"
	cmp -i 0:4097 "$T/data" "$src/ring2" || fail "io_uring: the unaligned copy differs"
	echo "io_uring: off in the kernel, a notice; on, $ring writes over the ring, bytes intact"
fi
dfs_check_log "^   unique: [0-9]+, error: -[0-9]+ "
