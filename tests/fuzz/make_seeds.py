#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets that are not copies of IR files: safetensors
files (with Python's struct and json, independently of kiln's writer), TSV text and a tiny
SentencePiece model (spm_train). Run it from anywhere; it rewrites tests/fuzz/{safetensors,tsv,
tokenizer}/seed_*. The IR seeds of parser/ and pipeline/ are chunks of examples/ and tests/lit/.
"""
import base64
import json
import os
import struct
import subprocess
import tempfile

here = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    os.makedirs(os.path.join(here, folder), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(here, folder, name), mode) as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, bytes); the header padded to 8 bytes with spaces."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


write("safetensors", "seed_empty.safetensors", safetensors({}))
write("safetensors", "seed_f32.safetensors",
      safetensors({"w": ("F32", [2, 3], f32(1, 2, 3, 4, 5, 6)), "b": ("F32", [3], f32(0.5, -1, 2))}))
write("safetensors", "seed_dtypes.safetensors", safetensors({
    "d": ("F64", [2], struct.pack("<2d", 1.5, -2)),
    "h": ("BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
    "i": ("I32", [3], struct.pack("<3i", 1, -2, 3)),
    "l": ("I64", [1, 2], struct.pack("<2q", 7, -8)),
    "m": ("BOOL", [2, 2], bytes([1, 0, 0, 1])),
    "s": ("F32", [], f32(3.25)),
    "z": ("F32", [0, 4], b""),
}))
write("safetensors", "seed_metadata.safetensors",
      safetensors({"x": ("F32", [1], f32(1))}, {"format": "pt", "kiln.step": "12"}))
# Malformed on purpose: offsets past the end, overlapping ranges, a wrong byte count.
write("safetensors", "seed_bad_offsets.safetensors",
      safetensors({"x": ("F32", [2], f32(1, 2))})[:-4])
bad = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
       "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
text = json.dumps(bad).encode()
write("safetensors", "seed_overlap.safetensors", struct.pack("<Q", len(text)) + text + f32(1, 2))

write("tsv", "seed_pairs.tsv", "The house is small.\tDas Haus ist klein.\n"
      "The dog is old.\tDer Hund ist alt.\r\n\nÄrger macht müde.\tTrouble is tiring.\n")
write("tsv", "seed_no_tab.tsv", "The house is small.\tDas Haus ist klein.\nA line without a tab\n")
write("tsv", "seed_two_tabs.tsv", "a\tb\tc\n")
write("tsv", "seed_blank_side.tsv", "The house is small.\t  \n")

# A tiny unigram model with kiln's special ids, as a file and as the base64 text a checkpoint
# stores (the target's first byte chooses: even for a file, odd for base64).
with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "text.txt")
    with open(corpus, "w") as f:
        f.write("Das Haus ist klein.\nThe house is small.\nDer Hund ist alt.\nThe dog is old.\n")
    prefix = os.path.join(tmp, "m")
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={prefix}",
                    "--vocab_size=28", "--model_type=unigram", "--pad_id=0", "--bos_id=1",
                    "--eos_id=2", "--unk_id=3", "--character_coverage=1.0", "--minloglevel=2",
                    "--num_threads=1",
                    # No normalization table: the model is 500 bytes instead of 240 KB.
                    "--normalization_rule_name=identity"], check=True, capture_output=True)
    model = open(prefix + ".model", "rb").read()
write("tokenizer", "seed_model", b"\0" + model)
write("tokenizer", "seed_base64", b"\1" + base64.b64encode(model))
write("tokenizer", "seed_not_a_model", b"\0not a model")

# IR: every '// -----' chunk of the examples and the lit tests for the parser (which also gets
# the error cases); the chunks of the pass tests and the examples for the pipelines.
root = os.path.dirname(os.path.dirname(here))


def chunks(path):
    text, out = open(path).read(), [[]]
    for line in text.splitlines(keepends=True):
        if line.strip() == "// -----":
            out.append([])
        else:
            out[-1].append(line)
    return ["".join(c) for c in out if "graph" in "".join(c)]


for folder, targets in [("examples", ["parser", "pipeline"]),
                        ("tests/lit/ir", ["parser"]),
                        ("tests/lit/passes", ["parser", "pipeline"]),
                        ("tests/lit/kernel", ["parser"]),
                        ("tests/lit/memory", ["parser"]),
                        ("tests/lit/Inputs", ["parser"])]:
    for name in sorted(os.listdir(os.path.join(root, folder))):
        if not name.endswith(".kir"):
            continue
        for i, c in enumerate(chunks(os.path.join(root, folder, name))):
            for t in targets:
                write(t, f"seed_{name[:-4]}_{i}.kir", c)
