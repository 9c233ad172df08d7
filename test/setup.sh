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

# Citus' build dependencies, when its source is there to build
# (test/citus/build_citus.sh; it checks them too).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "${FACEID_SHARED:-$ROOT/../shared}/citus/citus-13.2.2.tar.gz" ]; then
	PKGS+=(libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev
		libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev)
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi

# Debian's chromium, for the web demo's browser test (test/web); optional:
# when it cannot be installed, that test prints SKIP.
OPTIONAL=(chromium)

# Is a Debian package installed?
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
optional=()
for p in "${OPTIONAL[@]}"; do
	installed "$p" || optional+=("$p")
done

if [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ]; then
	$SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "setup: all packages present"
fi
if [ ${#optional[@]} -gt 0 ]; then
	echo "setup: installing ${optional[*]} (optional)"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
		echo "setup: could not install ${optional[*]}; the web demo's browser test will SKIP"
fi
