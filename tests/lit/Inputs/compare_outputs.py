#!/usr/bin/env python3
"""Compares two `kiln-opt --run --print-full` outputs: same outputs, types and shapes, numbers within a tolerance.

Usage: compare_outputs.py BEFORE AFTER [--rtol R] [--atol A]

Each line of a --run output is `"name" = dtype[shape] nested-list`; --split-input-file puts
`// -----` between the graphs. Two numbers agree when |a - b| <= atol + rtol * max(|a|, |b|);
infinities and NaNs must match exactly. Prints the first disagreement and exits 1.
"""
import argparse
import math
import re
import sys

LINE = re.compile(r'^("[^"]*") = (\S+) (.*)$')
TOKEN = re.compile(r"-?inf|nan|true|false|-?[0-9][0-9.e+-]*")


def parse(path):
    """(header, numbers) per non-empty line; `// -----` lines are kept as headers."""
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.strip() == "// -----":
                rows.append((lineno, line.strip(), []))
                continue
            m = LINE.match(line)
            if not m:
                sys.exit(f"{path}:{lineno}: not an output line of --run --print-full: {line}")
            rows.append((lineno, f"{m.group(1)} = {m.group(2)}", TOKEN.findall(m.group(3))))
    return rows


def value(token):
    if token in ("true", "false"):
        return float(token == "true")
    return float(token)


def close(a, b, rtol, atol):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rtol", type=float, default=1e-9)
    p.add_argument("--atol", type=float, default=1e-12)
    a = p.parse_args()
    before, after = parse(a.before), parse(a.after)
    if len(before) != len(after):
        sys.exit(f"error: {len(before)} lines before, {len(after)} after")
    if not before:
        sys.exit("error: no outputs to compare")
    for (lb, hb, nb), (la, ha, na) in zip(before, after):
        if hb != ha or len(nb) != len(na):
            sys.exit(f"error: line {lb} is {hb} ({len(nb)} elements), line {la} is {ha} ({len(na)} elements)")
        for i, (x, y) in enumerate(zip(nb, na)):
            if not close(value(x), value(y), a.rtol, a.atol):
                sys.exit(f"error: {hb} element {i}: {x} before, {y} after")
    print(f"ok: {sum(len(n) for _, _, n in before)} numbers agree")


if __name__ == "__main__":
    main()
