#!/usr/bin/env bash
# Description: ordinary tools write through the mount.  cp, cp -p, cp -r,
# rsync -a, rsync --inplace, tar -x, dd bs=1M and dd oflag=direct at
# unaligned sizes: every file on SOURCE is byte-identical to its original,
# has 0 resident pages once the tool is done, and cp -p keeps mtimes.
. "$(dirname "$0")/lib.sh"

src=$T/src mnt=$T/mnt data=$T/data
dfs_mount "$src" "$mnt"

# Originals: odd sizes, a sparse one, a small tree.
mkdir -p "$data/tree/a/b" "$data/tree/c"
head -c 5000017 /dev/urandom >"$data/odd"
head -c 3 /dev/urandom >"$data/tiny"
: >"$data/empty"
truncate -s 20M "$data/sparse"
printf 'middle' | dd of="$data/sparse" bs=1 seek=10000000 conv=notrunc status=none
for i in $(seq 40); do head -c $((i * 7919)) /dev/urandom >"$data/tree/a/f$i"; done
for i in $(seq 10); do head -c $((i * 123457)) /dev/urandom >"$data/tree/a/b/g$i"; done
ln -s ../a/f1 "$data/tree/c/link"
touch -d '2001-02-03 04:05:06.123456789' "$data/odd"
echo "originals ready"

# Resident pages first: hashing reads the files through the page cache.
check_tree() { # ORIG COPY-ON-SOURCE
	local f n
	dfs_settled "$mnt"
	n=$(resident $(find "$2" -type f))
	[ "$n" -eq 0 ] || fail "$2: $n pages resident after the copy"
	(cd "$1" && find . -type f) | while read -r f; do
		same_file "$1/$f" "$2/$f"
	done
	[ "$(readlink "$2/c/link")" = ../a/f1 ] || fail "symlink not copied in $2"
}

check_file() { # ORIG NAME
	local n
	dfs_settled "$mnt"
	n=$(resident "$src/$2")
	[ "$n" -eq 0 ] || fail "$2: $n pages resident after the copy"
	same_file "$1" "$src/$2"
	same_file "$1" "$mnt/$2"
}

cp "$data/odd" "$mnt/cp-odd"
check_file "$data/odd" cp-odd
cp "$data/tiny" "$mnt/cp-tiny"
check_file "$data/tiny" cp-tiny
cp "$data/empty" "$mnt/cp-empty"
[ -f "$src/cp-empty" ] && [ ! -s "$src/cp-empty" ] || fail "empty file"
cp "$data/sparse" "$mnt/cp-sparse"
check_file "$data/sparse" cp-sparse
echo "cp: ok"

cp -p "$data/odd" "$mnt/cpp-odd"
check_file "$data/odd" cpp-odd
want=$(stat -c %y "$data/odd")
assert_eq "$(stat -c %y "$src/cpp-odd")" "$want" "cp -p: mtime on SOURCE"
assert_eq "$(stat -c %y "$mnt/cpp-odd")" "$want" "cp -p: mtime in the mount"
[ "$(ls -l --time-style=full-iso "$mnt/cpp-odd" | awk '{print $6, $7}')" = "$(echo "$want" | awk '{print $1, $2}')" ] ||
	fail "cp -p: ls -l shows another time"
echo "cp -p: ok (mtime $want)"

cp -r "$data/tree" "$mnt/cpr"
check_tree "$data/tree" "$src/cpr"
echo "cp -r: ok"

rsync -a "$data/tree/" "$mnt/rsync/"
check_tree "$data/tree" "$src/rsync"
[ "$(stat -c %Y "$src/rsync/a/f7")" = "$(stat -c %Y "$data/tree/a/f7")" ] || fail "rsync -a: mtime"
# --inplace over an existing, longer, different file.
head -c 9000000 /dev/urandom >"$mnt/inplace"
rsync --inplace --no-whole-file "$data/odd" "$mnt/inplace"
check_file "$data/odd" inplace
echo "rsync: ok"

tar -C "$data" -cf "$T/tree.tar" tree
mkdir "$mnt/tar"
tar -C "$mnt/tar" -xf "$T/tree.tar"
check_tree "$data/tree" "$src/tar/tree"
echo "tar -x: ok"

dd if="$data/odd" of="$mnt/dd-odd" bs=1M status=none
check_file "$data/odd" dd-odd
for bs in 1000 4097 65537 1048577; do
	dd if="$data/odd" of="$mnt/dd-direct-$bs" bs=$bs oflag=direct status=none
	check_file "$data/odd" "dd-direct-$bs"
done
# An O_DIRECT overwrite at an unaligned offset of an existing file.
cp "$data/odd" "$T/expect"
dd if=/dev/zero of="$T/expect" bs=777 seek=3 count=5 conv=notrunc status=none
cp "$data/odd" "$mnt/dd-over"
dd if=/dev/zero of="$mnt/dd-over" bs=777 seek=3 count=5 conv=notrunc oflag=direct status=none
check_file "$T/expect" dd-over
echo "dd: ok"

# 1 GiB: the backing file and the system page cache stay clean.
cached0=$(awk '/^Cached:/ {print $2}' /proc/meminfo)
dd if=/dev/zero of="$mnt/big" bs=1M count=1024 status=none
cached1=$(awk '/^Cached:/ {print $2}' /proc/meminfo)
[ "$(stat -c %s "$src/big")" -eq $((1024 * 1024 * 1024)) ] || fail "big: size"
assert_eq "$(resident "$src/big")" 0 "big: pages resident"
cmp -s -n $((1024 * 1024 * 1024)) /dev/zero "$src/big" || fail "big: content"
echo "dd 1 GiB: ok, 0 pages resident, system Cached grew $(((cached1 - cached0) / 1024)) MiB"

dfs_umount "$mnt"
dfs_check_log
echo PASS
