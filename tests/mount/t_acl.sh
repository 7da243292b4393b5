#!/usr/bin/env bash
# Description: POSIX ACLs through a multi-user mount (allow_other) behave
# as on the local ext4 under it.  The same steps run in a directory of
# the local disk and in the mount, and every outcome (each access
# allowed or denied, each mode and getfacl listing) must be the same:
# named users and groups allowed and denied, the mask, default ACLs
# inherited by create, mkdir and mknod under umasks 022, 077, 002 and 000,
# chmod changing the mask, setfacl taking effect at once, and cp -a,
# rsync -A and tar --acls keeping ACLs into and out of the mount.  A
# single-user mount shows SOURCE's ACLs and SOURCE enforces them.
DFS_TEST_DIR=/var/tmp # ext4 here, with ACLs; tmpfs may lack them
. "$(dirname "$0")/lib.sh"
for c in setfacl getfacl setpriv rsync tar; do
	command -v $c >/dev/null || skip "no $c"
done

src=$T/src mnt=$T/mnt local=$T/local
mkdir -p "$src" "$local"
chmod 755 "$src" "$local"
setfacl -m u:65534:r "$local" 2>/dev/null || skip "$DFS_TEST_DIR has no ACLs"
setfacl -b "$local"
dfs_mount "$src" "$mnt" -o allow_other
grep -q 'mounted.*POSIX ACLs' "$DFS_LOG" || fail "the daemon did not take POSIX ACLs: $(cat "$DFS_LOG")"

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
member() { setpriv --reuid=1234 --regid=1234 --groups=4321 -- "$@"; }
stranger() { setpriv --reuid=1235 --regid=1235 --clear-groups -- "$@"; }
can() { # WHO CMD... : prints yes or no
	if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi
}
facl() { (cd "$1" && getfacl -cp "$2" 2>&1 | grep -v '^$'); }

# The steps, in directory D; every line printed is an outcome.
steps() { # D
	local d=$1 u
	set +e # an outcome is printed, whatever it is
	cd "$d"
	# Named user denied on a world-readable file, allowed on a closed one.
	echo data >f && chmod 644 f && setfacl -m u:65534:--- f
	echo "nobody reads f (u:nobody:---): $(can nobody cat f)"
	echo "stranger reads f: $(can stranger cat f)"
	echo data >g && chmod 640 g && setfacl -m u:65534:rw g
	echo "nobody appends to g (u:nobody:rw): $(can nobody sh -c 'echo more >>g')"
	echo "stranger reads g: $(can stranger cat g)"
	# Named group.
	echo data >h && chmod 600 h && setfacl -m g:4321:r h
	echo "member reads h (g:4321:r): $(can member cat h)"
	echo "member writes h: $(can member sh -c 'echo x >>h')"
	echo "stranger reads h: $(can stranger cat h)"
	# The mask limits named entries.
	setfacl -m m::r g
	echo "nobody appends to g (mask r): $(can nobody sh -c 'echo more >>g')"
	echo "nobody reads g (mask r): $(can nobody cat g)"
	# chmod sets the mask (group bits).
	chmod 604 h
	echo "h after chmod 604: $(stat -c %a h); member reads: $(can member cat h)"
	facl . h
	chmod 640 h
	echo "h after chmod 640: member reads: $(can member cat h)"
	# setfacl takes effect at once, both ways.
	echo "stranger reads f before: $(can stranger cat f)"
	setfacl -m u:1235:--- f
	echo "stranger reads f after u:1235:---: $(can stranger cat f)"
	setfacl -x u:1235 f
	echo "stranger reads f after -x: $(can stranger cat f)"
	setfacl -b g
	echo "nobody appends to g after -b: $(can nobody sh -c 'echo more >>g')"
	# Directory access by ACL.
	mkdir closed && chmod 700 closed && setfacl -m u:65534:rx closed
	echo "nobody lists closed/ (u:nobody:rx): $(can nobody ls closed)"
	echo "nobody creates in closed/: $(can nobody touch closed/n)"
	# Default ACLs, inherited under several umasks.
	mkdir inherit && chmod 755 inherit
	setfacl -m u:65534:rwx,d:u:65534:rwx,d:g:4321:rx inherit
	for u in 022 077 002 000; do
		echo "umask $u: root creates: $(can sh -c "umask $u && echo x >inherit/file$u &&
			mkdir inherit/dir$u && mkfifo inherit/fifo$u && mknod inherit/node$u c 1 3")"
		echo "umask $u: nobody creates: $(can nobody sh -c "umask $u &&
			echo y >inherit/nfile$u && mkdir inherit/ndir$u")"
		for n in file$u dir$u fifo$u node$u nfile$u ndir$u; do
			echo "umask $u: $n $(stat -c '%a %u %g' inherit/$n 2>&1)"
			facl inherit $n
		done
	done
	# Without a default ACL the umask applies.
	(umask 027 && echo z >plain && mkdir plaindir)
	echo "umask 027 without default ACL: $(stat -c %a plain plaindir | tr '\n' ' ')"
	facl . plain
	cd /
}

(steps "$local") >"$T/local.out"
(steps "$mnt") >"$T/mnt.out"
diff -u "$T/local.out" "$T/mnt.out" >&2 ||
	fail "ACL outcomes through the mount differ from the local disk (- local, + mount)"
# The steps mean something: the local disk denied and allowed by ACL.
grep -q '^nobody reads f (u:nobody:---): no$' "$T/local.out" || fail "local: named user not denied"
grep -q '^nobody appends to g (u:nobody:rw): yes$' "$T/local.out" || fail "local: named user not allowed"
grep -q '^member reads h (g:4321:r): yes$' "$T/local.out" || fail "local: named group not allowed"
grep -q '#effective:rw-' "$T/local.out" || fail "local: no default ACL with an rw- mask"
echo "ACL steps: $(wc -l <"$T/mnt.out") outcomes the same through the mount as on the local disk"

# SOURCE holds what was set through the mount.
[ "$(facl "$src" f)" = "$(facl "$local" f)" ] || fail "SOURCE's ACL of f differs"

# The copy tools keep ACLs, into the mount and out of it.
tree=$local/inherit
copies() { # DEST-DIR (empty): each tool's copy of the tree, then listings
	cp -a "$tree" "$1/cp"
	rsync -aA "$tree/" "$1/rsync/"
	tar --acls -C "$tree" -cf - . | (mkdir "$1/tar" && tar --acls -C "$1/tar" -xf -)
}
listing() { (cd "$1" && getfacl -R -p . 2>&1); }
mkdir "$mnt/in" "$T/out"
copies "$mnt/in"
for t in cp rsync tar; do
	[ "$(listing "$mnt/in/$t")" = "$(listing "$tree")" ] ||
		fail "$t into the mount lost ACLs: $(diff <(listing "$tree") <(listing "$mnt/in/$t"))"
	[ "$(listing "$src/in/$t")" = "$(listing "$tree")" ] || fail "$t into the mount: SOURCE lacks the ACLs"
done
tree=$mnt/inherit
copies "$T/out"
for t in cp rsync tar; do
	[ "$(listing "$T/out/$t")" = "$(listing "$local/inherit")" ] ||
		fail "$t out of the mount lost ACLs: $(diff <(listing "$local/inherit") <(listing "$T/out/$t"))"
done
echo "cp -a, rsync -A, tar --acls keep ACLs into and out of the mount"
dfs_umount "$mnt"
dfs_check_log

# A mount only its owner uses: SOURCE's ACLs are shown and SOURCE itself
# enforces them (the daemon runs as that owner; here root, as the test).
: >"$DFS_LOG"
dfs_mount "$src" "$mnt"
grep -q 'mounted' "$DFS_LOG" || fail "no mount line in the log: $(cat "$DFS_LOG")"
grep -q 'POSIX ACLs' "$DFS_LOG" && fail "a single-user mount asked for kernel ACL checks"
[ "$(facl "$mnt" f)" = "$(facl "$src" f)" ] || fail "single-user mount: getfacl differs from SOURCE"
setfacl -m u:1236:r "$mnt/g"
getfacl -cp "$src/g" | grep -q '^user:1236:r--$' || fail "single-user mount: setfacl did not reach SOURCE"
dfs_umount "$mnt"
dfs_check_log
echo PASS
