#!/bin/bash
# faceid on Citus 13.2.2: build Citus once (build_citus.sh), start a
# coordinator and two workers on loopback as the postgres user, and run
# check_citus.py against them.  Prints SKIP when ../shared/citus is absent.
#   bash test/citus/run_test.sh
# FACEID_CITUS_PORT: the coordinator's port (workers on +1, +2; default
# 55461).  FACEID_DESTDIR: a private faceid install (see cluster.sh).
# CITUS_IDENTITIES: identities of the recall table (x 5 rows; default 8000).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export FACEID_SHARED="${FACEID_SHARED:-$ROOT/../shared}"
if [ ! -f "$FACEID_SHARED/citus/citus-13.2.2.tar.gz" ]; then
	echo "SKIP: $FACEID_SHARED/citus is absent; the Citus test needs its source"
	exit 0
fi
bash test/citus/build_citus.sh || exit 1

. test/citus/cluster.sh
on_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -n "$CITUS_DIR" ]; then
		for i in 0 1 2; do
			echo "--- node$i log (tail)"
			tail -20 "$CITUS_DIR/node$i.log" 2>/dev/null
		done
	fi
	citus_cluster_stop
	exit $rc
}
trap on_exit EXIT

t0=$SECONDS
citus_cluster_start "${FACEID_CITUS_PORT:-55461}" || exit 1
echo "citus: cluster up in $((SECONDS - t0)) s (coordinator ${CITUS_PORTS[0]}, workers ${CITUS_PORTS[1]} ${CITUS_PORTS[2]})"
CITUS_PORT="${CITUS_PORTS[0]}" /usr/bin/python3 test/citus/check_citus.py
rc=$?
echo "citus: checks took $((SECONDS - t0)) s"
exit $rc
