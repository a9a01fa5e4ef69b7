#!/usr/bin/env bash
# The main job: builds kiln, records the tiny Transformer of "Attention Is All You Need" as a
# graph, prints its IR, and runs its forward pass and loss on the reference interpreter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
bin="$root/build/bin"
work="$root/build/demo"
mkdir -p "$work"

echo "== $("$bin/kiln" version | tail -n 1)"
echo
echo "== the tiny Transformer's parameters (PyTorch nn.Transformer names)"
"$bin/kiln" params --config tiny | tail -n 6
echo
echo "== its loss graph, as text IR (first lines; the whole graph is in $work/tiny_loss.kir)"
"$bin/kiln" dump --config tiny --stage loss --batch 2 --src-len 6 --tgt-len 6 -o "$work/tiny_loss.kir"
head -n 12 "$work/tiny_loss.kir"
echo "  ... $(grep -c ' = ' "$work/tiny_loss.kir") nodes"
"$bin/kiln-opt" --canonicalize --cse --dce --pass-statistics "$work/tiny_loss.kir" -o "$work/tiny_loss.opt.kir"
echo
echo "== initial weights and a batch of two sentence pairs"
"$bin/kiln" init --config tiny --seed 0 -o "$work/tiny.safetensors"
"$bin/kiln-opt" "$root/examples/copy_batch.kir" --run --outputs "$work/batch.safetensors"
echo
echo "== forward pass and loss on the reference interpreter"
"$bin/kiln" run --config tiny --weights "$work/tiny.safetensors" --inputs "$work/batch.safetensors" \
  -o "$work/out.safetensors"
echo "(an untrained model: the loss is near ln(1000) = 6.9)"
