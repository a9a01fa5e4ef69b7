#!/usr/bin/env bash
# Prepares a folder that checks kiln on a GPU machine that has only a driver: kiln-run (no
# compiler in it), bundles (kiln bundle: SPIR-V and PTX kernels), their inputs and the outputs
# the cpu backend computes from them, and run.sh, which runs every case there:
#   - conformance: graphs of tests/lit/Inputs and the tiny Transformer's forward, encoder and
#     decode-step, against the cpu's outputs;
#   - the tiny train step against the cpu's loss, new parameters and Adam moments;
#   - timings of the small (batch 32, lengths 32) and base (batch 8, lengths 32) train steps, on
#     inputs drawn there (their weights would not fit a small folder). They are for GPUs: the
#     small step's loss kernel loops longer than lavapipe allows, so kiln-run refuses it there.
# Usage: scripts/gpu-check.sh [-o DIR] [--build DIR] [--no-build] [--run vulkan|cuda|auto]
#   -o DIR        the folder to prepare (build/gpu-check by default; emptied first)
#   --build DIR   the build tree (build/ by default); --no-build uses what is in it
#   --run DEVICE  then run DIR/run.sh --device DEVICE --no-timings here (the tests run it on
#                 lavapipe with --run vulkan)
# On the GPU machine: copy DIR there and run DIR/run.sh [--device cuda] (a few minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/gpu-check
build=$root/build
do_build=1
run_device=
while [ $# -gt 0 ]; do
  case $1 in
  -o) out=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  --no-build) do_build=0; shift ;;
  --run) run_device=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$do_build" = 1 ]; then
  cmake --build "$build" --target kiln kiln-run
fi
kiln=$build/bin/kiln
rm -rf "$out"
mkdir -p "$out/cases" "$out/timings"
cp "$build/bin/kiln-run" "$out/kiln-run"

# case NAME TOLERANCES -- BUNDLE ARGS: a bundle with inputs and the cpu's outputs.
case_of() {
  local name=$1 tol=$2
  shift 3
  mkdir -p "$out/cases/$name"
  "$kiln" bundle "$@" -o "$out/cases/$name/bundle" --example-inputs "$out/cases/$name/inputs.safetensors" \
    --expected "$out/cases/$name/expected.safetensors" >/dev/null
  echo "$tol" >"$out/cases/$name/tolerance"
}
for g in small numeric_input random_seed taken_state; do
  case_of "graph_$g" "--rtol 1e-5 --atol 1e-6" -- --graph "$root/tests/lit/Inputs/$g.kir"
done
# bf16 values round to 8 significant bits: a last-bit difference is 2^-8 relative.
case_of graph_bf16_attention "--rtol 1e-2 --atol 1e-4" -- --graph "$root/tests/lit/Inputs/bf16_attention.kir"
for s in forward encoder decode-step; do
  case_of "tiny_$s" "--rtol 1e-4 --atol 1e-5" -- --config tiny --stage "$s"
done
# The optimizer's moments (adam.*) hold the gradients, orders of magnitude below the
# parameters: atol is a fraction of each output's largest magnitude.
case_of tiny_train "--rtol 1e-5 --atol 1e-5 --scaled" -- --config tiny --stage train
"$kiln" bundle --config small --stage train --batch 32 --src-len 32 --tgt-len 32 \
  -o "$out/timings/small_train" >/dev/null
"$kiln" bundle --config base --stage train --batch 8 --src-len 32 --tgt-len 32 \
  -o "$out/timings/base_train" >/dev/null

cat >"$out/run.sh" <<'RUN'
#!/bin/sh
# Runs every case of this folder with kiln-run: each against the cpu's outputs, then the
# timings. Usage: ./run.sh [--device auto|cuda|vulkan] [--no-timings] [--repeat N]
here=$(cd "$(dirname "$0")" && pwd)
device=auto
timings=1
repeat=20
while [ $# -gt 0 ]; do
  case $1 in
  --device) device=$2; shift 2 ;;
  --no-timings) timings=0; shift ;;
  --repeat) repeat=$2; shift 2 ;;
  *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
passed=0
failed=0
for c in "$here"/cases/*/; do
  name=$(basename "$c")
  # shellcheck disable=SC2046
  if result=$("$here/kiln-run" "$c/bundle" --inputs "$c/inputs.safetensors" \
    --expected "$c/expected.safetensors" $(cat "$c/tolerance") --device "$device" 2>&1); then
    passed=$((passed + 1))
    echo "ok   $name: $(echo "$result" | tail -1)"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $(echo "$result" | tail -1)"
  fi
done
if [ "$timings" = 1 ]; then
  for t in "$here"/timings/*/; do
    echo "time $(basename "$t"): $("$here/kiln-run" "$t" --random-inputs 1 --repeat "$repeat" \
      --device "$device" 2>&1 | tail -1)"
  done
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
RUN
chmod +x "$out/run.sh"
echo "gpu-check: prepared $out ($(du -sh "$out" | cut -f1)): copy it to a GPU machine and run $out/run.sh"
if [ -n "$run_device" ]; then
  "$out/run.sh" --device "$run_device" --no-timings
fi
