#!/bin/bash
# Run the TAP tests in test/t with PostgreSQL::Test::Cluster.
#   bash test/run_tap.sh [test/t/NNN_name.pl ...]
# initdb refuses to run as root, so as root the tests run as the postgres
# user on a copy of the tree that user can write.  faceid must be installed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINDIR="$(pg_config --bindir)"
# the PGXS root (.../lib/pgxs), above src/makefiles/pgxs.mk
PGXS_DIR="$(dirname "$(pg_config --pgxs)")/../.."
export FACEID_SHARED="${FACEID_SHARED:-$ROOT/../shared}"
TESTS=("$@")
[ ${#TESTS[@]} -eq 0 ] && TESTS=(test/t/*.pl)

run_prove() {
	local dir="$1"
	cd "$dir"
	rm -rf tmp_check && mkdir -p tmp_check
	env PATH="$BINDIR:$PATH" PERL5LIB="$PGXS_DIR/src/test/perl:$dir/test/t" \
		TESTDIR="$dir" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
		PGPORT="${FACEID_TAP_PORT:-56432}" FACEID_SHARED="$FACEID_SHARED" FACEID_ROOT="$dir" \
		prove -v "${TESTS[@]}"
}

# Test tools (test/core/tool_*.c) the TAP tests call; the copy below has no
# src/, so they are built here, in the real tree.
make -s -C "$ROOT/test/core" tools >/dev/null

if [ "$(id -u)" = 0 ]; then
	COPY="$(mktemp -d /tmp/faceid-tap.XXXXXX)"
	trap 'rm -rf "$COPY"' EXIT
	cp -a "$ROOT/test" "$ROOT/build" "$COPY/" 2>/dev/null || cp -a "$ROOT/test" "$COPY/"
	chown -R postgres: "$COPY"
	export -f run_prove
	export BINDIR PGXS_DIR FACEID_SHARED
	runuser -u postgres -- bash -c "$(declare -f run_prove); TESTS=(${TESTS[*]}); run_prove '$COPY'"
else
	run_prove "$ROOT"
fi
