#!/usr/bin/python3
"""The PyTorch peer of bench/peers.py builds kiln's model: for every preset, its parameter count
equals `kiln params`. A peer that drifted from kiln's conventions (a tied generator, a missing
final norm, another feed-forward width) would be compared on another model; this catches it.

Usage: check_peer_params.py --kiln build/bin/kiln --peers bench/peers.py
"""
import argparse
import re
import subprocess
import sys


def count(cmd, pattern):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {out.returncode}\n{out.stdout}{out.stderr}")
    m = re.search(pattern, out.stdout)
    if not m:
        sys.exit(f"FAIL: no parameter count in the output of {' '.join(cmd)}:\n{out.stdout}")
    return int(m.group(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", required=True)
    p.add_argument("--peers", required=True)
    a = p.parse_args()
    for config in ("tiny", "small", "base"):
        kiln = count([a.kiln, "params", "--config", config], r"(\d+) parameters in")
        peer = count([sys.executable, a.peers, "--config", config, "--peers", "eager",
                      "--count-only"], r"(\d+) parameters \(PyTorch")
        print(f"{config}: kiln {kiln}, PyTorch peer {peer}")
        if kiln != peer:
            sys.exit(f"FAIL: the PyTorch peer of {config} has {peer} parameters, kiln {kiln}")


if __name__ == "__main__":
    main()
