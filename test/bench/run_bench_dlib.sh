#!/bin/sh
# run_bench_dlib.sh
#   faceid's front end beside dlib's on LFW View 1, in one run: dlib's chips
#   (test/bench/dlib_chips.cpp: HOG detector, 68-point shape predictor,
#   get_face_chip_details(shape, 150, 0.25), extract_image_chip) encoded as
#   face_embed_crop does, and face_embed's own path, on the same pairs and
#   the same encoder (test/bench/bench_frontends.c prints the table).
#   Needs ../shared/faces and, for dlib, Debian's libdlib-dev and
#   libdlib-data (sh test/bench/setup_bench.sh); skips when they are absent.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench="$repo/test/bench"
sp=${DLIB_SHAPE_PREDICTOR:-/usr/share/dlib/shape_predictor_68_face_landmarks.dat}
if ! pkg-config --exists dlib-1 2>/dev/null || [ ! -r "$sp" ]; then
	echo "SKIP: dlib benchmark: libdlib-dev or libdlib-data ($sp) is not installed (sh test/bench/setup_bench.sh)"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! make -s -C "$bench" bench_frontends dlib_chips > "$work/build.log" 2>&1; then
	cat "$work/build.log"
	exit 1
fi
cd "$bench"
./bench_frontends list > "$work/photos"
if [ ! -s "$work/photos" ]; then
	./bench_frontends list		# prints the SKIP line
	exit 0
fi
mkdir "$work/chips"
echo "dlib: chips for $(wc -l < "$work/photos") photos ..."
./dlib_chips "$work/chips" "$sp" < "$work/photos" > "$work/dlib"
tail -1 "$work/dlib"
./bench_frontends compare "$work/chips" "$work/dlib"
# The two front ends' cost, interleaved (3 rounds each on every 10th photo)
# so that the load of a shared machine falls on both alike.
echo
echo "interleaved timing, every 10th photo, 3 rounds each:"
awk 'NR % 10 == 1' "$work/photos" > "$work/sample"
mkdir "$work/chips2"
for round in 1 2 3; do
	./dlib_chips "$work/chips2" "$sp" < "$work/sample" | tail -1
	./bench_frontends time < "$work/sample"
done
