#!/usr/bin/env bash
# Installs kiln from a build directory into a temporary prefix, then configures, builds and runs
# examples/mlp against that prefix as a user's project would (a clean build directory and
# -DCMAKE_PREFIX_PATH, nothing of kiln's tree on its include path). Fails when a step fails or
# when the example's loss does not fall to a tenth of its first value.
# Usage: scripts/test-package.sh [BUILD_DIR]   (build/ by default; scripts/test.sh runs it)
# CMake takes CMAKE_CXX_COMPILER_LAUNCHER (ccache) from the environment when it is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
cmake -S "$root/examples/mlp" -B "$tmp/mlp" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/mlp"
# OpenMP workers that spin between parallel loops would fight other jobs for the cores (a
# tiny model's steps take milliseconds), so they sleep, as under ctest.
OMP_WAIT_POLICY=passive "$tmp/mlp/mlp" | tee "$tmp/mlp.out"

# "step    1  loss A" ... "final loss B after N steps (first A)"
awk '/^final loss/ { last = $3; first = $NF; sub(/\)$/, "", first); found = 1 }
     END {
       if (!found) { print "examples/mlp: no final loss printed"; exit 1 }
       if (!(last < first / 10)) { printf "examples/mlp: the loss fell from %s to %s only\n", first, last; exit 1 }
       printf "examples/mlp: the loss fell from %s to %s\n", first, last
     }' "$tmp/mlp.out"
