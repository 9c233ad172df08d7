#!/bin/bash
# Build Citus from ../shared/citus once and install it for PostgreSQL 15.
#   bash test/citus/build_citus.sh
# Citus is not packaged for Debian 12: the tests build the tarball that
# ../shared/citus holds, patched for PostgreSQL 15.20.  The build lives in
# .cache/citus-<version>/ (ignored by git) and is reused while the tarball,
# the patch and the server's version are unchanged, so only a clean clone pays
# for it (about 5-10 minutes on 2 cores).
# Installing needs root (or sudo): citus.so is loaded by
# shared_preload_libraries, so it goes into the server's own $libdir.
# Exits 0 with a SKIP line when ../shared/citus is absent.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="${FACEID_SHARED:-$ROOT/../shared}"
SRC="$SHARED/citus"
VERSION=13.2.2
TARBALL="$SRC/citus-$VERSION.tar.gz"
PATCH="$SRC/pg15.20.patch"
CACHE="$ROOT/.cache/citus-$VERSION"
PG_CONFIG="${PG_CONFIG:-pg_config}"
SUDO=""
[ "$(id -u)" != 0 ] && SUDO="sudo"

if [ ! -f "$TARBALL" ]; then
	echo "SKIP: $TARBALL is absent; Citus is not built"
	exit 0
fi

# What configure and the compiler need beyond test/setup.sh's packages.
DEPS=(libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev
	libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev)

# Is a Debian package installed?
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_deps() {
	local missing=() p
	for p in "${DEPS[@]}"; do
		installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "build_citus: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The build is keyed by its inputs: a new tarball, patch or server rebuilds it.
build_key() {
	sha256sum "$TARBALL" "$PATCH" | awk '{print $1}'
	"$PG_CONFIG" --version
}

build() {
	local key
	key="$(build_key)"
	if [ -f "$CACHE/.built" ] && [ "$(cat "$CACHE/.built")" = "$key" ]; then
		echo "build_citus: reusing $CACHE"
		return 0
	fi
	install_deps
	rm -rf "$CACHE"
	mkdir -p "$CACHE"
	tar xzf "$TARBALL" -C "$CACHE" --strip-components=1
	(cd "$CACHE" && patch -s -p1 <"$PATCH")
	echo "build_citus: building Citus $VERSION in $CACHE"
	local t0=$SECONDS
	(cd "$CACHE" && ./configure -q --without-libcurl PG_CONFIG="$PG_CONFIG" >configure.log 2>&1 ||
		{ tail -30 configure.log; exit 1; })
	(cd "$CACHE" && make -s -j"${CITUS_JOBS:-2}" >make.log 2>&1 || { tail -40 make.log; exit 1; })
	echo "$key" >"$CACHE/.built"
	echo "build_citus: built in $((SECONDS - t0)) s"
}

# Install unless the server's $libdir already holds this very build.
install() {
	local libdir
	libdir="$("$PG_CONFIG" --pkglibdir)"
	if cmp -s "$CACHE/src/backend/distributed/citus.so" "$libdir/citus.so" &&
		cmp -s "$CACHE/src/backend/distributed/citus.control" "$("$PG_CONFIG" --sharedir)/extension/citus.control"; then
		echo "build_citus: Citus $VERSION already installed"
		return 0
	fi
	(cd "$CACHE" && $SUDO make -s install >install.log 2>&1 || { tail -20 install.log; exit 1; })
	echo "build_citus: installed into $libdir"
}

build
install
