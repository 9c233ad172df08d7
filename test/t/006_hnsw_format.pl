# faceid_hnsw's on-disk format version: an index whose metapage says it was
# written by an older format (version 2: floats in the element tuples) is
# refused with a clear error and a REINDEX hint, and REINDEX makes it usable.
# pg_regress cannot write an index page, so this test stops the server and
# patches the version field of the metapage in the index file.
#
# Environment: FACEID_DESTDIR (a private `make install DESTDIR=...`, used
# through Debian's extension_destdir).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('format');
$node->init;
$node->append_conf('postgresql.conf', "extension_destdir = '$ENV{FACEID_DESTDIR}'")
  if $ENV{FACEID_DESTDIR};
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION faceid;
CREATE TABLE t (id int, e faceembedding);
INSERT INTO t SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 1.1)::real * 0.1) FROM generate_series(1, 128) j)::faceembedding
FROM generate_series(1, 500) i;
CREATE INDEX t_e ON t USING faceid_hnsw (e);
CHECKPOINT;
});
my $query = q{SET enable_seqscan = off;
SELECT id FROM t ORDER BY e <-> (SELECT e FROM t WHERE id = 7) LIMIT 1};
is($node->safe_psql('postgres', $query), '7', 'the current format answers');

my $path = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('t_e')});
$node->stop;

# The metapage: page header (24 bytes), then magic (4) and version (4).
open(my $fh, '+<:raw', $path) or die "open $path: $!";
sysseek($fh, 24, 0) or die "seek: $!";
sysread($fh, my $head, 8) == 8 or die "read: $!";
my ($magic, $version) = unpack('L<L<', $head);
is(sprintf('%08X', $magic), 'FA1D4A57', 'the metapage has the magic number');
ok($version > 2, "the current format is newer than 2 (it is $version)");
sysseek($fh, 28, 0) or die "seek: $!";
syswrite($fh, pack('L<', 2), 4) == 4 or die "write: $!";
close($fh);
$node->start;

my ($ret, $out, $err) = $node->psql('postgres', $query);
isnt($ret, 0, 'an index of format 2 is refused');
like($err, qr/faceid_hnsw index "t_e" has on-disk format 2, this version of faceid reads format $version/,
	'the error names the index and both formats');
like($err, qr/HINT:\s+REINDEX INDEX t_e/, 'the hint says to REINDEX');
($ret, $out, $err) = $node->psql('postgres', q{INSERT INTO t SELECT 501, e FROM t WHERE id = 1});
isnt($ret, 0, 'an insert is refused too');

$node->safe_psql('postgres', 'REINDEX INDEX t_e');
is($node->safe_psql('postgres', $query), '7', 'after REINDEX the index answers');

$node->stop;
done_testing();
