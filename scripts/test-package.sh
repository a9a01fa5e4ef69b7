#!/usr/bin/env bash
# Installs kiln from a build directory into a temporary prefix, then configures, builds and runs
# examples/mlp and examples/gpt against that prefix as a user's project would (a clean build
# directory and -DCMAKE_PREFIX_PATH, nothing of kiln's tree on its include path). Fails when a
# step fails, when the MLP's loss does not fall to a tenth of its first value, or when the
# character model's loss does not fall below 0.8 of its first or fusion does not report its
# attentions (causal) and layer norms. Then imports the installed Python module from the
# prefix and runs a small program with it.
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

# examples/gpt, small: 2 layers of width 32 over windows of 32 characters, 60 steps.
cmake -S "$root/examples/gpt" -B "$tmp/gpt" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure-gpt.log" ||
  { cat "$tmp/configure-gpt.log"; exit 1; }
cmake --build "$tmp/gpt"
"$tmp/gpt/gpt" --help | grep -q -- '--steps N' || { echo "examples/gpt: --help lists no flags"; exit 1; }
OMP_WAIT_POLICY=passive "$tmp/gpt/gpt" --steps 60 --length 32 --width 32 --layers 2 --heads 2 \
  --batch 16 --lr 0.01 --seed 1 --print-every 20 --characters 80 --top-k 10 | tee "$tmp/gpt.out"

# "fusion: attention 2 (causal 2), layer_norm 5, ..." (2 layers: 2 attentions, 2 * 2 + 1 norms)
grep -q '^fusion: attention 2 (causal 2), layer_norm 5,' "$tmp/gpt.out" ||
  { echo "examples/gpt: fusion did not report 2 causal attentions and 5 layer norms"; exit 1; }
# Without the fusion passes the example must fail, naming what fusion did not find.
if "$tmp/gpt/gpt" --passes canonicalize,cse --steps 1 --length 8 --width 8 --layers 1 \
  --heads 1 >/dev/null 2>"$tmp/gpt-unfused.err"; then
  echo "examples/gpt: succeeded without the fusion passes"; exit 1
fi
grep -q 'fusion found 0 attentions' "$tmp/gpt-unfused.err" ||
  { cat "$tmp/gpt-unfused.err"; echo "examples/gpt: no fusion error"; exit 1; }
awk '/^final loss/ { last = $3; first = $NF; sub(/\)$/, "", first); found = 1 }
     END {
       if (!found) { print "examples/gpt: no final loss printed"; exit 1 }
       if (!(last < 0.8 * first)) { printf "examples/gpt: the loss fell from %s to %s only\n", first, last; exit 1 }
       printf "examples/gpt: the loss fell from %s to %s\n", first, last
     }' "$tmp/gpt.out"

# The Python module, imported from the prefix as a user would (Debian's python3, the prefix's
# site folder on PYTHONPATH, nothing of the build's), running a small program.
site=$(sed -n 's/^KILN_PYTHON_INSTALL_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ -z $site || ! -f $tmp/prefix/$site/kiln/__init__.py ]]; then
  echo "python: the install has no kiln package under $tmp/prefix/${site:-<KILN_PYTHON_INSTALL_DIR>}"
  exit 1
fi
(cd "$tmp" && PYTHONPATH="$tmp/prefix/$site" /usr/bin/python3 - "$tmp/prefix" <<'END')
import sys
import numpy as np
import kiln

prefix = sys.argv[1]
if not kiln.__file__.startswith(prefix):
    sys.exit(f"python: imported kiln from {kiln.__file__}, not from {prefix}")
graph = kiln.parse("""graph @axpy {
  input data %x: f32[3]
  input data %y: f32[3]
  %a = constant() {value = [2.0]} : f32[]
  %0 = mul(%x, %a) : f32[3]
  %1 = add(%0, %y) : f32[3]
  output "z" = %1
}""")
kiln.run_passes(graph, pipeline="infer")
z = kiln.compile(graph, backend="cpu").run({"x": np.array([1, 2, 3], np.float32),
                                            "y": np.array([10, 20, 30], np.float32)})["z"]
if z.tolist() != [12.0, 24.0, 36.0]:
    sys.exit(f"python: 2 * x + y gave {z.tolist()}")
try:
    kiln.parse("graph @g {\n  %0 = nope() : f32[]\n}", "bad.kir")
    sys.exit("python: a malformed graph parsed")
except kiln.Error as e:
    if e.file != "bad.kir" or e.line != 2:
        sys.exit(f"python: the error is located at {e.location}, not bad.kir:2")
print(f"python: kiln {kiln.__version__} from {kiln.__file__}: 2 * x + y = {z.tolist()}")
END
