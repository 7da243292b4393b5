#!/usr/bin/env bash
# Description: the benchmark harness's smoke test.  bench/run.sh --quick
# (one round of every workload, small sizes) runs every contender of every
# workload, every case verifies (bytes compared, fio's and sqlite's own
# checks, every directfs file durable), and no directfs case leaves a page
# of its files resident.  The neighbour workload runs every contender
# with its neighbours logging, each copy verified, and draws its table
# and plot.  The metadata stress times each of its operation types.  A
# speed is never asserted.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$T/results
bash "$top/bench/run.sh" --quick --build "$DFS_BUILD_DIR" --out "$out" "$T/bench" >"$T/run.log" 2>&1 ||
	fail "bench/run.sh --quick failed: $(tail -20 "$T/run.log")"

# Every workload with every contender it names, each verified.
want="seqwrite:raw,fio-qd8,directfs,pt,pt-never write4k:native,directfs,pt,pt-never
cp:native,directfs,pt,pt-never read:raw,directfs,pt,pt-never bigwrite:raw,directfs,pt-never
bigread:raw,directfs,pt-never tmpfs:raw,directfs,pt-never multi:raw,directfs,pt,pt-never
small:native,directfs,pt rsync:native,directfs,pt tar:native,directfs,pt mixed:native,directfs,pt
meta:native,directfs,pt
sqlite:native,directfs,pt fio4k:native,directfs,pt fio64k:native,directfs,pt"
n=0
for wc in $want; do
	for c in ${wc#*:}; do c=${c//,/ }; for x in $c; do
		line=$(awk -F'\t' -v w="${wc%%:*}" -v c="$x" '$1 == w && $2 == c' "$out/results.tsv")
		[ -n "$line" ] || fail "no ${wc%%:*} case for $x"
		[ "$(cut -f10 <<<"$line")" = ok ] || fail "${wc%%:*} / $x did not verify: $line"
		if [ "$x" = directfs ] && [ "${wc%%:*}" != tmpfs ]; then # tmpfs: memory
			[ "$(cut -f7 <<<"$line")" = 0 ] || fail "${wc%%:*} through directfs left pages resident: $line"
		fi
		n=$((n + 1))
	done; done
done
[ "$(($(wc -l <"$out/results.tsv") - 1))" = "$n" ] || fail "results.tsv has other cases than the $n expected"
grep -q '^| seqwrite | directfs |' "$out/results.md" || fail "results.md has no table"
# The metadata stress's operation types: 16 for each of its 3 contenders,
# every one timed, and their table.
assert_eq "$(wc -l <"$out/meta-ops.tsv")" 48 "meta-ops.tsv lines"
awk -F'\t' 'NF != 4 || !($4 > 0) { exit 1 }' "$out/meta-ops.tsv" ||
	fail "meta-ops.tsv has an operation without a time: $(cat "$out/meta-ops.tsv")"
grep -q '^| read back (open, read, close) | [0-9.]* | [0-9.]* | [0-9.]* |$' "$out/results.md" ||
	fail "results.md has no table of the metadata stress's operations"
if command -v gnuplot >/dev/null; then
	[ -s "$out/results.png" ] || fail "gnuplot is installed but no results.png"
elif [ "${CI:-}" = true ]; then
	fail "gnuplot is not installed"
fi
nb=$out/neighbour
for c in none native nocache direct directfs directfs-ro directfs-one; do
	line=$(awk -F'\t' -v c="$c" '$1 == c' "$nb/results.tsv")
	[ -n "$line" ] || fail "neighbour: no case for $c"
	[ "$(awk -F'\t' '{print $NF}' <<<"$line")" = ok ] || fail "neighbour / $c did not verify: $line"
	# Every neighbour logged: the reader, committer and CPU did work.
	awk -F'\t' '{exit !($5 > 0 && $7 > 0 && $9 > 0)}' <<<"$line" || fail "neighbour / $c: a neighbour did nothing: $line"
	[ -s "$nb/rates/$c.1.reader.dat" ] || fail "neighbour / $c: no reader rates"
done
grep -q '^| directfs-one |' "$nb/results.md" || fail "neighbour: results.md has no table"
if command -v gnuplot >/dev/null; then
	[ -s "$nb/neighbour.png" ] || fail "neighbour: gnuplot is installed but no neighbour.png"
fi
echo "bench/run.sh --quick: $n cases, all verified, no directfs page resident; neighbour: 7 contenders verified"
