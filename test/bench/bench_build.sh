#!/bin/bash
# Benchmark (not a test): faceid_hnsw CREATE INDEX, the partial re-prune of
# full neighbour lists against the full one (issue #14).
#   bash test/bench/bench_build.sh [ROWS]          (default 100000)
# Face-like rows (gen_faces.pl, seed 23, 10 photos a person).  Serial builds
# (max_parallel_maintenance_workers = 0) with faceid.hnsw_build_prune =
# fast and = full, alternating, BENCH_ROUNDS rounds (default 3); with
# FACEID_DESTDIR_BASE set to a `make install DESTDIR=...` of another build
# (e.g. the commit before), a third build per round loads that one
# (extension_destdir per connection).  Reports per build the backend's CPU
# time (from /proc: the machine is shared, wall time is noisy), the wall
# time and an md5 of the index pages (past each page's LSN and checksum),
# then the median CPU seconds and the per-round ratios to full (to base
# when BENCH_VARIANTS, default "fast full" plus base, leaves full out:
# BENCH_VARIANTS="fast base" compares a branch with main alone; "base2"
# loads FACEID_DESTDIR_BASE2, a third install).
# FACEID_DESTDIR: the build under test; FACEID_BENCH_PORT: the cluster's port.
set -euo pipefail
ROWS="${1:-100000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/test/bench/benchlib.sh"

bench_in_venv_index "$0" 55437 1GB "$@"

ROUNDS="${BENCH_ROUNDS:-3}"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
perl "$ROOT/test/bench/gen_faces.pl" $((ROWS / 10)) 10 0 0 23 "$DIR"

q <<SQL
CREATE EXTENSION faceid;
CREATE EXTENSION pageinspect;
CREATE TABLE faces (id int, ident int, e faceembedding) WITH (autovacuum_enabled = false);
\copy faces FROM '$DIR/faces.copy'
VACUUM ANALYZE faces;
SQL

read -r -a variants <<<"${BENCH_VARIANTS:-fast full}"
[ -n "${FACEID_DESTDIR_BASE:-}" ] && [[ " ${variants[*]} " != *" base "* ]] && variants+=(base)
ref=full
[[ " ${variants[*]} " != *" full "* ]] && ref=base
CPU="($BACKEND_CPU_MS / 1000.0)"

# One build of variant $1: "cpu_s wall_s md5".
build() {
	local v="$1" set="SET faceid.hnsw_build_prune = '$1';" opt=""
	if [ "$v" = base ] || [ "$v" = base2 ]; then
		set=""
		opt="-c extension_destdir=$FACEID_DESTDIR_BASE"
		[ "$v" = base2 ] && opt="-c extension_destdir=$FACEID_DESTDIR_BASE2"
	fi
	PGOPTIONS="$opt" q <<SQL
$set
DROP INDEX IF EXISTS faces_e;
CREATE TEMP TABLE t0 AS SELECT $CPU AS cpu, clock_timestamp() AS wall;
CREATE INDEX faces_e ON faces USING faceid_hnsw (e);
SELECT round($CPU - cpu, 2) || ' ' || round(extract(epoch FROM clock_timestamp() - wall)::numeric, 1)
  || ' ' || (SELECT md5(string_agg(md5(substr(get_raw_page('faces_e', b::int), 11)), '' ORDER BY b))
               FROM generate_series(0, pg_relation_size('faces_e') / 8192 - 1) b)
  FROM t0;
SQL
}

echo "serial CREATE INDEX on $ROWS face-like rows, $ROUNDS rounds"
declare -A cpu
for r in $(seq "$ROUNDS"); do
	for v in "${variants[@]}"; do
		read -r c w md5 < <(build "$v")
		cpu[$v,$r]=$c
		echo "round $r $v: cpu ${c} s, wall ${w} s, pages md5 $md5, load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
for v in "${variants[@]}"; do
	med=$(for r in $(seq "$ROUNDS"); do echo "${cpu[$v,$r]}"; done | sort -g |
		awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	ratios=$(for r in $(seq "$ROUNDS"); do
		awk -v a="${cpu[$v,$r]}" -v b="${cpu[$ref,$r]}" 'BEGIN {printf "%.3f ", a / b}'
	done)
	echo "$v: median cpu $med s; per round / $ref: $ratios"
done
