# Cancellation of faceid_hnsw work: statement_timeout stops an index build
# and a long graph search (an iterative scan whose filter matches nothing,
# so it walks the whole graph) with 57014, within a generous bound, and the
# server keeps answering.  The uninterrupted durations are measured first,
# so the test fails if a statement merely finishes before its timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('cancel_index');
$node->init;
$node->append_conf('postgresql.conf', "maintenance_work_mem = '512MB'\nmax_parallel_maintenance_workers = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION faceid');
$node->safe_psql('postgres', q{
	SELECT setseed(0.5);
	CREATE TABLE v AS
	SELECT g AS id, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 128) WHERE g > 0)::faceembedding AS e
	FROM generate_series(1, 60000) g});

# Run sql with a statement_timeout; return (seconds, stderr).
sub timed
{
	my ($sql, $timeout) = @_;
	my $start = time;
	my ($ret, $out, $err) = $node->psql('postgres',
		($timeout ? "SET statement_timeout = '$timeout';\n" : '') . $sql);
	return (time - $start, $err);
}

# Index build: uninterrupted, then cancelled by a timeout.
my ($full_build) = timed('CREATE INDEX v_e ON v USING faceid_hnsw (e)');
note(sprintf('uninterrupted CREATE INDEX on 60000 rows: %.1f s', $full_build));
$node->safe_psql('postgres', 'DROP INDEX v_e');
cmp_ok($full_build, '>', 1.0, 'the build is long enough to be cancelled');
my ($t, $err) = timed('CREATE INDEX v_e ON v USING faceid_hnsw (e)', '300ms');
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout stops CREATE INDEX');
cmp_ok($t, '<', 5.3, sprintf('CREATE INDEX ended %.0f ms after its 300 ms timeout', ($t - 0.3) * 1000));
note(sprintf('cancel latency, index build: %.0f ms', ($t - 0.3) * 1000));
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'v_e'}), '0',
	'no half-built index is left');

# A graph walk that cannot stop early: no row qualifies, iterative scan on.
$node->safe_psql('postgres', 'CREATE INDEX v_e ON v USING faceid_hnsw (e)');
my $walk = q{SET enable_seqscan = off; SET faceid.ef_search = 1000;
	SELECT count(*) FROM (SELECT id FROM v WHERE id < 0
	  ORDER BY e <-> (SELECT e FROM v WHERE id = 1) LIMIT 5) s};
my ($full_walk, $walk_err) = timed($walk);
note(sprintf('uninterrupted walk of the whole graph: %.0f ms', $full_walk * 1000));
is($walk_err, '', 'the full walk completes without error');
SKIP:
{
	skip sprintf('the full walk takes only %.0f ms here: too short to cancel mid-way', $full_walk * 1000), 2
	  if $full_walk < 0.15;
	my $timeout_ms = int($full_walk * 1000 / 4);
	my ($tw, $errw) = timed($walk, "${timeout_ms}ms");
	like($errw, qr/canceling statement due to statement timeout/, 'statement_timeout stops the graph search');
	cmp_ok($tw, '<', $timeout_ms / 1000 + 5, sprintf('the search ended %.0f ms after its %d ms timeout',
		($tw - $timeout_ms / 1000) * 1000, $timeout_ms));
	note(sprintf('cancel latency, graph search: %.0f ms', ($tw - $timeout_ms / 1000) * 1000));
}
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server answers');
ok(!grep({ /terminated by signal/ } split /\n/, slurp_file($node->logfile)), 'no backend crashed');
done_testing();
