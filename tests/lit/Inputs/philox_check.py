#!/usr/bin/env python3
"""Checks a `kiln-opt --run --print-full` output of random_seed.kir against Philox-4x32-10 computed here.

Usage: philox_check.py OUTPUT KEY_LO KEY_HI

The output's line `"u" = f32[N] [...]` must hold, exactly as f32, element i = the top 24 bits of the
first word of the Philox-4x32-10 block for counter (i, 0, 0, 0) and key (KEY_LO, KEY_HI), times
2^-24 (Salmon et al., SC'11; the constants of Random123). Exits 1 at the first difference.
"""
import re
import struct
import sys

MASK = 0xFFFFFFFF


def philox4x32(counter, key):
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c3 ^ k1) & MASK, p0 & MASK
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return c0, c1, c2, c3


def main():
    path, lo, hi = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0)
    text = open(path).read()
    m = re.search(r'"u" = f32\[(\d+)\] \[([^\]]*)\]', text)
    if not m:
        sys.exit(f"{path}: no output \"u\" in: {text}")
    # Printed with the fewest digits that read back as the same f32: read them back as f32.
    got = [struct.unpack("<f", struct.pack("<f", float(t)))[0] for t in m.group(2).split(",")]
    for i, g in enumerate(got):
        want = (philox4x32((i, 0, 0, 0), (lo, hi))[0] >> 8) / 16777216.0
        if g != want:
            sys.exit(f"{path}: element {i} is {g}, Philox gives {want}")
    print(f"{len(got)} numbers match")


if __name__ == "__main__":
    main()
