# faceid_hnsw space reuse (issue #14): VACUUM frees the slots of deleted
# elements that no search can reach any more, and inserts take them, so a
# table that deletes half its rows and then inserts as many keeps its index
# size.
#
# Data (test/bench/gen_faces.pl, seed 17): 3000 identities x 10 photos
# loaded before CREATE INDEX, 1500 more identities inserted later.
# Asserts, at the default settings (m 16, ef_construction 64,
# faceid.ef_search 40):
#  - after DELETE of half the people and VACUUM, the index's reltuples is
#    the number of rows left (VACUUM's statistics count live elements only);
#  - after inserting as many new rows from two concurrent sessions, the
#    index is less than 10% larger than before the delete;
#  - top-1 identity >= 0.99 for new photos of enrolled people and recall@10
#    >= 0.99 for queries that are rows of the table, measured as in 001;
#  - every row of the table is found first by its own vector through the
#    index: at the default width, or at ef_search 400 for at most 0.5% of
#    them (old rows whose in-links the inserts took over: with the
#    tombstones gone, nothing else links to them; the count is reported);
#  - a full index scan returns at least 98% of the rows (as in 001).
# Crash recovery and a replica over reused slots are 002's and 003's: their
# inserts after DELETE + VACUUM take freed slots.
#
# Environment: FACEID_TAP_ROWS (rows before the delete, default 30000),
# FACEID_DESTDIR (a private `make install DESTDIR=...`, used through
# Debian's extension_destdir).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FaceidRecall;

my $rows = $ENV{FACEID_TAP_ROWS} || 30000;
my $ident = int($rows / 10);            # identities loaded first
my $more = int($ident / 2);             # identities inserted after the delete

my $dir = gen_faces_dir($ident + $more, 10, 400, 100, 17);

my $node = faceid_node('reuse', qq{
shared_buffers = 256MB
maintenance_work_mem = 512MB
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 0
autovacuum = off
jit = off
});

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE staged (id int, ident int, e faceembedding);
CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE unknown (qid int PRIMARY KEY, ident int, e faceembedding);
COPY staged FROM '$dir/faces.copy';
COPY known FROM '$dir/known.copy';
COPY unknown FROM '$dir/unknown.copy';
INSERT INTO faces SELECT * FROM staged WHERE ident < $ident;
ANALYZE;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
});
my $size0 = $node->safe_psql('postgres', "SELECT pg_relation_size('faces_e')");
note "index after CREATE INDEX on " . ($ident * 10) . " rows: $size0 bytes";

# Half the people go (whole people, so every one left keeps 10 photos, and
# recall@10 of a row is about its own person, as in 001).
$node->safe_psql('postgres', "DELETE FROM faces WHERE ident % 2 = 1; VACUUM faces;");
my ($reltuples, $count) = split /\|/, $node->safe_psql('postgres',
	"SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'faces_e'), (SELECT count(*) FROM faces)");
is($reltuples, $count, "after DELETE + VACUUM the index counts the $count rows left");

# As many new rows, from two sessions at once.
ok(run_concurrently($node,
		map { "INSERT INTO faces SELECT * FROM staged WHERE ident >= $ident AND ident % 2 = $_ ORDER BY id" } 0 .. 1),
	'two concurrent insert sessions succeeded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM faces'), $ident * 10, 'as many rows as before the delete');

my $size1 = $node->safe_psql('postgres', "SELECT pg_relation_size('faces_e')");
my $growth = sprintf('%.3f', $size1 / $size0 - 1);
cmp_ok($size1, '<', 1.10 * $size0, "the index grew by less than 10% ($size0 -> $size1 bytes, $growth)");
diag "index $size0 -> $size1 bytes after deleting half and inserting as many (growth $growth)";

# Recognition at the default settings, as 001 asks of it.
my ($rec_known, $top1) = measure_recall($node,
	"SELECT k.qid, k.ident, k.e FROM known k WHERE EXISTS (SELECT 1 FROM faces f WHERE f.ident = k.ident)",
	1, '');
cmp_ok($top1, '>=', 0.99, "top-1 identity of new photos of enrolled people ($top1)");
my ($rec_rows) = measure_recall($node,
	"SELECT id AS qid, e FROM faces WHERE id % " . int($rows / 1000) . " = 1", 0, '');
cmp_ok($rec_rows, '>=', 0.99, "recall\@10 of queries that are rows ($rec_rows)");
my ($rec_unknown) = measure_recall($node, 'SELECT qid, e FROM unknown', 0, '');
diag "after reuse: top-1 $top1, recall\@10 rows $rec_rows, enrolled $rec_known, unknown $rec_unknown";

# Every row, the reused slots' ones and the old ones, finds itself first:
# at the default width, or at ef_search 400 for the few old rows whose
# in-links later inserts took (their number is reported, and bounded).
my ($missed, $lost) = split /\|/, $node->safe_psql('postgres', q{
SET enable_seqscan = off;
CREATE TEMP TABLE missed AS SELECT s.id FROM faces s
WHERE (SELECT f.id FROM faces f ORDER BY f.e <-> s.e LIMIT 1) <> s.id;
SET faceid.ef_search = 400;
SELECT (SELECT count(*) FROM missed),
       (SELECT coalesce(string_agg(m.id::text, ','), '') FROM missed m
        WHERE (SELECT f.id FROM faces f ORDER BY f.e <-> (SELECT e FROM faces WHERE id = m.id) LIMIT 1) <> m.id);
});
is($lost, '', 'every row is found first by its own vector');
cmp_ok($missed, '<=', 0.005 * $ident * 10,
	"at most 0.5% of the rows need a wider search than the default to find themselves ($missed)");
diag "rows not first for their own vector at the default ef_search: $missed of " . ($ident * 10);

my ($reached, $total) = split /\|/, $node->safe_psql('postgres', q{
SET enable_seqscan = off;
SELECT (SELECT count(*) FROM (SELECT id FROM faces ORDER BY e <-> (SELECT e FROM unknown WHERE qid = 1)) s),
       (SELECT count(*) FROM faces);
});
cmp_ok($reached, '>=', 0.98 * $total, "a full index scan returns $reached of $total rows");

# VACUUM's statistics after the cycle: live elements only.
$node->safe_psql('postgres', 'VACUUM faces');
($reltuples, $count) = split /\|/, $node->safe_psql('postgres',
	"SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'faces_e'), (SELECT count(*) FROM faces)");
is($reltuples, $count, "after the next VACUUM the index counts the $count rows");

$node->stop;
done_testing();
