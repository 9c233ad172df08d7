#!/bin/bash
# Benchmark (not a test): faceid_hnsw space reuse (issue #14).
#   bash test/bench/bench_reuse.sh [ROWS]          (default 30000)
# Face-like rows (gen_faces.pl, seed 17, 10 photos a person): load ROWS,
# CREATE INDEX, delete half the people, VACUUM, insert as many new rows
# one per transaction (pgbench, one client), and report the index size
# before and after, and inserts/s (median of BENCH_ROUNDS rounds).
#
# With FACEID_DESTDIR_NOREUSE set to a `make install DESTDIR=...` of a
# build without reuse (e.g. the commit before it), the same cycle runs on a
# second table in the same cluster, its sessions loading that build
# (extension_destdir per connection), round by round alternately, so both
# columns come from one run on one machine.  FACEID_DESTDIR: the build under
# test (default: the installed one).  FACEID_BENCH_PORT: the cluster's port.
set -euo pipefail
ROWS="${1:-30000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/test/bench/benchlib.sh"

bench_in_venv_index "$0" 55436 512MB "$@"

ROUNDS="${BENCH_ROUNDS:-5}"
IDENT=$((ROWS / 10))
MORE=$((IDENT / 2))
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
perl "$ROOT/test/bench/gen_faces.pl" $((IDENT + MORE)) 10 10 10 17 "$DIR"

variants=(reuse)
[ -n "${FACEID_DESTDIR_NOREUSE:-}" ] && variants+=(noreuse)

# psql/pgbench of a variant: its build through extension_destdir.
vopts() {
	if [ "$1" = noreuse ]; then
		echo "-c extension_destdir=$FACEID_DESTDIR_NOREUSE"
	elif [ -n "${FACEID_DESTDIR:-}" ]; then
		echo "-c extension_destdir=$FACEID_DESTDIR"
	fi
}
vq() { local v="$1"; shift; PGOPTIONS="$(vopts "$v")" q "$@"; }

q <<SQL
CREATE EXTENSION faceid;
CREATE TABLE staged (id int PRIMARY KEY, ident int, e faceembedding);
\copy staged FROM '$DIR/faces.copy'
SQL

declare -A size0 size1 vac
for v in "${variants[@]}"; do
	vq "$v" <<SQL
CREATE TABLE faces_$v (id int PRIMARY KEY, ident int, e faceembedding);
INSERT INTO faces_$v SELECT * FROM staged WHERE ident < $IDENT;
CREATE INDEX faces_${v}_e ON faces_$v USING faceid_hnsw (e);
CREATE SEQUENCE next_$v;
SQL
	size0[$v]=$(q -c "SELECT pg_relation_size('faces_${v}_e')")
	vq "$v" -c "DELETE FROM faces_$v WHERE ident % 2 = 1"
	t0=$(date +%s.%N)
	vq "$v" -c "VACUUM faces_$v"
	vac[$v]=$(echo "($(date +%s.%N) - $t0) * 1000" | bc -l | xargs printf '%.0f')
done

# Insert the new rows (ids IDENT*10+1 ...: gen_faces.pl numbers rows
# ident*10 + 1..10) in ROUNDS slices, the variants alternately.
per=$(( (MORE * 10 + ROUNDS - 1) / ROUNDS ))
declare -A tps
for r in $(seq "$ROUNDS"); do
	for v in "${variants[@]}"; do
		cat > "$DIR/ins_$v.sql" <<SQL
INSERT INTO faces_$v SELECT * FROM staged WHERE id = $((IDENT * 10)) + (SELECT nextval('next_$v'));
SQL
		n=$(q -c "SELECT least($per, $((MORE * 10)) - (SELECT count(*) FROM faces_$v WHERE ident >= $IDENT))")
		[ "$n" -gt 0 ] || continue
		t=$(PGOPTIONS="$(vopts "$v")" pgbench -n -c 1 -t "$n" -f "$DIR/ins_$v.sql" 2>&1 |
			sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
		tps[$v]="${tps[$v]:-} $t"
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "faceid_hnsw space reuse: $((IDENT * 10)) rows, delete half the people, VACUUM, insert $((MORE * 10)) new rows; $(nproc) cores"
printf '%-9s %12s %12s %8s %10s %14s\n' variant "index before" "index after" growth "VACUUM ms" "inserts/s (med)"
for v in "${variants[@]}"; do
	size1[$v]=$(q -c "SELECT pg_relation_size('faces_${v}_e')")
	[ "$(q -c "SELECT count(*) FROM faces_$v")" = $((IDENT * 10)) ] || { echo "faces_$v: wrong row count" >&2; exit 1; }
	printf '%-9s %12s %12s %7.1f%% %10s %14s   (rounds:%s)\n' "$v" "${size0[$v]}" "${size1[$v]}" \
		"$(echo "100 * (${size1[$v]} / ${size0[$v]} - 1)" | bc -l)" "${vac[$v]}" \
		"$(echo "${tps[$v]}" | median)" "${tps[$v]}"
done
