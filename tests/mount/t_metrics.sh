#!/usr/bin/env bash
# Description: directfs-progress --prometheus, read by a real parser
# (python3-prometheus-client's).  Two mounts (one with a space and a quote
# in its path, one on a small filesystem where a copy fails with ENOSPC)
# give one label set each (mountpoint, source); every counter and gauge
# equals the root attribute it comes from, files completed and failed
# included.  Named mounts give only theirs; a path that is not a mount
# root exits 2.  --output replaces its file atomically: a reader parsing
# it over and over meanwhile never sees half of one, and no temporary
# file stays.  The shipped systemd service's command line does the same.
. "$(dirname "$0")/lib.sh"
: "${DFS_PROGRESS:?}" "${DFS_BUILD_DIR:?}"
/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "no python3-prometheus-client"

src=$T/src mnt="$T/mnt \"one\""
dfs_mount "$src" "$mnt"
loop_fs ext4 32 512 "$T/small"
src2=$T/small/src mnt2=$T/mnt2
mkdir -p "$src2"
dfs_mount "$src2" "$mnt2"
for i in $(seq 5); do head -c $((i * 300000)) /dev/urandom >"$mnt/f$i"; done
head -c 100000 /dev/urandom >"$mnt2/ok"
dd if=/dev/zero of="$mnt2/full" bs=1M count=64 status=none 2>/dev/null &&
	fail "64 MiB onto a 32 MiB filesystem succeeded"
dfs_settled "$mnt"
wait_for 10 attr_is "$mnt2" state error || fail "the failed copy: root state $(attr "$mnt2" state)"
rm "$mnt2/full"
# The rate falls to 0 a second after the last write: then every figure
# holds still while it is read twice.
for m in "$mnt" "$mnt2"; do wait_for 5 attr_is "$m" rate 0 || fail "$m: rate $(attr "$m" rate)"; done

# Parse a file of the text format; print "NAME MOUNTPOINT SOURCE VALUE" per
# sample (the parser fails on anything malformed).
parse() { # FILE
	/usr/bin/python3 - "$1" <<-'EOF'
		import sys
		from prometheus_client.parser import text_string_to_metric_families
		for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
		    for s in fam.samples:
		        print("%s\t%s\t%s\t%d" % (s.name, s.labels["mountpoint"], s.labels["source"], s.value))
	EOF
}
"$DFS_PROGRESS" --prometheus >"$T/all.prom" || fail "--prometheus: exit $?"
parse "$T/all.prom" >"$T/all.tsv" || fail "the parser refused: $(cat "$T/all.prom")"
# Each figure of a mount, from its parsed sample.
got() { # NAME MOUNTPOINT
	awk -F'\t' -v n="$1" -v m="$2" '$1 == n && $2 == m { print $4 }' "$T/all.tsv"
}
for m in "$mnt" "$mnt2"; do
	s=$src
	[ "$m" = "$mnt2" ] && s=$src2
	assert_eq "$(awk -F'\t' -v m="$m" '$2 == m { print $3 }' "$T/all.tsv" | sort -u)" "$s" "source label of $m"
	assert_eq "$(got directfs_written_bytes_total "$m")" "$(attr "$m" written)" "$m: written"
	assert_eq "$(got directfs_synced_bytes_total "$m")" "$(attr "$m" synced)" "$m: synced"
	assert_eq "$(got directfs_durable_bytes_total "$m")" "$(attr "$m" durable)" "$m: durable"
	assert_eq "$(got directfs_pending_bytes "$m")" "$(attr "$m" pending)" "$m: pending"
	assert_eq "$(got directfs_open_files "$m")" 0 "$m: open files"
	assert_eq "$(got directfs_write_rate_bytes_per_second "$m")" "$(attr "$m" rate)" "$m: rate"
	assert_eq "$(got directfs_error_files "$m")" "$(attr "$m" error_files)" "$m: error files"
done
assert_eq "$(got directfs_files_completed_total "$mnt")" 5 "files completed on $mnt"
assert_eq "$(got directfs_files_failed_total "$mnt")" 0 "files failed on $mnt"
assert_eq "$(got directfs_files_completed_total "$mnt2")" 1 "files completed on $mnt2"
assert_eq "$(got directfs_files_failed_total "$mnt2")" 1 "files failed on $mnt2"
assert_eq "$(got directfs_written_bytes_total "$mnt")" 4500000 "bytes written on $mnt"
echo "every mount: ok ($(wc -l <"$T/all.tsv") samples in all; $mnt: 5 completed; $mnt2: 1 completed, 1 failed)"

# Named mounts: only theirs.  Not a mount root: 2.
"$DFS_PROGRESS" --prometheus "$mnt2" >"$T/one.prom" || fail "--prometheus $mnt2: exit $?"
parse "$T/one.prom" | cut -f2 | sort -u >"$T/one.mounts"
assert_eq "$(cat "$T/one.mounts")" "$mnt2" "mounts reported for one named"
rc=0
"$DFS_PROGRESS" --prometheus "$T" >/dev/null 2>"$T/err" || rc=$?
assert_eq "$rc" 2 "--prometheus of a directory that is no mount: exit"
grep -q "not the root of a directfs mount" "$T/err" || fail "--prometheus of $T said: $(cat "$T/err")"
echo "named mounts: ok"

# --output: a reader never sees half a file.
out=$T/collector/directfs.prom
mkdir -p "$T/collector"
"$DFS_PROGRESS" --prometheus --output "$out" "$mnt" "$mnt2" || fail "--output: exit $?"
parse "$out" >"$T/ours.tsv" || fail "--output wrote: $(cat "$out")"
(
	for i in $(seq 60); do "$DFS_PROGRESS" --prometheus --output "$out" "$mnt" "$mnt2" || exit 1; done
) &
writer=$!
reads=0
while ! gone $writer; do
	parse "$out" >"$T/read.tsv" || fail "a reader parsed a broken file while --output replaced it"
	[ "$(wc -l <"$T/read.tsv")" = "$(wc -l <"$T/ours.tsv")" ] ||
		fail "a reader saw $(wc -l <"$T/read.tsv") samples, not $(wc -l <"$T/ours.tsv")"
	reads=$((reads + 1))
done
wait $writer || fail "--output failed while replaced 60 times"
assert_eq "$(ls "$T/collector")" directfs.prom "files in the collector directory"
echo "--output: ok ($reads reads while it was replaced 60 times, none partial)"

# The shipped service's command, with its paths moved into the test.
unit=$DFS_BUILD_DIR/mount-helpers/directfs-metrics.service
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$cmd" ] || fail "no ExecStart in $unit"
cmd=${cmd/*directfs-progress /$DFS_PROGRESS }
cmd=${cmd//\/var\/lib\/prometheus\/node-exporter/$T\/collector}
rm -f "$out"
eval "$cmd" || fail "the service's command ($cmd): exit $?"
parse "$out" >/dev/null || fail "the service's command wrote: $(cat "$out")"
grep -q '^OnUnitActiveSec=15s$' "$(dirname "$0")/../../mount-helpers/directfs-metrics.timer" ||
	fail "the timer does not run it every 15 s"
echo "the service's command: ok ($cmd)"

dfs_check_log "ENOSPC|No space left|writing out at release failed|closing a file in error"
echo PASS
