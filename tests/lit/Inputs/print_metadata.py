"""Prints a safetensors file's metadata as sorted "key = value" lines (read with Python's json
and struct, independently of kiln); with --set KEY=VALUE -o OUT, writes a copy with that
metadata entry changed instead."""
import argparse
import json
import struct

parser = argparse.ArgumentParser()
parser.add_argument("file")
parser.add_argument("--set")
parser.add_argument("-o")
args = parser.parse_args()
with open(args.file, "rb") as f:
    data = f.read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
meta = header.get("__metadata__", {})
if args.set:
    key, value = args.set.split("=", 1)
    meta[key] = value
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    with open(args.o, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])
else:
    for key in sorted(meta):
        print(f"{key} = {meta[key]}")
