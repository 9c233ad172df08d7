#!/bin/sh
# setup_bench.sh: optional packages for the benchmarks only (not needed to
# build, install or test the extension): dlib's headers and library and its
# 68-point shape predictor, for run_bench_dlib.sh.
set -eu
apt-get install -y libdlib-dev libdlib-data
