#!/usr/bin/env bash
# kiln side by side with its peers, on this machine, in one run: for each round and each config,
# `kiln bench` and then bench/peers.py (PyTorch eager, torch.compile, jax.jit) on the same shapes
# and threads, interleaved so that a change in the machine's load touches all of them. Prints a
# table of target tokens/s (the median over rounds of each tool's median step) and the ratio of
# kiln to the best peer per row; every JSON line goes to bench/results.jsonl.
#
#   bench/compare.sh [--configs tiny,small,base] [--rounds 3] [--threads 2] [--mode train]
#
# The peers come from bench/.venv (bench/setup.sh) when it exists, else from /usr/bin/python3
# (Debian's PyTorch 1.13: eager only). Build kiln first (scripts/build.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
configs=tiny,small,base rounds=3 threads=2 mode=train
while [[ $# -gt 0 ]]; do
  case $1 in
    --configs) configs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/compare.sh: error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
kiln="$root/build/bin/kiln"
[[ -x $kiln ]] || { echo "bench/compare.sh: error: $kiln is missing; run scripts/build.sh" >&2; exit 1; }
python=/usr/bin/python3
[[ -x $here/.venv/bin/python ]] && python=$here/.venv/bin/python
out=$here/results.jsonl
: > "$out"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $threads threads; peers from $python"
steps_of() { case $1 in tiny) echo 20 ;; small) echo 6 ;; *) echo 4 ;; esac; }
for ((r = 1; r <= rounds; r++)); do
  for c in ${configs//,/ }; do
    s=$(steps_of "$c")
    echo "round $r/$rounds: $c" >&2
    "$kiln" bench --config "$c" --mode "$mode" --threads "$threads" --steps "$s" --warmup 2 \
      --no-gemm | tail -n 1 >> "$out"
    "$python" "$here/peers.py" --config "$c" --mode "$mode" --threads "$threads" --steps "$s" \
      --warmup 2 >> "$out"
  done
done
"$python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["config"], {}).setdefault(r["tool"], []).append(r["tokens_per_s"])
print(f"\n{'config':<7} {'tool':<15} {'tokens/s':>10}  runs")
for config, tools in rows.items():
    med = {t: statistics.median(v) for t, v in tools.items()}
    for t, v in sorted(med.items(), key=lambda kv: -kv[1]):
        print(f"{config:<7} {t:<15} {v:>10.0f}  {len(tools[t])}")
    peers = {t: v for t, v in med.items() if t != "kiln"}
    if "kiln" in med and peers:
        best = max(peers, key=peers.get)
        print(f"{config:<7} kiln / best peer ({best}): {med['kiln'] / peers[best]:.2f}x")
PY
