"""Training the tiny Transformer from Python equals `kiln train`: the same copy-task batches,
initial weights, dropout keys and training step give the same loss at every step and the same
weights and Adam moments at the end. kiln train runs with its defaults for the synthetic task
(Adam at a constant rate of 1e-3, dropout 0.1), which the Python side spells out.

`kiln train` runs as a subprocess (KILN_BIN, or the checkout's build/bin/kiln); its losses are
read from the lines it prints with --log-every 1, its final state from its --save file."""

import os
import pathlib
import re
import subprocess
import tempfile
import unittest

import numpy as np

import kiln

ROOT = pathlib.Path(__file__).resolve().parents[2]
KILN = os.environ.get("KILN_BIN", str(ROOT / "build" / "bin" / "kiln"))

SEED, STEPS, BATCH, SRC_LEN, TGT_LEN = 3, 8, 4, 6, 6
LR, DROPOUT = 1e-3, 0.1  # kiln train's defaults on a synthetic task


def kiln_train(checkpoint):
    """Runs kiln train on the copy task; returns the printed loss of each step."""
    command = [KILN, "train", "--config", "tiny", "--task", "copy", "--seed", str(SEED),
               "--steps", str(STEPS), "--batch", str(BATCH), "--src-len", str(SRC_LEN),
               "--tgt-len", str(TGT_LEN), "--threads", "2",
               "--log-every", "1", "--save", checkpoint]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{run.stdout}{run.stderr}")
    losses = {}
    for line in run.stdout.splitlines():
        m = re.match(r"step\s+(\d+)\s+loss (\S+)", line)
        if m:
            losses[int(m.group(1))] = m.group(2)
    return [losses[step] for step in range(1, STEPS + 1)]


def python_train():
    """The same run from Python: returns the losses (as kiln train prints them) and the final
    parameters and optimizer state."""
    cfg = kiln.config("tiny")
    model = kiln.train_step(cfg, batch=BATCH, src_len=SRC_LEN, tgt_len=TGT_LEN, lr=LR,
                            dropout=DROPOUT)
    program = kiln.compile(model.graph, backend="cpu", threads=2)
    state = model.initial_parameters(seed=SEED)
    state.update({i.name: i.zeros() for i in program.inputs if i.kind == "state"})
    # kiln train draws the copy task's tokens from the first 24 ids, after the special ones.
    specials = (cfg.pad_id, cfg.bos_id, cfg.eos_id, cfg.unk_id)
    task = kiln.SyntheticTask("copy", vocab=min(24, cfg.vocab), batch=BATCH, src_len=SRC_LEN,
                              tgt_len=TGT_LEN, seed=SEED, first_token=max(specials) + 1,
                              pad=cfg.pad_id, eos=cfg.eos_id)
    losses = []
    for step in range(1, STEPS + 1):
        src, tgt = task.batch(step)
        out = program.run({**state, "src": src, "tgt": tgt, "step": np.int64(step),
                           "seed": kiln.dropout_key(SEED, step)})
        losses.append(f"{float(out['loss']):.6f}")
        state = {name: out[name] for name in state}
    return losses, state


class TrainingTest(unittest.TestCase):
    def test_python_training_equals_kiln_train(self):
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = os.path.join(tmp, "run.safetensors")
            want = kiln_train(checkpoint)
            saved = kiln.read_safetensors(checkpoint)
            self.assertEqual(kiln.read_metadata(checkpoint)["kiln.step"], str(STEPS))
        losses, state = python_train()
        self.assertEqual(losses, want)
        self.assertLess(float(losses[-1]), float(losses[0]))
        self.assertEqual(sorted(state), sorted(saved))
        self.assertTrue(any(name.startswith("adam.m.") for name in state))
        for name, value in state.items():
            self.assertEqual(value.dtype, saved[name].dtype, name)
            np.testing.assert_array_equal(value, saved[name], err_msg=name)


if __name__ == "__main__":
    unittest.main()
