#!/usr/bin/env python3
"""Checks what `kiln-opt --run` and `kiln run` print against the tensors they write to a file.

Usage: numpy_summary.py summary TENSORS.safetensors PRINTED
       numpy_summary.py full TENSORS.safetensors PRINTED

summary: PRINTED must be, byte for byte, the summaries of the file's tensors (in PRINTED's
order) as NumPy lays them out: a header `"name" = f32[2,3]`; a statistics line computed here
with NumPy; then np.array2string(a, separator=', ') with the default threshold (1000),
edgeitems (3) and linewidth (75), each item in kiln's spelling, padded on the left to the
widest item shown. kiln's spelling (the shortest exact decimal, -250 where NumPy writes -250.)
is made here with NumPy's own shortest-digit formatting.

full: every line `"name" = dtype[shape] [...]` of PRINTED (--print-full) must hold all the
tensor's elements, each reading back to exactly the value in the file.

Needs NumPy (Debian's python3-numpy, for /usr/bin/python3). Exits 1 at the first difference.
"""
import json
import math
import re
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "BOOL": np.bool_, "BF16": np.uint16}
NAMES = {"F32": "f32", "F64": "f64", "I32": "i32", "I64": "i64", "BOOL": "bool", "BF16": "bf16"}
EDGE = 3
THRESHOLD = 1000


def read_safetensors(path):
    """{name: (kiln dtype name, array)}; bf16 widened to the f32 of the same value."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        a = np.frombuffer(body[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        if entry["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = (NAMES[entry["dtype"]], a)
    return tensors


def spell(x):
    """kiln's spelling of one element: floats as the shortest decimal that reads back to the same
    value of their type, written positionally or in scientific notation, whichever is shorter
    (positional on a tie), as C++'s std::to_chars does."""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    fixed = np.format_float_positional(x, unique=True, trim="-")
    scientific = np.format_float_scientific(x, unique=True, trim="-", exp_digits=2)
    return scientific if len(scientific) < len(fixed) else fixed


def shown(a):
    """The elements a summary shows: the edge items of each longer axis when elided."""
    if a.size > THRESHOLD:
        for axis in range(a.ndim):
            if a.shape[axis] > 2 * EDGE:
                keep = list(range(EDGE)) + list(range(a.shape[axis] - EDGE, a.shape[axis]))
                a = np.take(a, keep, axis=axis)
    return a.ravel()


def statistics(dtype, a):
    if a.ndim == 0 or a.size == 0:
        return None
    if dtype == "bool":
        return f"true {int(a.sum())}, false {int(a.size - a.sum())}"
    if dtype in ("i32", "i64"):
        return f"min {a.min()}, max {a.max()}"
    finite = a[np.isfinite(a)]
    line = "no finite elements"
    if finite.size:
        mean = finite.astype(np.float64).mean()
        mean = np.float64(mean) if dtype == "f64" else np.float32(mean)
        line = f"min {spell(finite.min())}, max {spell(finite.max())}, mean {spell(mean)}"
        if finite.size < a.size:
            line += f" (of {finite.size} finite)"
    counts = [f"{what} {n}" for what, n in (("nan", np.isnan(a).sum()),
                                            ("inf", np.isposinf(a).sum()),
                                            ("-inf", np.isneginf(a).sum())) if n]
    return line + ("; " + ", ".join(counts) if counts else "")


def summary(name, dtype, a):
    lines = [f'"{name}" = {dtype}[{",".join(map(str, a.shape))}]']
    stats = statistics(dtype, a)
    if stats is not None:
        lines.append(stats)
    width = max((len(spell(x)) for x in shown(a)), default=0)
    lines.append(np.array2string(a, separator=", ", threshold=THRESHOLD, edgeitems=EDGE,
                                 max_line_width=75, formatter={"all": lambda x: spell(x).rjust(width)}))
    return "\n".join(lines) + "\n"


def check_summary(tensors, printed):
    names = re.findall(r'^"([^"]+)" = ', printed, re.MULTILINE)
    if not names:
        sys.exit("error: no summaries printed")
    want = "\n".join(summary(n, *tensors[n]) for n in names)
    if printed != want:
        for k, (p, w) in enumerate(zip(printed.split("\n"), want.split("\n")), 1):
            if p != w:
                sys.exit(f"error: line {k} is\n  {p}\nNumPy's layout is\n  {w}")
        sys.exit(f"error: {len(printed)} characters printed, NumPy's layout has {len(want)}")
    print(f"ok: {len(names)} summaries as NumPy lays them out")


def check_full(tensors, printed):
    count = 0
    for line in printed.splitlines():
        m = re.match(r'^"([^"]+)" = (\w+)\[([\d,]*)\] (.*)$', line)
        if not m:
            continue
        name, dtype, values = m.group(1), m.group(2), m.group(4)
        want_dtype, a = tensors[name]
        tokens = re.findall(r"-?inf|nan|true|false|-?[0-9][0-9.e+-]*", values)
        if dtype != want_dtype or len(tokens) != a.size:
            sys.exit(f"error: {name} prints {dtype} with {len(tokens)} elements, the file holds "
                     f"{want_dtype} with {a.size}")
        for i, (t, x) in enumerate(zip(tokens, a.ravel())):
            if dtype == "bool":
                same = (t == "true") == x
            elif dtype in ("i32", "i64"):
                same = int(t) == x
            else:
                read = float(t)
                if dtype != "f64":  # the shortest spelling that reads back as the same f32
                    read = struct.unpack("<f", struct.pack("<f", read))[0]
                same = math.isnan(x) and math.isnan(read) or read == x
            if not same:
                sys.exit(f"error: {name} element {i} prints {t}, the file holds {x}")
        count += 1
    if not count:
        sys.exit("error: no --print-full lines printed")
    print(f"ok: {count} tensors printed exactly")


def main():
    mode, path, printed_path = sys.argv[1:4]
    tensors = read_safetensors(path)
    printed = open(printed_path).read()
    {"summary": check_summary, "full": check_full}[mode](tensors, printed)


if __name__ == "__main__":
    main()
