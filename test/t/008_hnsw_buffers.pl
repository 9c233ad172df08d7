# faceid_hnsw searches read index pages through the buffer each backend last
# found the page in (src/hnsw/recent.c: ReadRecentBuffer with a fallback to
# ReadBuffer).  This test makes those hints go stale all the time, and
# checks that no answer changes.
#
# shared_buffers is 2MB (256 buffers) and the index about 7MB, so every
# search evicts pages that earlier searches of the same backend left hints
# for: the hint path is taken for every page a backend met before, and the
# fallback whenever the page was evicted since.  A hint followed without
# its check would read another page (of this index or another relation)
# and give wrong rows or an error.  Asserted:
#  - the searches missed shared buffers (the hints did go stale),
#  - one backend's answers are the same, query by query, before and after
#    REINDEX (which gives the index a new relfilenode: the old hints must
#    not be used for it; the serial build is deterministic) and on a second
#    pass over the same queries,
#  - recall@10 against the exact scan >= 0.99,
#  - an index on a temporary table (local buffers, no hints) answers the
#    same as the exact scan.
#
# Environment: FACEID_DESTDIR (a private `make install DESTDIR=...`).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FaceidRecall;

my $ident = 2000;
my $dir = gen_faces_dir($ident, 10, 200, 50, 11);

my $node = faceid_node('buffers', qq{
shared_buffers = 2MB
maintenance_work_mem = 256MB
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 0
autovacuum = off
jit = off
});

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding);
COPY faces FROM '$dir/faces.copy';
COPY known FROM '$dir/known.copy';
CREATE TABLE queries AS
  SELECT qid, e FROM known
  UNION ALL SELECT 100000 + id, e FROM faces WHERE id % 100 = 7;
ANALYZE;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
});
my $pages = $node->safe_psql('postgres', "SELECT pg_relation_size('faces_e') / 8192");
cmp_ok($pages, '>', 3 * 256, "the index ($pages pages) is over three times shared_buffers");

# One backend: two passes, REINDEX, two more passes, the exact answers.
$node->safe_psql('postgres', "SELECT pg_stat_reset_single_table_counters('faces_e'::regclass)");
my $knn = "SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM queries q";
$node->safe_psql('postgres', qq{
SET enable_seqscan = off;
CREATE TABLE pass1 AS $knn;
CREATE TABLE pass2 AS $knn;
REINDEX INDEX faces_e;
CREATE TABLE pass3 AS $knn;
CREATE TABLE pass4 AS $knn;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TABLE truth AS $knn;
SELECT pg_stat_force_next_flush();
});

my ($reads, $hits) = split /\|/, $node->safe_psql('postgres',
	"SELECT idx_blks_read, idx_blks_hit FROM pg_statio_user_indexes WHERE indexrelname = 'faces_e'");
# REINDEX writes $pages of them; the rest are searches that missed
cmp_ok($reads, '>', 10 * $pages,
	"the searches read $reads index pages into shared buffers ($hits hits): the hints went stale");

my $nq = $node->safe_psql('postgres', 'SELECT count(*) FROM queries');
for my $p (2 .. 4)
{
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM pass1 a JOIN pass$p b USING (qid) WHERE a.ids = b.ids"),
		$nq, "pass $p answers every one of the $nq queries as pass 1 did");
}
my $recall = $node->safe_psql('postgres', qq{
SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4)
  FROM pass4 r JOIN truth t USING (qid)});
cmp_ok($recall, '>=', 0.99, "recall\@10 against the exact scan ($recall)");

# A temporary table's index lives in local buffers.
my $tmp = $node->safe_psql('postgres', qq{
CREATE TEMP TABLE tf AS SELECT * FROM faces WHERE ident < 500;
CREATE INDEX ON tf USING faceid_hnsw (e);
ANALYZE tf;
SET enable_seqscan = off;
CREATE TEMP TABLE tq AS SELECT id AS qid, e FROM tf WHERE id % 20 = 3;
CREATE TEMP TABLE ti AS
  SELECT q.qid, ARRAY(SELECT id FROM tf ORDER BY e <-> q.e LIMIT 10) AS ids FROM tq q;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE tt AS
  SELECT q.qid, ARRAY(SELECT id FROM tf ORDER BY e <-> q.e LIMIT 10) AS ids FROM tq q;
SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4)
  FROM ti r JOIN tt t USING (qid);
});
cmp_ok($tmp, '>=', 0.99, "an index on a temporary table: recall\@10 $tmp");

$node->stop;
done_testing();
