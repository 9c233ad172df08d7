#!/bin/bash
# Benchmark (not a test) of the faceid_hnsw index on face-like encodings:
# build time, index size, QPS, recall@10 and top-1 identity at several
# faceid.ef_search values, for queries of enrolled people (new photos) and
# unknown people, with the exact scan for comparison.
#   bash test/bench/bench_hnsw.sh [ROWS [M [EF_CONSTRUCTION]]]   (default 100000 16 64)
# The build is timed serially and in parallel (FACEID_BENCH_WORKERS workers,
# default 2, plus the leader), the median of FACEID_BENCH_BUILD_RUNS builds
# (default 1) each.
# Data: ROWS/10 identities x 10 photos from test/bench/gen_faces.pl (seed 42).
# Queries per second are wall time of one connection; the CPU time of that
# backend per query (cpu ms/q, from /proc) is printed beside it, because on
# a shared machine the wall time also measures the neighbours' load.
# FACEID_BENCH_COMPARE_DESTDIR=/dir runs everything a second time, on the
# same data, with the faceid installed there (e.g. the previous on-disk
# format: git archive <commit> | tar -x -C /tmp/old && make install
# DESTDIR=/tmp/old-dest); FACEID_BENCH_EFS sets the ef_search values
# (default "10 20 40 80 160"; the default setting is always measured too).
# Needs faceid installed (bash test/run_all.sh does it), or installed with
# make install DESTDIR=/some/dir and FACEID_DESTDIR=/some/dir set (Debian's
# extension_destdir, so a private build can be measured).  Runs on a
# throw-away cluster (pg_virtualenv), never as root, never on port 5432.
set -euo pipefail
ROWS="${1:-100000}"
M="${2:-16}"
EFC="${3:-64}"
NKNOWN="${FACEID_BENCH_KNOWN:-500}"
NUNKNOWN="${FACEID_BENCH_UNKNOWN:-200}"
WORKERS="${FACEID_BENCH_WORKERS:-2}"
RUNS="${FACEID_BENCH_BUILD_RUNS:-1}"
HERE="$(cd "$(dirname "$0")" && pwd)"
export PGPORT="${FACEID_BENCH_PORT:-55434}"

if [ -z "${PGHOST:-}" ] || [ -z "${FACEID_IN_VENV:-}" ]; then
	DATA="$(mktemp -d /tmp/faceid_hnsw_bench.XXXXXX)"
	echo "generating $ROWS face-like encodings into $DATA ..."
	perl "$HERE/gen_faces.pl" $((ROWS / 10)) 10 "$NKNOWN" "$NUNKNOWN" 42 "$DATA"
	chmod -R a+rX "$DATA"
	export FACEID_IN_VENV=1 FACEID_BENCH_DATA="$DATA" FACEID_BENCH_WORKERS="$WORKERS" FACEID_BENCH_BUILD_RUNS="$RUNS"
	status=0
	for destdir in "${FACEID_DESTDIR:-}" ${FACEID_BENCH_COMPARE_DESTDIR:+"$FACEID_BENCH_COMPARE_DESTDIR"}; do
		echo "=== faceid from ${destdir:-the system-wide install}"
		pg_virtualenv -t -c "-p $PGPORT" -v 15 -o shared_buffers=1GB -o max_parallel_workers_per_gather=0 \
			-o maintenance_work_mem=2GB -o work_mem=64MB -o jit=off \
			-o max_worker_processes=8 -o max_parallel_workers=8 \
			${destdir:+-o extension_destdir=$destdir} ${FACEID_BENCH_OPTS:-} \
			bash "$0" "$ROWS" "$M" "$EFC" || status=$?
	done
	rm -rf "$DATA"
	exit $status
fi
DATA="$FACEID_BENCH_DATA"

. "$HERE/benchlib.sh"

# Wall time (ms) of one statement, after optional SET statements.
time_ms() {
	local pre="$1" sql="$2"
	q -c "$pre" -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}

# "wall_ms cpu_ms" of one statement, after optional SET statements.
time_cpu_ms() {
	local pre="$1" sql="$2"
	q -c "$pre" -c "CREATE TEMP TABLE cpu0 AS SELECT $BACKEND_CPU_MS AS t" -c '\timing on' -c "$sql" \
		-c '\timing off' -c "SELECT 'cpu ' || round($BACKEND_CPU_MS - t, 1) FROM cpu0" |
		awk '/^Time: / && !w {w = $2} /^cpu / {c = $2} END {print w, c}'
}

q <<SQL
CREATE EXTENSION faceid;
CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding);
CREATE TABLE unknown (qid int PRIMARY KEY, ident int, e faceembedding);
\copy faces FROM '$DATA/faces.copy'
\copy known FROM '$DATA/known.copy'
\copy unknown FROM '$DATA/unknown.copy'
VACUUM ANALYZE faces, known, unknown;
SQL

echo "faceid_hnsw benchmark: $ROWS rows ($((ROWS / 10)) identities x 10 photos), m = $M, ef_construction = $EFC, $(nproc) CPUs"
# Build time, parallel (WORKERS workers and the leader) and serial, the
# median of RUNS builds each; the serial index is the one measured below.
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
create="CREATE INDEX faces_e ON faces USING faceid_hnsw (e) WITH (m = $M, ef_construction = $EFC)"
q -c "ALTER TABLE faces SET (parallel_workers = $WORKERS)"
par=""
ser=""
for r in $(seq "$RUNS"); do
	par="$par $(time_ms "SET max_parallel_maintenance_workers = $WORKERS" "$create")"
	q -c "DROP INDEX faces_e"
done
for r in $(seq "$RUNS"); do
	[ "$r" -gt 1 ] && q -c "DROP INDEX faces_e"
	ser="$ser $(time_ms "SET max_parallel_maintenance_workers = 0" "$create")"
done
pbuild=$(echo $par | tr ' ' '\n' | median)
build=$(echo $ser | tr ' ' '\n' | median)
size=$(q -c "SELECT pg_size_pretty(pg_relation_size('faces_e'))")
echo "build (serial): $(awk -v t="$build" 'BEGIN {printf "%.1f s", t / 1000}'), index size $size, table size $(q -c "SELECT pg_size_pretty(pg_relation_size('faces'))")"
echo "build (parallel, $WORKERS workers + leader): $(awk -v t="$pbuild" 'BEGIN {printf "%.1f s", t / 1000}'), $(awk -v s="$build" -v p="$pbuild" 'BEGIN {printf "%.2fx", s / p}') the serial speed (median of $RUNS; ms serial:$ser, parallel:$par)"

# Exact answers (and the exact scan's speed).
for set in known unknown; do
	t=$(time_ms "SET enable_indexscan = off" "CREATE TABLE truth_$set AS SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM $set q")
	n=$(q -c "SELECT count(*) FROM $set")
	echo "exact scan, $set queries: $(awk -v t="$t" -v n="$n" 'BEGIN {printf "%.1f QPS (%.1f ms/query)", n * 1000 / t, t / n}')"
done
echo "exact top-1 identity, enrolled: $(q -c "SELECT round(avg((f.ident = q.ident)::int), 4) FROM truth_known t JOIN known q USING (qid) JOIN faces f ON f.id = t.ids[1]")"

printf '%-10s %-10s %-12s %-12s %-12s %-12s %-12s %-12s\n' ef_search "top-1 id" "recall@10 k" "QPS k" "cpu ms/q k" "recall@10 u" "QPS u" "cpu ms/q u"
for ef in ${FACEID_BENCH_EFS:-10 20 40 80 160} default; do
	row="$ef"
	pre="SET faceid.ef_search = $ef"
	[ "$ef" = default ] && pre="RESET faceid.ef_search"
	for set in known unknown; do
		read -r t cpu < <(time_cpu_ms "$pre" "CREATE TABLE res_$set AS SELECT q.qid, ARRAY(SELECT id FROM faces ORDER BY e <-> q.e LIMIT 10) AS ids FROM $set q")
		n=$(q -c "SELECT count(*) FROM $set")
		rec=$(q -c "SELECT round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4) FROM res_$set r JOIN truth_$set t USING (qid)")
		qps=$(awk -v t="$t" -v n="$n" 'BEGIN {printf "%.0f", n * 1000 / t}')
		cpq=$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.2f", c / n}')
		if [ "$set" = known ]; then
			top1=$(q -c "SELECT round(avg((f.ident = q.ident)::int), 4) FROM res_known r JOIN known q USING (qid) JOIN faces f ON f.id = r.ids[1]")
			row="$row $top1 $rec $qps $cpq"
		else
			row="$row $rec $qps $cpq"
		fi
		q -c "DROP TABLE res_$set"
	done
	printf '%-10s %-10s %-12s %-12s %-12s %-12s %-12s %-12s\n' $row
done
# Inserts into the built graph, then DELETE + VACUUM.
q -c "CREATE TABLE more AS SELECT id + $ROWS AS id, ident + $((ROWS / 10)) AS ident, e FROM faces WHERE id <= 5000"
t=$(time_ms "SELECT 1" "INSERT INTO faces SELECT * FROM more")
echo "insert 5000 rows (one session): $(awk -v t="$t" 'BEGIN {printf "%.0f rows/s", 5000 * 1000 / t}')"
q -c "DELETE FROM faces WHERE id % 10 = 3"
t=$(time_ms "SELECT 1" "VACUUM faces")
echo "VACUUM after deleting 10% of rows: $(awk -v t="$t" 'BEGIN {printf "%.1f s", t / 1000}')"
q -c "EXPLAIN (COSTS OFF) SELECT id FROM faces ORDER BY e <-> (SELECT e FROM known WHERE qid = 1) LIMIT 10" | sed 's/^/  plan: /'
