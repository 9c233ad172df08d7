#!/bin/sh
# run_bench_recognition.sh [runs] [--profile]
#   Build test/bench/bench_recognition into build/bench/ and run it twice in
#   separate processes: with the kernel set faceid picks from cpuid
#   (OPENBLAS_CORETYPE unset) and with OPENBLAS_CORETYPE=Prescott (what
#   OpenBLAS 0.3.21 falls back to on CPUs it does not know).  Needs
#   build/faceid_weights.bin (src/tools/fetch_weights.sh, then
#   node src/tools/convert_weights.js) or FACEID_WEIGHTS.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
out="$repo/build/bench"
mkdir -p "$out"
${CC:-cc} -O2 -g -std=gnu11 -Wall -I"$repo/src/core" -o "$out/bench_recognition" \
	"$repo/test/bench/bench_recognition.c" "$repo"/src/core/*.c -ldl -lm
echo "== auto (OPENBLAS_CORETYPE unset: faceid picks from cpuid)"
env -u OPENBLAS_CORETYPE "$out/bench_recognition" "$@"
echo "== OPENBLAS_CORETYPE=Prescott (OpenBLAS 0.3.21's fallback on unknown CPUs)"
OPENBLAS_CORETYPE=Prescott "$out/bench_recognition" "$@"
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "$OPENBLAS_CORETYPE" != Prescott ]; then
	echo "== OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (from this environment)"
	"$out/bench_recognition" "$@"
fi
if python3 -c 'import torch' 2>/dev/null; then
	echo "python3-torch is installed: no comparison script yet"
else
	echo "(python3-torch is not installed: no PyTorch comparison)"
fi
