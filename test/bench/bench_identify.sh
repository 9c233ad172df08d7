#!/bin/bash
# Benchmark (not a test) of open-set identification (face_identify,
# face_identify_calibrate): the LFW View 1 DIR/FPIR tables, and latency and
# calibration time on ROWS face-like rows (see bench_identify.py).
#   bash test/bench/bench_identify.sh [ROWS]        (default 100000)
# FACEID_BENCH_PART=lfw|speed|all|calibrate (default all; calibrate: only the
# calibration time, no index, e.g. at 1000000 rows); FACEID_LFW_ENC=file reuses
# precomputed encodings.  Data: ROWS/10 identities x 10 photos from
# test/bench/gen_faces.pl (seed 42).  Needs faceid installed, or installed
# with make install DESTDIR=/some/dir and FACEID_DESTDIR=/some/dir set.
# Runs on a throw-away cluster (pg_virtualenv), never as root.
set -euo pipefail
ROWS="${1:-100000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
export PGPORT="${FACEID_BENCH_PORT:-55435}"

DATA="$(mktemp -d /tmp/faceid_identify_bench.XXXXXX)"
trap 'rm -rf "$DATA"' EXIT
if [ "${FACEID_BENCH_PART:-all}" != lfw ]; then
	echo "generating $ROWS face-like encodings into $DATA ..."
	perl "$HERE/gen_faces.pl" $((ROWS / 10)) 10 150 50 42 "$DATA"
fi
chmod -R a+rX "$DATA"
export FACEID_BENCH_DATA="$DATA" FACEID_BENCH_ROWS="$ROWS"
pg_virtualenv -t -c "-p $PGPORT" -v 15 -o shared_buffers=1GB -o max_parallel_workers_per_gather=0 \
	-o maintenance_work_mem=2GB -o work_mem=64MB -o jit=off \
	${FACEID_DESTDIR:+-o extension_destdir=$FACEID_DESTDIR} \
	/usr/bin/python3 "$HERE/bench_identify.py"
