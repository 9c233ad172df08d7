#!/bin/bash
# faceid_identify_calibration across pg_dump / restore and concurrent
# calibrations:
# - a calibrated gallery is restored with its calibration (same scores, the
#   regclass re-bound to the restored table's new OID), and face_identify
#   answers the same without a new calibration;
# - four sessions calibrating one gallery at once leave one row, equal to
#   what a single calibration stores;
# - DROP EXTENSION takes the table and its event trigger along.
# Runs against the cluster the PG* variables name, e.g. a throw-away one:
#   pg_virtualenv -v 15 bash test/identify_dump.sh
set -euo pipefail

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
SRC=faceid_idump_src
DST=faceid_idump_dst
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

for db in $SRC $DST; do
	dropdb --if-exists "$db"
	createdb "$db"
done

# 40 people x 3 photos (deterministic synthetic encodings), in a schema of
# its own so the restored regclass must be re-bound by name.
"${PSQL[@]}" -d $SRC <<'SQL'
CREATE EXTENSION faceid;
CREATE SCHEMA enrol;
CREATE TABLE enrol.faces (person int, embedding faceembedding);
INSERT INTO enrol.faces
SELECT p, (SELECT array_agg((0.1 * sin(p * 7919 + i * (p + 31)) + 0.002 * sin(k * 104729 + i))::real ORDER BY i)
           FROM generate_series(1, 128) i)::faceembedding
FROM generate_series(1, 40) p, generate_series(1, 3) k;
CREATE INDEX ON enrol.faces USING faceid_hnsw (embedding);
SELECT labels FROM face_identify_calibrate('enrol.faces', 'person');
SQL

PROBE="(SELECT array_agg((0.1 * sin(7 * 7919 + i * (7 + 31)) + 0.002 * sin(99 * 104729 + i))::real ORDER BY i) FROM generate_series(1, 128) i)::faceembedding"
ANSWER="SELECT label, distance, false_accept, accepted FROM face_identify($PROBE, 'enrol.faces', 'person')"
ROWS="SELECT gallery, label_column, embedding_column, settings, labels, photos, scores FROM faceid_identify_calibration"

pg_dump -d $SRC -f "$TMP/dump.sql"
"${PSQL[@]}" -d $DST -f "$TMP/dump.sql" >/dev/null

fail=0
check() {
	if [ "$2" == "$3" ]; then
		echo "ok: $1"
	else
		echo "FAILED: $1: got '$2', expected '$3'"
		fail=1
	fi
}

check "the calibration is restored" "$("${PSQL[@]}" -d $DST -c "$ROWS")" "$("${PSQL[@]}" -d $SRC -c "$ROWS")"
check "it names the restored table" \
	"$("${PSQL[@]}" -d $DST -c "SELECT gallery::oid = 'enrol.faces'::regclass::oid FROM faceid_identify_calibration")" "t"
check "face_identify answers the same after restore" \
	"$("${PSQL[@]}" -d $DST -c "$ANSWER")" "$("${PSQL[@]}" -d $SRC -c "$ANSWER")"
check "person 7 is found and accepted" "$("${PSQL[@]}" -d $DST -c "SELECT label || ' ' || accepted FROM ($ANSWER) a")" "7 true"

# Four concurrent calibrations of the same gallery: one row, the same scores.
single="$("${PSQL[@]}" -d $SRC -c "SELECT scores FROM faceid_identify_calibration")"
pids=()
for i in 1 2 3 4; do
	"${PSQL[@]}" -d $SRC -c "SELECT labels FROM face_identify_calibrate('enrol.faces', 'person')" >"$TMP/cal$i.out" 2>&1 &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check "four concurrent calibrations succeed" "$ok" "4"
check "one row remains" "$("${PSQL[@]}" -d $SRC -c "SELECT count(*) FROM faceid_identify_calibration")" "1"
check "with the scores of a single calibration" "$("${PSQL[@]}" -d $SRC -c "SELECT scores FROM faceid_identify_calibration")" "$single"

# DROP EXTENSION takes the table, its functions and the event trigger; the
# former gallery can be dropped afterwards, and the extension comes back.
"${PSQL[@]}" -d $DST -c "SET client_min_messages = warning; DROP EXTENSION faceid CASCADE"
check "DROP EXTENSION takes the calibration table and the event trigger" \
	"$("${PSQL[@]}" -d $DST -c "SELECT (SELECT count(*) FROM pg_class WHERE relname = 'faceid_identify_calibration') + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'faceid%')")" "0"
"${PSQL[@]}" -d $DST -c "DROP TABLE enrol.faces; CREATE EXTENSION faceid"
check "a new extension starts without calibrations" \
	"$("${PSQL[@]}" -d $DST -c "SELECT count(*) FROM faceid_identify_calibration")" "0"

for db in $SRC $DST; do dropdb "$db"; done
[ $fail -eq 0 ]
