#!/bin/bash
# face_verify's heads across backends: one long-lived session keeps using a
# head while another session replaces it (face_verify_train) and then edits
# it directly (a superuser's UPDATE).  Each change must be seen by the
# long-lived session's next statement, as a new session sees it (face_verify
# reads its head once per query, with the query's snapshot).
# Runs against the cluster the PG* variables name, e.g. a throw-away one:
#   pg_virtualenv -v 15 bash test/verifier_cache.sh
set -euo pipefail

DB=faceid_cache_test
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d $DB)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

dropdb --if-exists $DB
createdb $DB
"${PSQL[@]}" <<'SQL'
CREATE EXTENSION faceid;
CREATE TABLE pairs AS
SELECT i, i % 2 = 0 AS same,
       (SELECT array_agg(sin(i * 1000 + k)::real ORDER BY k) FROM generate_series(1, 128) k)::faceembedding AS a,
       (SELECT array_agg((sin(i * 1000 + k) + CASE WHEN i % 2 = 0 THEN 0.02 ELSE 0.3 END * cos(k))::real ORDER BY k)
          FROM generate_series(1, 128) k)::faceembedding AS b
FROM generate_series(1, 100) i;
SELECT pairs FROM face_verify_train('shared_head', 'SELECT a, b, same FROM pairs');
SQL

PROBE="SELECT round(face_verify(a, b, 'shared_head')::numeric, 9) FROM pairs WHERE i = 2;"

# the long-lived session: probe, wait, probe, wait, probe
{
	echo "$PROBE"
	echo "SELECT pg_sleep(3) \\g /dev/null"
	echo "$PROBE"
	echo "SELECT pg_sleep(3) \\g /dev/null"
	echo "$PROBE"
} | "${PSQL[@]}" >"$TMP/long" &
long_pid=$!

sleep 1.5
"${PSQL[@]}" -c "SELECT pairs FROM face_verify_train('shared_head', 'SELECT a, b, NOT same FROM pairs')" >/dev/null
"${PSQL[@]}" -c "$PROBE" >"$TMP/fresh2"
sleep 3
"${PSQL[@]}" -c "UPDATE faceid_verifier SET bias = bias + 3 WHERE name = 'shared_head'"
"${PSQL[@]}" -c "$PROBE" >"$TMP/fresh3"
wait $long_pid

mapfile -t long <"$TMP/long"
fail=0
check() {
	if [ "$2" == "$3" ]; then
		echo "ok: $1 ($2)"
	else
		echo "FAILED: $1: got '$2', expected '$3'"
		fail=1
	fi
}
check "three probes from the long-lived session" "${#long[@]}" "3"
check "the retrained head reaches the long-lived session" "${long[1]:-}" "$(cat "$TMP/fresh2")"
check "a direct UPDATE reaches the long-lived session" "${long[2]:-}" "$(cat "$TMP/fresh3")"
if [ "${long[0]:-}" == "${long[1]:-}" ] || [ "${long[1]:-}" == "${long[2]:-}" ]; then
	echo "FAILED: the probes did not change: ${long[*]}"
	fail=1
fi
dropdb $DB
exit $fail
