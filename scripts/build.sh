#!/usr/bin/env bash
# Configures (once) and builds kiln incrementally. Usage: scripts/build.sh [--sanitize]
# The normal build goes to build/ (binaries in build/bin/), the sanitizer build to build-sanitize/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

dir="$root/build"
flags=(-DCMAKE_BUILD_TYPE=Release)
if [[ ${1:-} == --sanitize ]]; then
  dir="$root/build-sanitize"
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON)
fi
if [[ ! -f $dir/build.ninja ]]; then
  cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}"
fi
jobs=$(nproc)
cmake --build "$dir" -j "$jobs"
