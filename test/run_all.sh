#!/bin/bash
# Run every faceid test: build and install, the core unit tests, pg_regress
# on a throw-away cluster, and (when present) the TAP and accuracy tests.
#   bash test/run_all.sh
# Ends with "N passed, M failed" and a non-zero exit status on any failure.
# FACEID_ONLY='regex' runs only the suites whose names match (e.g.
# FACEID_ONLY=browser); the others are listed as not selected.
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
	if [ -n "${FACEID_ONLY:-}" ] && ! [[ "$name" =~ $FACEID_ONLY ]]; then
		echo "=== $name: not selected (FACEID_ONLY)"
		return
	fi
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
	pg_virtualenv -t -v 15 make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; return 1; }
}

# SQL-level checks against the reference and on labelled photos (Python,
# Debian's psycopg); they say SKIP when ../shared is absent.
sql_checks() {
	pg_virtualenv -t -v 15 sh -c 'for t in test/test_*.py; do echo "--- $t"; /usr/bin/python3 "$t" || exit 1; done'
}

# Accuracy of the pipeline on ../shared/faces (LFW View 1, dlib's boxes,
# negatives); asserts DESIGN's bounds, prints SKIP when the photos are absent.
accuracy() {
	make -s -C test/core eval && (cd test/core && ./eval_lfw.bin --assert)
}

# The core tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitizer_tests() {
	make -s -C test/core clean && make -s -C test/core SAN=1 check; local rc=$?
	make -s -C test/core clean
	return $rc
}

# Each fuzz target for FUZZ_SECONDS (default 60) plus the saved regressions.
fuzz_smoke() {
	make -s -C test/fuzz clean && make -s -C test/fuzz smoke SHELL=/bin/bash FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
}

# TAP tests (PostgreSQL::Test::Cluster) run initdb, which refuses root: as
# root, run them as the postgres user on a copy of the tree it can write.
tap_tests() {
	if ! ls test/t/*.pl >/dev/null 2>&1; then
		echo "no TAP tests"
		return 0
	fi
	bash test/run_tap.sh
}

# The web demo in Debian's headless chromium (playwright-core from npm);
# prints SKIP when chromium is absent.
browser_test() {
	bash test/web/run_test.sh
}

verifier_dump() {
	pg_virtualenv -t -v 15 bash test/verifier_dump.sh
}

identify_dump() {
	pg_virtualenv -t -v 15 bash test/identify_dump.sh
}

verifier_cache() {
	pg_virtualenv -t -v 15 bash test/verifier_cache.sh
}

# faceid on a Citus cluster (coordinator + 2 workers, loopback): builds
# Citus from ../shared/citus once (.cache/), prints SKIP when it is absent.
citus_test() {
	bash test/citus/run_test.sh
}

suite "build and install" build_install
suite "core unit tests" core_tests
suite "core unit tests (ASan+UBSan)" sanitizer_tests
suite "pg_regress" regress
suite "verifier dump/restore" verifier_dump
suite "verifier heads across sessions" verifier_cache
suite "identify calibration dump/restore and concurrency" identify_dump
suite "SQL checks on photos" sql_checks
suite "browser test of the web demo" browser_test
suite "accuracy on ../shared/faces" accuracy
suite "TAP tests" tap_tests
suite "Citus cluster" citus_test
suite "fuzz smoke" fuzz_smoke

echo
if [ $failed -gt 0 ]; then
	echo "failed suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
