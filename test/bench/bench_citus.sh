#!/bin/bash
# Benchmark (not a test): faceid on Citus 13.2.2 at scale.  On a coordinator
# + 2 workers (test/citus/cluster.sh, loopback, one machine) it loads
# IDENTITIES x 5 face-like rows (gen_faces.pl) into a table distributed over
# 32 shards and into a local table on the coordinator, and reports
# CREATE INDEX ... USING faceid_hnsw time distributed vs one node, the
# per-shard plans, recall@10 and top-1 identity of QUERIES probes, and the
# median query latency (the checks of test/citus/check_citus.py, bigger).
#   bash test/bench/bench_citus.sh [IDENTITIES [QUERIES]]   (40000 = 200k rows, 1000)
# Needs faceid installed; builds Citus from ../shared/citus once.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export FACEID_SHARED="${FACEID_SHARED:-$ROOT/../shared}"
if [ ! -f "$FACEID_SHARED/citus/citus-13.2.2.tar.gz" ]; then
	echo "SKIP: $FACEID_SHARED/citus is absent"
	exit 0
fi
bash test/citus/build_citus.sh
. test/citus/cluster.sh
trap citus_cluster_stop EXIT
citus_cluster_start "${FACEID_CITUS_PORT:-55461}"
echo "faceid on Citus: $(nproc) cores, coordinator + 2 workers on one machine"
CITUS_PORT="${CITUS_PORTS[0]}" CITUS_IDENTITIES="${1:-40000}" CITUS_QUERIES="${2:-1000}" \
	PYTHONPATH="$ROOT/test/citus" /usr/bin/python3 - <<'PY'
import check_citus as cc

c = cc.connect()
cc.setup(c)
cc.recall_checks(c)
cc.done()
PY
