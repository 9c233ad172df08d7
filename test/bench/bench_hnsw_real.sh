#!/bin/bash
# Benchmark (not a test): faceid_hnsw on real encodings of every labelled
# photo under ../shared/faces against gen_faces.pl's synthetic ones at the
# same size (see bench_hnsw_real.py).  Runs in a throw-away cluster
# (pg_virtualenv), never as root's own server.  Needs faceid installed, or
# installed with make install DESTDIR=/dir and FACEID_DESTDIR=/dir set.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export PGPORT="${FACEID_BENCH_PORT:-55436}"
exec pg_virtualenv -t -c "-p $PGPORT" -v 15 -o shared_buffers=512MB -o jit=off \
	${FACEID_DESTDIR:+-o extension_destdir=$FACEID_DESTDIR} \
	/usr/bin/python3 "$HERE/bench_hnsw_real.py"
