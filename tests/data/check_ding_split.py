#!/usr/bin/env python3
"""Checks `kiln data` against an independent reading of Ding's dictionary.

This script implements the sentence-pair rule and the MD5 split of runtime/data/ (ding.h,
split.h) again with Python's re and hashlib, runs `kiln data --split S` for every split in both
directions, and compares the pairs one by one. Exits 1 on any difference, 77 (skip) when the
dictionary is not installed, unless CI=true, where trans-de-en is always installed.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys

DING = "/usr/share/trans/de-en"
ANNOTATION = re.compile(r"\s*(\{[^}]*\}|\[[^\]]*\]|<[^>]*>|/[^/]*/)")
STARTS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + ("Ä", "Ö", "Ü", '"', "„")


def clean(part):
    part = part.split(";", 1)[0]
    return " ".join(ANNOTATION.sub("", part).split())


def acceptable(s):
    return (not any(f in s for f in ("(", "~", "…", "..."))
            and s.startswith(STARTS) and s.endswith((".", "!", "?")))


def pairs(path):
    seen, out = set(), []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#") or " :: " not in line:
                continue
            de, en = line.split(" :: ", 1)
            de_parts, en_parts = de.split(" | "), en.split(" | ")
            if len(de_parts) != len(en_parts):
                continue
            for d, e in zip(de_parts, en_parts):
                d, e = clean(d), clean(e)
                if acceptable(d) and acceptable(e) and len(e.split()) >= 3 and e not in seen:
                    seen.add(e)
                    out.append((d, e))
    return out


def split_of(english):
    r = int.from_bytes(hashlib.md5(english.encode("utf-8")).digest(), "big") % 10
    return "test" if r == 0 else "valid" if r == 1 else "train"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    args = ap.parse_args()
    if not os.path.exists(DING):
        if os.environ.get("CI") == "true":
            print(f"{DING} is missing: scripts/install-deps.sh installs trans-de-en")
            return 1
        print(f"skipped: {DING} is missing (scripts/install-deps.sh installs trans-de-en)")
        return 77
    all_pairs = pairs(DING)
    want = {"train": [], "valid": [], "test": []}
    for de, en in all_pairs:
        s = split_of(en)
        if s != "train" or len(en.split()) <= 15:
            want[s].append((en, de))
    failed = False
    for reverse in (False, True):
        for split, expected in want.items():
            if reverse:
                expected = [(t, s) for s, t in expected]
            cmd = [args.kiln, "data", "--split", split] + (["--reverse"] if reverse else [])
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            got = [tuple(l.split("\t")) for l in text.splitlines()]
            name = f"{split}{' --reverse' if reverse else ''}"
            if got != expected:
                failed = True
                print(f"{name}: kiln gives {len(got)} pairs, the independent reading "
                      f"{len(expected)}")
                for g, e in zip(got, expected):
                    if g != e:
                        print(f"  first difference: kiln {g!r}, expected {e!r}")
                        break
            else:
                print(f"{name}: {len(got)} pairs agree")
    print(f"{len(all_pairs)} pairs in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
