"""Data-parallel training on MPI, end to end: `mpirun -np 2 kiln train --data-parallel`.

- Without dropout, after 5 steps of the copy task on batches of 7 rows (ranks of 3 and 4 rows,
  holding different numbers of target tokens), the weights equal those of a single process on
  the same batches within TOLERANCE, and both ranks hold the same weights and optimizer state
  bit for bit, and they moved by more than 100 * TOLERANCE from the step-0 weights (a --steps 0
  run's); the loss and accuracy rank 0 prints are those one process prints. The same for a few steps on a corpus (TSV) whose batches split unevenly.
- A checkpoint of 2 ranks resumes with 2 and is refused, naming both counts, by 1.
- With --time-budget and no --steps, the ranks stop together and exit 0.
- A rank that fails (a bad --data path on rank 1 only) ends the whole job with an error that
  names the rank, well before the timeout.

One thread per process. Open MPI refuses root unless told; the environment tells it. Where kiln
was built without MPI the check is skipped (status 77), except under CI=true, where it fails:
scripts/install-deps.sh installs Open MPI.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

# Summation order differs (per-rank partial sums, then the sum over ranks), so the weights
# differ in the last bits of f32: 4e-7 measured after 5 steps of SGD. SGD, because Adam turns
# gradients that are rounding noise (the attention key biases', zero in exact arithmetic) into
# steps of +-lr whose sign the summation order decides.
TOLERANCE = 1e-5
TIMEOUT = 120


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def run(cmd, env, expect_ok=True):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if expect_ok and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def compare(start, single, dp, rank1, what):
    a, b, c = read_safetensors(single), read_safetensors(dp), read_safetensors(rank1)
    s = read_safetensors(start)
    if a.keys() != b.keys() or b.keys() != c.keys():
        sys.exit(f"FAIL {what}: the checkpoints hold different tensors")
    for name in b:
        if b[name].tobytes() != c[name].tobytes():
            sys.exit(f"FAIL {what}: rank 0 and rank 1 differ in {name}")
    worst, where = 0.0, ""
    for name in a:
        d = float(np.max(np.abs(a[name].astype(np.float64) - b[name]))) if a[name].size else 0.0
        if d > worst:
            worst, where = d, name
    if worst > TOLERANCE:
        sys.exit(f"FAIL {what}: a single process and 2 ranks differ by {worst} in {where}")
    # Equal weights prove little unless training moved them well past the tolerance.
    moved = max(float(np.max(np.abs(b[n].astype(np.float64) - s[n]))) for n in s
                if s[n].size and s[n].dtype.kind == "f")
    if moved <= 100 * TOLERANCE:
        sys.exit(f"FAIL {what}: the weights moved by only {moved} from step 0")
    print(f"{what}: ranks equal bit for bit; largest difference to one process {worst:.2e} "
          f"({where}), tolerance {TOLERANCE}; moved {moved:.2e} from step 0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--pairs", required=True, help="a small TSV corpus")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    ci = os.environ.get("CI") == "true"
    mpirun = shutil.which("mpirun")
    version = subprocess.run([args.kiln, "version"], capture_output=True, text=True).stdout
    if mpirun is None or "data-parallel training: MPI" not in version:
        msg = "kiln was built without MPI" if mpirun else "mpirun is missing"
        if ci:
            sys.exit(f"FAIL: {msg} (scripts/install-deps.sh installs Open MPI)")
        print(f"SKIP: {msg}")
        return 77
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    w = lambda name: os.path.join(args.workdir, name)
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
               OMPI_MCA_btl_vader_single_copy_mechanism="none",
               XDG_CACHE_HOME=w("cache"))
    mpi = [mpirun, "-np", "2", "--oversubscribe"]

    base = ["train", "--task", "copy", "--config", "tiny", "--batch", "7", "--dropout", "0",
            "--seed", "5", "--threads", "1", "--optimizer", "sgd", "--lr", "0.1"]
    task = [*base, "--steps", "5"]
    run([args.kiln, *base, "--steps", "0", "--save", w("start.safetensors")], env)
    single = run([args.kiln, *task, "--save", w("single.safetensors")], env)
    p = run([*mpi, args.kiln, *task, "--data-parallel", "--bucket-bytes", "65536",
             "--save-all-ranks", "--save", w("dp.safetensors")], env)
    steps = [l for l in p.stdout.splitlines() if l.startswith("step ")]
    if len(steps) != 5:
        sys.exit(f"FAIL: rank 0 alone prints each of the 5 steps once, found:\n{p.stdout}")
    # The printed loss and accuracy are the group's: one process's on the same batches.
    alone = [l for l in single.stdout.splitlines() if l.startswith("step ")]
    if len(alone) != 5:
        sys.exit(f"FAIL: one process prints each of the 5 steps once, found:\n{single.stdout}")
    for a, b in zip(alone, steps):
        la, lb = float(a.split()[3]), float(b.split()[3])
        if abs(la - lb) > TOLERANCE * max(1.0, abs(la)) or a.split()[5] != b.split()[5]:
            sys.exit(f"FAIL: the group's loss and accuracy differ from one process's:\n{a}\n{b}")
    print("copy task: rank 0 prints one process's loss and accuracy at each of the 5 steps")
    compare(w("start.safetensors"), w("single.safetensors"), w("dp.safetensors"),
            w("dp.safetensors.rank1"), "copy task")

    # Resume: the same number of ranks goes on; another number is refused.
    run([*mpi, args.kiln, *base, "--steps", "6", "--resume", w("dp.safetensors"),
         "--data-parallel"], env)
    p = run([args.kiln, *base, "--steps", "7", "--resume", w("dp.safetensors")], env,
            expect_ok=False)
    if p.returncode != 1 or "trained by 2 data-parallel ranks, this run has 1" not in p.stderr:
        sys.exit(f"FAIL: resuming 2 ranks' checkpoint with 1 must be refused:\n{p.stderr}")
    print("resume: 2 ranks go on; 1 is refused")

    corpus = ["train", "--data", args.pairs, "--vocab", "40", "--d-model", "16", "--heads", "2",
              "--ffn", "32", "--layers", "1", "--batch-tokens", "48", "--steps", "4",
              "--valid-every", "0", "--dropout", "0", "--threads", "1", "--optimizer", "sgd",
              "--lr", "0.1"]
    # The step-0 weights: a --steps 0 run saves them.
    run([args.kiln, *[a if a != "4" else "0" for a in corpus], "--save",
         w("corpus0.safetensors")], env)
    run([args.kiln, *corpus, "--save", w("corpus1.safetensors")], env)
    run([*mpi, args.kiln, *corpus, "--data-parallel", "--save-all-ranks",
         "--save", w("corpus2.safetensors")], env)
    compare(w("corpus0.safetensors"), w("corpus1.safetensors"), w("corpus2.safetensors"),
            w("corpus2.safetensors.rank1"), "corpus")

    # A time budget and no --steps: each rank's clock runs out at its own step, yet the ranks
    # agree each step whether to stop, so both stop at the same step and exit 0.
    budget = [a for a in corpus if a not in ("--steps", "4")]
    try:
        run([*mpi, args.kiln, *budget, "--time-budget", "2s", "--data-parallel",
             "--save", w("budget.safetensors")], env)
    except subprocess.TimeoutExpired:
        sys.exit("FAIL: a time budget left the ranks hanging")
    print("time budget: the ranks stop together")

    # One rank with a data path that does not exist: the job ends, naming the rank.
    bad = [*corpus, "--data-parallel", "--save", w("bad.safetensors")]
    cmd = [mpirun, "--oversubscribe", "-np", "1", args.kiln, *bad, ":", "-np", "1", args.kiln,
           *[w("missing.tsv") if a == args.pairs else a for a in bad]]
    try:
        p = run(cmd, env, expect_ok=False)
    except subprocess.TimeoutExpired:
        sys.exit("FAIL: a failing rank left the job hanging")
    if p.returncode == 0 or "rank 1 of 2" not in p.stderr or "missing.tsv" not in p.stderr:
        sys.exit(f"FAIL: a failing rank must end the job with its error:\n{p.stderr}")
    print("a failing rank ends the job:", next(l for l in p.stderr.splitlines() if "rank 1 of 2" in l))
    print("data-parallel: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
