#!/usr/bin/env bash
# Builds kiln and runs every test: doctest unit tests and lit + FileCheck tests, through ctest;
# then, in the normal build, installs kiln and builds and runs examples/ against the installed
# package (scripts/test-package.sh).
# Usage: scripts/test.sh [--sanitize]
#   --sanitize: the suite under ASan + UBSan, less the tests labelled end_to_end (scripts that
#   drive whole trainings through `kiln`, minutes each under the sanitizers, whose code paths
#   the unit and lit tests already run there)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" "$@"

dir="$root/build"
select=()
if [[ ${1:-} == --sanitize ]]; then
  dir="$root/build-sanitize"
  select=(--label-exclude end_to_end)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cd "$dir"
ctest --output-on-failure -j "$(nproc)" "${select[@]}"
# Not under the sanitizers: a program linking sanitized static libraries would need their
# runtimes and flags as well, and the package's contents are the same in both builds.
if [[ ${1:-} != --sanitize ]]; then
  "$root/scripts/test-package.sh" "$dir"
fi
