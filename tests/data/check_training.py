#!/usr/bin/env python3
"""End-to-end checks of `kiln train --data`.

1. A short run of the tiny model on Ding's sentences (a slice of a minute): the validation loss
   at step 200 is below the one at step 100, and both are below the loss of a uniform guess.
2. Ctrl-C (SIGINT) during a run saves a checkpoint and exits with 130; the run resumes from it.

Exits 77 (skip) when the dictionary is not installed, unless CI=true.
"""
import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile

DING = "/usr/share/trans/de-en"
VALID = re.compile(r"step (\d+): validation loss ([0-9.]+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--pairs", required=True, help="a small TSV file for the Ctrl-C check")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(args.workdir, "cache"),
               OMP_WAIT_POLICY="passive")
    failed = False

    if not os.path.exists(DING):
        if os.environ.get("CI") == "true":
            print(f"{DING} is missing: scripts/install-deps.sh installs trans-de-en")
            return 1
        print(f"skipped the Ding run: {DING} is missing")
    else:
        vocab = 2000
        cmd = [args.kiln, "train", "--data", "ding-en-de", "--config", "tiny", "--vocab",
               str(vocab), "--steps", "200", "--valid-every", "100", "--batch-tokens", "1024",
               "--warmup", "100", "--log-every", "50",
               "--save", os.path.join(args.workdir, "ding.safetensors")]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
        print(out.stdout)
        if out.returncode != 0:
            print(out.stderr)
            return 1
        losses = {int(s): float(l) for s, l in VALID.findall(out.stdout)}
        if sorted(losses) != [100, 200]:
            print(f"expected validation losses at steps 100 and 200, found {losses}")
            failed = True
        elif not (losses[200] < losses[100] < math.log(vocab)):
            print(f"the validation loss does not fall: {losses} (uniform guess {math.log(vocab):.3f})")
            failed = True
        else:
            print(f"validation loss falls: {losses[100]:.4f} -> {losses[200]:.4f}")

    small = ["--data", args.pairs, "--vocab", "40", "--d-model", "16", "--heads", "2", "--ffn",
             "32", "--layers", "1", "--batch-tokens", "32", "--threads", "1", "--log-every", "1"]
    ckpt = os.path.join(args.workdir, "interrupted.safetensors")
    if os.path.exists(ckpt):
        os.remove(ckpt)
    # A shell starts background jobs with SIGINT ignored, and kiln keeps a signal it inherits
    # ignored: give the run the default disposition, as a foreground command has.
    p = subprocess.Popen([args.kiln, "train", *small, "--steps", "100000000", "--save", ckpt],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("step"):
            p.send_signal(signal.SIGINT)
            break
    rest, _ = p.communicate(timeout=300)
    text = "".join(lines) + rest
    saved = re.search(r"saved step (\d+) to", text)
    if p.returncode != 130 or "SIGINT at step" not in text or not saved:
        print(f"Ctrl-C: exit {p.returncode}, output:\n{text}")
        failed = True
    else:
        step = int(saved.group(1))
        more = subprocess.run([args.kiln, "train", *small, "--steps", str(step + 2), "--resume",
                               ckpt, "--save", ckpt], env=env, capture_output=True, text=True,
                              timeout=300)
        if more.returncode != 0 or f"resumed from {ckpt} at step {step}" not in more.stdout:
            print(f"resuming after Ctrl-C failed:\n{more.stdout}{more.stderr}")
            failed = True
        else:
            print(f"Ctrl-C saved step {step}; resumed to step {step + 2}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
