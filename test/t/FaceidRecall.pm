# Shared by the faceid_hnsw TAP tests: recall of the index against the
# exact scan, and top-1 identity, for a set of face-like queries.
package FaceidRecall;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
our @EXPORT = qw(measure_recall gen_faces_dir faceid_node faceid_build_node run_concurrently);

# Face-like encodings from test/bench/gen_faces.pl in a temporary directory:
# $ident identities x $photos photos, $known and $unknown queries, seed $seed.
sub gen_faces_dir
{
	my ($ident, $photos, $known, $unknown, $seed) = @_;
	my $dir = tempdir(CLEANUP => 1);
	system('perl', "$FindBin::Bin/../bench/gen_faces.pl", $ident, $photos, $known, $unknown,
		$seed, $dir) == 0
	  or die "gen_faces.pl failed";
	return $dir;
}

# A started cluster named $name with $conf in postgresql.conf, loading
# faceid from FACEID_DESTDIR (a private `make install DESTDIR=...`, through
# Debian's extension_destdir) when it is set.
sub faceid_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', $conf);
	$node->append_conf('postgresql.conf', "extension_destdir = '$ENV{FACEID_DESTDIR}'")
	  if $ENV{FACEID_DESTDIR};
	$node->start;
	return $node;
}

# A started cluster for the parallel CREATE INDEX tests: $shared_buffers
# and $mwm (maintenance_work_mem), room for the build's workers, and no
# parallel query or JIT, so that only the build runs in parallel.
sub faceid_build_node
{
	my ($name, $shared_buffers, $mwm) = @_;
	return faceid_node($name, qq{
shared_buffers = $shared_buffers
maintenance_work_mem = $mwm
max_worker_processes = 8
max_parallel_workers = 8
max_parallel_workers_per_gather = 0
jit = off
});
}

# recall@10 of the index on table faces (id, ident, e) against the exact scan
# for the queries of $from (columns qid, e, and ident when $with_ident), and
# then, when $with_ident, the share of queries whose nearest row (by the
# index) is of their identity.  $set_ef is SQL run before the index scans.
sub measure_recall
{
	my ($node, $from, $with_ident, $set_ef) = @_;
	my $sql = qq{
	SET enable_seqscan = on;
	SET enable_indexscan = off;
	CREATE TEMP TABLE truth AS
	  SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM ($from) q;
	RESET enable_indexscan;
	SET enable_seqscan = off;
	$set_ef
	CREATE TEMP TABLE res AS
	  SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM ($from) q;
	SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4)
	  FROM res r JOIN truth t USING (qid);
	};
	$sql .= qq{
	SELECT round(avg((f.ident = q.ident)::int), 4)
	  FROM res r JOIN ($from) q USING (qid) JOIN faces f ON f.id = r.ids[1];
	} if $with_ident;
	return split /\n/, $node->safe_psql('postgres', $sql);
}

# Run each statement of @sql in its own psql session on $node, all at once;
# true when every one succeeded.
sub run_concurrently
{
	my ($node, @sql) = @_;
	my @h;
	for my $sql (@sql)
	{
		my ($out, $err) = ('', '');
		push @h, IPC::Run::start(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
			  '-c', $sql ],
			'>', \$out, '2>', \$err);
	}
	my $ok = 1;
	$_->finish or $ok = 0 for @h;
	return $ok;
}

1;
