#!/usr/bin/env bash
# Description: every attribute reply is true at once, whatever state the
# file's last session is in.  200 times per operation: write a file
# through the mount (12345 bytes), close it, then at once truncate it to
# 23456, chmod, chown or set its times, by path and through a new
# handle, and lstat it through the mount and on SOURCE: size, mode,
# owner, mtime and ctime must agree.  The release and the group commit of the
# write run meanwhile (the kernel sends the release after close(2)
# returns), so the change lands while the session is open, writing out,
# waiting for its commit or done.  A stale size here is what POSIX
# suites see (truncate/00.t).
. "$(dirname "$0")/lib.sh"
command -v perl >/dev/null || skip "no perl"

src=$T/src mnt=$T/mnt
dfs_mount "$src" "$mnt" -o allow_other

# perl: truncate/chmod/chown/utime take a name (truncate(2), chmod(2) ...)
# or a handle (ftruncate, fchmod, fchown, futimens).
perl -e '
use strict; use warnings; use Fcntl;
my ($mnt, $src, $rounds) = @ARGV;
my $data = "x" x 12345;
my @ops = qw(truncate chmod chown utime);
my %bad;
sub show { my @s = lstat($_[0]) or die "lstat $_[0]: $!";
	   return join(" ", $s[7], sprintf("%o", $s[2]), $s[4], $s[5], $s[9], $s[10]); }
for my $op (@ops) {
  for my $how ("path", "handle") {
    for my $i (1 .. $rounds) {
	my $f = "$mnt/$op-$how"; my $s = "$src/$op-$how";
	sysopen(my $w, $f, O_WRONLY | O_CREAT | O_TRUNC, 0644) or die "open $f: $!";
	defined syswrite($w, $data) or die "write: $!";
	close($w) or die "close $f: $!";
	my $t = $how eq "path" ? $f : do { open(my $h, "+<", $f) or die "reopen $f: $!"; $h };
	my $ok;
	if ($op eq "truncate") { $ok = truncate($t, 23456) }
	elsif ($op eq "chmod") { $ok = chmod(0600 + ($i % 2) * 040, $t) }
	elsif ($op eq "chown") { $ok = chown(65534 - ($i % 2), 65534, $t) }
	else { my $when = 1000000000 + $i; $ok = utime($when, $when, $t) }
	$ok or die "$op by $how of $f: $!";
	my ($m, $o) = (show($f), show($s));
	if ($m ne $o) { $bad{"$op by $how"}++; print STDERR "$op by $how, round $i: mount [$m], SOURCE [$o]\n" if $bad{"$op by $how"} <= 3; }
	close($t) if $how eq "handle";
	unlink($f) or die "unlink $f: $!";
    }
  }
}
if (%bad) { print STDERR "stale: ", join(", ", map { "$_ $bad{$_}/$rounds" } sort keys %bad), "\n"; exit 1 }
print "truncate, chmod, chown, utime by path and by handle: $rounds rounds each, mount and SOURCE agree\n";
' "$mnt" "$src" 200 || fail "the mount showed attributes SOURCE did not hold"

dfs_umount "$mnt"
dfs_check_log
echo PASS
