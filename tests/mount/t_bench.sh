#!/usr/bin/env bash
# Description: the benchmark harness's smoke test.  bench/run.sh --quick
# (one round of every workload, small sizes) runs every contender of every
# workload, every case verifies (bytes compared, fio's and sqlite's own
# checks, every directfs file durable), and no directfs case leaves a page
# of its files resident.  A speed is never asserted.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$T/results
bash "$top/bench/run.sh" --quick --build "$DFS_BUILD_DIR" --out "$out" "$T/bench" >"$T/run.log" 2>&1 ||
	fail "bench/run.sh --quick failed: $(tail -20 "$T/run.log")"

# Every workload with every contender it names, each verified.
want="seqwrite:raw,fio-qd8,directfs,pt,pt-never write4k:native,directfs,pt,pt-never
cp:native,directfs,pt,pt-never read:raw,directfs,pt,pt-never bigwrite:raw,directfs,pt-never
bigread:raw,directfs,pt-never tmpfs:raw,directfs,pt-never multi:raw,directfs,pt,pt-never
small:native,directfs,pt rsync:native,directfs,pt tar:native,directfs,pt meta:native,directfs,pt
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
if command -v gnuplot >/dev/null; then
	[ -s "$out/results.png" ] || fail "gnuplot is installed but no results.png"
elif [ "${CI:-}" = true ]; then
	fail "gnuplot is not installed"
fi
echo "bench/run.sh --quick: $n cases, all verified, no directfs page resident"
