# faceid_hnsw parallel CREATE INDEX: the graph two workers and the leader
# build together is as good as the serial one.
#
# Data (test/bench/gen_faces.pl, seed 7): FACEID_TAP_ROWS rows (default
# 100000), identities of 10 photos each, as in 001_hnsw_recall.pl.  Builds
# the index serially (max_parallel_maintenance_workers = 0), then with two
# workers, and measures both at the same faceid.ef_search:
#  - top-1 identity for 1000 new photos of enrolled people,
#  - recall@10 for queries that are rows of the table,
#  - how many rows a full index scan reaches,
# asserting that the parallel figures are not worse by more than 0.01.
# A parallel build stops on statement_timeout.
# Then a parallel build whose graph outgrows maintenance_work_mem (the
# planner's row estimate is made stale on purpose) falls back to a serial
# build that spills to disk, and the index still reaches every row.
#
# Environment: FACEID_TAP_ROWS, FACEID_TAP_EF_SEARCH (default 40, the default),
# FACEID_DESTDIR (a private `make install DESTDIR=...`, through Debian's
# extension_destdir).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FaceidRecall;

my $rows = $ENV{FACEID_TAP_ROWS} || 100000;
my $ef = $ENV{FACEID_TAP_EF_SEARCH} || 40;
my $ident = int($rows / 10);

my $dir = gen_faces_dir($ident, 10, 1000, 0, 7);

my $node = faceid_build_node('hnsw_parallel', '512MB', '1GB');

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding)
  WITH (parallel_workers = 2, autovacuum_enabled = false);
CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding);
COPY faces FROM '$dir/faces.copy';
COPY known FROM '$dir/known.copy';
VACUUM ANALYZE faces, known;
});

# Build the index with $workers workers; returns the seconds it took and
# the server's DEBUG1 messages (they name the workers launched).
sub build
{
	my ($workers, $mwm) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	$node->psql('postgres', qq{
SET max_parallel_maintenance_workers = $workers;
SET maintenance_work_mem = '$mwm';
SET client_min_messages = debug1;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
}, stdout => \$out, stderr => \$err, on_error_die => 1);
	return (time - $t0, $err);
}

# recall@10 against the exact scan for rows as queries, top-1 identity for
# new photos of enrolled people, and the rows a full index scan reaches.
sub measure
{
	my $rows_q = "SELECT id AS qid, ident, e FROM faces WHERE id % " . int($rows / 200) . " = 1";
	my $known_q = "SELECT qid, ident, e FROM known";
	return split /\|/, $node->safe_psql('postgres', qq{
SET faceid.ef_search = $ef;
SET enable_seqscan = off;
CREATE TEMP TABLE res AS
  SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM ($rows_q) q;
CREATE TEMP TABLE res1 AS
  SELECT q.qid, (SELECT id FROM faces ORDER BY e <-> q.e LIMIT 1) AS id FROM ($known_q) q;
SELECT
  (SELECT round(avg((f.ident = q.ident)::int), 4)
     FROM res1 r JOIN ($known_q) q USING (qid) JOIN faces f ON f.id = r.id),
  (SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4)
     FROM res r JOIN truth t USING (qid)),
  (SELECT count(*) FROM (SELECT id FROM faces ORDER BY e <-> (SELECT e FROM known WHERE qid = 1)) s);
});
}

# the exact answers, once
$node->safe_psql('postgres', qq{
SET enable_indexscan = off;
CREATE TABLE truth AS
  SELECT q.id AS qid, ARRAY(SELECT id FROM faces f ORDER BY f.e <-> q.e LIMIT 10) AS ids
  FROM faces q WHERE q.id % @{[ int($rows / 200) ]} = 1;
});

my ($t_serial, $log_serial) = build(0, '1GB');
unlike($log_serial, qr/workers launched/, 'max_parallel_maintenance_workers = 0 builds serially');
my ($top1_s, $rec_s, $reach_s) = measure();
diag "serial build: $t_serial s; top-1 $top1_s, recall\@10 of rows $rec_s, full scan reaches $reach_s of $rows";
$node->safe_psql('postgres', 'DROP INDEX faces_e');

my ($t_par, $log_par) = build(2, '1GB');
my ($launched) = $log_par =~ /(\d+) of \d+ workers launched/;
ok(defined $launched && $launched >= 1, 'the parallel build launched workers (' . ($launched // 'none') . ')');
my ($top1_p, $rec_p, $reach_p) = measure();
diag "parallel build (2 workers requested): $t_par s; top-1 $top1_p, recall\@10 of rows $rec_p, full scan reaches $reach_p of $rows";
cmp_ok($top1_p, '>=', $top1_s - 0.01, "parallel top-1 identity $top1_p vs serial $top1_s");
cmp_ok($rec_p, '>=', $rec_s - 0.01, "parallel recall\@10 of rows $rec_p vs serial $rec_s");
cmp_ok($reach_p, '>=', $reach_s - 0.01 * $rows, "parallel full scan reaches $reach_p vs serial $reach_s");
cmp_ok($reach_p, '>=', 0.98 * $rows, 'the parallel graph reaches nearly every row');
$node->safe_psql('postgres', 'DROP INDEX faces_e');

# statement_timeout stops a parallel build, its workers with it.
my ($ret, $o, $e) = $node->psql('postgres', q{
SET max_parallel_maintenance_workers = 2;
SET statement_timeout = '3s';
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
});
like($e, qr/canceling statement due to statement timeout/, 'statement_timeout stops a parallel build');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'faces_e'}),
	'0', 'the cancelled build leaves no index behind');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'}),
	'its workers are gone');

# A stale row estimate (1000 rows) lets a parallel build start whose graph
# (about 85MB for 100k rows) does not fit into 64MB.
$node->safe_psql('postgres', q{UPDATE pg_class SET reltuples = 1000 WHERE relname = 'faces'});
my ($t_fb, $log_fb) = build(2, '64MB');
like($log_fb, qr/no longer fits into maintenance_work_mem; building serially/,
	'a parallel graph that outgrows maintenance_work_mem falls back to a serial build');
like($log_fb, qr/no longer fits into maintenance_work_mem after \d+ tuples/,
	'the serial build then spills to disk');
my ($top1_f, $rec_f, $reach_f) = measure();
diag "fallback build: $t_fb s; top-1 $top1_f, recall\@10 of rows $rec_f, full scan reaches $reach_f of $rows";
cmp_ok($reach_f, '>=', 0.98 * $rows, 'after the fallback the graph reaches nearly every row');
cmp_ok($rec_f, '>=', 0.95, "after the fallback recall\@10 of rows is $rec_f");

$node->stop;
done_testing();
