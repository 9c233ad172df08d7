#!/bin/bash
# Install what faceid needs on a fresh Debian 12 machine (idempotent).
#   bash test/setup.sh
# Runs apt-get as root (or through sudo).  npm comes with the machine's
# Node.js; Debian's npm is installed only when none is on the PATH, because
# it conflicts with a Node.js installed from elsewhere.
set -euo pipefail

PKGS=(
	build-essential
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	libopenblas-serial-dev
	libjpeg62-turbo-dev libpng-dev
	libipc-run-perl
	python3 python3-psycopg
	clang valgrind
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "setup: all packages present"
fi
