#!/bin/bash
# Benchmark (not a test): this tree's photo pipeline against another commit's,
# in one run, round by round (A B A B ...), so a comparison holds on a noisy
# machine.
#   bash test/bench/bench_compare.sh [REF] [ROUNDS]     (default main, 5)
#   FACEID_BENCH_INSERT=N ...   also INSERT N LFW photos through the trigger
#                               (bench_insert.sh) with each build installed in
#                               its own DESTDIR (Debian's extension_destdir)
# Prints, per figure of bench_photos.c, the median over rounds for REF and
# for this tree, and the median of the per-round ratios (this / REF).
set -euo pipefail
REF="${1:-main}"
ROUNDS="${2:-5}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
CC="${CC:-cc}"
CFLAGS="-O2 -g -ffp-contract=off -std=gnu11 -w"

# bench_photos.c of this tree, built against a tree's core.
build() {
	local tree="$1" out="$2"
	$CC $CFLAGS -I"$tree/src/core" -I"$tree/src" -I"$ROOT/test/core" -o "$out" \
		"$ROOT/test/bench/bench_photos.c" "$tree"/src/core/*.c "$tree"/src/core/*/*.c \
		-ljpeg -lpng -ldl -lm
}

# Phone-size photos (4000x3000, 12 MP), made here and never committed:
# sample1's centre (4:3) and a plain negative, enlarged with Lanczos.
SHARED="${FACEID_SHARED:-$ROOT/../shared}"
if command -v convert >/dev/null && [ -r "$ROOT/build/faceid_sample1.jpg" ] &&
	[ -r "$SHARED/faces/negatives_nonface/plain/mate_Wood.jpg" ]; then
	convert "$ROOT/build/faceid_sample1.jpg" -gravity center -crop 1707x1280+0+0 +repage \
		-filter Lanczos -resize '4000x3000!' -quality 90 "$TMP/phone_faces.jpg"
	convert "$SHARED/faces/negatives_nonface/plain/mate_Wood.jpg" -gravity center -crop 2560x1920+0+0 +repage \
		-filter Lanczos -resize '4000x3000!' -quality 90 "$TMP/phone_noface.jpg"
	export FACEID_BENCH_PHONE="$TMP/phone_faces.jpg:$TMP/phone_noface.jpg"
else
	echo "# no phone-size rows: ImageMagick's convert, build/faceid_sample1.jpg or ../shared missing"
fi
mkdir -p "$TMP/ref"
git -C "$ROOT" archive "$REF" | tar -x -C "$TMP/ref"
echo "photo pipeline: $REF ($(git -C "$ROOT" rev-parse --short "$REF")) vs this tree ($(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ', modified')), $ROUNDS rounds"
build "$TMP/ref" "$TMP/bench_ref"
build "$ROOT" "$TMP/bench_new"
cd "$ROOT/test/bench"			# the binaries find ../../build/faceid_weights.bin from here
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="ref new"; else order="new ref"; fi
	for v in $order; do
		"$TMP/bench_$v" 1 | grep -v '^#' | sed "s/^/$r\t/" >> "$TMP/$v.tsv"
	done
done
awk -F'\t' '
	function median(a, n,    i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	FNR == 1 { file++ }
	file == 1 { ref[$1, $2] = $3; if (!($2 in seen)) { seen[$2] = 1; names[++nn] = $2 } ; rounds[$1] = 1 }
	file == 2 { new[$1, $2] = $3 }
	END {
		printf "%-48s %10s %10s %8s\n", "figure (CPU ms, median over the set)", "ref", "this", "ratio"
		for (k = 1; k <= nn; k++) {
			n = 0
			for (r in rounds) { n++; a[n] = ref[r, names[k]]; b[n] = new[r, names[k]]; c[n] = new[r, names[k]] / ref[r, names[k]] }
			printf "%-48s %10.2f %10.2f %8.2f\n", names[k], median(a, n), median(b, n), median(c, n)
		}
	}' "$TMP/ref.tsv" "$TMP/new.tsv"

[ -n "${FACEID_BENCH_INSERT:-}" ] || exit 0
# The same for INSERT through the trigger: each build installed in its own DESTDIR.
for v in ref new; do
	tree="$ROOT"; [ "$v" = ref ] && tree="$TMP/ref"
	[ -e "$tree/build/faceid_weights.bin" ] || cp -r "$ROOT/build" "$tree/" 2>/dev/null || true
	make -s -C "$tree" -j2 >/dev/null 2>&1
	make -s -C "$tree" install DESTDIR="$TMP/dest_$v" >/dev/null 2>&1
done
for r in 1 2; do
	for v in ref new; do
		printf '%s round %d: ' "$v" "$r"
		FACEID_DESTDIR="$TMP/dest_$v" FACEID_BENCH_PORT="${FACEID_BENCH_PORT:-55435}" \
			bash "$ROOT/test/bench/bench_insert.sh" "$FACEID_BENCH_INSERT" | grep 'INSERT with trigger'
	done
done
