# faceid_hnsw CREATE INDEX: the partial re-prune of a full neighbour list
# (src/hnsw/build_prune.c) gives exactly the list the full re-prune gives.
#
# Data (test/bench/gen_faces.pl, seed 11): FACEID_TAP_ROWS rows (default
# 20000), identities of 10 photos each, plus exact copies of some rows
# (three copies of 200 rows), so that lists hold copies of their owner,
# pruned copies and members at equal distances: the cases the partial way
# leaves to the full one.
#  - A serial build with faceid.hnsw_build_prune = check runs both ways on
#    every link into a full list that allows the partial way, and stops
#    with an error at the first difference; its NOTICE counts them, and
#    the partial way must have been taken most of the time.
#  - Serial builds with fast and with full write byte-identical pages.
#  - A parallel build (two workers) with check: no difference in any
#    participant.
#  - Both builds report at DEBUG1 how many elements each level holds.
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
my $dir = gen_faces_dir(int($rows / 10), 10, 0, 0, 11);

my $node = faceid_build_node('hnsw_prune', '256MB', '512MB');

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE EXTENSION pageinspect;
CREATE TABLE faces (id int, ident int, e faceembedding)
  WITH (parallel_workers = 2, autovacuum_enabled = false);
COPY faces FROM '$dir/faces.copy';
INSERT INTO faces SELECT id + 1000000 * c, ident, e
  FROM faces, generate_series(1, 3) c WHERE id % 100 = 0;
VACUUM ANALYZE faces;
});

# Build the index with faceid.hnsw_build_prune = $mode and $workers
# workers; returns the server's messages.
sub build
{
	my ($mode, $workers) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', qq{
SET max_parallel_maintenance_workers = $workers;
SET faceid.hnsw_build_prune = '$mode';
SET client_min_messages = debug1;
DROP INDEX IF EXISTS faces_e;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
}, stdout => \$out, stderr => \$err, on_error_die => 1);
	return $err;
}

# The counts of every participant's NOTICE: [scratch, partial, checked].
sub counts
{
	my ($log) = @_;
	my @c;
	while ($log =~ /full lists pruned from scratch (\d+), in part (\d+), checked against the full way (\d+) with no difference/g)
	{
		push @c, [ $1, $2, $3 ];
	}
	return @c;
}

# md5 of the index's pages, past each page's LSN and checksum.
sub pages_md5
{
	return $node->safe_psql('postgres', q{
SELECT md5(string_agg(md5(substr(get_raw_page('faces_e', b::int), 11)), '' ORDER BY b))
  FROM generate_series(0, pg_relation_size('faces_e') / 8192 - 1) b;
});
}

my $nrows = $node->safe_psql('postgres', 'SELECT count(*) FROM faces');

# The build's DEBUG1 report of elements per level: level 0 holds every
# row; level 1 at least one photo of each person (hnsw_should_promote
# lifts one from every tight cluster that has none there).
sub levels_ok
{
	my ($log, $what) = @_;
	my ($l0, $l1) = $log =~ /elements per level 0: (\d+), 1: (\d+)/;
	diag "$what: elements per level 0: " . ($l0 // 'none') . ', 1: ' . ($l1 // 'none');
	is($l0, $nrows, "$what: the report counts every row on level 0");
	cmp_ok($l1 // 0, '>=', int($rows / 10), "$what: level 1 holds at least one element per person");
}

my $serial_log = build('check', 0);
levels_ok($serial_log, 'serial build');
my @serial = counts($serial_log);
is(scalar @serial, 1, 'the serial check build reports its counts');
my ($scratch, $part, $checked) = @{ $serial[0] // [ 0, 0, 0 ] };
diag "serial, check: $scratch lists pruned from scratch, $part in part, $checked compared";
cmp_ok($checked, '>', 10 * $rows, 'the partial way was compared with the full one on many lists');
is($checked, $part, 'every partial re-prune was compared');
cmp_ok($part, '>', 10 * $scratch, 'most full lists took the partial way');

build('fast', 0);
my $md5_fast = pages_md5();
build('full', 0);
my $md5_full = pages_md5();
is($md5_fast, $md5_full, 'serial builds with the partial and the full re-prune write the same pages');

my $par_log = build('check', 2);
my ($launched) = $par_log =~ /(\d+) of \d+ workers launched/;
ok(defined $launched && $launched >= 1, 'the parallel check build launched workers (' . ($launched // 'none') . ')');
levels_ok($par_log, 'parallel build');
my @par = counts($par_log);
cmp_ok(scalar @par, '>=', 2, 'the leader and the workers report their counts');
my $par_checked = 0;
$par_checked += $_->[2] for @par;
cmp_ok($par_checked, '>', 10 * $rows, "the parallel build compared $par_checked partial re-prunes, all equal");

$node->stop;
done_testing();
