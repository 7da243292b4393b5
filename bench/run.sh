#!/usr/bin/env bash
# bench/run.sh - the benchmark harness: every workload through every
# contender, in alternating rounds (A B C A B C ...) on one disk, with the
# median and spread of each and the ratio to the workload's reference.
#
#   bench/run.sh [--quick] [--rounds N] [--only W,W...] [--out DIR]
#                [--build DIR] [--opts O] [--alt O]... [DIR]
#   bench/run.sh --report DIR
#
# DIR (default /var/tmp/dfs-bench) is on the disk under test.  --quick runs
# small sizes (under 2 minutes with one round; CI's smoke test).  --only
# picks workloads by name.  --out (default DIR/results) receives
# results.tsv (one line per case and round), results.md (the table the
# README shows) and results.png (gnuplot, where installed); the metadata
# stress adds meta-ops.tsv (its seconds by operation type, a second table
# in results.md).  --build is the CMake build tree (default ./build).
# --opts passes -o O to directfs; --alt adds a contender "directfs-altN",
# directfs -o O, next to directfs in every workload (to try a setting
# against the defaults in one run); given up to 3 times, N is 1, 2, 3 in
# order.
# --report DIR only redraws DIR/results.md and results.png from
# DIR/results.tsv.
# Runs as root: it mounts, and drops the page cache before each case.
#
# Contenders (not every workload has every one):
#   raw       dd oflag=direct / iflag=direct straight on SOURCE
#   fio-qd8   fio, O_DIRECT, libaio at queue depth 8 on SOURCE (the device)
#   native    the same program straight on SOURCE (page cache, then sync)
#   directfs  directfs with its defaults (plus --opts)
#   pt        libfuse's passthrough_ll with its defaults
#   pt-never  passthrough_ll -o cache=never
# (passthrough_ll is built here from /usr/share/doc/libfuse3-dev/examples,
# never committed.)
#
# Every case is timed up to the end of a sync(1) and then verified: bytes
# compared with their source, fio's and mdstress's own checks, sqlite's
# integrity_check, and for directfs every file's user.directfs.durable
# equal to its size once the mount is idle.  A case that fails its check
# is reported "BAD" and makes the exit status 1.
#
# Figures per case: seconds, MiB/s, growth of the system's Cached (KiB,
# after the sync), pages of the written files resident (fincore), and for
# FUSE daemons their peak RSS (VmHWM, KiB) and CPU seconds.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"

quick=0 rounds= only= out= build=$top/build opts= report_only=
alts=()
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--rounds) rounds=$2; shift ;;
	--only) only=$2; shift ;;
	--out) out=$2; shift ;;
	--build) build=$2; shift ;;
	--opts) opts=$2; shift ;;
	--alt) alts+=("$2"); shift ;;
	--report) report_only=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
# meta_ops TSV: the metadata stress's table by operation type, from lines
# of contender, round, operation and seconds.
meta_ops() {
	echo
	echo "The metadata stress by operation type: the median of the seconds a process spent in each."
	echo
	awk -F'\t' '
	{
		if (!($1 in isc)) { isc[$1] = 1; cs[++nc] = $1 }
		if (!($3 in iso)) { iso[$3] = 1; ops[++no] = $3 }
		v[$1, $3, ++n[$1, $3]] = $4
	}
	function med(c, o,   m, i, j, x, s) {
		m = n[c, o]
		for (i = 1; i <= m; i++) s[i] = v[c, o, i]
		for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
		return m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
	}
	END {
		printf "| operation |"; for (i = 1; i <= nc; i++) printf " %s |", cs[i]; print ""
		printf "|---|"; for (i = 1; i <= nc; i++) printf "---|"; print ""
		for (j = 1; j <= no; j++) {
			printf "| %s |", ops[j]
			for (i = 1; i <= nc; i++) printf " %.3f |", med(cs[i], ops[j])
			print ""
		}
	}' "$1"
}

# report OUT: OUT/results.md (OUT/header.md, then the table of
# OUT/results.tsv) and OUT/results.png, from the cases recorded.
report() {
	local out=$1 tsv=$1/results.tsv cols
	[ -s "$tsv" ] || { echo "bench/run.sh: no $tsv" >&2; return 1; }
	{
		if [ -f "$out/header.md" ]; then cat "$out/header.md"; fi
		echo
		echo "| workload | contender | median s | spread s | MiB/s | × ref | Cached growth MiB | pages resident | daemon peak RSS MiB | daemon CPU s/GiB | verified |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' '
	NR == 1 { next }
	{
		k = $1 SUBSEP $2
		if (!(k in n)) { keys[++nk] = k }
		t[k, ++n[k]] = $4; mb[k, n[k]] = $5
		if ($6 > cg[k]) cg[k] = $6
		if (!(k in rp) || $7 > rp[k]) rp[k] = $7
		if ($8 != "-" && $8 > rss[k]) rss[k] = $8
		if ($9 != "-") cpu[k] += $9
		mib[k] += $4 * $5
		if ($10 != "ok") v[k] = "BAD"
	}
	function med(a, k, m,   i, j, x, s) {
		for (i = 1; i <= m; i++) s[i] = a[k, i]
		for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
		lo = s[1]; hi = s[m]
		return m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= nk; i++) {
			split(keys[i], kk, SUBSEP); w = kk[1]; c = kk[2]; k = keys[i]
			md = med(t, k, n[k])
			if (!(w in ref)) { ref[w] = md }
			printf "| %s | %s | %.2f | %.2f–%.2f | %.0f | %.2f | %.1f | %s | %s | %s | %s |\n",
				w, c, md, lo, hi, med(mb, k, n[k]), ref[w] / md, cg[k] / 1024,
				rp[k] == "-" ? "–" : sprintf("%d", rp[k]),
				(k in rss) ? sprintf("%.0f", rss[k] / 1024) : "–",
				((k in cpu) && mib[k] > 0) ? sprintf("%.2f", cpu[k] / (mib[k] / 1024)) : "–",
				(k in v) ? "BAD" : "ok"
		}
	}' "$tsv"
	echo
	echo "× ref: the reference's median time over this one's (above 1: faster).  The reference is the workload's first contender: raw O_DIRECT dd, or the same program on SOURCE."
	[ -s "$out/meta-ops.tsv" ] && meta_ops "$out/meta-ops.tsv"
	} >"$out/results.md"
	cat "$out/results.md"
	command -v gnuplot >/dev/null || return 0
	# The contenders present, in a fixed order.
	cols=$(awk -F'\t' -v order="raw fio-qd8 native directfs directfs-alt1 directfs-alt2 directfs-alt3 pt pt-never" '
		NR > 1 { seen[$2] = 1 }
		END { n = split(order, o, " "); for (i = 1; i <= n; i++) if (o[i] in seen) printf "%s ", o[i] }' "$tsv")
	# workload, then each contender's "× ref" (NaN where it has none).
	awk -F'|' '/^\| [a-z0-9]+ \| / && !/\| workload \|/ {
		gsub(/ /, "", $2); gsub(/ /, "", $3); print $2, $3, $7 }' "$out/results.md" |
		awk -v cs="$cols" '
		BEGIN { nc = split(cs, c, " "); printf "workload"; for (i = 1; i <= nc; i++) printf " %s", c[i]; print "" }
		{ if (!($1 in seen)) { seen[$1] = 1; ws[++nw] = $1 } x[$1, $2] = $3 }
		END { for (j = 1; j <= nw; j++) { printf "%s", ws[j]
			for (i = 1; i <= nc; i++) printf " %s", ((ws[j], c[i]) in x) ? x[ws[j], c[i]] : "NaN"; print "" } }' \
		>"$out/plot.dat"
	gnuplot <<-EOF
	set terminal pngcairo size 1200,480 noenhanced
	set output "$out/results.png"
	set title "directfs: speed relative to each workload's reference (raw O_DIRECT or native), medians"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set ylabel "× reference (higher is faster)"
	set yrange [0:*]
	set key outside right top
	set grid ytics
	set xtics rotate by -30
	plot for [i=2:$(($(wc -w <<<"$cols") + 1))] "$out/plot.dat" using i:xtic(1) title columnheader(i)
	EOF
}

[ -n "$report_only" ] && { report "$report_only"; exit; }

dir=${1:-/var/tmp/dfs-bench}
out=${out:-$dir/results}
dfs=$build/fs/directfs
pt=$build/bench/passthrough_ll
mdstress=$build/bench/mdstress
bench_require run.sh "$dfs" "$pt"
[ -x "$mdstress" ] || { echo "bench/run.sh: build first ($mdstress missing)" >&2; exit 1; }
for t in fio sqlite3 rsync tar fincore getfattr; do
	command -v $t >/dev/null || { echo "bench/run.sh: $t is not installed" >&2; exit 1; }
done

# Sizes.  MiB unless said.
if [ $quick = 1 ]; then
	: "${rounds:=1}"
	big=128 w4k=16 multi=64 smallfiles=300 mdrounds=200 sqlrows=20000 sqltx=4 fiosize=16
	mixed=(200 40 4 1 8)
	treesrc=(/usr/include/linux)
else
	: "${rounds:=3}"
	big=2048 w4k=256 multi=2048 smallfiles=5000 mdrounds=2000 sqlrows=200000 sqltx=20 fiosize=256
	# The mixed tree, a home directory's shape: files of 0.5-16 KiB,
	# 16-256 KiB, 1-8 MiB, and big ones of BIG MiB (counts, then BIG).
	mixed=(3000 400 40 4 64)
	treesrc=(/usr/include /usr/share/doc)
fi
all="seqwrite write4k cp read bigwrite bigread tmpfs multi small rsync tar mixed meta sqlite fio4k fio64k neighbour"
only=${only:-$all}
only=${only//,/ }
[ ${#alts[@]} -le 3 ] || { echo "bench/run.sh: at most 3 --alt" >&2; exit 2; }
for w in $only; do
	[[ " $all " == *" $w "* ]] || { echo "bench/run.sh: no workload '$w' (have: $all)" >&2; exit 2; }
done

mkdir -p "$dir" "$out"
work=$(mktemp -d "$dir/run.XXXXXX")
shm=$(mktemp -d /dev/shm/dfs-run.XXXXXX) # sources: in memory, off the disk
mnt=$work/mnt
dpid=
cleanup() {
	set +e
	if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
	[ -n "$dpid" ] && wait "$dpid" 2>/dev/null
	if mountpoint -q "$work/src"; then umount "$work/src" || umount -l "$work/src"; fi
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

now() { date +%s.%N; }
# The page cache of files: Cached without shared memory (tmpfs, and fio's
# buffers, count as Cached too).
cached_kib() { awk '/^Cached:/ {c = $2} /^Shmem:/ {s = $2} END {print c - s}' /proc/meminfo; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
hz=$(getconf CLK_TCK)
daemon_cpu() { awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
daemon_hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }


# --- sources, made once ---
echo "bench/run.sh: preparing sources in $shm" >&2
head -c $((big << 20)) /dev/urandom >"$shm/big"
mkdir -p "$shm/small"
for ((i = 0; i < smallfiles; i += 500)); do
	n=$((smallfiles - i < 500 ? smallfiles - i : 500))
	mkdir "$shm/small/d$i"
	head -c $((n * 4096)) /dev/urandom | (cd "$shm/small/d$i" && split -b 4096 -a 4 - f)
done
mkdir -p "$shm/tree"
cp -a "${treesrc[@]}" "$shm/tree/"
tar -cf "$shm/tree.tar" -C "$shm" tree
# The mixed tree: sizes drawn from a fixed seed, spread over nested
# directories as a home directory's are (many small files, some big).
mkdir -p "$shm/mixed"
awk -v n1="${mixed[0]}" -v n2="${mixed[1]}" -v n3="${mixed[2]}" -v n4="${mixed[3]}" \
	-v big="${mixed[4]}" 'BEGIN {
	srand(36)
	for (i = 0; i < n1 + n2 + n3 + n4; i++) {
		if (i < n1) s = int(512 + rand() * 16 * 1024)
		else if (i < n1 + n2) s = int(16384 + rand() * 240 * 1024)
		else if (i < n1 + n2 + n3) s = int(1048576 + rand() * 7 * 1048576)
		else s = big * 1048576 + int(rand() * 4096)
		printf "d%d/e%d/f%d %d\n", i % 17, i % 5, i, s
	}
}' | while read -r f s; do
	mkdir -p "$shm/mixed/${f%/*}"
	head -c "$s" /dev/urandom >"$shm/mixed/$f"
done
mixedmib=$(du -sm "$shm/mixed" | cut -f1)
mixedfiles=$(find "$shm/mixed" -type f | wc -l)
treemib=$(du -sm "$shm/tree" | cut -f1)
treefiles=$(find "$shm/tree" -type f | wc -l)
{
	echo "PRAGMA journal_mode=DELETE;"
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);"
	echo "CREATE INDEX tk ON t(k);"
	for ((i = 0; i < sqltx; i++)); do
		echo "BEGIN;"
		echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $((sqlrows / sqltx)))"
		echo "  INSERT INTO t(k, v) SELECT hex(randomblob(8)), randomblob(100) FROM c;"
		echo "COMMIT;"
	done
} >"$shm/insert.sql"

# --- contenders ---
# start CONTENDER SRC: T is where the workload writes (SRC itself or the
# mount), dpid the daemon's (empty for none).
start() {
	local c=$1 src=$2
	dpid= T=$src
	case $c in
	directfs) "$dfs" -f ${opts:+-o "$opts"} "$src" "$mnt" 2>>"$work/daemon.log" & ;;
	directfs-alt*) "$dfs" -f -o "${alts[${c#directfs-alt} - 1]}" "$src" "$mnt" 2>>"$work/daemon.log" & ;;
	pt) "$pt" -f -o source="$src" "$mnt" 2>>"$work/daemon.log" & ;;
	pt-never) "$pt" -f -o source="$src",cache=never "$mnt" 2>>"$work/daemon.log" & ;;
	*) return 0 ;;
	esac
	dpid=$!
	T=$mnt
	bench_wait_mount run.sh "$mnt"
}
stop() {
	[ -n "$dpid" ] || return 0
	fusermount3 -u "$mnt"
	wait "$dpid" || echo "bench/run.sh: daemon exited with $?" >&2
	dpid=
}

# Every file under $1 shows durable = its size (a directfs mount).  One
# getfattr for the tree; names it escapes would count as not durable.
all_durable() {
	local bad
	bad=$(awk -F'\t' '
		FNR == NR { if (sub(/^# file: /, "")) f = $0
			    else if (sub(/^user\.directfs\.durable="/, "")) { sub(/"$/, ""); d[f] = $0 }
			    next }
		d[$1] != $2 { n++ }
		END { print n + 0 }' \
		<(getfattr -R --absolute-names -n user.directfs.durable -e text "$1" 2>/dev/null) \
		<(find "$1" -type f -printf '%p\t%s\n'))
	[ "$bad" = 0 ] || { echo "  $bad files under $1 not durable" >&2; return 1; }
}

# --- workloads: run_W (timed; T is the target; sets bytes) and check_W
# (after the daemon stopped; SRC holds what was written) ---
contenders_seqwrite="raw fio-qd8 directfs pt pt-never"
run_seqwrite() {
	bytes=$((big << 20))
	case $C in
	raw) dd if="$shm/big" of="$T/f" bs=1M oflag=direct status=none ;;
	fio-qd8) fio --name=qd8 --filename="$T/f" --rw=write --bs=1M --size=${big}M --direct=1 \
		--ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=0 --verify_state_save=0 >"$work/fio.out" ;;
	*) dd if="$shm/big" of="$T/f" bs=1M status=none ;;
	esac
}
check_seqwrite() {
	case $C in
	fio-qd8) fio --name=qd8 --filename="$SRC/f" --rw=write --bs=1M --size=${big}M --direct=1 \
		--verify=crc32c --verify_only --verify_state_save=0 >"$work/fio.out" ;;
	*) cmp "$shm/big" "$SRC/f" ;;
	esac
}

contenders_write4k="native directfs pt pt-never"
run_write4k() {
	bytes=$((w4k << 20))
	dd if="$shm/big" of="$T/f" bs=4k count=$((w4k * 256)) conv=fsync status=none
}
check_write4k() { cmp -n $((w4k << 20)) "$shm/big" "$SRC/f"; }

contenders_cp="native directfs pt pt-never"
run_cp() { bytes=$((big << 20)); cp "$shm/big" "$T/f"; }
check_cp() { cmp "$shm/big" "$SRC/f"; }

contenders_read="raw directfs pt pt-never"
prep_read() { dd if="$shm/big" of="$SRC/f" bs=1M oflag=direct status=none; }
run_read() {
	bytes=$((big << 20))
	case $C in
	raw) dd if="$T/f" of=/dev/null bs=1M iflag=direct status=none ;;
	*) dd if="$T/f" of=/dev/null bs=1M status=none ;;
	esac
}
# What the contender reads is what it returns: read again, compared.
verify_read() { cmp "$shm/big" "$T/f"; }

# SOURCE on a tmpfs (O_DIRECT there since Linux 6.6): no disk, so the
# daemon's own cost per byte is the ceiling; twice the sequential size.
contenders_tmpfs="raw directfs pt-never"
prep_tmpfs() { mount -t tmpfs -o size=$((2 * big + 64))m dfs-bench-src "$SRC"; }
run_tmpfs() {
	bytes=$((2 * big << 20))
	case $C in
	raw) dd if=/dev/zero of="$T/f" bs=1M count=$((2 * big)) oflag=direct conv=fsync status=none ;;
	*) dd if=/dev/zero of="$T/f" bs=1M count=$((2 * big)) conv=fsync status=none ;;
	esac
}
check_tmpfs() { cmp -n $((2 * big << 20)) /dev/zero "$SRC/f" && [ "$(stat -c %s "$SRC/f")" = $((2 * big << 20)) ]; }
after_tmpfs() { umount "$SRC"; }

# Requests of 8 MiB where the mount takes them (-o request_size).
contenders_bigwrite="raw directfs pt-never"
run_bigwrite() {
	bytes=$((big << 20))
	case $C in
	raw) dd if="$shm/big" of="$T/f" bs=8M oflag=direct status=none ;;
	*) dd if="$shm/big" of="$T/f" bs=8M status=none ;;
	esac
}
check_bigwrite() { cmp "$shm/big" "$SRC/f"; }

contenders_bigread="raw directfs pt-never"
prep_bigread() { prep_read; }
run_bigread() {
	bytes=$((big << 20))
	case $C in
	raw) dd if="$T/f" of=/dev/null bs=8M iflag=direct status=none ;;
	*) dd if="$T/f" of=/dev/null bs=8M status=none ;;
	esac
}
verify_bigread() { verify_read; }

contenders_multi="raw directfs pt pt-never"
run_multi() {
	local i each=$((multi / 8)) p=() flag=
	bytes=$((multi << 20))
	[ $C = raw ] && flag=oflag=direct
	for i in 0 1 2 3 4 5 6 7; do
		dd if="$shm/big" of="$T/m$i" bs=1M count=$each skip=$((i * each % big)) $flag status=none &
		p+=($!)
	done
	for i in "${p[@]}"; do wait "$i" || return 1; done
}
check_multi() {
	local i each=$((multi / 8))
	for i in 0 1 2 3 4 5 6 7; do
		cmp -n $((each << 20)) -i $(((i * each % big) << 20)):0 "$shm/big" "$SRC/m$i" || return 1
	done
}

contenders_small="native directfs pt"
run_small() { bytes=$((smallfiles * 4096)); cp -r "$shm/small" "$T/"; }
check_small() { diff -r "$shm/small" "$SRC/small"; }

contenders_rsync="native directfs pt"
run_rsync() { bytes=$((treemib << 20)); rsync -a "$shm/tree" "$T/"; }
check_rsync() { diff -r --no-dereference "$shm/tree" "$SRC/tree"; }

contenders_tar="native directfs pt"
run_tar() { bytes=$((treemib << 20)); tar -xf "$shm/tree.tar" -C "$T"; }
check_tar() { check_rsync; }

# A home directory's shape copied with its metadata, timed to sync.
contenders_mixed="native directfs pt"
run_mixed() { bytes=$((mixedmib << 20)); cp -a "$shm/mixed" "$T/"; }
check_mixed() { diff -r "$shm/mixed" "$SRC/mixed"; }

contenders_meta="native directfs pt"
# Each operation type's seconds go to meta-ops.tsv (contender, round, op).
run_meta() {
	bytes=$((mdrounds * 4 * 1024))
	"$mdstress" -o "$T" 4 $mdrounds 512 2>"$work/ops" >/dev/null || { cat "$work/ops" >&2; return 1; }
	sed "s/^/$C\t$r\t/" "$work/ops" >>"$out/meta-ops.tsv"
}
# mdstress checks its own bytes; what it made must all be gone.
check_meta() { [ "$(find "$SRC" -type f | wc -l)" = 0 ]; }

contenders_sqlite="native directfs pt"
run_sqlite() { sqlite3 "$T/db" <"$shm/insert.sql" >/dev/null && bytes=$(stat -c %s "$T/db"); }
check_sqlite() {
	[ "$(sqlite3 "$SRC/db" 'PRAGMA integrity_check; SELECT count(*) FROM t;' | tr '\n' ' ')" = "ok $sqlrows " ]
}

contenders_fio4k="native directfs pt"
fio_rand() { # BS
	fio --name=rand --filename="$T/r" --rw=randwrite --bs=$1 --size=${fiosize}M \
		--ioengine=psync --verify=crc32c --verify_fatal=1 --randrepeat=0 --verify_state_save=0 >"$work/fio.out"
}
warm_fio4k() { fio --version; }
warm_fio64k() { fio --version; }
warm_seqwrite() { fio --version; }
warm_sqlite() { sqlite3 --version; }
warm_rsync() { rsync --version; }
run_fio4k() { bytes=$((fiosize << 20)); fio_rand 4k; }
check_fio4k() { grep -q 'err= 0' "$work/fio.out"; }
contenders_fio64k=$contenders_fio4k
run_fio64k() { bytes=$((fiosize << 20)); fio_rand 64k; }
check_fio64k() { check_fio4k; }

# --- one case ---
bad=0
tsv=$out/results.tsv
printf 'workload\tcontender\tround\tseconds\tMiBps\tcached_kib\tresident_pages\trss_kib\tcpu_s\tverified\n' >"$tsv"
: >"$out/meta-ops.tsv"
one() { # W C ROUND
	local w=$1 r=$3 t0 t1 c0 c1 cpu0 cpu1 res rss=- cpu=- ok=ok
	C=$2
	SRC=$work/src
	rm -rf "$SRC"
	mkdir -p "$SRC" "$mnt"
	declare -F "prep_$w" >/dev/null && "prep_$w"
	start "$C" "$SRC"
	drop
	# The programs' own pages (fio's libraries are 60 MiB) are not the
	# workload's cache growth: load them before the first reading.
	declare -F "warm_$w" >/dev/null && "warm_$w" >/dev/null
	c0=$(cached_kib)
	[ -n "$dpid" ] && cpu0=$(daemon_cpu "$dpid")
	t0=$(now)
	"run_$w" || ok=BAD
	sync
	t1=$(now)
	c1=$(cached_kib)
	if [ -n "$dpid" ]; then
		[[ $C == directfs* ]] && bench_settled "$mnt"
		cpu1=$(daemon_cpu "$dpid")
		cpu=$(echo "$cpu1 - $cpu0" | bc)
		rss=$(daemon_hwm "$dpid")
		if [[ $C == directfs* && $w != *read ]] && [ $ok = ok ]; then
			all_durable "$mnt" || ok=BAD
		fi
	fi
	# A tmpfs SOURCE is memory: its pages say nothing about caching.
	if mountpoint -q "$SRC"; then res=-; else res=$(bench_resident "$SRC"); fi
	if declare -F "verify_$w" >/dev/null && [ $ok = ok ]; then
		"verify_$w" || ok=BAD
	fi
	stop
	if declare -F "check_$w" >/dev/null && [ $ok = ok ]; then
		"check_$w" >&2 || ok=BAD
	fi
	declare -F "after_$w" >/dev/null && "after_$w"
	[ $ok = ok ] || bad=1
	printf '%s\t%s\t%s\t%.3f\t%.1f\t%d\t%s\t%s\t%s\t%s\n' "$w" "$C" "$r" "$(echo "$t1 - $t0" | bc)" \
		"$(echo "$bytes / 1048576 / ($t1 - $t0)" | bc -l)" $((c1 - c0)) "$res" "$rss" "$cpu" "$ok" |
		tee -a "$tsv" >&2
	rm -rf "$SRC"
}

t_start=$(date +%s)
for w in $only; do
	[ $w = neighbour ] && continue # its own script, below
	eval "cs=\$contenders_$w"
	for ((a = ${#alts[@]}; a >= 1; a--)); do cs=${cs/directfs/directfs directfs-alt$a}; done
	for ((r = 1; r <= rounds; r++)); do
		for c in $cs; do one "$w" "$c" "$r"; done
	done
done

# --- report ---
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r), SOURCE on $(df -T "$dir" | awk 'NR == 2 {print $2}')"
{
	echo "bench/run.sh$([ $quick = 1 ] && echo ' --quick')${opts:+ --opts $opts}$(for ((a = 0; a < ${#alts[@]}; a++)); do echo -n " --alt ${alts[a]} (directfs-alt$((a + 1)))"; done): $rounds round(s), $(date -u '+%F %H:%M UTC'), $machine, $(($(date +%s) - t_start)) s"
	echo
	echo "Sizes: sequential ${big} MiB, dd bs=4k ${w4k} MiB, 8 files ${multi} MiB in all, $smallfiles small files of 4 KiB, tree of $treefiles files ($treemib MiB: ${treesrc[*]}), mixed tree of $mixedfiles files ($mixedmib MiB), mdstress 4 × $mdrounds rounds, sqlite $sqlrows rows in $sqltx transactions, fio ${fiosize} MiB."
} >"$out/header.md"
report "$out"
# What a copy costs the other programs (bench/neighbour.sh): its own
# table and plot in OUT/neighbour.
if [[ " $only " == *" neighbour "* ]]; then
	nbargs=(--rounds "$rounds" --build "$build" --out "$out/neighbour")
	[ $quick = 1 ] && nbargs+=(--quick)
	[ -n "$opts" ] && nbargs+=(--opts "$opts")
	for a in "${alts[@]}"; do nbargs+=(--alt "$a"); done
	bash "$top/bench/neighbour.sh" "${nbargs[@]}" "$dir/neighbour" || bad=1
fi
exit $bad
