#!/usr/bin/env python3
"""Compares two safetensors files: the same tensors (names, dtypes, shapes), numbers within a
tolerance. Reads the format itself (8-byte header length, JSON header, bytes), so it needs no
package beyond the standard library.

Usage: compare_safetensors.py EXPECTED ACTUAL [--rtol R] [--atol A] [--scaled]
                              [--ignore REGEX]

Two numbers agree when |a - b| <= atol + rtol * max(|a|, |b|); with --scaled, atol is a
fraction of the largest magnitude in the expected tensor (for tensors whose scales differ by
orders, such as gradients and Adam's moments). NaNs and infinities must match exactly.
Prints the largest difference of each tensor, or the first disagreement and exits 1.
"""
import argparse
import array
import json
import math
import re
import struct
import sys

CODES = {"F32": "f", "F64": "d", "I32": "i", "I64": "q", "BOOL": "B"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = data[8 + n + begin:8 + n + end]
        if t["dtype"] == "BF16":
            values = [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
        else:
            values = array.array(CODES[t["dtype"]], raw).tolist()
        tensors[name] = (t["dtype"], t["shape"], values)
    return tensors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("expected")
    p.add_argument("actual")
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--atol", type=float, default=1e-6)
    p.add_argument("--scaled", action="store_true",
                   help="atol is relative to each expected tensor's largest magnitude")
    p.add_argument("--ignore", help="tensors whose names match are only checked for type and shape")
    a = p.parse_args()
    e, g = read(a.expected), read(a.actual)
    if sorted(e) != sorted(g):
        print(f"different tensors: {sorted(e)} vs {sorted(g)}")
        return 1
    for name in sorted(e):
        (de, se, ve), (dg, sg, vg) = e[name], g[name]
        if de != dg or se != sg:
            print(f"{name}: {de}{se} vs {dg}{sg}")
            return 1
        if a.ignore and re.search(a.ignore, name):
            print(f"{name}: {de}{se} (values not compared)")
            continue
        atol = a.atol
        if a.scaled:
            atol *= max((abs(x) for x in ve if math.isfinite(x)), default=0.0)
        worst = 0.0
        for i, (x, y) in enumerate(zip(ve, vg)):
            if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
                if not (x == y or (math.isnan(x) and math.isnan(y))):
                    print(f"{name}[{i}]: {x} vs {y}")
                    return 1
                continue
            d = abs(x - y)
            if d > atol + a.rtol * max(abs(x), abs(y)):
                print(f"{name}[{i}]: {x} vs {y}, beyond rtol {a.rtol} atol {atol:.3g}")
                return 1
            worst = max(worst, d)
        print(f"{name}: {de}{se} agrees, largest difference {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
