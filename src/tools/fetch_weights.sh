#!/bin/sh
# fetch_weights.sh [cache_dir]
#   Fetch the pinned face-api package with `npm pack`, verify its SHA-512
#   against src/tools/face-api-1.7.15.sha512, and extract the model files and
#   the demo photos into <cache_dir>/face-api-1.7.15/{model,demo}/.
#   Default cache_dir: <repo>/.cache (gitignored).  Offline when the cached
#   tarball is present and valid; idempotent.  Prints the extraction folder.
set -eu

PKG='@vladmandic/face-api'
VER='1.7.15'
TGZ="vladmandic-face-api-$VER.tgz"

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/.cache}
sumfile="$here/face-api-$VER.sha512"
want=$(awk '{print $1; exit}' "$sumfile")
dest="$cache/face-api-$VER"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
dest="$cache/face-api-$VER"

# sha512 of a file, hex
sha512_of() { sha512sum "$1" | awk '{print $1}'; }

if [ -f "$cache/$TGZ" ] && [ "$(sha512_of "$cache/$TGZ")" = "$want" ]; then
	:
else
	rm -f "$cache/$TGZ"
	tmp=$(mktemp -d "$cache/pack.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "$PKG@$VER" >/dev/null)
	if [ ! -f "$tmp/$TGZ" ]; then
		echo "fetch_weights: npm pack did not produce $TGZ" >&2
		exit 1
	fi
	got=$(sha512_of "$tmp/$TGZ")
	if [ "$got" != "$want" ]; then
		echo "fetch_weights: SHA-512 mismatch for $TGZ" >&2
		echo "  expected $want" >&2
		echo "  got      $got" >&2
		exit 1
	fi
	mv "$tmp/$TGZ" "$cache/$TGZ"
fi

# Extract (again) only when the stamp does not match the verified tarball.
if [ ! -f "$dest/.sha512" ] || [ "$(cat "$dest/.sha512")" != "$want" ]; then
	rm -rf "$dest"
	mkdir -p "$dest.tmp"
	tar -xzf "$cache/$TGZ" -C "$dest.tmp" --wildcards \
		'package/model/*' 'package/demo/sample*.jpg'
	mkdir -p "$dest"
	mv "$dest.tmp/package/model" "$dest/model"
	mv "$dest.tmp/package/demo" "$dest/demo"
	rm -rf "$dest.tmp"
	echo "$want" > "$dest/.sha512"
fi

echo "$dest"
