#!/usr/bin/perl
# Deterministic face-like 128-d encodings for the faceid_hnsw tests and
# benchmark (not real faces).  Identities have centres N(0, 0.059^2 I); each
# photo is its centre + N(0, 0.025^2 I), so photos of one person are ~0.4
# apart and different people ~0.95 apart, as with dlib/face-api encodings.
#
#   perl gen_faces.pl IDENTITIES PHOTOS NKNOWN NUNKNOWN SEED OUTDIR
#
# Writes COPY text files into OUTDIR:
#   faces.copy     id, ident, embedding       (IDENTITIES * PHOTOS rows)
#   known.copy     qid, ident, embedding      (new photos of enrolled people)
#   unknown.copy   qid, ident, embedding      (people not in faces; ident < 0)
use strict;
use warnings;

my ($nident, $photos, $nknown, $nunknown, $seed, $outdir) = @ARGV;
die "usage: $0 IDENTITIES PHOTOS NKNOWN NUNKNOWN SEED OUTDIR\n" unless defined $outdir;
srand($seed);

my $PI = 4 * atan2(1, 1);
my @spare;

# One N(0,1) draw (Box-Muller, both values used).
sub gauss
{
	return pop @spare if @spare;
	my $u1 = rand();
	$u1 = 1e-300 if $u1 <= 0;
	my $u2 = rand();
	my $r = sqrt(-2 * log($u1));
	push @spare, $r * sin(2 * $PI * $u2);
	return $r * cos(2 * $PI * $u2);
}

sub centre { return [ map { 0.059 * gauss() } 1 .. 128 ]; }

sub photo
{
	my ($c) = @_;
	return '[' . join(',', map { sprintf('%.6g', $_ + 0.025 * gauss()) } @$c) . ']';
}

open(my $f, '>', "$outdir/faces.copy") or die $!;
my @centres;
my $id = 0;
for my $p (0 .. $nident - 1)
{
	my $c = centre();
	push @centres, $c;
	print $f join("\t", ++$id, $p, photo($c)), "\n" for 1 .. $photos;
}
close $f;

open(my $k, '>', "$outdir/known.copy") or die $!;
for my $q (1 .. $nknown)
{
	my $p = int(rand($nident));
	print $k join("\t", $q, $p, photo($centres[$p])), "\n";
}
close $k;

open(my $u, '>', "$outdir/unknown.copy") or die $!;
for my $q (1 .. $nunknown)
{
	print $u join("\t", $q, -$q, photo(centre())), "\n";
}
close $u;
