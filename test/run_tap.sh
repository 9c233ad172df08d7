#!/bin/bash
# Run the TAP tests (test/t/*.pl, PostgreSQL::Test::Cluster) on a copy of
# test/ owned by a non-root user, since initdb refuses to run as root.
#   bash test/run_tap.sh [t/001_hnsw_recall.pl ...]
# Environment: FACEID_TAP_USER (default postgres when run as root),
# FACEID_TAP_ROWS, FACEID_TAP_EF_SEARCH, FACEID_DESTDIR (see the tests).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGBIN="$(pg_config --bindir)"
PGPERL="$(dirname "$(pg_config --pgxs)")/../test/perl"
PGREGRESS="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
COPY="$(mktemp -d /tmp/faceid_tap.XXXXXX)"
trap 'rm -rf "$COPY"' EXIT
cp -a "$ROOT/test" "$COPY/"
TESTS=("$@")
[ ${#TESTS[@]} -eq 0 ] && TESTS=("t/*.pl")
cmd="cd '$COPY/test' && PATH='$PGBIN':\$PATH PERL5LIB='$PGPERL' PG_REGRESS='$PGREGRESS' prove ${PROVE_FLAGS:--v} ${TESTS[*]}"
status=0
if [ "$(id -u)" = 0 ]; then
	chown -R "${FACEID_TAP_USER:-postgres}" "$COPY"
	chmod 755 "$COPY"
	su "${FACEID_TAP_USER:-postgres}" -s /bin/bash -c "$cmd" || status=$?
else
	bash -c "$cmd" || status=$?
fi
if [ $status -ne 0 ]; then
	# the test logs go away with the copy: show their ends
	for f in "$COPY"/test/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && { echo "=== tail of $(basename "$f")"; tail -40 "$f"; }
	done
fi
exit $status
