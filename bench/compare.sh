#!/usr/bin/env bash
# kiln side by side with its peers, on this machine, in one run: for each round and each config,
# `kiln bench` and then bench/peers.py (PyTorch eager, torch.compile, jax.jit) on the same shapes
# and threads, interleaved so that a change in the machine's load touches all of them. Prints a
# table of target tokens/s (the median over rounds of each tool's median step) and the ratio of
# kiln to the best peer per row; every JSON line goes to bench/results.jsonl.
#
#   bench/compare.sh [--configs tiny,small,base] [--rounds 3] [--threads 2]
#                    [--mode train|forward|greedy|beam] [--precision f32|bf16] [--batch N] [--width 4]
#
# --batch (every mode) and --width (beam) go to both kiln bench and peers.py; greedy and beam
# decode src_len 32 and tgt_len 32 with a KV cache, fewer timed calls per config than training.
# The peers come from bench/.venv (bench/setup.sh) when it exists, else from /usr/bin/python3
# (Debian's PyTorch 1.13: eager only). Build kiln first (scripts/build.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
configs=tiny,small,base rounds=3 threads=2 mode=train precision=f32 batch= width=4
while [[ $# -gt 0 ]]; do
  case $1 in
    --configs) configs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/compare.sh: error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
kiln="$root/build/bin/kiln"
[[ -x $kiln ]] || { echo "bench/compare.sh: error: $kiln is missing; run scripts/build.sh" >&2; exit 1; }
python=/usr/bin/python3
[[ -x $here/.venv/bin/python ]] && python=$here/.venv/bin/python
out=$here/results.jsonl
: > "$out"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $threads threads; $precision; peers from $python"
case $mode in
  greedy|beam) steps_of() { case $1 in tiny) echo 10 ;; small) echo 5 ;; *) echo 3 ;; esac; } ;;
  *) steps_of() { case $1 in tiny) echo 20 ;; small) echo 6 ;; *) echo 4 ;; esac; } ;;
esac
shape=()
[[ -n $batch ]] && shape+=(--batch "$batch")
[[ $mode == beam ]] && shape+=(--width "$width")
for ((r = 1; r <= rounds; r++)); do
  for c in ${configs//,/ }; do
    s=$(steps_of "$c")
    echo "round $r/$rounds: $c" >&2
    "$kiln" bench --config "$c" --mode "$mode" --threads "$threads" --steps "$s" --warmup 2 \
      --precision "$precision" --no-gemm "${shape[@]}" | tail -n 1 >> "$out"
    "$python" "$here/peers.py" --config "$c" --mode "$mode" --threads "$threads" --steps "$s" \
      --warmup 2 --precision "$precision" "${shape[@]}" >> "$out"
  done
done
"$python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["config"], {}).setdefault(r["tool"], []).append(r)
med = lambda runs, key: statistics.median(r[key] for r in runs)
compile_s = lambda r: r.get("compile_cold_s", r.get("compile_s", 0.0))
print(f"\n{'config':<7} {'tool':<15} {'tokens/s':>10} {'peak RSS MiB':>13} {'compile s':>10}  runs")
for config, tools in rows.items():
    tps = {t: med(v, "tokens_per_s") for t, v in tools.items()}
    rss = {t: med(v, "peak_rss_mib") for t, v in tools.items()}
    for t in sorted(tps, key=lambda t: -tps[t]):
        comp = statistics.median(compile_s(r) for r in tools[t])
        print(f"{config:<7} {t:<15} {tps[t]:>10.0f} {rss[t]:>13.0f} {comp:>10.2f}  {len(tools[t])}")
    peers = [t for t in tps if t != "kiln"]
    if "kiln" in tps and peers:
        best = max(peers, key=tps.get)
        lean = min(peers, key=rss.get)
        print(f"{config:<7} kiln / best peer ({best}): {tps['kiln'] / tps[best]:.2f}x tokens/s; "
              f"kiln / leanest peer ({lean}): {rss['kiln'] / rss[lean]:.2f}x peak RSS")
PY
