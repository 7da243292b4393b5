#!/usr/bin/env bash
# bench/neighbour.sh - what a copy costs the other programs on the machine.
# A big file is copied onto the disk under test while neighbours run
# beside it on the same disk, in alternating rounds of every contender:
#
#   warm      a file read once before the copy (a server's files, a build
#             cache): how much of it is still cached after, by fincore, and
#             how long reading it again takes
#   reader    4 KiB random reads of a cache-hot file, all through the copy
#   committer 4 KiB random writes, each followed by fdatasync (a database)
#   cpu       a CPU-bound loop
#   alloc     allocates and touches 512 MiB, frees it, rests 0.5 s, again
#
# Memory is held the way a small server's programs hold it (touched
# anonymous memory; there is no swap here) so that only --free MiB are
# left, and the copy is twice that.  Each case: drop the caches, start the
# contender's daemons, read the warm file once and the hot file twice,
# start the neighbours, 3 s, the copy and a sync (timed), 30 s more (the
# recovery), then fincore and re-read the warm file, and compare the copy
# with its source.  The contender "none" sleeps instead of copying: the
# neighbours' idle rates, which every other case's losses are counted
# against.
#
#   bench/neighbour.sh [--quick] [--rounds N] [--free MIB] [--after S]
#                      [--contenders "C ..."] [--opts O] [--alt O]...
#                      [--out DIR] [--build DIR] [DIR]
#   bench/neighbour.sh --report OUT
#
# Contenders (default: none native nocache direct directfs directfs-ro
# directfs-one, then the --alt ones):
#   none         no copy
#   native       cp SRC DEST; sync
#   nocache      nocache cp SRC DEST; sync (Debian's nocache)
#   direct       dd bs=1M iflag=direct oflag=direct; sync
#   directfs     cp SRC MOUNT/ (directfs over DEST's directory); sync
#   directfs-ro  the same, SRC read through a read-only directfs mount of
#                its directory (the kernel splices between the two mounts)
#   directfs-one one directfs mount over a directory holding both SRC's and
#                DEST's: cp's copy_file_range runs in the daemon, disk to
#                disk (the README's recipe: nothing cached on either side)
#   directfs-altN  directfs-one with directfs -o O
# --opts passes -o O to every directfs mount that is written to.  DIR (default
# /var/tmp/dfs-neighbour) is on the disk under test; --out (default
# DIR/results) receives results.tsv (a line per case), rates/ (each
# case's logs), results.md and neighbour.png (gnuplot).  --quick: small
# sizes, no memory held, 2 s of recovery, one round (CI's smoke test).
# Runs as root: it mounts, holds memory and drops the page cache.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/common.sh"

quick=0 rounds= free= after= contenders= opts= out= build=$top/build report_only=
alts=()
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--rounds) rounds=$2; shift ;;
	--free) free=$2; shift ;;
	--after) after=$2; shift ;;
	--contenders) contenders=$2; shift ;;
	--opts) opts=$2; shift ;;
	--alt) alts+=("$2"); shift ;;
	--out) out=$2; shift ;;
	--build) build=$2; shift ;;
	--report) report_only=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "bench/neighbour.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
nb=$build/bench/neighbour
dfs=$build/fs/directfs
neighbours="reader committer cpu alloc"

# What a contender is, in words, for the plot's legend (OUT/header.md
# names the --alt options).
label() { # CONTENDER
	local o
	case $1 in
	none) echo "no copy" ;;
	native) echo "cp" ;;
	nocache) echo "nocache cp" ;;
	direct) echo "dd iflag=direct oflag=direct" ;;
	directfs) echo "cp into a directfs mount" ;;
	directfs-ro) echo "cp from a read-only directfs mount into another" ;;
	directfs-one) echo "cp inside one directfs mount" ;;
	directfs-alt*)
		o=$(grep -o -- "--alt [^ ]* ($1)" "$out/header.md" | cut -d' ' -f2)
		echo "cp inside one directfs mount, -o $o" ;;
	*) echo "$1" ;;
	esac
}

# report OUT: OUT/results.md and OUT/neighbour.png from OUT/results.tsv.
# Losses are against the median idle rate of the "none" cases.
report() {
	local out=$1 tsv=$1/results.tsv
	[ -s "$tsv" ] || { echo "bench/neighbour.sh: no $tsv" >&2; return 1; }
	{
		[ -f "$out/header.md" ] && cat "$out/header.md" && echo
		echo "| contender | copy + sync s | reader ops lost | committer ops lost | cpu ops lost | lost vs native (reader, committer) | reader back at 95 % s | fdatasync p99 ms | reader p99 µs | alloc 512 MiB s | warm pages cached | warm re-read s | Dirty peak MiB | Cached peak MiB | daemon CPU s | verified |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		awk -F'\t' '
		function med(c, f,   i, j, m, x, s) {
			m = n[c]
			for (i = 1; i <= m; i++) s[i] = v[c, i, f]
			for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
			return m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
		}
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{
			c = $col["contender"]
			if (!(c in n)) order[++nc] = c
			n[c]++
			for (i = 1; i <= NF; i++) v[c, n[c], i] = $i
			if ($col["verified"] != "ok") bad[c] = 1
		}
		END {
			if (!("none" in n)) { print "| (no \"none\" cases: no idle rates) |"; exit }
			split("reader committer cpu", nbs, " ")
			for (k = 1; k <= 3; k++) {
				o = col[nbs[k] "_ops"]; s = col["window_s"]
				for (r = 1; r <= n["none"]; r++) rr[r] = v["none", r, o] / v["none", r, s]
				for (r = 1; r <= n["none"]; r++) v["none", r, 999] = rr[r]
				idle[nbs[k]] = med("none", 999)
			}
			for (ci = 1; ci <= nc; ci++) {
				c = order[ci]
				for (r = 1; r <= n[c]; r++)
					for (k = 1; k <= 3; k++)
						v[c, r, 1000 + k] = idle[nbs[k]] * v[c, r, col["window_s"]] - v[c, r, col[nbs[k] "_ops"]]
				lost[c, 1] = med(c, 1001); lost[c, 2] = med(c, 1002); lost[c, 3] = med(c, 1003)
			}
			for (ci = 1; ci <= nc; ci++) {
				c = order[ci]
				vsn = ("native" in n && c != "none") ? sprintf("%.2f, %.2f", lost[c, 1] / lost["native", 1], lost[c, 2] / lost["native", 2]) : "–"
				printf "| %s | %s | %.0fk | %.0fk | %.0fk | %s | %s | %.2f | %.0f | %.2f | %.1f %% | %.2f | %.0f | %.0f | %s | %s |\n",
					c, c == "none" ? "–" : sprintf("%.2f", med(c, col["copy_s"])),
					lost[c, 1] / 1000, lost[c, 2] / 1000, lost[c, 3] / 1000, vsn,
					c == "none" ? "–" : med(c, col["recover_s"]),
					med(c, col["committer_p99_us"]) / 1000, med(c, col["reader_p99_us"]),
					med(c, col["alloc_med_us"]) / 1e6,
					100 * med(c, col["warm_pages"]) / v[c, 1, col["warm_total"]],
					med(c, col["reread_s"]), med(c, col["dirty_peak_kib"]) / 1024,
					med(c, col["cached_peak_kib"]) / 1024,
					v[c, 1, col["daemon_cpu_s"]] == "-" ? "–" : med(c, col["daemon_cpu_s"]),
					(c in bad) ? "BAD" : "ok"
			}
			printf "\nIdle rates (median of the none cases): reader %.0f/s, committer %.0f/s, cpu %.0f/s.\n", idle["reader"], idle["committer"], idle["cpu"]
		}' "$tsv"
		echo
		echo "Lost: the neighbour's idle rate × (copy + ${after:-30} s) minus what it did then; medians of the rounds. p99s and the allocation's median are taken during the copy. \"back at 95 %\": from the end of the sync to the first second at ≥ 95 % of the idle rate."
	} >"$out/results.md"
	cat "$out/results.md"
	command -v gnuplot >/dev/null || return 0
	# Round 1 of each contender: each neighbour's rate per second
	# against the seconds since its copy started, and the page cache; the
	# legend says when the copy ended.
	local plots=() c f copy_mib
	declare -A ended=()
	copy_mib=$(grep -o 'A copy of [0-9]* MiB' "$out/header.md" 2>/dev/null | grep -o '[0-9][0-9]*' || echo '?')
	for c in $(awk -F'\t' 'NR > 1 && $2 == 1 && !s[$1]++ {print $1}' "$tsv"); do
		plots+=("$c")
		ended[$c]=$(awk -F'\t' -v c="$c" '$1 == c && $2 == 1 {print $3}' "$tsv")
		for f in reader committer cpu cached; do
			awk '{ s = int($1 + 100) - 100; n[s]++; v[s] += $2 } END { for (k in n) print k + 0.5, v[k] / n[k] }' \
				"$out/rates/$c.1.$f.dat" | sort -n >"$out/rates/$c.1.$f.sec"
		done
	done
	{
		echo "set terminal pngcairo size 1400,1100 noenhanced"
		echo "set output '$out/neighbour.png'"
		echo "set multiplot layout 2,2 title 'What a $copy_mib MiB copy costs the programs beside it (round 1, 1 s averages; the copy starts at 0)'"
		echo "set grid; set key below font ',9'; set xlabel 's since the copy started'"
		for f in reader committer cpu cached; do
			case $f in
			reader) echo "set title 'cache-hot reader: 4 KiB reads/s'; set ylabel 'ops/s'" ;;
			committer) echo "set title 'committer: 4 KiB write + fdatasync, commits/s'; set ylabel 'ops/s'" ;;
			cpu) echo "set title 'CPU-bound process: work/s'; set ylabel 'ops/s'" ;;
			cached) echo "set title 'page cache of files (Cached - Shmem)'; set ylabel 'MiB'" ;;
			esac
			echo -n "plot "
			local sep= t
			for c in "${plots[@]}"; do
				t="$(label "$c")"
				[ "$c" = none ] || t="$t: ends at ${ended[$c]} s"
				echo -n "$sep'$out/rates/$c.1.$f.sec' using 1:2 with lines lw 2 title '$t'"
				sep=", "
			done
			echo
		done
		echo "unset multiplot"
	} >"$out/plot.gp"
	gnuplot "$out/plot.gp"
}

[ -n "$report_only" ] && { report "$report_only"; exit; }

[ "$(id -u)" -eq 0 ] || { echo "bench/neighbour.sh: run as root" >&2; exit 1; }
[ -x "$dfs" ] && [ -x "$nb" ] || { echo "bench/neighbour.sh: build first ($nb missing)" >&2; exit 1; }
for t in fincore nocache gnuplot bc; do
	command -v $t >/dev/null || [ $t = gnuplot ] ||
		{ echo "bench/neighbour.sh: $t is not installed" >&2; exit 1; }
done

dir=${1:-/var/tmp/dfs-neighbour}
out=${out:-$dir/results}
if [ $quick = 1 ]; then
	: "${rounds:=1}" "${free:=0}" "${after:=2}"
	copy=128 warm=32 hot=32 commitf=16 alloc=64 idle=1 settle=1
else
	: "${rounds:=3}" "${free:=4096}" "${after:=30}"
	copy=$((2 * free)) warm=1024 hot=1024 commitf=256 alloc=512 idle=10 settle=3
fi
: "${contenders:=none native nocache direct directfs directfs-ro directfs-one}"
for ((a = 1; a <= ${#alts[@]}; a++)); do contenders+=" directfs-alt$a"; done

mkdir -p "$dir" "$out" "$out/rates"
work=$(mktemp -d "$dir/run.XXXXXX")
tree=$work/tree src=$work/tree/src dst=$work/tree/dst mnt=$work/mnt srcmnt=$work/srcmnt
mkdir -p "$src" "$dst" "$mnt" "$srcmnt"
holder= pids=() dpids=()
unmount_all() {
	local m
	for m in "$mnt" "$srcmnt"; do
		if mountpoint -q "$m"; then fusermount3 -u "$m" || fusermount3 -uz "$m"; fi
	done
	for m in "${dpids[@]}"; do wait "$m" || echo "bench/neighbour.sh: a daemon exited with $?" >&2; done
	dpids=()
}
stop_neighbours() {
	local p
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for p in "${pids[@]}"; do wait "$p" || true; done
	pids=()
}
cleanup() {
	set +e
	stop_neighbours
	unmount_all
	[ -n "$holder" ] && kill "$holder" && wait "$holder"
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
hz=$(getconf CLK_TCK)
daemon_cpu() { # PID...: their CPU seconds together
	local p f=()
	for p; do f+=("/proc/$p/stat"); done
	[ ${#f[@]} -gt 0 ] || { echo 0; return; }
	awk -v hz="$hz" '{s += ($14 + $15) / hz} END {printf "%.2f", s}' "${f[@]}"
}

# --- the files, made once, written with O_DIRECT so none is cached ---
echo "bench/neighbour.sh: writing $copy MiB to copy, the warm, hot and commit files in $work" >&2
make_file() { # NAME MIB
	head -c 64M /dev/urandom >"$work/chunk"
	local i
	for ((i = 0; i < $2; i += 64)); do
		dd if="$work/chunk" of="$1" bs=1M count=$(($2 - i < 64 ? $2 - i : 64)) seek=$i \
			oflag=direct conv=notrunc status=none
	done
}
make_file "$src/data" $copy
make_file "$work/warm" $warm
make_file "$work/hot" $hot
make_file "$work/commit" $commitf
rm -f "$work/chunk"

# --- memory held: only --free MiB left to the rest ---
if [ "$free" -gt 0 ]; then
	avail=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
	hold=$((avail - free))
	[ $hold -gt 0 ] || { echo "bench/neighbour.sh: only $avail MiB available, less than --free $free" >&2; exit 1; }
	echo "bench/neighbour.sh: holding $hold MiB of anonymous memory, $free MiB left" >&2
	coproc HOLD { exec "$nb" hold $hold; }
	holder=$HOLD_PID
	read -r _ <&"${HOLD[0]}"
fi

# start_daemons C: the contender's mounts; T is where the copy goes, S
# what it reads.
start_daemons() {
	local c=$1 o=$opts
	T=$dst S=$src/data
	if [[ $c == directfs-alt* ]]; then o=${alts[${c#directfs-alt} - 1]}; fi
	case $c in
	directfs | directfs-ro)
		"$dfs" -f ${o:+-o "$o"} "$dst" "$mnt" 2>>"$work/daemon.log" &
		dpids+=($!)
		bench_wait_mount neighbour.sh "$mnt"
		T=$mnt
		;;
	directfs-one | directfs-alt*)
		"$dfs" -f ${o:+-o "$o"} "$tree" "$mnt" 2>>"$work/daemon.log" &
		dpids+=($!)
		bench_wait_mount neighbour.sh "$mnt"
		T=$mnt/dst S=$mnt/src/data
		;;
	esac
	if [ "$c" = directfs-ro ]; then
		"$dfs" -f -o ro "$src" "$srcmnt" 2>>"$work/daemon.log" &
		dpids+=($!)
		bench_wait_mount neighbour.sh "$srcmnt"
		S=$srcmnt/data
	fi
}
copy() { # C
	case $1 in
	none) sleep $idle ;;
	native | directfs*) cp "$S" "$T/data" ;;
	nocache) nocache cp "$S" "$T/data" ;;
	direct) dd if="$S" of="$T/data" bs=1M iflag=direct oflag=direct status=none ;;
	*) echo "bench/neighbour.sh: no contender $1" >&2; return 1 ;;
	esac
}

tsv=$out/results.tsv
cols="contender round copy_s window_s reader_ops reader_p99_us committer_ops committer_p99_us cpu_ops alloc_med_us recover_s warm_pages warm_total reread_s dirty_peak_kib cached_peak_kib daemon_cpu_s verified"
echo "$cols" | tr ' ' '\t' >"$tsv"
bad=0
one() { # C ROUND
	local c=$1 r=$2 t0 t1 t2 ok=ok cpu=- n f logs=$work/logs
	rm -rf "$logs" "${dst:?}"/*
	mkdir -p "$logs"
	drop
	start_daemons "$c"
	cat "$work/warm" >/dev/null
	cat "$work/hot" >/dev/null
	cat "$work/hot" >/dev/null
	"$nb" meminfo "$logs/meminfo" & pids+=($!)
	"$nb" reader "$work/hot" "$logs/reader" & pids+=($!)
	"$nb" committer "$work/commit" "$logs/committer" & pids+=($!)
	"$nb" cpu "$logs/cpu" & pids+=($!)
	"$nb" alloc $alloc "$logs/alloc" & pids+=($!)
	sleep $settle
	local c0
	c0=$(daemon_cpu "${dpids[@]}")
	t0=$(now)
	copy "$c" || ok=BAD
	sync
	t1=$(now)
	sleep "$after"
	t2=$(now)
	stop_neighbours
	[ ${#dpids[@]} -gt 0 ] && cpu=$(awk -v a="$(daemon_cpu "${dpids[@]}")" -v b="$c0" 'BEGIN {printf "%.2f", a - b}')
	local wp wt rs s0
	wp=$(fincore -n -b -o PAGES "$work/warm")
	wt=$((warm * 256))
	s0=$(now)
	cat "$work/warm" >/dev/null
	rs=$(echo "$(now) - $s0" | bc)
	if [[ $c == directfs* ]]; then
		bench_settled "$mnt"
		[ "$(getfattr --absolute-names --only-values -n user.directfs.durable "$T/data")" = $((copy << 20)) ] || ok=BAD
	fi
	unmount_all
	[ $c = none ] || cmp "$src/data" "$dst/data" || ok=BAD
	# What each neighbour did from the copy's start to the window's end.
	local rd cm cu al rec mem
	rd=$("$nb" sum "$logs/reader" "$t0" "$t2")
	cm=$("$nb" sum "$logs/committer" "$t0" "$t2")
	cu=$("$nb" sum "$logs/cpu" "$t0" "$t2")
	# p99s and the allocation's time: during the copy.
	local rdp cmp_ alp
	rdp=$("$nb" sum "$logs/reader" "$t0" "$t1" | cut -d' ' -f3)
	cmp_=$("$nb" sum "$logs/committer" "$t0" "$t1" | cut -d' ' -f3)
	alp=$("$nb" sum "$logs/alloc" "$t0" "$t1" | cut -d' ' -f4)
	mem=$(awk -v a="$t0" -v b="$t2" '$1 > a && $1 <= b { if ($2 > d) d = $2; if ($3 > k) k = $3 } END {print d + 0, k + 0}' "$logs/meminfo")
	# Recovery: against the first none case's reader rate (none runs first).
	rec=-
	if [ -n "${idle_reader:-}" ]; then
		rec=$("$nb" recover "$logs/reader" "$t1" "$(echo "0.95 * $idle_reader" | bc -l)")
	fi
	if [ $c = none ]; then
		idle_reader=$(awk '{print $1 / $2}' <<<"$rd")
	fi
	for f in reader committer cpu; do
		"$nb" rate "$logs/$f" "$t0" >"$out/rates/$c.$r.$f.dat"
	done
	awk -v t="$t0" '{printf "%.2f %.0f\n", $1 - t, $3 / 1024}' "$logs/meminfo" >"$out/rates/$c.$r.cached.dat"
	[ $ok = ok ] || bad=1
	printf '%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n' \
		"$c" "$r" "$(echo "$t1 - $t0" | bc)" "$(cut -d' ' -f2 <<<"$rd")" \
		"$(cut -d' ' -f1 <<<"$rd")" "$rdp" "$(cut -d' ' -f1 <<<"$cm")" "$cmp_" \
		"$(cut -d' ' -f1 <<<"$cu")" "$alp" "$rec" "$wp" "$wt" "$rs" \
		$mem "$cpu" "$ok" | tee -a "$tsv" >&2
}

t_start=$(date +%s)
for ((r = 1; r <= rounds; r++)); do
	for c in $contenders; do one "$c" "$r"; done
done
{
	echo "bench/neighbour.sh$([ $quick = 1 ] && echo ' --quick')${opts:+ --opts $opts}$(for ((a = 0; a < ${#alts[@]}; a++)); do echo -n " --alt ${alts[a]} (directfs-alt$((a + 1)))"; done): $rounds round(s), $(date -u '+%F %H:%M UTC'), $(nproc) cores, $(uname -r), $(df -T "$dir" | awk 'NR == 2 {print $2}'), $(($(date +%s) - t_start)) s"
	echo
	echo "A copy of $copy MiB$([ "$free" -gt 0 ] && echo " with all but $free MiB of memory held"); warm file $warm MiB, hot reader's $hot MiB, committer's $commitf MiB, allocations of $alloc MiB; $after s after each copy."
} >"$out/header.md"
report "$out"
exit $bad
