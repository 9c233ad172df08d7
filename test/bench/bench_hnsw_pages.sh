#!/bin/bash
# Two faceid_hnsw indexes of one table side by side: backend CPU per query,
# top-1 identity, recall@10, and the pages a query reads.
#
#   bash test/bench/bench_hnsw_pages.sh TABLE ROUNDS EF...
#
# On a running cluster (PGHOST, PGPORT, PGUSER as for psql) with TABLE (id,
# ident, e) carrying two faceid_hnsw indexes, named in A_INDEX and B_INDEX,
# and the query tables known (qid, ident, e: new photos of enrolled people)
# and unknown (qid, ident, e).  Variant A runs with faceid from A_DEST, B
# from B_DEST (private `make install DESTDIR=...`, per session through
# extension_destdir; the server's own extension_destdir must load a build
# with the same SQL script).  Each query round drops the other index inside
# a transaction that is rolled back, so the planner has one choice.  The
# rounds alternate A, B, A, B ... ; print one line per round and set, then
# the medians.  The exact top-10 of every query is computed once, into
# pages_truth_TABLE_SET.  The page counts come from the DEBUG1 report of
# B_DEST's faceid (elements, distinct pages and pins per query) on both
# indexes (the format is the same).
set -euo pipefail
TABLE=$1
ROUNDS=$2
shift 2
EFS=("$@")
: "${A_INDEX:?} ${B_INDEX:?} ${A_DEST:?} ${B_DEST:?}"

. "$(dirname "$0")/benchlib.sh"

# psql with faceid from $1
qd() {
	local dest=$1
	shift
	PGOPTIONS="-c extension_destdir=$dest" psql -X -qAt -v ON_ERROR_STOP=1 "$@"
}

for set in known unknown; do
	if [ "$(qd "$B_DEST" -c "SELECT to_regclass('pages_truth_${TABLE}_$set') IS NULL")" = t ]; then
		qd "$B_DEST" -c "SET enable_indexscan = off" -c "CREATE TABLE pages_truth_${TABLE}_$set AS
			SELECT q.qid, ARRAY(SELECT id FROM $TABLE ORDER BY e <-> q.e LIMIT 10) AS ids FROM $set q"
	fi
done

# one round: variant $1 (A|B) at ef $2 on query set $3
round() {
	local v=$1 ef=$2 set=$3 dest index other
	if [ "$v" = A ]; then dest=$A_DEST index=$A_INDEX other=$B_INDEX; else dest=$B_DEST index=$B_INDEX other=$A_INDEX; fi
	qd "$dest" -c "BEGIN" -c "DROP INDEX $other" -c "SET faceid.ef_search = $ef" \
		-c "SET enable_seqscan = off" \
		-c "CREATE TEMP TABLE cpu0 AS SELECT $BACKEND_CPU_MS AS t" \
		-c "CREATE TEMP TABLE res AS SELECT q.qid, q.ident, ARRAY(SELECT id FROM $TABLE ORDER BY e <-> q.e LIMIT 10) AS ids FROM $set q" \
		-c "SELECT '$v $index ef=$ef $set cpu_ms ' || round(($BACKEND_CPU_MS - t) / (SELECT count(*) FROM $set), 3) FROM cpu0" \
		-c "SELECT 'top1 ' || coalesce(round(avg((f.ident = r.ident)::int), 4)::text, '-') FROM res r JOIN $TABLE f ON f.id = r.ids[1] WHERE '$set' = 'known'" \
		-c "SELECT 'recall10 ' || round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4) FROM res r JOIN pages_truth_${TABLE}_$set t USING (qid)" \
		-c "ROLLBACK" | tr '\n' ' '
	echo
}

# pages a query reads on index $1 at ef $2, set $3 (means over the set)
pages() {
	local index=$1 ef=$2 set=$3 other
	if [ "$index" = "$A_INDEX" ]; then other=$B_INDEX; else other=$A_INDEX; fi
	qd "$B_DEST" -c "BEGIN" -c "DROP INDEX $other" -c "SET faceid.ef_search = $ef" \
		-c "SET enable_seqscan = off" -c "SET client_min_messages = debug1" \
		-c "SELECT sum(cardinality(ARRAY(SELECT id FROM $TABLE ORDER BY e <-> q.e LIMIT 10))) FROM $set q" \
		-c "ROLLBACK" 2>&1 >/dev/null |
		awk -v tag="$index ef=$ef $set" '/faceid_hnsw scan:/ { n++; el += $4; pg += $7; pin += $10 }
			END { if (n) printf "%s pages/q: elements %.0f, distinct pages %.0f, pins %.0f (%d queries)\n", tag, el/n, pg/n, pin/n, n }'
}

OUT=$(mktemp)
for ef in "${EFS[@]}"; do
	for set in known unknown; do
		pages "$A_INDEX" "$ef" "$set"
		pages "$B_INDEX" "$ef" "$set"
	done
done
for ((r = 1; r <= ROUNDS; r++)); do
	for ef in "${EFS[@]}"; do
		for set in known unknown; do
			round A "$ef" "$set" | tee -a "$OUT"
			round B "$ef" "$set" | tee -a "$OUT"
		done
	done
done
# medians per variant, ef and set, and the median of the per-round ratios B/A
awk '{ key = $3 " " $4; v = $1; cpu = $6;
	   if (v == "A") a[key, ++na[key]] = cpu; else b[key, ++nb[key]] = cpu;
	   keys[key] = 1 }
	function med(arr, k, n,   i, j, t, x) {
		for (i = 1; i <= n; i++) x[i] = arr[k, i];
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
		return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
	END { for (k in keys) {
		n = na[k] < nb[k] ? na[k] : nb[k];
		for (i = 1; i <= n; i++) ratio[k, i] = b[k, i] / a[k, i];
		printf "median %s: A %.3f ms/q, B %.3f ms/q, B/A per round %.3f (%d rounds)\n",
			k, med(a, k, na[k]), med(b, k, nb[k]), med(ratio, k, n), n } }' "$OUT" | sort
rm -f "$OUT"
