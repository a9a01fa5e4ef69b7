"""Elides the large constants of a .kir text as the printer should, computed apart from kiln.

usage: elide_constants.py N FILE

Prints FILE with the value list of each constant of more than N values replaced by
elided<TYPE, fnv1a:HASH>: HASH is the 64-bit FNV-1a hash of the values' little-endian bytes
in the constant's dtype, as a safetensors file stores them.
"""
import re
import struct
import sys

FORMATS = {"f32": "<f", "f64": "<d", "i32": "<i", "i64": "<q", "bool": "<B"}
CONSTANT = re.compile(r"= constant\(\) \{.*value = (\[[^\]]*\])\} : (\w+)\[([0-9,]*)\]")


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h


def elide(line, limit):
    m = CONSTANT.search(line)
    if not m:
        return line
    values = [float(v) for v in m.group(1)[1:-1].split(",")]
    if limit == 0 or len(values) <= limit:
        return line
    dtype, shape = m.group(2), m.group(3)
    fmt = FORMATS[dtype]
    if dtype in ("i32", "i64", "bool"):
        data = b"".join(struct.pack(fmt, int(v)) for v in values)
    else:
        data = b"".join(struct.pack(fmt, v) for v in values)
    text = "elided<{}[{}], fnv1a:{:016x}>".format(dtype, shape, fnv1a(data))
    return line[: m.start(1)] + text + line[m.end(1) :]


def main():
    limit = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        for line in f:
            sys.stdout.write(elide(line, limit))


main()
