#!/bin/sh
# bench_rss.sh [calls]
#   Memory of one backend running face_embed_crop, then face_embed,
#   face_embed_all and face_embed on a truncated JPEG (ERROR every call),
#   each in a fresh backend (FACEID_RSS_FUNCS picks; default all), in a
#   throw-away cluster
#   (pg_virtualenv: the server runs as the postgres user, never on 5432).
#   Installs the extension first, under flock /tmp/faceid-install.lock because
#   the PostgreSQL installation is shared with other work trees.
#   From /proc/<pg_backend_pid()>/smaps_rollup (read by this client, so the
#   backend's memory is not disturbed by the measurement):
#     1. before the model is loaded (fresh backend, extension created),
#     2. after the first face_embed_crop: growth of private (anonymous) pages,
#        goal <= 30 MB, and the mmap'd weights, which must show up as shared
#        file pages (Rss_File from the weights mapping, not Private),
#     3. over `calls` (default 1000) face_embed_crop calls on the six demo
#        photos (build/faceid_sample1..6.jpg) in turn: private RSS every 100
#        calls, growth and slope after a 100-call warm-up, goal < 5 MB.
#   Env: FACEID_RSS_PORT (default: first free port from 55490).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
calls=${1:-1000}
cd "$repo"
port=${FACEID_RSS_PORT:-}
if [ -z "$port" ]; then
	port=55490
	while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
fi
SUDO=""
[ "$(id -u)" != 0 ] && SUDO="sudo"
export FACEID_RSS_CALLS="$calls" FACEID_REPO="$repo" PGPORT="$port"
flock /tmp/faceid-install.lock sh -c "make -s -j2 && $SUDO make -s install && \
	pg_virtualenv -t -v 15 /usr/bin/python3 '$repo/test/bench/bench_rss.py'"
