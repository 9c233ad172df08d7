# faceid_hnsw and WAL: a streaming replica answers like the primary (after
# CREATE INDEX, inserts, DELETE + VACUUM), and crash recovery after an
# immediate stop during inserts loses no committed row; an unlogged table's
# index comes back empty and usable.
#
# Environment: FACEID_DESTDIR (a private `make install DESTDIR=...`, used
# through Debian's extension_destdir).
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = tempdir(CLEANUP => 1);
system('perl', "$FindBin::Bin/../bench/gen_faces.pl", 1000, 10, 50, 0, 11, $dir) == 0
  or die "gen_faces.pl failed";

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "maintenance_work_mem = 256MB\nfaceid.ef_search = 100\n");
$primary->append_conf('postgresql.conf', "extension_destdir = '$ENV{FACEID_DESTDIR}'")
  if $ENV{FACEID_DESTDIR};
$primary->start;
$primary->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE staged (id int, ident int, e faceembedding);
COPY staged FROM '$dir/faces.copy';
CREATE TABLE known (qid int, ident int, e faceembedding);
COPY known FROM '$dir/known.copy';
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
INSERT INTO faces SELECT * FROM staged WHERE ident < 600;
});

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# top-10 ids of every known query, as the index answers them
my $answers = q{
SET enable_seqscan = off;
SELECT string_agg(q.qid || ':' || ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10)::text, ' ' ORDER BY q.qid)
FROM known q;
};

# Compare the answers of primary and standby.
sub same_answers
{
	my ($what) = @_;
	$primary->wait_for_catchup($standby);
	my $p = $primary->safe_psql('postgres', $answers);
	my $s = $standby->safe_psql('postgres', $answers);
	ok(length($p) > 100 && $p eq $s, "standby answers like the primary $what");
}

$primary->safe_psql('postgres', 'CREATE INDEX faces_e ON faces USING faceid_hnsw (e)');
same_answers('after CREATE INDEX');
$primary->safe_psql('postgres', 'INSERT INTO faces SELECT * FROM staged WHERE ident >= 600 AND ident < 800');
same_answers('after inserts');
$primary->safe_psql('postgres', 'DELETE FROM faces WHERE id % 7 = 3; VACUUM faces');
same_answers('after DELETE + VACUUM');

# Crash recovery: immediate stop while a session inserts one row per
# transaction; every committed row must be found by its own vector.
$primary->safe_psql('postgres', 'CREATE UNLOGGED TABLE ufaces (id int, e faceembedding);
CREATE INDEX ON ufaces USING faceid_hnsw (e);
INSERT INTO ufaces SELECT id, e FROM staged WHERE ident < 50;');
my $script = join('', map { "INSERT INTO faces SELECT * FROM staged WHERE id = $_;\n" }
	  (8001 .. 10000));
open(my $fh, '>', "$dir/inserts.sql") or die $!;
print $fh $script;
close $fh;
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $primary->connstr('postgres'), '-f', "$dir/inserts.sql" ],
	'>', \$out, '2>', \$err);
my $before = 0;
for (1 .. 100)
{
	$before = $primary->safe_psql('postgres', 'SELECT count(*) FROM faces WHERE id > 8000');
	last if $before >= 300;
	select(undef, undef, undef, 0.1);
}
$primary->stop('immediate');
$h->finish;
$primary->start;

my $committed = $primary->safe_psql('postgres', 'SELECT count(*) FROM faces WHERE id > 8000');
cmp_ok($committed, '>=', $before, "rows committed before the crash survive ($committed >= $before)");
my $found = $primary->safe_psql('postgres', q{
SET enable_seqscan = off;
SELECT count(*) FROM faces s
WHERE s.id > 8000 AND (SELECT f.id FROM faces f ORDER BY f.e <-> s.e LIMIT 1) = s.id;
});
is($found, $committed, 'after crash recovery every committed row is found by its own vector');
my $all = $primary->safe_psql('postgres', q{
SET enable_seqscan = off;
SELECT count(*) FROM faces s
WHERE (SELECT f.id FROM faces f ORDER BY f.e <-> s.e LIMIT 1) = s.id;
});
my $total = $primary->safe_psql('postgres', 'SELECT count(*) FROM faces');
cmp_ok($all, '>=', 0.99 * $total, "after crash recovery $all of $total rows find themselves");
$primary->safe_psql('postgres', 'INSERT INTO faces SELECT * FROM staged WHERE ident >= 900');
same_answers('after crash recovery and more inserts');

# the unlogged table is empty after the crash, and its index works
is($primary->safe_psql('postgres', 'SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM ufaces ORDER BY e <-> (SELECT e FROM known LIMIT 1)) s'),
	'0', 'unlogged index is empty after crash recovery');
$primary->safe_psql('postgres', 'INSERT INTO ufaces SELECT id, e FROM staged WHERE ident < 20');
is($primary->safe_psql('postgres', 'SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM ufaces ORDER BY e <-> (SELECT e FROM known LIMIT 1) LIMIT 5) s'),
	'5', 'unlogged index works after crash recovery');

$standby->stop;
$primary->stop;
done_testing();
