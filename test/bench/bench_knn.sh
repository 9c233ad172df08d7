#!/bin/bash
# Benchmark (not a test): exact-scan KNN over N random embeddings.
#   bash test/bench/bench_knn.sh [N]        (default N = 1000000)
# Reports, measured side by side in one run on one throw-away cluster:
#  - ORDER BY e <-> q LIMIT 10 on faceembedding (exact scan), median of 7;
#  - the same data as real[] with a plain SQL distance function (baseline);
#  - per-row cost of <-> in ns (sum(e <-> q) minus a count(*) scan).
# Needs faceid installed (bash test/run_all.sh does it).
set -euo pipefail
N="${1:-1000000}"
export PGPORT="${FACEID_BENCH_PORT:-55433}"

. "$(dirname "$0")/benchlib.sh"
bench_in_venv "$0" shared_buffers=2GB max_parallel_workers_per_gather=0 work_mem=256MB -- "$N"

echo "faceid exact-scan benchmark: N = $N random embeddings"
q <<SQL
CREATE EXTENSION faceid;
CREATE TABLE emb (id int, e faceembedding);
CREATE TABLE arr (id int, a real[]);
INSERT INTO arr
SELECT g, (SELECT array_agg(random()::real) FROM generate_series(1, 128) WHERE g > 0)
FROM generate_series(1, $N) g;
INSERT INTO emb SELECT id, a::faceembedding FROM arr;
CREATE FUNCTION l2(a real[], b real[]) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
\$\$ SELECT sqrt(sum((x - y)::float8 ^ 2)) FROM unnest(a, b) u(x, y) \$\$;
CREATE TABLE query AS SELECT e, e::real[] AS a FROM emb WHERE id = 42;
VACUUM ANALYZE emb; VACUUM ANALYZE arr;
SELECT count(*) FROM emb; SELECT count(*) FROM arr;
SQL
echo "table sizes: faceembedding $(q -c "SELECT pg_size_pretty(pg_table_size('emb'))"), real[] $(q -c "SELECT pg_size_pretty(pg_table_size('arr'))")"

knn=$(median_ms "SELECT id FROM emb ORDER BY e <-> (SELECT e FROM query) LIMIT 10")
count=$(median_ms "SELECT count(*) FROM emb")
sum=$(median_ms "SELECT sum(e <-> (SELECT e FROM query)) FROM emb")
base=$(median_ms "SELECT id FROM arr ORDER BY l2(a, (SELECT a FROM query)) LIMIT 10" 3)
echo "exact KNN (faceembedding, <->):      ${knn} ms  (median of 7)"
echo "exact KNN (real[] + SQL function):   ${base} ms  (median of 3)"
awk -v a="$base" -v b="$knn" 'BEGIN {printf "speed-up over the real[] baseline:   %.1fx\n", a / b}'
awk -v s="$sum" -v c="$count" -v n="$N" 'BEGIN {printf "per-row <-> cost:                   %.1f ns  (sum(<->) %.1f ms - count(*) %.1f ms)\n", (s - c) * 1e6 / n, s, c}'
