# faceid_hnsw element placement: CREATE INDEX writes an element onto a page
# with its graph neighbours (build_write.c), serially and in parallel, and
# the search then reads fewer distinct pages than elements; the answers are
# those of the exact scan.
#
# Data (test/bench/gen_faces.pl, seed 11): FACEID_TAP_ROWS rows (default
# 20000), identities of 10 photos each, loaded in a shuffled order, so that
# insertion order puts almost no neighbours on one page and only the
# placement can.  Asserts, for a serial and a parallel build:
#  - the build's DEBUG1 report: the share of level-0 links that stay on
#    their page is at least 10% and at least 5 times what insertion order
#    gives, and the level-1 share is above insertion order's;
#  - a query reads its elements on fewer distinct pages than elements (the
#    scan's DEBUG1 report), at most 85% of them;
#  - recall@10 >= 0.99 against the exact scan for queries that are rows, and
#    a full index scan reaches every row (allowing the 2% that 001 allows).
#
# Environment: FACEID_TAP_ROWS, FACEID_DESTDIR (a private `make install
# DESTDIR=...`, through Debian's extension_destdir).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FaceidRecall;

my $rows = $ENV{FACEID_TAP_ROWS} || 20000;
my $ident = int($rows / 10);
my $dir = gen_faces_dir($ident, 10, 0, 0, 11);

my $node = faceid_build_node('hnsw_placement', '256MB', '512MB');

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE staged (id int, ident int, e faceembedding);
COPY staged FROM '$dir/faces.copy';
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding)
  WITH (parallel_workers = 2, autovacuum_enabled = false);
INSERT INTO faces SELECT * FROM staged ORDER BY md5(id::text);
DROP TABLE staged;
VACUUM ANALYZE faces;
SET enable_indexscan = off;
CREATE TABLE truth AS
  SELECT q.id AS qid, ARRAY(SELECT id FROM faces f ORDER BY f.e <-> q.e LIMIT 10) AS ids
  FROM faces q WHERE q.id % @{[ int($rows / 200) ]} = 1;
});

# Build the index with $workers workers; returns the DEBUG1 messages.
sub build
{
	my ($workers) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', qq{
DROP INDEX IF EXISTS faces_e;
SET max_parallel_maintenance_workers = $workers;
SET client_min_messages = debug1;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
}, stdout => \$out, stderr => \$err, on_error_die => 1);
	return $err;
}

# Check the index just built by $how, whose build said $log.
sub check
{
	my ($how, $log) = @_;
	my ($l0, $l1, $i0, $i1) = $log =~
	  /links on their page: level 0 ([\d.]+)%, level 1 ([\d.]+)% \(insertion order: ([\d.]+)%, ([\d.]+)%\)/;
	ok(defined $l0, "$how: the build reports its placement") or diag $log;
	$_ //= 0 for ($l0, $l1, $i0, $i1);
	my ($secs) = $log =~ /placed in ([\d.]+) s/;
	note "$how: links on their page: level 0 $l0% (insertion order $i0%), level 1 $l1% ($i1%), placed in "
	  . ($secs // '?') . " s";
	cmp_ok($l0, '>=', 10, "$how: level 0: $l0% of links stay on their page");
	cmp_ok($l0, '>=', 5 * $i0, "$how: level 0: $l0% against $i0% in insertion order");
	cmp_ok($l1, '>', $i1, "$how: level 1: $l1% against $i1% in insertion order");

	# pages a query reads, from the scan's DEBUG1 report
	my ($out, $err) = ('', '');
	$node->psql('postgres', qq{
SET enable_seqscan = off;
SET client_min_messages = debug1;
SELECT sum(cardinality(ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10)))
  FROM faces q WHERE q.id % @{[ int($rows / 100) ]} = 3;
}, stdout => \$out, stderr => \$err, on_error_die => 1);
	my ($n, $elements, $pages) = (0, 0, 0);
	while ($err =~ /faceid_hnsw scan: (\d+) elements on (\d+) distinct pages, (\d+) pins/g)
	{
		$n++;
		$elements += $1;
		$pages += $2;
	}
	is($n, 100, "$how: every scan reports its reads");
	ok($n > 0 && $pages <= 0.85 * $elements,
		"$how: a query reads " . ($n ? int($elements / $n) : 0) . " elements on "
		  . ($n ? int($pages / $n) : 0) . " distinct pages");

	my ($recall, $reached, $total) = split /\|/, $node->safe_psql('postgres', qq{
SET enable_seqscan = off;
CREATE TEMP TABLE res AS
  SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids
  FROM (SELECT id AS qid, e FROM faces WHERE id % @{[ int($rows / 200) ]} = 1) q;
SELECT
  (SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4)
     FROM res r JOIN truth t USING (qid)),
  (SELECT count(*) FROM (SELECT id FROM faces ORDER BY e <-> (SELECT e FROM faces WHERE id = 1)) s),
  (SELECT count(*) FROM faces);
});
	cmp_ok($recall, '>=', 0.99, "$how: recall\@10 of queries that are rows ($recall)");
	cmp_ok($reached, '>=', 0.98 * $total, "$how: a full index scan returns $reached of $total rows");
}

check('serial build', build(0));
my $log = build(2);
like($log, qr/2 of 2 workers launched/, 'the parallel build launched its workers');
check('parallel build', $log);

$node->stop;
done_testing();
