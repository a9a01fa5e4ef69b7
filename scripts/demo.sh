#!/usr/bin/env bash
# The main job: builds kiln, prints the IR of a small graph, simplifies it, and runs it on the
# reference interpreter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
bin="$root/build/bin"
example="$root/examples/mlp_block.kir"

echo "== kiln: $("$bin/kiln" version | tail -n 1)"
echo
echo "== the graph ($example)"
cat "$example"
echo
echo "== after canonicalize, cse, dce"
"$bin/kiln-opt" --no-locations --canonicalize --cse --dce --pass-statistics "$example"
echo
echo "== run on the reference interpreter (seeded random inputs)"
"$bin/kiln-opt" --canonicalize --cse --dce --run --seed 1 "$example"
