#!/usr/bin/env bash
# Description: the progress attributes (README, "Progress") and directfs-progress.
# During a slow copy the figures are readable and monotonic with
# synced <= written, and durable reaches the size after close.  getxattr's
# size-0, ERANGE and ENODATA conventions; the names are never listed, not
# copied by cp -a, rsync -aX or tar --xattrs, and cannot be set or removed.
# Reading them does not wait for a disk write that cannot finish (the
# backing filesystem frozen).  The figures outlive the kernel forgetting
# the file's inode.  directfs-progress on a file, on the mount
# root, on several files at once, started mid-copy, on a file that runs
# out of space, outside a mount and on a tty.
. "$(dirname "$0")/lib.sh"
: "${DFS_XATTRS:?}" "${DFS_PROGRESS:?}" "${DFS_SLOWWRITE:?}"

is_num() { [[ $1 =~ ^[0-9]+$ ]] || fail "not a decimal number: '$1'"; }
# True while the file is durable at SIZE and idle.
durable_idle() { # PATH SIZE
	attr_is "$1" durable "$2" && attr_is "$1" state idle
}
# Wait up to 20 s for the file's durable to equal its size, state idle.
wait_durable() { # PATH SIZE
	wait_for 20 durable_idle "$1" "$2" ||
		fail "$1: durable $(attr "$1" durable), state $(attr "$1" state), want $2 and idle"
}
# The bytes slowwrite writes for TOTAL and SEED.
pattern_sha() { "$DFS_SLOWWRITE" - "$1" 65536 0 "$2" | sha256sum | cut -d' ' -f1; }

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt" -o buffer_size=1M
# True once the daemon holds no descriptor of FILE on SOURCE: it has
# handled the kernel's FORGET of the file's inode.
forgotten() { # FILE
	[ -z "$(find "/proc/$(dfs_pid "$mnt")/fd" -lname "$1" 2>/dev/null)" ]
}

# --- a slow copy, sampled ---
total=$((12 * 1024 * 1024))
"$DFS_SLOWWRITE" "$mnt/slow" $total 262144 40 7 >"$T/slow.out" &
wpid=$!
pw=0 ps=0 pd=0 samples=0 midway=0 root_open=0 root_rate=0
while kill -0 $wpid 2>/dev/null; do
	if [ ! -e "$mnt/slow" ]; then sleep 0.05; continue; fi
	# written last: the others count bytes written by then
	s=$(attr "$mnt/slow" synced) p=$(attr "$mnt/slow" pending)
	d=$(attr "$mnt/slow" durable) w=$(attr "$mnt/slow" written)
	st=$(attr "$mnt/slow" state)
	ro=$(attr "$mnt" open_files) rr=$(attr "$mnt" rate)
	for v in "$s" "$w" "$d" "$p" "$ro" "$rr"; do is_num "$v"; done
	[ "$s" -le "$w" ] || fail "synced $s > written $w"
	[ "$p" -le "$w" ] || fail "pending $p > written $w"
	[ "$w" -ge $pw ] && [ "$s" -ge $ps ] && [ "$d" -ge $pd ] ||
		fail "went backwards: written $pw->$w synced $ps->$s durable $pd->$d"
	case $st in
	writing | syncing) ;;
	idle) # before the creating open is done (nothing written when st
		# was read), or after the release (all durable from then on)
		d2=$(attr "$mnt/slow" durable)
		[ "$w" -eq 0 ] || [ "$d2" -eq $total ] ||
			fail "idle after $w bytes written, with durable $d2 of $total" ;;
	*) fail "state '$st' during a copy" ;;
	esac
	[ "$w" -gt 0 ] && [ "$w" -lt $total ] && midway=$((midway + 1))
	[ "$ro" -ge 1 ] && root_open=1
	[ "$rr" -gt 0 ] && root_rate=1
	pw=$w ps=$s pd=$d samples=$((samples + 1))
	sleep 0.1
done
wait $wpid || fail "slowwrite failed: $(cat "$T/slow.out")"
[ $midway -ge 3 ] || fail "only $midway samples in the middle of the copy ($samples in all)"
[ $root_open -eq 1 ] && [ $root_rate -eq 1 ] || fail "the mount root never showed the open file or a rate"
wait_durable "$mnt/slow" $total
[ "$(attr "$mnt/slow" written)" = $total ] && [ "$(attr "$mnt/slow" synced)" = $total ] &&
	[ "$(attr "$mnt/slow" pending)" = 0 ] || fail "after the copy: $(getfattr --absolute-names -d -m '' "$mnt/slow" 2>&1)"
[ "$(resident "$src/slow")" -eq 0 ] || fail "slow copy left pages cached"
[ "$(sha "$src/slow")" = "$(pattern_sha $total 7)" ] || fail "slow copy: bytes differ"
# The root's rate is written's growth over the last second: 0 once a
# second has passed since the last write.
rate_zero() { [ "$(attr "$mnt" rate)" = 0 ]; }
wait_for 5 rate_zero || fail "root rate $(attr "$mnt" rate) 5 s after the copy"
echo "slow copy: ok ($samples samples, $midway midway, monotonic, durable = size after close)"

# --- the kernel forgets an idle file: its figures stay ---
# drop_caches evicts unused inodes, and the kernel sends FORGET; the next
# lookup makes a new inode in the daemon, which must still know the last
# session.  Then, forgotten again and changed on SOURCE meanwhile (ctime),
# the file reads as one never written through the mount: that 0 also
# shows the forget really happened.
fsize=3000000
head -c $fsize /dev/urandom >"$mnt/forgot"
wait_durable "$mnt/forgot" $fsize
echo 2 >/proc/sys/vm/drop_caches
wait_for 5 forgotten "$src/forgot" || fail "the daemon still holds forgot 5 s after drop_caches"
for n in written synced durable; do
	assert_eq "$(attr "$mnt/forgot" $n)" $fsize "after the kernel forgot the file: $n"
done
assert_eq "$(attr "$mnt/forgot" state)" idle "after the kernel forgot the file: state"
echo 2 >/proc/sys/vm/drop_caches
wait_for 5 forgotten "$src/forgot" || fail "the daemon still holds forgot 5 s after a second drop_caches"
touch "$src/forgot"
[ "$(attr "$mnt/forgot" written)" = 0 ] && [ "$(attr "$mnt/forgot" durable)" = $fsize ] ||
	fail "forgotten, then touched on SOURCE: written $(attr "$mnt/forgot" written) durable $(attr "$mnt/forgot" durable), want 0 and $fsize"
rm "$mnt/forgot"
echo "forgotten inode: ok (figures kept; dropped once SOURCE changed the file)"

# --- getxattr conventions, hiding, refusing ---
xa() { "$DFS_XATTRS" "$@"; }
expect() { # WANT CMD...: the helper prints WANT
	local want=$1 got
	shift
	got=$("$@")
	[ "$got" = "$want" ] || fail "$*: got '$got', want '$want'"
}
expect "len ${#total}" xa get "$mnt/slow" user.directfs.durable 0
expect "value $total" xa get "$mnt/slow" user.directfs.durable 64
expect ERANGE xa get "$mnt/slow" user.directfs.durable 3
expect ENODATA xa get "$mnt/slow" user.directfs.bogus 64
expect ENODATA xa get "$mnt" user.directfs.bogus 64
mkdir "$mnt/dir"
expect ENODATA xa get "$mnt/dir" user.directfs.state 64
expect "value idle" xa get "$mnt/slow" user.directfs.state 64
expect EPERM xa set "$mnt/slow" user.directfs.durable 0
expect EPERM xa remove "$mnt/slow" user.directfs.state
grep -q "user.directfs.durable cannot be set" "$DFS_LOG" || fail "refused set not logged"
grep -q "user.directfs.state cannot be removed" "$DFS_LOG" || fail "refused remove not logged"
# Other names pass through; the same prefix on SOURCE stays hidden.
expect ok xa set "$mnt/slow" user.note copied
[ "$(getfattr --absolute-names --only-values -n user.note "$src/slow")" = copied ] || fail "user.note did not reach SOURCE"
setfattr -n user.directfs.planted -v 1 "$src/slow"
# user.note and the file's checksum tag (SOURCE's, so listed: t_checksum).
expect "len 55" xa list "$mnt/slow" 0
expect "user.directfs.xxh128 user.directfs.xxh128.ts user.note " \
	eval 'xa list "$mnt/slow" 64 | sort | tr "\n" " "'
expect ERANGE xa list "$mnt/slow" 5
expect ENODATA xa get "$mnt/slow" user.directfs.planted 64
# A hidden name before a visible one longer than it (two names of a new
# file: SOURCE lists them in the order they were set): the visible name
# is listed whole, and alone.
echo names >"$src/names"
setfattr -n user.directfs.h -v 1 "$src/names"
setfattr -n user.visible_name_longer_than_a_hidden_one -v 1 "$src/names"
assert_eq "$(xa list "$mnt/names" 4096 | tr '\n' ' ')" "user.visible_name_longer_than_a_hidden_one " \
	"names listed after a hidden one"
rm "$src/names"
getfattr --absolute-names -d -m '' "$mnt/slow" 2>&1 | grep -v '^user\.directfs\.xxh128' | grep -q directfs &&
	fail "getfattr -d lists user.directfs.* beside the checksum tag"
mkdir "$T/out"
cp -a "$mnt/slow" "$T/out/cp"
rsync -aX "$mnt/slow" "$T/out/rsync"
tar --xattrs -C "$mnt" -cf "$T/out.tar" slow
mkdir "$T/out/tar" && tar --xattrs --xattrs-include='*' -C "$T/out/tar" -xf "$T/out.tar"
for f in "$T/out/cp" "$T/out/rsync" "$T/out/tar/slow"; do
	names=$(getfattr --absolute-names -d -m '' "$f" 2>/dev/null)
	grep -q user.note <<<"$names" || fail "$f: user.note was not copied: $names"
	# The checksum tag travels, as any attribute of SOURCE's does.
	grep -q '^user.directfs.xxh128=' <<<"$names" || fail "$f: the checksum tag was not copied: $names"
	grep -v '^user\.directfs\.xxh128' <<<"$names" | grep -q directfs &&
		fail "$f: progress attributes were copied: $names"
done
echo "xattrs: ok (size 0, ERANGE, ENODATA, EPERM logged, hidden from list, cp -a, rsync -aX, tar --xattrs)"

# --- the mount root ---
assert_eq "$(attr "$mnt" pid)" "$(dfs_pid "$mnt")" "root pid"
[ "$(attr "$mnt" open_files)" = 0 ] && [ "$(attr "$mnt" state)" = idle ] &&
	[ "$(attr "$mnt" pending)" = 0 ] || fail "root after the copy: $(getfattr --absolute-names -d -m '' "$mnt" 2>&1)"
[ "$(attr "$mnt" written)" -ge $total ] && [ "$(attr "$mnt" durable)" -ge $total ] ||
	fail "root written/durable below the copy"
for n in synced rate staging fallback_files error_files; do is_num "$(attr "$mnt" $n)"; done
echo "root: ok ($(for n in open_files written durable rate state; do printf '%s=%s ' $n "$(attr "$mnt" $n)"; done))"

# --- directfs-progress on a file: follows it, exits 0 ---
# Every line: written never goes back, pending and durable never above
# it, and the rate (bytes/s) within what the writer can do (4 MB/s, with
# bursts: under 64 MiB/s).
check_prog() { # OUT FILE SIZE
	local line re w lines=0 prev=0 writing=0 rate=0
	re="^[0-9.]+ $2 written=([0-9]+) durable=([0-9]+) pending=([0-9]+) rate=([0-9]+) state=([a-z:A-Z]+)$"
	while read -r line; do
		[[ $line =~ $re ]] || fail "directfs-progress line: '$line'"
		w=${BASH_REMATCH[1]}
		[ "$w" -ge $prev ] || fail "directfs-progress: written went back: $line"
		[ "${BASH_REMATCH[2]}" -le "$w" ] && [ "${BASH_REMATCH[3]}" -le "$w" ] ||
			fail "directfs-progress: durable or pending above written: $line"
		[ "${BASH_REMATCH[4]}" -lt $((64 << 20)) ] || fail "directfs-progress: rate: $line"
		[ "${BASH_REMATCH[5]}" = writing ] && writing=1
		[ "${BASH_REMATCH[4]}" -gt 0 ] && rate=1
		prev=$w lines=$((lines + 1))
	done <"$1"
	[ $lines -ge 4 ] && [ $writing -eq 1 ] && [ $rate -eq 1 ] || fail "directfs-progress output: $(cat "$1")"
	tail -n 1 "$1" | grep -q "written=$3 durable=$3 pending=0 rate=[0-9]* state=idle$" ||
		fail "last line: $(tail -n 1 "$1")"
	echo "directfs-progress FILE: ok ($lines lines, last: $(tail -n 1 "$1" | cut -d' ' -f3-))"
}
# Started before the file exists: it waits for it, and says so.
"$DFS_PROGRESS" -i 0.2 "$mnt/p1" >"$T/p1.out" 2>"$T/p1.err" &
ppid=$!
says_waiting() { grep -qs "waiting for $mnt/p1 to appear" "$T/p1.err"; }
wait_for 10 says_waiting || fail "directfs-progress did not say it waits: $(cat "$T/p1.err")"
"$DFS_SLOWWRITE" "$mnt/p1" 6000000 200000 50 3 >/dev/null
wait $ppid || fail "directfs-progress exited $?: $(cat "$T/p1.out" "$T/p1.err")"
check_prog "$T/p1.out" "$mnt/p1" 6000000
# Started in the middle of the copy.
"$DFS_SLOWWRITE" "$mnt/p2" 6000000 200000 50 4 >/dev/null &
wpid=$!
wait_for 5 size_at_least "$mnt/p2" 1000000 || fail "p2 has not reached 1 MB within 5 s"
"$DFS_PROGRESS" -i 0.2 "$mnt/p2" >"$T/p2.out" 2>&1 || fail "directfs-progress exited $?: $(cat "$T/p2.out")"
wait $wpid || fail "slowwrite p2 failed"
check_prog "$T/p2.out" "$mnt/p2" 6000000

# --- on the mount root: two copies one after the other ---
"$DFS_PROGRESS" -i 0.2 "$mnt" >"$T/root.out" 2>&1 &
ppid=$!
("$DFS_SLOWWRITE" "$mnt/r1" 3000000 200000 40 4 && "$DFS_SLOWWRITE" "$mnt/r2" 3000000 200000 40 5) >/dev/null
t_end=$(date +%s.%N)
wait $ppid || fail "directfs-progress on the root exited $?: $(cat "$T/root.out")"
grep -q "state=writing" "$T/root.out" || fail "root progress never saw writing: $(cat "$T/root.out")"
tail -n 1 "$T/root.out" | grep -q "pending=0 rate=[0-9]* state=idle$" || fail "root last line: $(tail -n 1 "$T/root.out")"
[ "$(attr "$mnt/r2" durable)" = 3000000 ] || fail "root progress ended before r2 was durable"
echo "directfs-progress ROOT: ok ($(wc -l <"$T/root.out") lines)"

# --- the root's list of files in flight (user.directfs.files) ---
files() { getfattr --absolute-names --only-values -n user.directfs.files "$mnt"; }
mkdir -p "$mnt/sub"
"$DFS_SLOWWRITE" "$mnt/sub/fl one" 3000000 200000 40 4 >/dev/null &
wpid=$!
nl=$'new\nline'
exec 5>"$mnt/$nl" 6>"$mnt/gone"
printf x >&5
printf yy >&6
rm "$mnt/gone"
# True once the list (kept in v) shows the slow copy in flight.
slow_listed() { v=$(files) && grep -Eq '^[0-9]+ [0-9]+ [0-9]+ writing sub/fl one$' <<<"$v"; }
v=
wait_for 5 slow_listed &&
	grep -Exq '1 0 [01] writing new\\nline' <<<"$v" &&
	grep -Exq '2 0 [02] writing gone \(deleted\)' <<<"$v" ||
	fail "user.directfs.files during three copies: $v"
[ "$(wc -l <<<"$v")" = 3 ] || fail "user.directfs.files has other lines: $v"
exec 5>&- 6>&-
wait $wpid || fail "slowwrite into sub/ failed"
wait_durable "$mnt/sub/fl one" 3000000
none_listed() { [ -z "$(files)" ]; }
wait_for 5 none_listed || fail "user.directfs.files after the copies: $(files)"
rm -r "$mnt/sub" "$mnt/$nl"
echo "root's files in flight: ok ($(tr '\n' '|' <<<"$v"))"

# --- the root waits for a copy to begin, lists it, one rate for all ---
# Started on an idle mount it must not end before the copy; while one
# file moves, the mount's rate and the file's are the same figure; the
# sample after the copy shows rate 0.
"$DFS_PROGRESS" -i 0.3 --json "$mnt" >"$T/wait.json" 2>"$T/wait.err" &
ppid=$!
# waits_said FILE: the watch has said it waits for a copy to begin.
waits_said() { grep -qs "$mnt: waiting for a copy to begin" "$1"; }
wait_for 10 waits_said "$T/wait.err" || fail "root watch did not say it waits: $(cat "$T/wait.err")"
watch_gone() { ! kill -0 $ppid 2>/dev/null; }
stays_false 1.5 "root watch exited before a copy began: $(cat "$T/wait.json" "$T/wait.err")" watch_gone
"$DFS_SLOWWRITE" "$mnt/w1" 4000000 100000 40 8 >/dev/null
wait $ppid || fail "root watch exited $?: $(cat "$T/wait.err")"
MNT=$mnt perl -MJSON::PP -ne '
	BEGIN { $moving = $same = $zero = $waiting = 0 }
	my $o = decode_json($_);
	$o->{target} eq $ENV{MNT} or die "target $o->{target}\n";
	$waiting++ if $o->{waiting};
	my @f = @{$o->{files}};
	if (@f == 1 && $f[0]{name} eq "w1" && $o->{rate} > 0 && $f[0]{rate} > 0) {
		$moving++;
		my $q = $o->{rate} / $f[0]{rate};
		$same++ if $q > 0.8 && $q < 1.25;
	}
	$zero = $o->{rate} == 0 && $o->{state} eq "idle" ? 1 : 0;
	END {
		$moving >= 3 or die "$moving samples with w1 moving\n";
		$same >= $moving - 1 or die "mount and file rates differ in " . ($moving - $same) . " of $moving samples\n";
		$zero or die "the last sample has a rate or is not idle\n";
		$waiting >= 4 or die "$waiting waiting samples\n";
	}' "$T/wait.json" 2>"$T/perl.err" || fail "root watch JSON: $(cat "$T/perl.err"): $(cat "$T/wait.json")"
tail -n 1 "$T/wait.json" | grep -q '"written":[0-9]*,"durable":[0-9]*,"pending":0,"rate":0,.*"done":true}$' ||
	fail "root watch JSON last line: $(tail -n 1 "$T/wait.json")"
echo "root watch waits, one rate: ok ($(grep -c . "$T/wait.json") samples)"
# Plain output: the file in flight has its own line, the root's closes each sample.
"$DFS_PROGRESS" -i 0.2 "$mnt" >"$T/wait.out" 2>"$T/wait2.err" &
ppid=$!
wait_for 10 waits_said "$T/wait2.err" || fail "plain root watch did not say it waits: $(cat "$T/wait2.err")"
"$DFS_SLOWWRITE" "$mnt/w2" 2000000 100000 40 9 >/dev/null
wait $ppid || fail "root watch exited $?"
grep -Eq "^[0-9.]+ $mnt/w2 written=[0-9]+ durable=[0-9]+ pending=[0-9]+ rate=[1-9][0-9]* state=writing$" "$T/wait.out" ||
	fail "no plain line for the file in flight: $(cat "$T/wait.out")"
tail -n 1 "$T/wait.out" | grep -Eq "^[0-9.]+ $mnt written=.* rate=[1-9][0-9]* state=idle$" || fail "plain root last line: $(tail -n 1 "$T/wait.out")"
# -w bounds the wait: no copy, exit 2.
rc=0
"$DFS_PROGRESS" -i 0.1 -w 0.5 "$mnt" >/dev/null 2>"$T/w.err" || rc=$?
[ $rc -eq 2 ] && grep -q "$mnt: no copy began within 0.5 s" "$T/w.err" || fail "-w on an idle root: exit $rc, $(cat "$T/w.err")"
rm "$mnt/w1" "$mnt/w2"
echo "root watch plain lines and -w: ok"

# --- a total: --of SOURCE and -s, percentage, ETA, bar ---
head -c $((24 << 20)) /dev/urandom >"$T/of.img"
"$DFS_SLOWWRITE" "$mnt/of.img" $((24 << 20)) 1048576 25 11 >/dev/null &
wpid=$!
"$DFS_PROGRESS" -i 0.2 --json --of "$T/of.img" "$mnt/of.img" >"$T/of.json" 2>"$T/of.err" ||
	fail "--of exited $?: $(cat "$T/of.json" "$T/of.err")"
wait $wpid
perl -MJSON::PP -ne '
	BEGIN { $mid = $eta = 0; $last = -1 }
	my $o = decode_json($_);
	$o->{total} == 25165824 or die "total $o->{total}\n";
	$o->{percent} >= $last or die "percent went back\n";
	$last = $o->{percent};
	abs($o->{percent} - 100 * $o->{written} / 25165824) < 0.1 or die "percent $o->{percent} of written $o->{written}\n";
	$mid++ if $o->{percent} > 0 && $o->{percent} < 100;
	$eta++ if defined $o->{eta} && $o->{eta} > 0 && $o->{percent} < 100;
	END { $last == 100 or die "ended at $last %\n"; $mid >= 2 or die "$mid samples mid-copy\n"; $eta >= 1 or die "no ETA\n" }' "$T/of.json" 2>"$T/perl.err" ||
	fail "--of JSON: $(cat "$T/perl.err"): $(cat "$T/of.json")"
tail -n 1 "$T/of.json" | grep -q '"done":true}$' || fail "--of: last line not done"
# A copy that ends short of --of's source: exit 1, saying so.
head -c 1000 /dev/urandom >"$mnt/short"
rc=0
"$DFS_PROGRESS" -i 0.1 --of "$T/of.img" "$mnt/short" >/dev/null 2>"$T/short.err" || rc=$?
[ $rc -eq 1 ] && grep -q "$mnt/short: the copy ended at 1000 bytes; the source has 25165824" "$T/short.err" ||
	fail "--of on a short copy: exit $rc, $(cat "$T/short.err")"
# -s with plain lines: percent and eta on each; bad totals refused.
"$DFS_PROGRESS" -i 0.2 -s 2K "$mnt/short" >"$T/s.out" 2>&1 || fail "-s exited $?: $(cat "$T/s.out")"
grep -Eq "^[0-9.]+ $mnt/short written=1000 durable=1000 pending=0 rate=0 state=idle percent=48.8 eta=0$" "$T/s.out" ||
	fail "-s 2K: $(cat "$T/s.out")"
for bad in "-s x" "-s 0" "-s 5Q" "-s 1K --of $T/of.img" "--of $T/nonexistent"; do
	# shellcheck disable=SC2086
	"$DFS_PROGRESS" $bad "$mnt/short" >/dev/null 2>&1 && fail "accepted: $bad"
done
"$DFS_PROGRESS" -s 1K "$mnt/short" "$mnt/of.img" >/dev/null 2>&1 && fail "a total for two targets accepted"
# On a terminal: pv's line.
"$DFS_SLOWWRITE" "$mnt/tty.img" $((8 << 20)) 524288 60 12 >/dev/null &
wpid=$!
script -qefc "stty cols 200; $DFS_PROGRESS -i 0.1 -s 8M $mnt/tty.img" "$T/bar.out" >/dev/null || fail "tty -s failed: $(cat -v "$T/bar.out")"
wait $wpid
grep -Eq $'\r\e\[K'"$mnt/tty.img: [0-9.]+ MiB of 8.00 MiB \([0-9]+%\) \[=*>? *\] [0-9.]+ [KM]iB/s ETA [0-9]+:[0-9]{2}, writing" "$T/bar.out" ||
	fail "tty bar mid-copy: $(cat -v "$T/bar.out")"
grep -Eq $'\r\e\[K'"$mnt/tty.img: 8.00 MiB of 8.00 MiB \(100%\) \[=+\] [0-9.]+ [KM]iB/s average ETA 0:00, idle" "$T/bar.out" ||
	fail "tty bar at the end: $(cat -v "$T/bar.out")"
rm "$mnt/of.img" "$mnt/short" "$mnt/tty.img"
echo "totals (--of, -s, JSON, bar): ok ($(tr '\r' '\n' <"$T/bar.out" | grep -a ETA | sed 's/\x1b\[[0-9]*[A-Z]//g' | tail -n 1))"

# --- on a terminal, the mount root lists its files in flight, like iotop ---
"$DFS_SLOWWRITE" "$mnt/top1" 3000000 100000 40 13 >/dev/null &
w1=$!
"$DFS_SLOWWRITE" "$mnt/top2" 4000000 100000 40 14 >/dev/null &
w2=$!
script -qefc "$DFS_PROGRESS -i 0.3 $mnt" "$T/top.out" >/dev/null || fail "root on a tty failed: $(cat -v "$T/top.out")"
wait $w1 && wait $w2
grep -Eq $'\r\e\[K'" +WRITTEN +DURABLE +RATE +STATE +FILE" "$T/top.out" &&
	grep -Eq $'\r\e\[K'" +[0-9.]+ [KM]iB +[0-9.]+ (B|[KM]iB) +[0-9.]+ [KM]iB/s +writing +top1" "$T/top.out" &&
	grep -Eq $'\r\e\[K'" +[0-9.]+ [KM]iB +[0-9.]+ (B|[KM]iB) +[0-9.]+ [KM]iB/s +writing +top2" "$T/top.out" ||
	fail "root on a tty: $(cat -v "$T/top.out")"
rm "$mnt/top1" "$mnt/top2"
echo "root on a tty: ok"

# --- the README's example: cp in the background, watched to its end ---
head -c $((40 << 20)) /dev/urandom >"$T/big.img"
cp "$T/big.img" "$mnt/" & "$DFS_PROGRESS" -i 0.2 "$mnt/big.img" >"$T/cp.out" 2>&1 ||
	fail "directfs-progress on cp exited $?: $(cat "$T/cp.out")"
wait $! || fail "cp into the mount failed"
tail -n 1 "$T/cp.out" | grep -q "written=$((40 << 20)) durable=$((40 << 20)) pending=0 rate=[0-9]* state=idle$" ||
	fail "directfs-progress on cp: $(cat "$T/cp.out")"
[ "$(resident "$src/big.img")" -eq 0 ] || fail "cp left pages resident"
same_file "$T/big.img" "$src/big.img"
rm "$mnt/big.img"
echo "README example (cp & directfs-progress): ok ($(wc -l <"$T/cp.out") lines)"

# --- several files at once: each followed to its end ---
"$DFS_SLOWWRITE" "$mnt/m1" 3000000 200000 60 6 >/dev/null &
w1=$!
"$DFS_SLOWWRITE" "$mnt/m2" 5000000 200000 60 7 >/dev/null &
w2=$!
"$DFS_PROGRESS" -i 0.2 "$mnt/m1" "$mnt/m2" >"$T/multi.out" 2>"$T/multi.err" ||
	fail "directfs-progress on two files exited $?: $(cat "$T/multi.out")"
wait $w1 && wait $w2 || fail "slowwrite m1/m2 failed"
for f in m1:3000000 m2:5000000; do
	n=${f%%:*} size=${f#*:}
	grep "$mnt/$n " "$T/multi.out" >"$T/$n.out"
	check_prog "$T/$n.out" "$mnt/$n" "$size"
done

# --- on a terminal: a line per target redrawn in place, human units ---
script -qefc "$DFS_PROGRESS -i 0.2 $mnt/slow $mnt/m2" "$T/tty.out" >/dev/null || fail "directfs-progress on a tty failed"
grep -q $'\r\e\[K'"$mnt/slow: 12.0 MiB written, 12.0 MiB durable, .*idle" "$T/tty.out" &&
	grep -q $'\r\e\[K'"$mnt/m2: 4.77 MiB written, 4.77 MiB durable, .*idle" "$T/tty.out" ||
	fail "tty output: $(cat -v "$T/tty.out")"
echo "directfs-progress on a tty: ok ($(tr -d '\r' <"$T/tty.out" | sed 's/\x1b\[K//g' | grep -F "$mnt/m2" | tail -n 1))"

# --- the watch ends with the copy, and gives the copy's own rate ---
# Lines come every interval, but the target is sampled every 0.1 s: the
# last line comes as soon as the file is durable and nobody writes it, not
# at the next interval (10 s by default for plain output), and its rate is
# the copy's bytes over its first byte to its last, not an average over
# intervals of waiting.
now() { date +%s.%N; }
# Poll until FILE is durable at SIZE and idle; print when that was seen.
seen_durable() { # FILE SIZE
	wait_for 20 durable_idle "$1" "$2" || fail "$1: not durable at $2 and idle within 20 s"
	now
}
# A rate within 0.8 to 1.25 times BYTES over SECONDS.
near_rate() { # RATE BYTES SECONDS WHAT
	awk -v r="$1" -v b="$2" -v s="$3" 'BEGIN { q = r / (b / s); exit !(q >= 0.8 && q <= 1.25) }' ||
		fail "$4: rate $1, the copy ran at $(awk -v b="$2" -v s="$3" 'BEGIN { printf "%d", b / s }')"
}
ctotal=$((16 << 20))
"$DFS_PROGRESS" "$mnt/ends" >"$T/ends.out" 2>/dev/null &
ppid=$!
t0=$(now)
"$DFS_SLOWWRITE" "$mnt/ends" $ctotal 262144 25 21 >/dev/null
t1=$(now)
tdur=$(seen_durable "$mnt/ends" $ctotal)
wait $ppid || fail "directfs-progress exited $?: $(cat "$T/ends.out")"
tend=$(now)
late=$(awk -v a="$tend" -v b="$tdur" 'BEGIN { printf "%.2f", a - b }')
awk -v l="$late" 'BEGIN { exit !(l <= 0.5) }' || fail "plain watch ended $late s after the file was durable: $(cat "$T/ends.out")"
[ "$(wc -l <"$T/ends.out")" -le 2 ] || fail "plain watch at the 10 s interval printed: $(cat "$T/ends.out")"
last=$(tail -n 1 "$T/ends.out")
[[ $last =~ written=$ctotal\ durable=$ctotal\ pending=0\ rate=([0-9]+)\ state=idle$ ]] || fail "plain last line: $last"
secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')
near_rate "${BASH_REMATCH[1]}" $ctotal "$secs" "plain last line"
echo "plain watch ends with the copy: ok (${late} s after durable, $(wc -l <"$T/ends.out") lines, rate ${BASH_REMATCH[1]} for a copy of $secs s)"
rm "$mnt/ends"
# On a terminal: the last line, "... average", comes as soon, with the
# copy's rate.
t0=$(now)
"$DFS_SLOWWRITE" "$mnt/tends" $ctotal 262144 25 22 >/dev/null &
wpid=$!
script -qefc "stty cols 200; $DFS_PROGRESS $mnt/tends" "$T/tends.out" >/dev/null &
ppid=$!
wait $wpid || fail "slowwrite tends failed"
t1=$(now)
tdur=$(seen_durable "$mnt/tends" $ctotal)
wait $ppid || fail "directfs-progress on a tty exited $?: $(cat -v "$T/tends.out")"
late=$(awk -v a="$(now)" -v b="$tdur" 'BEGIN { printf "%.2f", a - b }')
awk -v l="$late" 'BEGIN { exit !(l <= 0.8) }' || fail "tty watch ended $late s after the file was durable"
avg=$(tr '\r' '\n' <"$T/tends.out" | sed -n "s|^.\[K$mnt/tends: 16.0 MiB written, 16.0 MiB durable, \([0-9.]*\) MiB/s average, idle.*|\1|p" | tail -n 1)
[ -n "$avg" ] || fail "tty last line: $(cat -v "$T/tends.out")"
near_rate "$(awk -v m="$avg" 'BEGIN { printf "%d", m * 1048576 }')" $ctotal \
	"$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" "tty average"
rm "$mnt/tends"
echo "tty watch ends with the copy: ok (${late} s after durable, $avg MiB/s average)"
# The mount root: ends within ROOT_QUIET (1 s) and a sample of cp -r's end.
mkdir -p "$T/tree"
for d in 1 2 3; do
	mkdir "$T/tree/d$d"
	for f in $(seq 40); do head -c $((f * 3000)) /dev/urandom >"$T/tree/d$d/f$f"; done
done
"$DFS_PROGRESS" -i 0.5 "$mnt" >"$T/rootend.out" 2>"$T/rootend.err" &
ppid=$!
wait_for 10 waits_said "$T/rootend.err" || fail "root watch did not say it waits: $(cat "$T/rootend.err")"
cp -r "$T/tree" "$mnt/tree"
t1=$(now)
wait $ppid || fail "root watch exited $?: $(cat "$T/rootend.out")"
late=$(awk -v a="$(now)" -v b="$t1" 'BEGIN { printf "%.2f", a - b }')
awk -v l="$late" 'BEGIN { exit !(l <= 1.8) }' || fail "root watch ended $late s after cp -r"
tail -n 1 "$T/rootend.out" | grep -Eq "^[0-9.]+ $mnt written=[0-9]+ durable=[0-9]+ pending=0 rate=[1-9][0-9]* state=idle$" ||
	fail "root watch last line: $(tail -n 1 "$T/rootend.out")"
rm -r "$mnt/tree"
echo "root watch ends with cp -r: ok (${late} s after cp)"

# --- outside a mount, and bad arguments ---
out=$("$DFS_PROGRESS" "$T" 2>&1) && fail "directfs-progress outside a mount succeeded"
rc=0
"$DFS_PROGRESS" "$T" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "not a file in a directfs mount" <<<"$out" || fail "outside a mount ($rc): $out"
"$DFS_PROGRESS" -i x "$mnt" >/dev/null 2>&1 && fail "-i x accepted"
"$DFS_PROGRESS" -w 0 "$mnt/missing" >/dev/null 2>&1 && fail "a missing file was watched"
echo "directfs-progress errors: ok ($out)"

# --- a copy that runs out of space: state error:ENOSPC, exit 1 ---
loop_fs ext4 24 512 "$T/small"
mkdir "$T/small/src"
dfs_mount "$T/small/src" "$T/mnt2"
"$DFS_SLOWWRITE" "$T/mnt2/big" 40000000 1000000 20 9 >"$T/big.out" &
wpid=$!
rc=0
"$DFS_PROGRESS" -i 0.2 "$T/mnt2/big" >"$T/big.prog" 2>&1 || rc=$?
wait $wpid && fail "40 MB into 24 MiB succeeded"
[ $rc -eq 1 ] || fail "directfs-progress on ENOSPC exited $rc: $(cat "$T/big.prog")"
grep -q "$T/mnt2/big: ENOSPC (No space left on device)" "$T/big.prog" ||
	fail "directfs-progress did not name the file and errno: $(cat "$T/big.prog")"
assert_eq "$(attr "$T/mnt2/big" state)" error:ENOSPC "state after ENOSPC"
# The root counts the file once its release has been through the
# committer, which keeps the error for the file's next open.
root_in_error() { [ "$(attr "$T/mnt2" state)" = error ] && [ "$(attr "$T/mnt2" error_files)" -ge 1 ]; }
wait_for 10 root_in_error ||
	fail "root after ENOSPC: state $(attr "$T/mnt2" state), error_files $(attr "$T/mnt2" error_files)"
echo "ENOSPC: ok ($(grep ENOSPC "$T/big.prog"))"
rm "$T/mnt2/big"
dfs_umount "$T/mnt2" || true

# --- reading attributes while the disk write cannot finish ---
loop_fs ext4 64 512 "$T/fz"
mkdir "$T/fz/src"
# Enough disk writers that f's windows (depth 2) cannot take them all:
# g's write-out must still be started while f is held.
dfs_mount "$T/fz/src" "$T/mnt3" -o buffer_size=1M,depth=2,io_threads=8
head -c 6000000 /dev/urandom >"$T/rand"
head -c 1500000 /dev/urandom >"$T/rand2"
# Created before the freeze: a create or an O_TRUNC open would wait for
# the thaw; opens without O_TRUNC (dd conv=notrunc, <>) do not.
: >"$T/mnt3/f"
: >"$T/mnt3/g"
fsfreeze -f "$T/fz"
FROZEN+=("$T/fz")
# f: more than the stage holds, so dd waits in write(2); g: all staged,
# so cat waits in close(2) (a FUSE flush) for the write-out.
dd if="$T/rand" of="$T/mnt3/f" bs=1M conv=notrunc status=none &
ddpid=$!
cat "$T/rand2" 1<>"$T/mnt3/g" &
cppid=$!
# True once both are held: data pending, and the counts the same over
# 0.3 s (kept in w).
both_held() {
	local before
	before="$(attr "$T/mnt3/f" written) $(attr "$T/mnt3/g" written)"
	sleep 0.3
	w="$(attr "$T/mnt3/f" written) $(attr "$T/mnt3/g" written)"
	[ "$w" = "$before" ] && [ "$(attr "$T/mnt3/f" pending)" -gt 0 ] &&
		[ "$(attr "$T/mnt3/g" pending)" -gt 0 ]
}
w=
wait_for 30 both_held || fail "writers not held by the frozen disk after 30 s: written f g = $w"
start=$(date +%s%N)
for f in f g; do
	for n in written synced durable pending state; do
		v=$(timeout 5 getfattr --absolute-names --only-values -n user.directfs.$n "$T/mnt3/$f") ||
			fail "getfattr $n of $f blocked on a frozen disk"
		eval "${f}_$n=\$v"
	done
	timeout 5 stat "$T/mnt3/$f" >/dev/null || fail "stat of $f blocked on a frozen disk"
done
for n in open_files pending state rate; do
	timeout 5 getfattr --absolute-names --only-values -n user.directfs.$n "$T/mnt3" >/dev/null ||
		fail "root $n blocked on a frozen disk"
done
took=$((($(date +%s%N) - start) / 1000000))
kill -0 $ddpid 2>/dev/null && kill -0 $cppid 2>/dev/null || fail "a write finished on a frozen filesystem"
[ "$f_written" -gt 0 ] && [ "$f_pending" -gt 0 ] && [ "$f_state" = writing ] ||
	fail "frozen: f written=$f_written pending=$f_pending state=$f_state"
[ "$g_written" = 1500000 ] && [ "$g_pending" -gt 0 ] && [ "$g_state" = writing ] ||
	fail "frozen: g written=$g_written pending=$g_pending state=$g_state"
fsfreeze -u "$T/fz"
FROZEN=()
wait $ddpid || fail "dd failed after the thaw"
wait $cppid || fail "cat failed after the thaw"
wait_durable "$T/mnt3/f" 6000000
wait_durable "$T/mnt3/g" 1500000
same_file "$T/rand" "$T/mnt3/f"
same_file "$T/rand2" "$T/mnt3/g"
echo "frozen disk: ok (14 attribute reads and 2 stats in ${took} ms; held in write: written=$f_written pending=$f_pending; held in close: pending=$g_pending)"
dfs_umount "$T/mnt3"

dfs_umount "$mnt"
dfs_check_log 'cannot be (set|removed)|No space left|writing out at release failed|not written|stays in error'
echo PASS
