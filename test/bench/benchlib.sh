# Shared by the SQL benchmarks (bench_*.sh), sourced inside their
# throw-away cluster: psql as the benchmarks use it, and median timings.

# psql, unaligned and quiet, stopping at the first error.
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

# Median wall time (ms) of a statement run RUNS times (default BENCH_RUNS, 7).
median_ms() {
	local sql="$1" runs="${2:-${BENCH_RUNS:-7}}"
	for _ in $(seq "$runs"); do
		q -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
