#!/usr/bin/env bash
# Description: checksums taken as a copy streams (lib/digest.c), kept on
# SOURCE as tags, and checked without the source.  cp, rsync -a, tar -x
# and dd into the mount tag every regular file but an empty one (the default xxh128, as
# xxhsum -H2 sums it; sha256 under shatag's names with -o checksum=sha256,
# as sha256sum does), stamped with the file's mtime as %010d.%09d; cp -p
# and a later touch leave the tag current.  No tag after out-of-order
# writes, a rewrite or a write through a shared mapping; a tag is gone at
# the first changing write of a later session (before its close) and at a
# truncate of a closed file.  checksum=off keeps none.  A block zeroed on
# the device under SOURCE is found by directfs-progress --verify DEST
# through the mount and on the plain disk, leaving no page cached.
. "$(dirname "$0")/lib.sh"
: "${DFS_PROGRESS:?}" "${DFS_VERIFY:?}"
command -v xxhsum >/dev/null || skip "no xxhsum (the xxhash package)"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt"
tag() { getfattr --absolute-names --only-values -n "$2" "$1" 2>/dev/null || true; } # FILE ATTR
xxh() { xxhsum -H2 "$1" | cut -d' ' -f1; }
mtime() { local t; t=$(stat -c %.9Y "$1"); printf '%010d.%s' "${t%.*}" "${t#*.}"; }
# FILE on SOURCE holds a current KIND tag of WANT (the copy's original).
tagged_as() { # FILE WANT KIND
	local sum ts name tsname
	case $3 in
	xxh128) name=user.directfs.xxh128 tsname=user.directfs.xxh128.ts sum=$(xxh "$2") ;;
	sha256) name=user.shatag.sha256 tsname=user.shatag.ts sum=$(sha "$2") ;;
	esac
	assert_eq "$(tag "$1" $name)" "$sum" "$1: $name"
	ts=$(tag "$1" $tsname)
	[[ $ts =~ ^[0-9]{10}\.[0-9]{9}$ ]] || fail "$1: $tsname '$ts' is not %010d.%09d"
	assert_eq "$ts" "$(mtime "$1")" "$1: $tsname against its mtime"
}
untagged() { # FILE WHY
	local a
	a=$(getfattr --absolute-names -d -m 'user\.(directfs\.xxh128|shatag)' "$1" 2>/dev/null)
	[ -z "$a" ] || fail "$1 is tagged after $2: $a"
}

# --- what the tools write is tagged ---
mkdir -p "$T/tree/sub"
head -c $(((20 << 20) + 12345)) /dev/urandom >"$T/tree/big"
head -c $((1 << 20)) /dev/urandom >"$T/tree/sub/onemib"
for i in $(seq 30); do head -c $((i * 777)) /dev/urandom >"$T/tree/sub/s$i"; done
: >"$T/tree/empty"
(cd "$T" && tar -cf tree.tar tree)
cp -r "$T/tree" "$mnt/cp"
rsync -a "$T/tree/" "$mnt/rsync/"
tar -C "$mnt" -xf "$T/tree.tar" --transform 's|^tree|tar|'
dd if="$T/tree/big" of="$mnt/dd" bs=1M status=none
dfs_settled "$mnt"
n=0
for way in cp rsync tar; do
	while read -r f; do
		tagged_as "$src/$way/$f" "$T/tree/$f" xxh128
		n=$((n + 1))
	done < <(cd "$T/tree" && find . -type f -size +0 | sed 's|^\./||')
	untagged "$src/$way/empty" "$way of an empty file (no bytes to rot)"
done
tagged_as "$src/dd" "$T/tree/big" xxh128
assert_eq "$(resident "$src"/cp/big "$src"/dd)" 0 "pages of the copies resident"
echo "cp, rsync -a, tar -x, dd: ok ($((n + 1)) files tagged as xxhsum -H2 sums them)"

# --- the timestamp follows a new mtime of the same bytes ---
cp -p "$T/tree/big" "$mnt/cpp"
dfs_settled "$mnt"
tagged_as "$src/cpp" "$T/tree/big" xxh128
assert_eq "$(mtime "$src/cpp")" "$(mtime "$T/tree/big")" "cp -p: the mtime kept"
touch -d '2001-02-03 04:05:06.789' "$mnt/cpp"
tagged_as "$src/cpp" "$T/tree/big" xxh128
assert_eq "$(tag "$src/cpp" user.directfs.xxh128.ts)" "$(printf '%010d' "$(date -d '2001-02-03 04:05:06' +%s)").789000000" "ts after touch -d"
echo "timestamps: ok (cp -p, then touch -d: $(tag "$src/cpp" user.directfs.xxh128.ts))"

# --- no tag for a file whose bytes were not each written once ---
python3 - "$mnt/ooo" "$mnt/rewrite" <<-'EOF'
	import os, sys
	a = os.urandom(3 << 20)
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	os.pwrite(fd, a[1 << 20:], 1 << 20)  # the second part first
	os.pwrite(fd, a[:1 << 20], 0)
	os.close(fd)
	fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	os.write(fd, a)
	os.pwrite(fd, b"again", 4096)  # over what was written
	os.close(fd)
EOF
dfs_settled "$mnt"
# Pieces that arrive out of order (the kernel sends one write's pieces on
# several threads) wait aside until the gap fills: each byte written once
# is still a file written straight through, and its tag is true.
tagged_as "$src/ooo" "$src/ooo" xxh128
untagged "$src/rewrite" "a rewrite"
# A sparse copy leaves a gap: no tag either.
truncate -s 5M "$T/sparse" && printf 'end' >>"$T/sparse"
cp --sparse=always "$T/sparse" "$mnt/sparse"
dfs_settled "$mnt"
untagged "$src/sparse" "a copy with a hole"
# The random-operation verifier (writes anywhere, truncates, fallocates,
# reopens): a tag, if any, is of the bytes the file holds.
none=0
for s in 1 2 3 4 5; do
	"$DFS_VERIFY" "$mnt/rand$s" "$T/rand$s.ref" "$s" 300 $((3 << 20)) >/dev/null || fail "verifier seed $s"
	dfs_settled "$mnt"
	if [ -z "$(tag "$src/rand$s" user.directfs.xxh128)" ]; then
		none=$((none + 1))
	else
		tagged_as "$src/rand$s" "$T/rand$s.ref" xxh128
	fi
done
[ $none -ge 3 ] || fail "the verifier's files: only $none of 5 untagged"
echo "out of order, rewritten, sparse, random: ok (ooo tagged true; $none of 5 random files untagged, the rest true)"

# A write through a shared mapping, where libfuse allows those.
map_out=$(python3 - "$mnt/mapped" <<-'EOF'
	import mmap, os, sys
	fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
	os.write(fd, os.urandom(1 << 20))
	try:
	    m = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
	except OSError as e:
	    print("no shared mapping:", e.strerror)
	    sys.exit(0)
	m[4096:4100] = b"map!"
	m.flush()
	m.close()
	os.close(fd)
	print("mapped")
EOF
)
dfs_settled "$mnt"
case $map_out in
mapped)
	untagged "$src/mapped" "a write through a shared mapping"
	assert_eq "$(dd if="$src/mapped" bs=1 skip=4096 count=4 status=none)" "map!" "the mapped write on SOURCE"
	echo "a shared mapping's write: ok (no tag)" ;;
"no shared mapping: No such device")
	echo "a shared mapping's write: not with this libfuse ($map_out)" ;;
*) fail "mapping: $map_out" ;;
esac

# --- a later change removes the tag first ---
exec 3>>"$mnt/cp/big"
tagged_as "$src/cp/big" "$T/tree/big" xxh128 # an open changes nothing
printf 'x' >&3
untagged "$src/cp/big" "its first write, with the file still open"
exec 3>&-
dfs_settled "$mnt"
untagged "$src/cp/big" "an appending session"
dd if=/dev/zero of="$mnt/rsync/big" bs=4096 count=1 seek=7 conv=notrunc status=none
dfs_settled "$mnt"
untagged "$src/rsync/big" "a rewrite of one block in place"
truncate -s 100 "$mnt/tar/big"
untagged "$src/tar/big" "a truncate of the closed file"
echo "changes: ok (the tag gone at the first write, a rewrite, a truncate)"

# --- sha256 in shatag's format; and off ---
dfs_umount "$mnt"
dfs_mount "$src" "$mnt" -o checksum=sha256
cp "$T/tree/big" "$mnt/sha"
dfs_settled "$mnt"
tagged_as "$src/sha" "$T/tree/big" sha256
untagged_xxh=$(tag "$src/sha" user.directfs.xxh128)
assert_eq "$untagged_xxh" "" "an xxh128 tag under checksum=sha256"
assert_eq "$(getfattr --absolute-names --only-values -n user.directfs.sha256 "$mnt/sha")" "$(sha "$T/tree/big")" \
	"user.directfs.sha256 on the mount"
mkdir "$T/out"
cp -a "$mnt/sha" "$T/out/sha"
assert_eq "$(tag "$T/out/sha" user.shatag.sha256)" "$(sha "$T/tree/big")" "the tag carried by cp -a out of the mount"
touch "$src/sha" # changed behind the mount: the tag is stale, and says nothing
getfattr --absolute-names -n user.directfs.sha256 "$mnt/sha" >/dev/null 2>&1 &&
	fail "user.directfs.sha256 answered for a stale tag"
echo "sha256: ok (shatag's names, readable on the mount while current, carried by cp -a)"
dfs_umount "$mnt"
dfs_mount "$src" "$mnt" -o checksum=off
cp "$T/tree/big" "$mnt/off"
dfs_settled "$mnt"
untagged "$src/off" "a copy with checksum=off"
dfs_umount "$mnt"
echo "off: ok (no tag)"

# --- verify without the source: a block rotted on the disk ---
loop_fs ext4 96 512 "$T/disk"
src2=$T/disk/src mnt2=$T/mnt2
mkdir -p "$src2"
dfs_mount "$src2" "$mnt2"
cp -r "$T/tree" "$mnt2/tree"
dfs_settled "$mnt2"
out=$("$DFS_PROGRESS" --verify "$mnt2/tree") || fail "--verify of the fresh copy: exit $?: $out"
grep -q "^checked $mnt2/tree: 32 same, 0 corrupt, 0 stale, 1 untagged" <<<"$out" || fail "--verify of the fresh copy: $out"
phys=$(filefrag -v -b4096 "$src2/tree/big" | awk -v want=100 '
	$1 ~ /^[0-9]+:$/ { if (want >= $2 + 0 && want <= $3 + 0) { print $4 + want - $2; exit } }')
[ -n "$phys" ] || fail "no physical block for file block 100: $(filefrag -v -b4096 "$src2/tree/big")"
dev=$(findmnt -n -o SOURCE --target "$T/disk")
dd if=/dev/zero of="$dev" bs=4096 seek="$phys" count=1 oflag=direct conv=notrunc status=none
rc=0
out=$("$DFS_PROGRESS" --verify "$mnt2/tree" 2>"$T/v.err") || rc=$?
assert_eq "$rc" 1 "--verify through the mount of a rotted file: exit"
grep -qx "CORRUPT xxh128 $mnt2/tree/big" <<<"$out" || fail "--verify through the mount: $out $(cat "$T/v.err")"
grep -q "^checked $mnt2/tree: 31 same, 1 corrupt" <<<"$out" || fail "--verify through the mount: $out"
dfs_umount "$mnt2"
rc=0
out=$("$DFS_PROGRESS" --verify "$src2/tree" 2>"$T/v.err") || rc=$?
assert_eq "$rc" 1 "--verify on the plain disk of a rotted file: exit"
grep -qx "CORRUPT xxh128 $src2/tree/big" <<<"$out" || fail "--verify on the plain disk: $out $(cat "$T/v.err")"
assert_eq "$(resident "$src2"/tree/big "$src2"/tree/sub/*)" 0 "pages resident after --verify"
echo "verify without the source: ok (the zeroed block found through the mount and on the plain disk, 0 pages)"

dfs_check_log
echo PASS
