#!/bin/bash
# Benchmark (not a test): precomputing encodings.
#   bash test/bench/bench_insert.sh [N]      (default N = 1000 LFW photos)
# Reports, in one run on one throw-away cluster:
#  - rows/s of INSERT into a table with face_embed_trigger (one connection,
#    LFW-sized 250x250 photos, one row per statement, as an application does);
#  - rows/s of COPY into the same table (bulk load) with a faceid_hnsw index
#    on the embedding column when the AM is there;
#  - the parallel backfill CREATE TABLE AS SELECT id, face_embed(photo) with 0
#    and 2 parallel workers, and the speed-up.
# Needs ../shared/faces/lfw-view1 (FACEID_SHARED) and faceid installed.
set -euo pipefail
N="${1:-1000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="${FACEID_SHARED:-$ROOT/../shared}"
LFW="$SHARED/faces/lfw-view1"
[ -d "$LFW" ] || { echo "SKIP: $LFW absent"; exit 0; }

if [ -z "${FACEID_IN_VENV:-}" ]; then
	export FACEID_IN_VENV=1 PGPORT="${FACEID_BENCH_PORT:-55435}"
	# FACEID_DESTDIR: an extension installed with make install DESTDIR=... (no lock needed)
	exec pg_virtualenv -t -v 15 -o max_worker_processes=8 -o max_parallel_workers=4 \
		${FACEID_DESTDIR:+-o extension_destdir="$FACEID_DESTDIR"} bash "$0" "$N"
fi

q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
TSV="$(mktemp)"
trap 'rm -f "$TSV"' EXIT
mapfile -t files < <(find "$LFW" -name '*.jpg' | sort)
for f in "${files[@]:0:$N}"; do
	printf '%s\t\\\\x%s\n' "$(basename "$f")" "$(xxd -p "$f" | tr -d '\n')"
done > "$TSV"
n=$(wc -l < "$TSV")
echo "faceid encoding benchmark: $n LFW photos (250x250 JPEG), $(nproc) cores"

q <<SQL
CREATE EXTENSION faceid;
CREATE TABLE photos (id serial PRIMARY KEY, file text, photo bytea);
\copy photos (file, photo) FROM '$TSV'
CREATE TABLE people (id serial PRIMARY KEY, file text, photo bytea, embedding faceembedding);
CREATE TRIGGER people_embed BEFORE INSERT OR UPDATE ON people
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
VACUUM ANALYZE photos;
SQL

# Time (s) of a psql script.
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }

# One INSERT per row, one connection (what an application does).
ins=$(timed q -c "DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT file, photo FROM photos ORDER BY id LOOP
    INSERT INTO people (file, photo) VALUES (r.file, r.photo);
  END LOOP; END \$\$")
found=$(q -c "SELECT count(embedding) FROM people")
awk -v n="$n" -v t="$ins" -v f="$found" 'BEGIN {printf "INSERT with trigger, 1 connection: %6.1f rows/s  (%d rows in %.1f s, %d with a face)\n", n / t, n, t, f}'

# COPY into the table with an index (bulk load).
q -c "TRUNCATE people"
if [ "$(q -c "SELECT count(*) FROM pg_am WHERE amname = 'faceid_hnsw'")" = 1 ]; then
	q -c "CREATE INDEX ON people USING faceid_hnsw (embedding)"
	idx="with a faceid_hnsw index"
else
	idx="(faceid_hnsw not built)"
fi
cp=$(timed q -c "\\copy people (file, photo) FROM '$TSV'")
awk -v n="$n" -v t="$cp" -v i="$idx" 'BEGIN {printf "COPY with trigger %s: %6.1f rows/s\n", i, n / t}'

# Parallel backfill of an existing table.
backfill() {
	q -c "DROP TABLE IF EXISTS enc" -c "SET max_parallel_workers_per_gather = $1" \
	  -c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" -c "SET min_parallel_table_scan_size = 0" \
	  -c "CREATE TABLE enc AS SELECT id, face_embed(photo) AS embedding FROM photos"
}
plan=$(q -c "SET max_parallel_workers_per_gather = 2" -c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" \
	-c "SET min_parallel_table_scan_size = 0" -c "EXPLAIN SELECT id, face_embed(photo) FROM photos" | grep -c "Workers Planned: 2" || true)
t0=$(timed backfill 0)
t2=$(timed backfill 2)
awk -v n="$n" -v a="$t0" -v b="$t2" -v p="$plan" 'BEGIN {
	printf "backfill CREATE TABLE AS, no workers: %6.1f rows/s\n", n / a;
	printf "backfill CREATE TABLE AS, 2 workers:  %6.1f rows/s  (speed-up %.2fx; plan uses 2 workers: %s)\n", n / b, a / b, p ? "yes" : "no" }'
