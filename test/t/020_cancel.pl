# Cancellation: statement_timeout and pg_cancel_backend stop a long
# face_embed_all / face_embed / face_detect inside the core (which polls
# InterruptPending between layers and rows and returns FI_CANCELLED; the
# glue then calls CHECK_FOR_INTERRUPTS()).  Each must end with 57014
# (query_canceled) within a generous 5 s, and the same backend must answer
# afterwards.  The measured latency, from pg_cancel_backend (or the timeout)
# to the error, is printed for the report; the goal is 200 ms.
#
# The long call is a photo of 64 copies of a face (test/core/tool_tile.c,
# built by `make -C test/core tools`; test/run_tap.sh builds it) with
# faceid.detect_size = 608: ~70 faces, about 1 s per face_embed_all call.
# faceid_hnsw index build/scan cancellation is covered by the index tests.
# Environment: FACEID_DESTDIR (a private `make install DESTDIR=...`, used
# through Debian's extension_destdir).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $root = $ENV{FACEID_ROOT} // '.';
my $tool = "$root/test/core/tool_tile.bin";
my $photo = "$root/build/faceid_sample1.jpg";
plan skip_all => "$tool not built (make -C test/core tools)" unless -x $tool;
plan skip_all => "$photo missing (make builds it)" unless -r $photo;

my $tiled = PostgreSQL::Test::Utils::tempdir() . '/tiled.jpg';
system($tool, $photo, 700, 350, 460, 430, 3, 8, 8, $tiled) == 0
  or die "tool_tile failed";

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', "extension_destdir = '$ENV{FACEID_DESTDIR}'")
  if $ENV{FACEID_DESTDIR};
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION faceid');
# 40 copies: if cancellation failed the statement would run ~40 s, far
# beyond the 5 s bound.
$node->safe_psql('postgres',
	"CREATE TABLE big AS SELECT g, pg_read_binary_file('$tiled') AS img FROM generate_series(1, 40) g");
$node->safe_psql('postgres',
	"ALTER DATABASE postgres SET faceid.detect_size = 608");

my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('\set VERBOSITY verbose');
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
my $faces = $bg->query_safe('SELECT count(*) FROM big, face_embed_all(img) WHERE g = 1');
cmp_ok($faces, '>=', 20, "the long photo has many faces ($faces)");

my %latency;

# The backend is still there: same PID, answers a query.
sub same_backend
{
	my ($what) = @_;
	my $p = $bg->query('SELECT pg_backend_pid()');
	is($p, $pid, "$what: the same backend answers afterwards");
}

# statement_timeout = 500ms on a long statement.
sub timeout_case
{
	my ($name, $sql) = @_;
	$bg->{stderr} = '';
	my $start = time;
	my $out = $bg->query(
		"SET statement_timeout = '500ms';\n"
		  . "SELECT extract(epoch FROM clock_timestamp());\n"
		  . "$sql;\n"
		  . "RESET statement_timeout;\n"
		  . "SELECT extract(epoch FROM clock_timestamp())");
	my $wall = time - $start;
	my ($t0, $t1) = split /\n/, $out;
	like($bg->{stderr}, qr/57014: canceling statement due to statement timeout/,
		"$name: statement_timeout ends it with 57014");
	cmp_ok($wall, '<', 5.5, "$name: ended within 0.5 s + 5 s");
	my $ms = ($t1 - $t0) * 1000 - 500;
	push @{ $latency{"$name statement_timeout"} }, $ms;
	same_backend("$name statement_timeout");
}

# pg_cancel_backend from another session, once the statement runs.
sub cancel_case
{
	my ($name, $sql) = @_;
	$bg->{stderr} = '';
	$bg->query_until(qr/started/, "\\echo started\n$sql;\n");
	$node->poll_query_until('postgres',
		"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid")
	  or die "statement did not start";
	usleep(400_000);    # well inside a core call
	my $start = time;
	my $t0 = $node->safe_psql('postgres',
		"SELECT extract(epoch FROM clock_timestamp()), pg_cancel_backend($pid)");
	$t0 =~ s/\|.*//;
	my $t1 = $bg->query('SELECT extract(epoch FROM clock_timestamp())');
	my $wall = time - $start;
	like($bg->{stderr}, qr/57014: canceling statement due to user request/,
		"$name: pg_cancel_backend ends it with 57014");
	cmp_ok($wall, '<', 5, "$name: ended within 5 s of the cancel");
	push @{ $latency{"$name pg_cancel_backend"} }, ($t1 - $t0) * 1000;
	same_backend("$name pg_cancel_backend");
}

my %calls = (
	face_embed_all => 'SELECT count(*) FROM big, face_embed_all(img)',
	face_embed => 'SELECT count(face_embed(img)) FROM big',
	face_detect_ssd => "SET faceid.detector = ssd; SELECT count(*) FROM big, face_detect(img)");

for my $name (sort keys %calls)
{
	timeout_case($name, $calls{$name});
	cancel_case($name, $calls{$name}) for 1 .. 3;
	$bg->query('RESET faceid.detector');
}

# Nothing crashed: the server log has no backend terminated by a signal.
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/,
	'no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server answers');

for my $k (sort keys %latency)
{
	my @v = sort { $a <=> $b } @{ $latency{$k} };
	diag(sprintf("cancel latency %-36s %s ms", $k,
		join(', ', map { sprintf('%.0f', $_) } @v)));
}

$bg->quit;
$node->stop;
done_testing();
