#!/usr/bin/env bash
# The main job: builds kiln, records the tiny Transformer of "Attention Is All You Need" as a
# graph, fuses attention, layer norm and the loss, compiles the forward pass and the loss to
# JIT-compiled CPU kernels (and runs them on the reference interpreter too), trains it on the
# copy task with the compiled training step, showing the loss fall, then trains it as a
# translator on Ding's English-German sentences for a bounded time ($DEMO_BUDGET, 3m by
# default) and translates held-out sentences next to their references.
set -euo pipefail
# On a machine shared with other work, OpenMP's idle workers sleep instead of spinning.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
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
echo "== its loss graph as recorded from the DSL (first lines; all of it in $work/tiny_loss.kir)"
"$bin/kiln" dump --config tiny --stage loss --batch 2 --src-len 6 --tgt-len 6 \
  --elide-constants-larger-than 0 -o "$work/tiny_loss.kir"
head -n 4 "$work/tiny_loss.kir"
grep -m 3 ' = matmul' "$work/tiny_loss.kir"
echo "  ... $(grep -c ' = ' "$work/tiny_loss.kir") nodes"
echo
echo "== the inference pipeline finds attention, layer norm and the cross-entropy in it"
"$bin/kiln-opt" --pipeline=infer --pass-statistics "$work/tiny_loss.kir" -o "$work/tiny_fused.kir" 2>&1 |
  grep -E '^[a-z]|\) (softmax|layer norms|attentions|cross-entropies|nodes)'
grep -m 1 ' = attention' "$work/tiny_fused.kir" | cut -c1-140
echo "  ... $(grep -c ' = ' "$work/tiny_fused.kir") nodes"
echo
echo "== initial weights and a batch of two sentence pairs"
"$bin/kiln" init --config tiny --seed 0 -o "$work/tiny.safetensors"
"$bin/kiln-opt" "$root/examples/copy_batch.kir" --run --outputs "$work/batch.safetensors"
echo
echo "== forward pass and loss: compiled for the CPU, and on the reference interpreter (fused and as recorded)"
"$bin/kiln" run --config tiny --weights "$work/tiny.safetensors" --inputs "$work/batch.safetensors" \
  --backend cpu -o "$work/out.safetensors"
"$bin/kiln" run --config tiny --weights "$work/tiny.safetensors" --inputs "$work/batch.safetensors" \
  --backend reference
"$bin/kiln" run --config tiny --weights "$work/tiny.safetensors" --inputs "$work/batch.safetensors" \
  --backend reference --passes none
echo "(an untrained model: the loss is near ln(1000) = 6.9)"
echo
echo "== the training step's kernels and memory plan"
"$bin/kiln" dump --config tiny --stage train --batch 16 --src-len 8 --tgt-len 8 --level kernels \
  -o "$work/tiny_train_kernels.txt"
grep -m 1 -A 4 '^kernel @layer_norm' "$work/tiny_train_kernels.txt"
echo "  ... $(grep -c '^kernel' "$work/tiny_train_kernels.txt") kernels, $(grep -c '^fallback' "$work/tiny_train_kernels.txt") fallbacks (all in $work/tiny_train_kernels.txt)"
"$bin/kiln" dump --config tiny --stage train --batch 16 --src-len 8 --tgt-len 8 --level memory | tail -n 1
echo
echo "== training the tiny Transformer on the copy task (forward, backward and Adam in one compiled step)"
"$bin/kiln" train --config tiny --task copy --steps 250 --batch 16 --src-len 8 --tgt-len 8 --backend cpu \
  --lr 1e-3 --dropout 0.1 --task-vocab 24 --log-every 25 --save "$work/tiny_copy.safetensors"
echo
echo "== the main job: a translator trained on Ding's English-German example sentences"
"$bin/kiln" data
budget=${DEMO_BUDGET:-3m}
echo "(a tiny model trained for $budget: expect rough German, better the longer it trains)"
"$bin/kiln" train --data ding-en-de --config tiny --vocab 4000 --warmup 300 \
  --time-budget "$budget" --log-every 50 --valid-every 200 --save "$work/tiny_ding.safetensors"
echo
echo "== BLEU on the validation split (beam 4, decoding with the KV cache)"
"$bin/kiln" eval --ckpt "$work/tiny_ding.safetensors" --split valid
echo
echo "== held-out test sentences: beam 4, greedy and a sample (temperature 0.8, top-p 0.9) beside the reference"
"$bin/kiln" data --split test -o "$work/test.tsv"
head -n 6 "$work/test.tsv" > "$work/test6.tsv"
cut -f1 "$work/test6.tsv" > "$work/test6.en"
cut -f2 "$work/test6.tsv" > "$work/test6.ref"
ckpt="$work/tiny_ding.safetensors"
"$bin/kiln" translate --ckpt "$ckpt" --input "$work/test6.en" > "$work/test6.beam"
"$bin/kiln" translate --ckpt "$ckpt" --input "$work/test6.en" --greedy > "$work/test6.greedy"
"$bin/kiln" translate --ckpt "$ckpt" --input "$work/test6.en" --sample --temperature 0.8 \
  --top-p 0.9 --seed 1 > "$work/test6.sample"
for i in 1 2 3 4 5 6; do
  line() { sed -n "${i}p" "$1"; }
  echo "  en:     $(line "$work/test6.en")"
  echo "  beam:   $(line "$work/test6.beam")"
  echo "  greedy: $(line "$work/test6.greedy")"
  echo "  sample: $(line "$work/test6.sample")"
  echo "  ref:    $(line "$work/test6.ref")"
  echo
done
