"""Runs every shell command that README.md shows, so that each works as written.

Reads README.md's ```sh, ```bash and ```console blocks (in a console block, the lines after
"$ " are commands and the lines up to the next "$ " their output) and runs each command, in
README order, in one temporary folder laid out as a checkout: build/bin is the build's, and
examples/, scripts/, bench/ and tests/lit/ are copies of the tree's. Commands that depend on
earlier ones (a checkpoint that `kiln train` writes, then `kiln translate` on it) find their
files there.

Every command is in one of three tables below, or the test fails (so a command added to the
README cannot go untested):
  AS_WRITTEN  runs exactly as the README writes it;
  REWRITES    the README's command would take minutes (a long training, a whole split, the
              whole suite): the same subcommand and flags on a short budget run instead;
  SKIPS       cannot run here (it installs packages, builds another tree, or is this test's
              caller), with the reason, which is printed.
Each run must exit with status 0; where the README shows output (a console block, the counts
in a comment), EXPECT gives what the output must contain. A block that is one script (a
heredoc, a `cd` that the next lines rely on) runs whole, by its section's title (BLOCKS).

Usage: check_readme_commands.py --source ROOT --bin BUILD/bin --cache DIR [--keep DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Commands that run exactly as written.
AS_WRITTEN = {
    "build/bin/kiln-opt model.kir --emit-spirv",
    "build/bin/kiln-opt model.kir --run --backend vulkan",
    "build/bin/kiln emit --target spirv --stage forward -o out/spv",
    "build/bin/kiln emit --target llvm --stage decode-step -o out/step",
    "build/bin/kiln emit --target kernels --stage forward -o out/fwd",
    "build/bin/kiln params --config base",
    "build/bin/kiln dump --config tiny --stage forward",
    "build/bin/kiln dump --config tiny --stage fused --format svg -o tiny.svg",
    "build/bin/kiln dump --config tiny --elide-constants-larger-than 0 > tiny.kir",
    "build/bin/kiln init --config tiny --seed 0 -o w.safetensors",
    "build/bin/kiln dump --config tiny --stage loss --elide-constants-larger-than 0 > loss.kir",
    "build/bin/kiln-opt loss.kir --pipeline=infer --pass-statistics",
    "build/bin/kiln-opt loss.kir --pipeline=train",
    "build/bin/kiln-opt loss.kir --fuse-softmax --fuse-attention --remarks=missed",
    "build/bin/kiln dump --config tiny --stage fused",
    "build/bin/kiln data",
    "build/bin/kiln data --split test > test.tsv",
    "build/bin/kiln tokenizer train --vocab 8000 -o ding.model",
    'echo "The house is small." | build/bin/kiln tokenizer encode --tokenizer ding.model --pieces',
    'echo "The house is small." | build/bin/kiln tokenizer encode --tokenizer ding.model'
    " | build/bin/kiln tokenizer decode --tokenizer ding.model",
    "build/bin/kiln data --split test | cut -f1 | head > test.en",
    "build/bin/kiln translate --ckpt tiny.ding-en-de.safetensors --input test.en",
    "build/bin/kiln run --config tiny --weights w.safetensors --inputs batch.safetensors",
    "build/bin/kiln bench --config tiny --mode train --profile",
    "build/bin/kiln bench --config tiny --threads 2 --profile",
    "build/bin/kiln-opt model.kir --run --backend cpu",
    "build/bin/kiln dump --config tiny --stage train --level kernels",
    "build/bin/kiln dump --config tiny --stage train --level memory",
    "build/bin/kiln-opt model.kir --print-kernels",
    "build/bin/kiln-opt model.kir --print-memory-plan",
    "build/bin/kiln-opt model.kir --fuse-elementwise --pass-statistics",
    "build/bin/kiln-opt model.kir --run --backend cpu --pass-statistics",
    "build/bin/kiln-opt --list-passes",
    "build/bin/kiln-opt model.kir --canonicalize --cse --dce",
    "build/bin/kiln-opt model.kir --passes=canonicalize,cse,dce -o out.kir",
    "build/bin/kiln-opt model.kir --cse --print-ir-after-all --timing --pass-statistics",
    "build/bin/kiln-opt tests.kir --split-input-file --verify-diagnostics",
    "build/bin/kiln-opt model.kir --run --seed 3",
    "build/bin/kiln-opt model.kir --run --print-full",
    "scripts/fuzz.sh -h",
    "build/bin/kiln bundle --config tiny --stage train -o out/bundle --example-inputs"
    " train-in.safetensors --expected train-cpu.safetensors",
    "build/bin/kiln-run out/bundle --inputs train-in.safetensors --outputs train-out.safetensors --device"
    " vulkan",
    "build/bin/kiln-run out/bundle --inputs train-in.safetensors --expected train-cpu.safetensors --rtol"
    " 1e-5 --atol 1e-5 --scaled --device vulkan",
}

# The README's command -> what runs instead: the same subcommand and flags on a short budget,
# or each spelling of an optional part ("[--grads]") in turn.
REWRITES = {
    # The train step's PTX (580 kernels, 10 to 30 s): one layer's.
    "build/bin/kiln emit --target ptx --config tiny --stage train -o out/train": [
        "build/bin/kiln emit --target ptx --config tiny --stage train --layers 1 -o out/train"
    ],
    "build/bin/kiln emit --target ptx --stage train --single-module -o out/one": [
        "build/bin/kiln emit --target ptx --stage train --single-module --layers 1 -o out/one"
    ],
    # 20 steps on lavapipe: 2.
    "build/bin/kiln train --config tiny --steps 20 --backend vulkan": [
        "build/bin/kiln train --config tiny --steps 2 --backend vulkan"
    ],
    "build/bin/kiln run --config tiny --weights w.safetensors --inputs batch.safetensors"
    " -o out.safetensors [--grads]": [
        "build/bin/kiln run --config tiny --weights w.safetensors --inputs batch.safetensors"
        " -o out.safetensors",
        "build/bin/kiln run --config tiny --weights w.safetensors --inputs batch.safetensors"
        " -o out.safetensors --grads",
    ],
    # Data-parallel training: 3 steps; Open MPI wants its root permission and, on few cores,
    # --oversubscribe.
    "mpirun -np 2 build/bin/kiln train --config tiny --task copy --steps 300 --data-parallel"
    " --threads 1": [
        "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe"
        " build/bin/kiln train --config tiny --task copy --steps 3 --data-parallel --threads 1"
    ],
    # 300 and 600 steps: 3 and 6 (the resume still continues the saved run).
    "build/bin/kiln train --config tiny --task copy --save ckpt.safetensors": [
        "build/bin/kiln train --config tiny --task copy --save ckpt.safetensors --steps 3",
    ],
    "build/bin/kiln train --config tiny --task copy --steps 600 --resume ckpt.safetensors": [
        "build/bin/kiln train --config tiny --task copy --steps 6 --resume ckpt.safetensors",
    ],
    "build/bin/kiln run ... --passes none": [
        "build/bin/kiln run --config tiny --weights w.safetensors --inputs batch.safetensors"
        " --passes none",
    ],
    # Minutes of training: 3 steps of small batches of pairs of at most 16 tokens (fewer
    # shapes to compile), with the tokenizer trained above and no validation.
    "build/bin/kiln train --data ding-en-de --config tiny --steps 4000 --time-budget 15m": [
        "build/bin/kiln train --data ding-en-de --config tiny --steps 3 --time-budget 15m"
        " --max-length 16 --batch-tokens 512 --tokenizer ding.model --valid-every 0",
    ],
    # The same, validating at step 2 with the BLEU of 4 pairs, so that --keep-best keeps it.
    "build/bin/kiln train --data ding-en-de --config tiny --vocab 4000 --time-budget 15m"
    " --valid-every 1000 --keep-best --save tiny.ding.safetensors": [
        "build/bin/kiln train --data ding-en-de --config tiny --vocab 4000 --time-budget 15m"
        " --valid-every 2 --keep-best --save tiny.ding.safetensors --steps 2 --max-length 16"
        " --batch-tokens 512 --valid-bleu 4",
    ],
    # The whole test split, beam 4: translations of at most 4 tokens.
    "build/bin/kiln eval --ckpt tiny.ding.best.safetensors --split test": [
        "build/bin/kiln eval --ckpt tiny.ding.best.safetensors --split test --max-length 4",
    ],
    "build/bin/kiln train --config tiny --task copy --steps 300 --lr 1e-3 --threads 2": [
        "build/bin/kiln train --config tiny --task copy --steps 3 --lr 1e-3 --threads 2",
    ],
    # Three configs, two rounds, PyTorch beside kiln: one config, one round.
    "bench/compare.sh --configs tiny,small,base --rounds 2 --threads 2": [
        "bench/compare.sh --configs tiny --rounds 1 --threads 2",
    ],
    "bench/compare.sh --configs small,base --rounds 2 --precision bf16": [
        "bench/compare.sh --configs tiny --rounds 1 --precision bf16",
    ],
    "build/bin/kiln-opt model.kir --run --inputs in.safetensors --outputs out.safetensors"
    " [--f64]": [
        "build/bin/kiln-opt model.kir --run --inputs in.safetensors --outputs out.safetensors",
        "build/bin/kiln-opt model.kir --run --inputs in.safetensors --outputs out.safetensors"
        " --f64",
    ],
    "build/bin/kiln-opt loss.kir --autodiff [--wrt=a,b] [--of=loss]": [
        "build/bin/kiln-opt loss.kir --autodiff",
        "build/bin/kiln-opt loss.kir --autodiff --wrt=src_embed.weight,tgt_embed.weight --of=loss",
    ],
    "build/bin/kiln-opt loss.kir --autodiff --optimizer"
    " [--optimizer=adamw --lr=1e-3 --clip-norm=1]": [
        "build/bin/kiln-opt loss.kir --autodiff --optimizer",
        "build/bin/kiln-opt loss.kir --autodiff --optimizer --optimizer=adamw --lr=1e-3"
        " --clip-norm=1",
    ],
    # The whole suite takes minutes: one file of it, as the README says a file may be given.
    "python3 /usr/lib/llvm-19/build/utils/lit/lit.py -v --param kiln_bin_dir=build/bin"
    " tests/lit": [
        "python3 /usr/lib/llvm-19/build/utils/lit/lit.py -v --param kiln_bin_dir=build/bin"
        " tests/lit/passes/canonicalize.kir",
    ],
}

# --backend cuda without a driver: the one line of error and status 1, or, where a driver is,
# two steps of the training.
REWRITES["build/bin/kiln train --config tiny --steps 20 --backend cuda"] = [
    "if python3 -c 'import ctypes; ctypes.CDLL(\"libcuda.so.1\")' 2>/dev/null; then"
    " build/bin/kiln train --config tiny --steps 2 --backend cuda; else"
    " out=$(build/bin/kiln train --config tiny --steps 2 --backend cuda 2>&1);"
    " test $? -eq 1 && test \"$(echo \"$out\" | wc -l)\" -eq 1 &&"
    " echo \"$out\" | grep -q '^kiln: error: --backend cuda: no CUDA driver'; fi"
]
# gpu-check.sh builds the checkout, which the folder of this test is not: it prepares the folder
# from the build's binaries; run.sh then runs on lavapipe where there is no CUDA driver.
REWRITES["scripts/gpu-check.sh -o gpu-check"] = ["scripts/gpu-check.sh --no-build -o gpu-check"]
REWRITES["gpu-check/run.sh --device cuda"] = [
    "if python3 -c 'import ctypes; ctypes.CDLL(\"libcuda.so.1\")' 2>/dev/null; then"
    " gpu-check/run.sh --device cuda; else gpu-check/run.sh --device vulkan --no-timings; fi"
]

# Commands that cannot run here, with the reason.
SKIPS = {
    "ptxas -arch=sm_90 out/one/module.ptx -o train.cubin": "needs the CUDA toolkit's ptxas, "
    "which install-deps cannot install; tests/lit/gpu/ptxas_stages.test runs it where it exists",
    "cmake --install build --prefix ~/.local/kiln": "installs into the home folder; "
    "scripts/test.sh installs into a temporary prefix and builds examples/mlp against it "
    "(scripts/test-package.sh)",
    "cmake -S examples/mlp -B build-mlp -G Ninja -DCMAKE_PREFIX_PATH=~/.local/kiln": "needs the "
    "installed package; scripts/test-package.sh configures examples/mlp the same way",
    "cmake --build build-mlp && build-mlp/mlp": "needs the installed package; "
    "scripts/test-package.sh builds and runs examples/mlp the same way",
    "cmake -S examples/gpt -B build-gpt -G Ninja -DCMAKE_PREFIX_PATH=~/.local/kiln": "needs the "
    "installed package; scripts/test-package.sh configures examples/gpt the same way",
    "cmake --build build-gpt && build-gpt/gpt --steps 600 --length 64 --width 64 --layers 2":
    "needs the installed package; scripts/test-package.sh builds examples/gpt the same way and "
    "runs it with smaller settings",
    "scripts/demo.sh": "installs packages and builds the checkout (scripts/build.sh runs "
    "install-deps.sh and cmake); the kiln commands it shows are the README's, run here",
    "scripts/test.sh": "runs the whole suite, this test included (recursion)",
    "mpirun -np 4 --hostfile hosts build/bin/kiln train --data ding-en-de --data-parallel"
    " --threads 8": "needs the machines of a hostfile; the ctest data_parallel runs mpirun -np 2"
    " on a corpus and on the copy task",
    "bench/setup.sh": "installs PyTorch and JAX from PyPI into bench/.venv (about 6 GB)",
    "scripts/fuzz.sh 600": "builds the fuzz targets with clang-19 and sanitizers in "
    "build-fuzz/ (minutes of compiling); ctest replays every target's seeds (fuzz_*)",
    "scripts/fuzz.sh 60 parser tsv": "builds the fuzz targets with clang-19 and sanitizers in "
    "build-fuzz/ (minutes of compiling); ctest replays every target's seeds (fuzz_*)",
    "cmake --build build --target kiln_python": "builds in the checkout; ctest's python_* tests "
    "import the module that the build made",
    "PYTHONPATH=~/.local/kiln/lib/python3/dist-packages /usr/bin/python3 example.py": "needs the "
    "installed package; scripts/test-package.sh imports the module from its temporary prefix "
    "and runs a program with it",
}

# Commands that import the kiln Python module from build/python, which a build with
# KILN_SANITIZE does not make: there they are skipped, saying so.
PYTHON_COMMANDS = {
    "PYTHONPATH=build/python /usr/bin/python3 -c 'import kiln; print(kiln.__version__)'",
}
AS_WRITTEN |= PYTHON_COMMANDS

# Blocks that are one script, run whole in a folder of their own, by section title.
BLOCKS = {"Writing pass tests in your own directory"}

# What a command's output must contain (regular expressions), where the README shows it.
EXPECT = {
    "build/bin/kiln params --config base": [r"(?m)^\d+ parameters in \d+ tensors \(config base\)$"],
    # "# ding-en-de: train 14523, valid 1841, test 1879 pairs"
    "build/bin/kiln data": [r"ding-en-de", r"train\s+14523 pairs", r"valid\s+1841 pairs",
                            r"test\s+1879 pairs"],
    'echo "The house is small." | build/bin/kiln tokenizer encode --tokenizer ding.model'
    " --pieces": [r"(?m)^\u2581The \u2581house "],
    'echo "The house is small." | build/bin/kiln tokenizer encode --tokenizer ding.model'
    " | build/bin/kiln tokenizer decode --tokenizer ding.model": [r"(?m)^The house is small\.$"],
    "build/bin/kiln eval --ckpt tiny.ding.best.safetensors --split test": [
        r"beam 4", r"(?m)^BLEU = [0-9.]+ ", r"(?m)^loss [0-9.]+ \(cross-entropy per reference"],
    # "# tokens/s per log line"
    "build/bin/kiln train --config tiny --task copy --steps 300 --lr 1e-3 --threads 2": [
        r"(?m)^step +3 .* tok/s"],
    # "# ms/step, tokens/s, GFLOP/s, memory"
    "build/bin/kiln bench --config tiny --mode train --profile": [
        r"(?m)^step: .* ms median", r"tokens/s", r"GFLOP/s", r"(?m)^memory: "],
    "build/bin/kiln-opt --list-passes": [r"canonicalize", r"fuse-attention"],
    "build/bin/kiln-opt model.kir --run --seed 3": [r'(?m)^"probs" = f32\[2,3\]$'],
    # '"y" = f32[2,2] [[2, -4], [6, -8]]'
    "build/bin/kiln-opt model.kir --run --print-full": [r'(?m)^"probs" = f32\[2,3\] \[\[.*\]\]$'],
    "PYTHONPATH=build/python /usr/bin/python3 -c 'import kiln; print(kiln.__version__)'": [
        r"(?m)^\d+\.\d+$"],
}

# Commands that print one line for each line of a file ("one line out for each line in").
SAME_LINES = {
    "build/bin/kiln translate --ckpt tiny.ding-en-de.safetensors --input test.en": "test.en",
}

# Sections whose commands read Ding's dictionary, or files made from it.
DING_SECTIONS = {"Data and tokenizer", "Training on a corpus", "Translating",
                 "Translation quality in 15 minutes"}
DING = "/usr/share/trans/de-en"
# Commands that run the peers, which need PyTorch (Debian's python3-torch).
PEER_COMMANDS = {c for c in REWRITES if c.startswith("bench/compare.sh")}

# Files the README's commands take as the reader's own: a model, a test file, inputs.
MODEL_INPUTS_KIR = """graph @inputs {
  %x = constant() {shape = [2, 4], value = [1, -2, 3, -4, 5, -6, 7, -8]} : f32[2,4]
  %w = constant() {shape = [3, 4], value = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]} : f32[3,4]
  %b = constant() {shape = [3], value = [0.5, -0.5, 0]} : f32[3]
  output "x" = %x
  output "w" = %w
  output "b" = %b
}
"""


def readme_commands(readme):
    """(section, command, shown output lines) for each command of README's shell blocks, and
    (section, script) for each block of BLOCKS."""
    lines = open(readme, encoding="utf-8").read().split("\n")
    commands, blocks, section, i = [], [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        fence = re.match(r"^\s*```(sh|bash|console)\s*$", line)
        i += 1
        if not fence:
            continue
        body = []
        while lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if section in BLOCKS:
            blocks.append((section, "\n".join(body) + "\n"))
            continue
        if fence.group(1) == "console":
            commands += console_commands(section, body)
        else:
            commands += [(section, c, []) for c in shell_commands(body)]
    return commands, blocks


def strip_comment(line):
    """The line without a trailing `# comment` (a # after a space, outside quotes)."""
    quote = None
    for k, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k].rstrip()
    return line.rstrip()


def shell_commands(body):
    """The commands of a shell block: comments dropped, continued lines (a trailing \\ or |)
    joined, spaces between words collapsed."""
    commands, current = [], ""
    for raw in body:
        line = strip_comment(raw)
        if not line.strip():
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
        elif line.endswith("|"):
            current += line.strip() + " "
        else:
            commands.append(" ".join((current + line.strip()).split()))
            current = ""
    if current:
        commands.append(" ".join(current.split()))
    return commands


def console_commands(section, body):
    """The "$ " commands of a console block, each with the output lines shown after it."""
    out = []
    for line in body:
        if line.startswith("$ "):
            out.append((section, " ".join(strip_comment(line[2:]).split()), []))
        elif out:
            out[-1][2].append(line)
    return out


def shape_of(line):
    """A pattern for a shown output line: its first words, up to the first number; a line that
    starts with a number, that number and the word after it."""
    text = line.strip()
    if not text or text == "...":
        return None
    words = re.match(r"^[^0-9]*", text).group(0).rstrip()
    if words:
        return re.compile(r"^\s*" + re.escape(words))
    lead = re.match(r"^([0-9.]+)\s+(\S+)", text)
    return re.compile(r"^\s*[0-9.]+\s+" + re.escape(lead.group(2))) if lead else None


def check_shapes(output, shown):
    """The shown lines whose shape no output line has, in order."""
    missing, lines, at = [], output.split("\n"), 0
    for line in shown:
        shape = shape_of(line)
        if shape is None:
            continue
        k = next((k for k in range(at, len(lines)) if shape.search(lines[k])), None)
        if k is None:
            missing.append(line.strip())
        else:
            at = k + 1
    return missing


def prepare(work, source, bin_dir):
    """Lays out `work` as a checkout: the build's binaries and copies of the folders the
    commands read, and the files the README takes as the reader's own."""
    os.makedirs(os.path.join(work, "build"))
    os.symlink(os.path.abspath(bin_dir), os.path.join(work, "build", "bin"))
    # The Python package, where the build made one (python/; none under KILN_SANITIZE).
    python_dir = os.path.join(os.path.dirname(os.path.abspath(bin_dir)), "python")
    if os.path.isdir(python_dir):
        os.symlink(python_dir, os.path.join(work, "build", "python"))
    for folder in ("examples", "scripts", "bench"):
        shutil.copytree(os.path.join(source, folder), os.path.join(work, folder),
                        ignore=shutil.ignore_patterns(".venv", "results.jsonl"))
    shutil.copytree(os.path.join(source, "tests", "lit"), os.path.join(work, "tests", "lit"),
                    ignore=shutil.ignore_patterns("Output"))
    shutil.copy(os.path.join(source, "examples", "mlp_block.kir"), os.path.join(work, "model.kir"))
    shutil.copy(os.path.join(source, "tests", "lit", "tools", "verify_diagnostics.kir"),
                os.path.join(work, "tests.kir"))
    with open(os.path.join(work, "model_inputs.kir"), "w") as f:
        f.write(MODEL_INPUTS_KIR)
    kiln_opt = os.path.join(os.path.abspath(bin_dir), "kiln-opt")
    # `examples/copy_batch.kir` shows how to write kiln run's batch, as the README says.
    for kir, out in (("examples/copy_batch.kir", "batch.safetensors"),
                     ("model_inputs.kir", "in.safetensors")):
        subprocess.run([kiln_opt, kir, "--run", "--outputs", out], cwd=work, check=True)


def run(command, work, env, timeout=300):
    """(status, output, seconds) of a shell command run in `work`. A pipeline fails when any
    of its commands fails, except one that a later command stopped reading from (as `head`
    does): that one ends by SIGPIPE (status 141), as it would for the reader too."""
    start = time.monotonic()
    marker = "@kiln-readme-pipestatus"
    script = f'{command}\nprintf "\\n{marker} %s\\n" "${{PIPESTATUS[*]}}"\n'
    try:
        r = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        output, _, statuses = r.stdout.rpartition(f"\n{marker} ")
        if r.returncode != 0 or not statuses:
            return r.returncode or "no status", r.stdout, time.monotonic() - start
        codes = [int(c) for c in statuses.split()]
        failed = [c for c in codes[:-1] if c not in (0, 141)] + [c for c in codes[-1:] if c]
        return (failed[0] if failed else 0), output, time.monotonic() - start
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return f"timeout after {timeout} s", out or "", time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="the checkout (README.md, examples/, ...)")
    ap.add_argument("--bin", required=True, help="the build's bin folder")
    ap.add_argument("--cache", required=True, help="XDG_CACHE_HOME for the commands")
    ap.add_argument("--keep", help="work in this folder (emptied first) and keep it")
    args = ap.parse_args()

    commands, blocks = readme_commands(os.path.join(args.source, "README.md"))
    known = AS_WRITTEN | set(REWRITES) | set(SKIPS)
    unknown = [c for _, c, _ in commands if c not in known]
    stale = sorted((known | set(EXPECT) | set(SAME_LINES)) - {c for _, c, _ in commands})
    failures = [f"README command in no table of {__file__}: {c}" for c in unknown]
    failures += [f"a table names a command the README no longer shows: {c}" for c in stale]
    if failures:
        for f in failures:
            print("FAIL", f)
        return 1

    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        work = os.path.abspath(args.keep)
    else:
        work = tempfile.mkdtemp(prefix="kiln-readme-")
    prepare(work, args.source, args.bin)
    env = dict(os.environ, XDG_CACHE_HOME=os.path.abspath(args.cache),
               OMP_WAIT_POLICY="passive", KILN=work)
    have_ding = os.path.exists(DING)
    # The copy of bench/ has no .venv: its compare.sh takes the peers from /usr/bin/python3.
    have_torch = subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                capture_output=True).returncode == 0
    ran = skipped = 0
    for section, command, shown in commands:
        if command in SKIPS:
            print(f"skip  {command}\n      ({SKIPS[command]})")
            skipped += 1
            continue
        if command in PYTHON_COMMANDS and not os.path.isdir(os.path.join(work, "build", "python")):
            print(f"skip  {command}\n      (the build has no Python module: KILN_SANITIZE "
                  "builds none)")
            skipped += 1
            continue
        if command in PEER_COMMANDS and not have_torch:
            print(f"skip  {command}\n      (no PyTorch for the peers: /usr/bin/python3 "
                  "cannot import torch)")
            skipped += 1
            continue
        if section in DING_SECTIONS and not have_ding:
            print(f"skip  {command}\n      (Ding's dictionary is not installed: no {DING})")
            skipped += 1
            continue
        for actual in REWRITES.get(command, [command]):
            status, output, seconds = run(actual, work, env)
            ran += 1
            tag = "" if actual == command else f"  (the README's: {command})"
            problems = [] if status == 0 else [f"exit status {status}"]
            problems += [f"no line like '{line}' in the output, as the README shows"
                         for line in check_shapes(output, shown)]
            problems += [f"no '{p}' in the output" for p in EXPECT.get(command, [])
                         if not re.search(p, output)]
            if command in SAME_LINES:
                with open(os.path.join(work, SAME_LINES[command])) as f:
                    want = len(f.read().splitlines())
                have = len(output.splitlines())
                if have != want or want == 0:
                    problems.append(f"{have} lines out for {want} in {SAME_LINES[command]}")
            if problems:
                tail = "\n".join(output.rstrip().split("\n")[-20:])
                failures.append(f"{actual}{tag}: {'; '.join(problems)}\n{tail}")
                print(f"FAIL  {actual}{tag}: {'; '.join(problems)}\n{tail}")
            else:
                print(f"ok    {seconds:5.1f} s  {actual}{tag}")
            sys.stdout.flush()
    for section, script in blocks:
        folder = tempfile.mkdtemp(dir=work)
        status, output, seconds = run(script, folder, env)
        ran += 1
        if status != 0:
            failures.append(f"the block of '{section}': exit status {status}\n{output}")
            print(f"FAIL  the block of '{section}': exit status {status}\n{output}")
        else:
            print(f"ok    {seconds:5.1f} s  the block of '{section}', whole")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{ran} commands run, {skipped} skipped, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
