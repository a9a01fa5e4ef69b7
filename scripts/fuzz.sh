#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang-19 (ASan + UBSan) in build-fuzz/ and runs each for
# a while. See --help.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
all_targets=(parser safetensors tsv tokenizer pipeline differential)

usage() {
  cat <<EOF
usage: scripts/fuzz.sh SECONDS [TARGET...]

Builds the fuzz targets of tests/fuzz/ with clang-19, libFuzzer, AddressSanitizer and
UndefinedBehaviorSanitizer into build-fuzz/, then runs each TARGET (default: all of them,
one after another) for SECONDS seconds.

Targets: ${all_targets[*]}

Each target starts from its seeds in tests/fuzz/TARGET/ and grows a working corpus in
build-fuzz/corpus/TARGET/ (tests/fuzz/ is never written). An input that crashes, leaks,
trips a sanitizer, runs out of memory (-rss_limit_mb=\$FUZZ_RSS_MB, default 2048) or takes
longer than -timeout=\$FUZZ_TIMEOUT seconds (default 20) is a finding: its reproducer is kept
in build-fuzz/findings/TARGET/, the path is printed, and the script exits with status 1 after
the remaining targets have run. Replay one with build-fuzz/bin/fuzz_TARGET REPRODUCER.

A fixed finding's reproducer goes into tests/fuzz/TARGET/ (ctest replays those folders in the
normal build); one whose fix is still to come goes into tests/fuzz/pending/TARGET/.
EOF
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ || $1 -eq 0 ]]; then
  usage >&2
  echo "fuzz.sh: SECONDS must be a positive number of seconds, found '${1:-}'" >&2
  exit 2
fi
seconds=$1
shift
targets=("$@")
if ((${#targets[@]} == 0)); then targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " =~ " $t " ]]; then
    echo "fuzz.sh: unknown target '$t'; targets: ${all_targets[*]}" >&2
    exit 2
  fi
done

"$root/scripts/install-deps.sh"
dir="$root/build-fuzz"
if [[ ! -f $dir/build.ninja ]]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-19 -DKILN_FUZZ=ON
fi
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

# Leaks are findings; UBSan stops at the first report so that libFuzzer keeps the input.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The kernel cache of the CPU backend stays in the build tree.
export XDG_CACHE_HOME="$dir/kiln-cache"
export OMP_WAIT_POLICY=passive

failed=()
for t in "${targets[@]}"; do
  corpus="$dir/corpus/$t"
  findings="$dir/findings/$t"
  mkdir -p "$corpus" "$findings"
  echo "fuzz.sh: $t for ${seconds}s (corpus $corpus)"
  options=()
  # The tokens of the text IR help mutations make graphs that parse.
  if [[ $t == parser || $t == pipeline ]]; then options+=(-dict="$root/tests/fuzz/ir.dict"); fi
  status=0
  # The working folder collects what the differential target writes on a mismatch.
  (cd "$findings" && "$dir/bin/fuzz_$t" -max_total_time="$seconds" \
    -timeout="${FUZZ_TIMEOUT:-20}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 \
    -artifact_prefix="$findings/" "${options[@]}" "$corpus" "$root/tests/fuzz/$t") || status=$?
  if ((status != 0)); then
    failed+=("$t")
    echo "fuzz.sh: $t found a problem (exit status $status); reproducers:" >&2
    ls -t "$findings"/crash-* "$findings"/leak-* "$findings"/timeout-* "$findings"/oom-* \
      2>/dev/null | sed 's/^/  /' >&2 || true
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${targets[*]}"
