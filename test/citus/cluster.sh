#!/bin/bash
# A throw-away Citus cluster on loopback: a coordinator and two workers, each
# its own initdb in a temporary folder, run as the postgres user (never as
# root).  Sourced by test/citus/run_test.sh and the Citus benchmark:
#   citus_cluster_start BASEPORT   # coordinator on BASEPORT, workers +1, +2
#   citus_cluster_stop
# FACEID_DESTDIR (optional): a private faceid install (make install
# DESTDIR=...), passed to every node as extension_destdir.

CITUS_RUNAS=()
[ "$(id -u)" = 0 ] && CITUS_RUNAS=(runuser -u postgres --)
PGBIN="$(pg_config --bindir)"
CITUS_DIR=""
CITUS_PORTS=()

# Run a command as the user who owns the clusters.
as_pg() { "${CITUS_RUNAS[@]}" "$@"; }

# psql on node N (0 = coordinator) as the superuser postgres.
cpsql() {
	local n="$1"
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CITUS_PORTS[$n]}" -U postgres -d postgres "$@"
}

# initdb and start one node on port $2 in folder $1.
citus_node_start() {
	local dir="$1" port="$2"
	as_pg "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
		{ cat "$dir.initdb.log"; return 1; }
	cat >>"$dir/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CITUS_DIR'
shared_preload_libraries = 'citus'
max_connections = 120
max_prepared_transactions = 120
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_parallel_maintenance_workers = 0
citus.shard_count = 32
CONF
	if [ -n "${FACEID_DESTDIR:-}" ]; then
		echo "extension_destdir = '$FACEID_DESTDIR'" >>"$dir/postgresql.conf"
	fi
	as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir.log" -w -t 60 start >/dev/null ||
		{ tail -30 "$dir.log"; return 1; }
}

# Start coordinator + 2 workers on ports BASE, BASE+1, BASE+2 and join them.
citus_cluster_start() {
	local base="$1" i
	CITUS_DIR="$(mktemp -d /tmp/faceid-citus.XXXXXX)"
	chmod 755 "$CITUS_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CITUS_DIR"
	CITUS_PORTS=("$base" $((base + 1)) $((base + 2)))
	for i in 0 1 2; do
		citus_node_start "$CITUS_DIR/node$i" "${CITUS_PORTS[$i]}" || return 1
		cpsql "$i" -c "CREATE EXTENSION citus" || return 1
	done
	cpsql 0 >/dev/null <<SQL || return 1
SELECT citus_set_coordinator_host('127.0.0.1', ${CITUS_PORTS[0]});
SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[1]});
SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[2]});
SQL
}

# Stop every node and remove the folder (logs are shown by the caller first).
citus_cluster_stop() {
	local i
	[ -n "$CITUS_DIR" ] || return 0
	for i in 0 1 2; do
		[ -f "$CITUS_DIR/node$i/postmaster.pid" ] &&
			as_pg "$PGBIN/pg_ctl" -D "$CITUS_DIR/node$i" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$CITUS_DIR"
	CITUS_DIR=""
}
