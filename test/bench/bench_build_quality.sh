#!/bin/bash
# Quality of parallel faceid_hnsw builds, one binary, faceid.hnsw_build_prune
# modes alternated round by round: for each build, elements per level (the
# build's DEBUG1 report), the graph's shape on disk (hnsw_graph_shape.py:
# in-degree per level, people with no photo above level 0), and at each
# ef_search top-1 identity and recall@10 of the known queries against exact
# truth.  A parallel graph is not deterministic, so run several rounds.
#
#   bench_build_quality.sh TABLE QUERIES TRUTH ROUNDS "MODES" "EFS" [WORKERS]
#
# TABLE (id, ident, e), QUERIES (qid, ident, e), TRUTH (qid, ids int[10])
# exist in the database libpq's environment points to, with faceid and
# pageinspect installed.  SHAPE=0 skips the graph's shape (it reads every
# page into Python: fine at 200k rows, too much memory at 1M).  Example: bench_build_quality.sh p100k pk100k tk100k 4 "full fast" "10 20 40"
set -euo pipefail
TABLE=$1 QUERIES=$2 TRUTH=$3 ROUNDS=$4 MODES=($5) EFS=$6 WORKERS=${7:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
P="psql -X -qAt -v ON_ERROR_STOP=1"
IDX=bq_$TABLE

psql -X -qAt -c "ALTER TABLE $TABLE SET (parallel_workers = $WORKERS)"
if [ "${SHAPE:-1}" = 1 ]; then psql -X -qAt -c "COPY (SELECT ctid, ident FROM $TABLE) TO STDOUT" > "$TMP/groups"; fi
for r in $(seq 1 "$ROUNDS"); do
	order=("${MODES[@]}")
	# odd rounds in the given order, even rounds reversed
	if [ $((r % 2)) -eq 0 ]; then order=($(printf '%s\n' "${MODES[@]}" | tac)); fi
	for mode in "${order[@]}"; do
		$P -c "DROP INDEX IF EXISTS $IDX"
		levels=$($P -c "SET max_parallel_maintenance_workers = $WORKERS" \
			-c "SET faceid.hnsw_build_prune = '$mode'" -c "SET client_min_messages = debug1" \
			-c "CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t" \
			-c "CREATE INDEX $IDX ON $TABLE USING faceid_hnsw (e)" \
			-c "SET client_min_messages = notice" \
			-c "SELECT 'build_s ' || round(extract(epoch FROM clock_timestamp() - t)::numeric, 1) FROM t0" 2>&1 |
			grep -o "elements per level.*\|[0-9]* of [0-9]* workers launched\|building serially\|build_s .*" | tr '\n' ' ')
		shape="(no shape)"
		if [ "${SHAPE:-1}" = 1 ]; then
			$P -c "COPY (SELECT b, encode(get_raw_page('$IDX', b::int), 'hex') FROM generate_series(0, pg_relation_size('$IDX') / 8192 - 1) b) TO STDOUT" > "$TMP/pages"
			shape=$(python3 "$HERE/hnsw_graph_shape.py" "$TMP/pages" "$TMP/groups")
		fi
		q=""
		for ef in $EFS; do
			q+=$($P -c "SET enable_seqscan = off" -c "SET faceid.ef_search = $ef" \
				-c "CREATE TEMP TABLE res AS SELECT q.qid, q.ident, ARRAY(SELECT id FROM $TABLE ORDER BY e <-> q.e LIMIT 10) AS ids FROM $QUERIES q" \
				-c "SELECT 'ef$ef top1 ' || round(avg((f.ident = r.ident)::int), 4) || ' r10 ' || round(avg(cardinality(ARRAY(SELECT unnest(r.ids) INTERSECT SELECT unnest(t.ids)))) / 10.0, 4) FROM res r JOIN $TABLE f ON f.id = r.ids[1] JOIN $TRUTH t USING (qid)")" "
		done
		echo "round $r $mode | $levels| $shape | $q" | tee -a "$TMP/lines"
	done
done
$P -c "DROP INDEX IF EXISTS $IDX"

# per mode: the median and every value of each figure, in build order
python3 - "$TMP/lines" <<'PY'
import re, statistics, sys
pat = {'top1': r'(ef\d+) top1 ([\d.]+)', 'r10': r'(ef\d+) top1 [\d.]+ r10 ([\d.]+)'}
rows = {}
for line in open(sys.argv[1]):
    mode = line.split()[2]
    d = {}
    for what, p in pat.items():
        for ef, v in re.findall(p, line):
            d['%s %s' % (ef, what)] = float(v)
    for lev, n in re.findall(r'(\d+): (\d+)', line.split('elements per level')[-1].split('build_s')[0]):
        d['elements on level %s' % lev] = int(n)
    for lev, below in re.findall(r'L(\d+) \d+ indeg min \d+ zero \d+ below\d+ (\d+)', line):
        d['L%s in-degree below minimum' % lev] = int(below)
    g = re.search(r'without_L1 (\d+)', line)
    if g:
        d['people without level 1'] = int(g.group(1))
    b = re.search(r'build_s ([\d.]+)', line)
    if b:
        d['build s (wall)'] = float(b.group(1))
    rows.setdefault(mode, []).append(d)
keys = []
for ds in rows.values():
    for d in ds:
        keys += [k for k in d if k not in keys]
for k in keys:
    print('%-30s' % k, ' | '.join('%s median %g [%s]' % (m, statistics.median(v), ' '.join('%g' % x for x in v))
                                 for m, ds in rows.items() for v in [[d[k] for d in ds if k in d]] if v))
PY
