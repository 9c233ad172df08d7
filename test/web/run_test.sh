#!/bin/bash
# The browser test of the web demo (a suite of test/run_all.sh):
#   bash test/web/run_test.sh
# Installs playwright-core (the version pinned in package-lock.json) into
# test/web/node_modules, then, on a throw-away cluster (pg_virtualenv, PGPORT),
# runs test_web.js: it starts `test/demo.sh --web` on port FACEID_WEB_PORT
# (default PGPORT - 47000: 8432 beside run_all.sh's 55432) and drives Debian's headless chromium through the page.
# Screenshots and the demo's log go to test/web/out/.  Prints SKIP and
# succeeds when /usr/bin/chromium (FACEID_CHROMIUM) is absent (test/setup.sh
# installs it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"

export FACEID_CHROMIUM="${FACEID_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$FACEID_CHROMIUM" ]; then
	echo "SKIP: browser test of the web demo: $FACEID_CHROMIUM is not installed (test/setup.sh could not install Debian's chromium)"
	exit 0
fi
if [ ! -f ../../build/faceid_sample1.jpg ]; then
	echo "the sample photos are missing: build faceid first (make)" >&2
	exit 1
fi

# playwright-core only drives a browser; never let it download one
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
# the web port follows the cluster's (55432 -> 8432), so runs on distinct
# FACEID_TEST_PORTs do not collide
if [ -z "${FACEID_WEB_PORT:-}" ]; then
	FACEID_WEB_PORT=$((${PGPORT:-55432} - 47000))
	[ "$FACEID_WEB_PORT" -ge 1024 ] || FACEID_WEB_PORT=8432
fi
export FACEID_WEB_PORT
mkdir -p out
pg_virtualenv -t -v 15 node test_web.js
