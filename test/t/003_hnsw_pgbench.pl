# faceid_hnsw under pgbench: several clients inserting, deleting, vacuuming
# and querying at once, then an immediate stop during that load (issue #5).
#
# Data (test/bench/gen_faces.pl, seed 13): 2000 identities x 10 photos, the
# first 1600 identities (ids 1-16000) loaded before CREATE INDEX.  pgbench
# scripts, one statement each (autocommit), weighted:
#  - insert_copy: a staged photo of identities 1600-1999, chosen at random
#    (ON CONFLICT DO NOTHING: two clients may pick the same one),
#  - insert_new: a new photo of a random identity, enrolled or not, computed
#    in SQL (the mean of its staged photos + N(0, 0.025^2 I) noise), id from
#    a sequence starting at 100001,
#  - knn: ORDER BY e <-> (a known query) LIMIT 10,
#  - delete: one of the rows loaded before CREATE INDEX,
#  - vacuum: VACUUM faces (allowed: pgbench sends each command on its own).
# Asserts
#  1. pgbench -c 4 -j 2 -t 1000: exit 0, every transaction processed, no
#     failed transaction, nothing on stderr; every inserted row is in the
#     table and finds itself by its own vector through the index (index scan
#     forced, EXPLAIN checked); top-1 identity >= 0.99 for new photos of
#     enrolled people and recall@10 >= 0.99 for queries that are rows of the
#     table, measured as in 001;
#  2. pgbench in the background (4 clients), an immediate stop once a
#     separate client has seen >= 300 new rows committed, a restart: every
#     row that client saw is there with the same vector; all but 0.1% of
#     the heap rows are reachable through the index by their own vector (at
#     the test's ef_search, or at 1000 for the few original rows an
#     approximate search misses; a crash inside VACUUM can leave a few
#     unreachable until the next VACUUM); every inserted row finds itself at
#     the test's ef_search; top-1 and recall@10 as in 1;
#  3. pgbench runs cleanly again on the recovered index, and its rows find
#     themselves; after one more VACUUM every heap row is reachable.
# Runs in about 50 s on the 2-core development VM.
#
# Environment: FACEID_TAP_EF_SEARCH (default 40, the server's default, as in 001),
# FACEID_DESTDIR (a private `make install DESTDIR=...`, used through
# Debian's extension_destdir).
use strict;
use warnings;
use FindBin;
use IPC::Run;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FaceidRecall;

my $ef = $ENV{FACEID_TAP_EF_SEARCH} || 40;    # the default
my $ident = 2000;
my $first = 1600;                 # identities loaded before CREATE INDEX
my $nfirst = $first * 10;         # their rows: ids 1 .. $nfirst
my $nrows = $ident * 10;
my $newid = 100001;               # ids of the computed photos start here

my $dir = gen_faces_dir($ident, 10, 400, 100, 13);

my $node = faceid_node('pgbench', qq{
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_parallel_workers_per_gather = 0
jit = off
});

my $set_ef = "SET faceid.ef_search = $ef;";

$node->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE staged (id int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE unknown (qid int PRIMARY KEY, ident int, e faceembedding);
COPY staged FROM '$dir/faces.copy';
COPY known FROM '$dir/known.copy';
COPY unknown FROM '$dir/unknown.copy';
CREATE INDEX ON staged (ident);
CREATE INDEX faces_ident ON faces (ident);
CREATE SEQUENCE new_photo START $newid;
INSERT INTO faces SELECT * FROM staged WHERE ident < $first;
ANALYZE;
});

my $t0 = time;
$node->safe_psql('postgres', 'CREATE INDEX faces_e ON faces USING faceid_hnsw (e)');
note sprintf('CREATE INDEX on %d rows: %.1f s', $nfirst, time - $t0);

# pgbench scripts.  One statement each, so every transaction is one
# statement in autocommit.
my %script = (
	insert_copy => qq{
\\set sid random($nfirst + 1, $nrows)
INSERT INTO faces SELECT * FROM staged WHERE id = :sid ON CONFLICT (id) DO NOTHING;
},
	insert_new => q{
\set who random(0, } . ($ident - 1) . q{)
INSERT INTO faces (id, ident, e)
SELECT nextval('new_photo'), :who,
       (SELECT array_agg(x + 0.025 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) ORDER BY i)
        FROM unnest((SELECT avg(e) FROM staged WHERE ident = :who)::real[]) WITH ORDINALITY u(x, i))::faceembedding;
},
	knn => q{
\set q random(1, 400)
SELECT id FROM faces ORDER BY e <-> (SELECT e FROM known WHERE qid = :q) LIMIT 10;
},
	delete => qq{
\\set d random(1, $nfirst)
DELETE FROM faces WHERE id = :d;
},
	vacuum => "VACUUM faces;\n",);

# recall@10 against the exact scan for the queries in $from (columns qid,
# e), and top-1 identity when the queries have identities (FaceidRecall.pm).
sub measure
{
	my ($from, $with_ident) = @_;
	return measure_recall($node, $from, $with_ident, $set_ef);
}

sub figures
{
	my ($phase) = @_;
	my ($rec_known, $top1) = measure(
		"SELECT k.qid, k.ident, k.e FROM known k WHERE EXISTS (SELECT 1 FROM faces f WHERE f.ident = k.ident)", 1);
	cmp_ok($top1, '>=', 0.99, "$phase: top-1 identity of new photos of enrolled people ($top1)");
	my ($rec_rows) = measure("SELECT id AS qid, e FROM faces WHERE id % 100 = 1", 0);
	cmp_ok($rec_rows, '>=', 0.99, "$phase: recall\@10 of queries that are rows ($rec_rows)");
	my ($rec_unknown) = measure("SELECT qid, e FROM unknown", 0);
	diag "$phase (ef_search $ef): top-1 $top1, recall\@10 rows $rec_rows, "
	  . "enrolled $rec_known, unknown $rec_unknown (last two not asserted)";
}

# Own-vector lookups through the index for the rows of faces matching
# $where (read with a sequential scan).  Returns how many rows were probed,
# the ids that did not come first for their own vector at the test's
# ef_search (nor an identical vector), and how many of those are not found
# even at ef_search 1000, i.e. are not reachable in the graph.
my $self_lookup = q{SELECT f.id FROM faces f ORDER BY f.e <-> p.e LIMIT 1};
my $self_ok = qq{(($self_lookup) = p.id OR (SELECT f.e <-> p.e FROM faces f ORDER BY f.e <-> p.e LIMIT 1) = 0)};
sub self_found
{
	my ($where) = @_;
	my $t = time;
	my ($total, $missed) = split /\|/, $node->safe_psql('postgres', qq{
	CREATE TEMP TABLE probe AS SELECT id, e FROM faces p WHERE $where;
	$set_ef
	SET enable_seqscan = off;
	SET enable_bitmapscan = off;
	SELECT count(*), string_agg(p.id::text, ',' ORDER BY p.id) FILTER (WHERE NOT $self_ok) FROM probe p;
	}), -1;
	note sprintf('own-vector lookups of %d rows: %.1f s', $total, time - $t);
	my @missed = split /,/, $missed;
	my $unreached = 0;
	$unreached = $node->safe_psql('postgres', qq{
	SET faceid.ef_search = 1000;
	SET enable_seqscan = off;
	SET enable_bitmapscan = off;
	SELECT count(*) FROM faces p WHERE p.id IN ($missed) AND NOT $self_ok;
	}) if @missed;
	return ($total, \@missed, $unreached);
}

like(
	$node->safe_psql('postgres', qq{
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT p.id FROM faces p WHERE $self_ok;
	}),
	qr/Index Scan using faces_e on faces f/,
	'own-vector lookups go through the faceid_hnsw index');

# 1. pgbench: 4 clients, 1000 transactions each.
my $out_re = [
	qr/number of transactions actually processed: 4000\/4000/,
	qr/number of failed transactions: 0 \(/,
];
$t0 = time;
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	$node->pgbench(
		'-n -c 4 -j 2 -t 1000', 0, $out_re, [qr/^$/],
		'pgbench: 4 clients insert, delete and query',
		{
			'003_insert_copy@8' => $script{insert_copy},
			'003_insert_new@8'  => $script{insert_new},
			'003_knn@12'        => $script{knn},
			'003_delete@2'      => $script{delete},
			'003_vacuum@1'      => $script{vacuum},
		});
}
note sprintf('pgbench, 4000 transactions: %.1f s', time - $t0);

my ($copies, $new, $deleted) = split /\|/, $node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE id > $nfirst AND id < $newid),
       count(*) FILTER (WHERE id >= $newid),
       $nfirst - count(*) FILTER (WHERE id <= $nfirst)
FROM faces});
my $vacuums = $node->safe_psql('postgres', "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'faces'");
diag "pgbench: $copies staged photos copied, $new new photos, $deleted rows deleted, $vacuums vacuums";
is($node->safe_psql('postgres', "SELECT last_value - $newid + 1 FROM new_photo"),
	$new, 'every new photo pgbench computed is in the table');
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM faces f JOIN staged s USING (id)
WHERE f.id > $nfirst AND f.e = s.e AND f.ident = s.ident}),
	$copies, 'the copied staged photos are intact');

my ($total, $missed) = self_found("id > $nfirst");
is(scalar(@$missed), 0,
	"every row pgbench inserted finds itself through the index ($total rows; missed: @$missed)");
figures('after pgbench');


# 2. Crash recovery: pgbench inserts from 4 clients in the background; once
# a separate client has seen enough rows committed, an immediate stop.
my @files;
for my $f ([ 'insert_copy', 8 ], [ 'insert_new', 8 ], [ 'knn', 4 ], [ 'delete', 2 ], [ 'vacuum', 1 ])
{
	my $path = "$dir/crash_$f->[0].sql";
	open(my $fh, '>', $path) or die $!;
	print $fh $script{ $f->[0] };
	close $fh;
	push @files, '-f', "$path\@$f->[1]";
}
my $sel_rows = "SELECT id || ':' || md5(e::text) FROM faces WHERE id > $nfirst ORDER BY id";
my $start_rows = $node->safe_psql('postgres', "SELECT count(*) FROM faces WHERE id > $nfirst");
my ($bout, $berr) = ('', '');
my $bg = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '120', '-h', $node->host, '-p', $node->port,
	  @files, 'postgres' ],
	'>', \$bout, '2>', \$berr, IPC::Run::timeout(300));
$t0 = time;
my $seen = 0;
while (time - $t0 < 60)
{
	sleep(0.2);
	$seen = $node->safe_psql('postgres', "SELECT count(*) FROM faces WHERE id > $nfirst") - $start_rows;
	last if $seen >= 300 && time - $t0 >= 3;
}
# the rows committed so far, with a digest of their vectors
my %before = map { split /:/ } split /\n/, $node->safe_psql('postgres', $sel_rows);
my $running = $bg->pumpable;
$bg->pump_nb if $running;
is($berr, '', 'the background pgbench reported no error before the stop');
$node->stop('immediate');
$bg->finish;
ok($running, 'pgbench was still inserting at the immediate stop');
note sprintf('immediate stop %.1f s after pgbench started, %d rows seen committed', time - $t0, $seen);
note "background pgbench: $berr" if $berr ne '';
$node->start;

my %after = map { split /:/ } split /\n/, $node->safe_psql('postgres', $sel_rows);
my @lost = grep { !defined $after{$_} || $after{$_} ne $before{$_} } sort { $a <=> $b } keys %before;
is(scalar(@lost), 0,
	sprintf('no committed row lost or changed in crash recovery (%d rows seen before, %d after)',
		scalar(keys %before), scalar(keys %after)));
diag 'lost or changed: ' . join(' ', @lost[0 .. ($#lost < 20 ? $#lost : 19)]) if @lost;

# Every heap row is in the graph and reachable: it finds itself at the test's
# ef_search or, for the few an approximate search misses (rows of the
# original build near their cluster's other photos), at ef_search 1000.
# Rows inserted concurrently (replayed from WAL for the last ones) must all
# find themselves at the test's ef_search, as in 002.
my $unreached;
($total, $missed, $unreached) = self_found('true');
is($total, $node->safe_psql('postgres', 'SELECT count(*) FROM faces'), 'the probe read every heap row');
# A crash inside VACUUM (the background pgbench runs it too) can stop it
# between repairing the lists that linked to dead rows and relinking what
# that left unreachable; the next VACUUM relinks it (checked at the end).
cmp_ok($unreached, '<=', 0.001 * $total,
	"after crash recovery at most 0.1% of heap rows are unreachable until the next VACUUM ($unreached of $total)");
my @missed_new = grep { $_ > $nfirst } @$missed;
is(scalar(@missed_new), 0,
	"after crash recovery every inserted row finds itself at ef_search $ef (missed: @missed_new)");
my $frac = sprintf('%.4f', 1 - @$missed / $total);
cmp_ok($frac, '>=', 0.99, "after crash recovery $frac of all rows find themselves at ef_search $ef");
diag sprintf('after crash recovery: %d of %d rows find themselves at ef_search %d, the rest at 1000 (%s)',
	$total - @$missed, $total, $ef, join(' ', @$missed));
figures('after crash recovery');

# 3. The recovered index takes concurrent work again.
$t0 = time;
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	$node->pgbench(
		'-n -c 4 -j 2 -t 100', 0,
		[ qr/number of transactions actually processed: 400\/400/, qr/number of failed transactions: 0 \(/ ],
		[qr/^$/],
		'pgbench after crash recovery',
		{
			'003_again_insert_copy@4' => $script{insert_copy},
			'003_again_insert_new@4'  => $script{insert_new},
			'003_again_knn@6'         => $script{knn},
			'003_again_delete@1'      => $script{delete},
			'003_again_vacuum@1'      => $script{vacuum},
		});
}
note sprintf('pgbench after recovery, 400 transactions: %.1f s', time - $t0);
($total, $missed) = self_found("id > $nfirst AND id NOT IN ("
	  . join(',', keys %after) . ')');
is(scalar(@$missed), 0, "rows inserted after recovery find themselves through the index ($total rows; missed: @$missed)");

# After a VACUUM that has dead rows to remove, every heap row is reachable.
$node->safe_psql('postgres', "DELETE FROM faces WHERE id = (SELECT min(id) FROM faces); VACUUM faces;");
($total, $missed, $unreached) = self_found('true');
is($unreached, 0, "after the next VACUUM every heap row is reachable through the index by its own vector ($total rows)");

$node->stop;
done_testing();
