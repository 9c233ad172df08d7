#!/bin/bash
# Run every faceid test: build and install, the core unit tests, pg_regress
# on a throw-away cluster, and (when present) the TAP and accuracy tests.
#   bash test/run_all.sh
# Ends with "N passed, M failed" and a non-zero exit status on any failure.
# The server never runs as root: pg_virtualenv creates a temporary cluster
# owned by the postgres user, on a port other than 5432.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export FACEID_SHARED="${FACEID_SHARED:-$ROOT/../shared}"
export PGPORT="${FACEID_TEST_PORT:-55432}"
SUDO=""
[ "$(id -u)" != 0 ] && SUDO="sudo"

passed=0
failed=0
failures=()

# Run one suite; count it as passed or failed.
suite() {
	local name="$1"
	shift
	echo
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED"
	fi
}

build_install() {
	make -s -j2 && $SUDO make -s install
}

core_tests() {
	make -s -C test/core clean && make -s -C test/core check
}

regress() {
	# the tree must be writable for pg_regress's results/ directory
	pg_virtualenv -v 15 make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; return 1; }
}

suite "build and install" build_install
suite "core unit tests" core_tests
suite "pg_regress" regress

echo
if [ $failed -gt 0 ]; then
	echo "failed suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
