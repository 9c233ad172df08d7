# face_identify on a streaming standby: it never writes, so it answers there
# like on the primary (the calibration arrives by WAL), stale NOTICE
# included; face_identify_calibrate, which writes, is refused there.
#
# Environment: FACEID_DESTDIR (a private `make install DESTDIR=...`, used
# through Debian's extension_destdir).
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = tempdir(CLEANUP => 1);
system('perl', "$FindBin::Bin/../bench/gen_faces.pl", 300, 3, 60, 40, 7, $dir) == 0
  or die "gen_faces.pl failed";

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "extension_destdir = '$ENV{FACEID_DESTDIR}'")
  if $ENV{FACEID_DESTDIR};
$primary->start;
$primary->safe_psql('postgres', qq{
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
COPY faces FROM '$dir/faces.copy';
CREATE TABLE probes (qid int, ident int, e faceembedding);
COPY probes FROM '$dir/known.copy';
COPY probes FROM '$dir/unknown.copy';
CREATE INDEX ON faces USING faceid_hnsw (e);
SELECT face_identify_calibrate('faces', 'ident', 'e');
});

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# every probe's answer: label, accepted, false_accept to 6 digits
my $answers = q{
SELECT string_agg(p.qid || ':' || coalesce(r.label, '-') || ':' || coalesce(r.accepted::text, '-') || ':'
                  || coalesce(round(r.false_accept::numeric, 6)::text, '-'), ' ' ORDER BY p.qid, p.ident)
FROM probes p LEFT JOIN LATERAL face_identify(p.e, 'faces', 'ident', 'e') r ON true;
};
my $p = $primary->safe_psql('postgres', $answers);
my $s = $standby->safe_psql('postgres', $answers);
ok(length($p) > 1000 && $p eq $s, 'the standby answers like the primary');
my $accepted = () = $p =~ /:true:/g;
cmp_ok($accepted, '>', 0, "some probes are accepted ($accepted of 100)");

# a stale calibration (the people doubled) still answers on the standby, with a NOTICE
$primary->safe_psql('postgres', 'INSERT INTO faces SELECT id + 1000000, ident + 1000000, e FROM faces; ANALYZE faces');
$primary->wait_for_catchup($standby);
my ($ret, $out, $err) = $standby->psql('postgres',
	"SELECT label IS NOT NULL FROM face_identify((SELECT e FROM probes LIMIT 1), 'faces', 'ident', 'e')");
is($ret, 0, 'a stale calibration answers on the standby');
like($err, qr/calibration of gallery "faces" is stale/, 'with the stale NOTICE');

# calibrating writes: refused on the standby, with the server's read-only error
($ret, $out, $err) = $standby->psql('postgres', "SELECT face_identify_calibrate('faces', 'ident', 'e')");
isnt($ret, 0, 'face_identify_calibrate fails on the standby');
like($err, qr/read-only transaction/, 'because the standby is read-only');

$standby->stop;
$primary->stop;
done_testing();
