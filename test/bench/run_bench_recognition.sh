#!/bin/sh
# run_bench_recognition.sh [runs] [--profile]
#   Build test/bench/bench_recognition into build/bench/ and run it twice in
#   separate processes: with the kernel set faceid picks from cpuid
#   (OPENBLAS_CORETYPE unset) and with OPENBLAS_CORETYPE=Prescott (what
#   OpenBLAS 0.3.21 falls back to on CPUs it does not know), plus the
#   sgemm-only reference path (FACEID_OWN_KERNELS=0).  Needs
#   build/faceid_weights.bin (src/tools/fetch_weights.sh, then
#   node src/tools/convert_weights.js) or FACEID_WEIGHTS.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
out="$repo/build/bench"
mkdir -p "$out"
${CC:-cc} -O2 -g -std=gnu11 -Wall -ffp-contract=off -I"$repo/src/core" -I"$repo/test/core" -o "$out/bench_recognition" \
	"$repo/test/bench/bench_recognition.c" "$repo"/src/core/*.c "$repo"/src/core/*/*.c -ljpeg -lpng -ldl -lm
${CC:-cc} -O2 -g -std=gnu11 -Wall -ffp-contract=off -fPIC -shared -I"$repo/src/core" \
	-o "$out/libfaceid_core.so" "$repo"/src/core/*.c "$repo"/src/core/*/*.c -ljpeg -lpng -ldl -lm
runs=100
for a in "$@"; do case $a in [0-9]*) runs=$a ;; esac; done
echo "== auto (OPENBLAS_CORETYPE unset: faceid picks from cpuid)"
env -u OPENBLAS_CORETYPE "$out/bench_recognition" "$@"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "== PyTorch vs faceid, same net and weights, interleaved in one process (test/bench/bench_torch.py)"
	env -u OPENBLAS_CORETYPE /usr/bin/python3 "$repo/test/bench/bench_torch.py" --runs "$runs" \
		--c-lib "$out/libfaceid_core.so"
else
	echo "(python3-torch is not installed for /usr/bin/python3: no PyTorch comparison)"
fi
echo "== auto kernel set, sgemm only (FACEID_OWN_KERNELS=0: the library reference path)"
env -u OPENBLAS_CORETYPE FACEID_OWN_KERNELS=0 "$out/bench_recognition" "$@"
echo "== OPENBLAS_CORETYPE=Prescott (OpenBLAS 0.3.21's fallback on unknown CPUs)"
OPENBLAS_CORETYPE=Prescott "$out/bench_recognition" "$@"
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "$OPENBLAS_CORETYPE" != Prescott ]; then
	echo "== OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (from this environment)"
	"$out/bench_recognition" "$@"
fi
