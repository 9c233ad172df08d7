# Shared by the SQL benchmarks (bench_*.sh): the throw-away cluster they
# run in, psql as they use it, and median timings.

# Unless already inside it, re-run SCRIPT in a throw-away cluster (Debian's
# pg_virtualenv, never as root's own server) with the server settings given:
#   bench_in_venv "$0" shared_buffers=1GB work_mem=256MB -- ARGS...
bench_in_venv() {
	local script="$1" opts=()
	shift
	while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
		opts+=(-o "$1")
		shift
	done
	[ "$#" -gt 0 ] && shift
	if [ -z "${PGHOST:-}" ] || [ -z "${FACEID_IN_VENV:-}" ]; then
		export FACEID_IN_VENV=1
		exec pg_virtualenv -t -v 15 "${opts[@]}" bash "$script" "$@"
	fi
}

# Unless already inside it, re-run SCRIPT in a throw-away cluster for the
# index benchmarks: serial builds, no autovacuum, port FACEID_BENCH_PORT
# (default PORT), the build in FACEID_DESTDIR when set (default: the
# installed one):
#   bench_in_venv_index "$0" 55437 1GB "$@"     (1GB: maintenance_work_mem)
bench_in_venv_index() {
	local script="$1" port="$2" mwm="$3" opts
	shift 3
	[ -n "${FACEID_IN_VENV:-}" ] && return 0
	export FACEID_IN_VENV=1 PGPORT="${FACEID_BENCH_PORT:-$port}"
	opts=(-o port="$PGPORT" -o shared_buffers=512MB -o maintenance_work_mem="$mwm"
		-o autovacuum=off -o max_parallel_maintenance_workers=0 -o jit=off)
	[ -n "${FACEID_DESTDIR:-}" ] && opts+=(-o extension_destdir="$FACEID_DESTDIR")
	exec pg_virtualenv -t -v 15 "${opts[@]}" bash "$script" "$@"
}

# SQL for the CPU time (ms, user + system) this backend has used so far,
# from /proc: on a shared machine it suffers less from the neighbours than
# the wall clock.
BACKEND_CPU_MS="(SELECT (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) * 1000.0 / $(getconf CLK_TCK)
	FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s)"

# psql, unaligned and quiet, stopping at the first error.
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

# Median wall time (ms) of a statement run RUNS times (default BENCH_RUNS, 7).
median_ms() {
	local sql="$1" runs="${2:-${BENCH_RUNS:-7}}"
	for _ in $(seq "$runs"); do
		q -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
