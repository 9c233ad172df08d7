#!/bin/bash
# Benchmark (not a test): the verification head.
#   bash test/bench/bench_verify.sh [N]     (default N = 10000 training pairs)
# Reports, on one throw-away cluster:
#  - face_verify_train on N random labelled pairs (median of 5, ms);
#  - per-call cost of face_verify over 1,000,000 pairs (ns, minus a scan
#    that only reads the embeddings), to show the head is cached and not
#    read from faceid_verifier on every call;
#  - the same head evaluated in SQL from the stored weights (baseline).
# Needs faceid installed (bash test/run_all.sh does it).
set -euo pipefail
N="${1:-10000}"
export PGPORT="${FACEID_BENCH_PORT:-55433}"

. "$(dirname "$0")/benchlib.sh"
bench_in_venv "$0" shared_buffers=1GB max_parallel_workers_per_gather=0 work_mem=256MB -- "$N"
BENCH_RUNS=5

echo "faceid verification head benchmark: N = $N training pairs"
q <<SQL
CREATE EXTENSION faceid;
-- people: a random centre each; a photo is its centre plus noise
CREATE TABLE person AS
SELECT p, (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 128) WHERE p > 0) AS c
FROM generate_series(1, 2000) p;
CREATE FUNCTION photo(c real[]) RETURNS faceembedding LANGUAGE sql VOLATILE AS
\$\$ SELECT array_agg(x + ((random() - 0.5) * 0.3)::real)::faceembedding FROM unnest(c) x \$\$;
CREATE TABLE pairs AS
SELECT photo(p1.c) AS a, photo(CASE WHEN g % 2 = 0 THEN p1.c ELSE p2.c END) AS b, g % 2 = 0 AS same
FROM generate_series(1, $N) g
JOIN person p1 ON p1.p = 1 + g % 2000
JOIN person p2 ON p2.p = 1 + (g * 7 + 13) % 2000;
CREATE TABLE big AS SELECT a, b FROM pairs, generate_series(1, greatest(1, 1000000 / $N));
ANALYZE;
SQL

train_ms=$(median_ms "SELECT * FROM face_verify_train('bench', 'SELECT a, b, same FROM pairs')")
echo "face_verify_train, $N pairs: ${train_ms} ms (median of 5)"
q -c "SELECT 'result: ' || pairs || ' pairs, ' || iterations || ' Newton steps, accuracy ' || round(accuracy::numeric, 4) || ', log-loss ' || round(log_loss::numeric, 4) FROM face_verify_train('bench', 'SELECT a, b, same FROM pairs')"

rows=$(q -c "SELECT count(*) FROM big")
scan_ms=$(median_ms "SELECT count(a) + count(b) FROM big")
verify_ms=$(median_ms "SELECT sum(face_verify(a, b, 'bench')) FROM big")
sql_ms=$(median_ms "SELECT sum((SELECT 1 / (1 + exp(-(sum(w * abs(x - y)) + v.bias))) FROM unnest(v.weights, a::real[], b::real[]) u(w, x, y))) FROM big, faceid_verifier v WHERE v.name = 'bench'" 1)
awk -v r="$rows" -v s="$scan_ms" -v v="$verify_ms" -v q="$sql_ms" 'BEGIN {
	printf "face_verify over %d pairs: %.0f ms, %.0f ns per call beyond the scan\n", r, v, (v - s) * 1e6 / r;
	printf "the same head in SQL (baseline): %.0f ms, %.0f ns per row\n", q, (q - s) * 1e6 / r;
}'
