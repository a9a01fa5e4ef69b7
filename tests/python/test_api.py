"""The kiln Python module's API: text IR in and out, passes, compiling and running with numpy
arrays, binding errors, safetensors and checkpoints, bf16, the Transformer's programs.

Run by ctest (python_api) with the built package on PYTHONPATH."""

import doctest
import os
import pathlib
import tempfile
import unittest

import numpy as np

import kiln

ROOT = pathlib.Path(__file__).resolve().parents[2]
MLP_BLOCK = (ROOT / "examples" / "mlp_block.kir").read_text()

AFFINE = """graph @affine {
  input data %x: f32[2,3]
  input param %w: f32[4,3]
  %0 = matmul(%x, %w) {transpose_b = true} : f32[2,4]
  output "y" = %0
}
"""


def numpy_mlp_block(x, w, b):
    """What examples/mlp_block.kir computes: softmax(relu(x @ w.T + b)), in float64."""
    h = np.maximum(x.astype(np.float64) @ w.astype(np.float64).T + b, 0.0)
    e = np.exp(h - h.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mlp_block_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((2, 4)).astype(np.float32),
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(3).astype(np.float32),
    }


class TextTest(unittest.TestCase):
    def test_print_parses_back_to_the_same_text(self):
        graph = kiln.parse(MLP_BLOCK, "mlp_block.kir")
        text = str(graph)
        self.assertTrue(text.startswith("kiln.format 1\ngraph @mlp_block {"))
        self.assertEqual(str(kiln.parse(text)), text)
        self.assertEqual(graph.name, "mlp_block")
        self.assertEqual(len(graph), 13)

    def test_inputs_and_outputs(self):
        graph = kiln.parse(MLP_BLOCK)
        self.assertEqual([(i.name, i.kind, i.dtype, i.shape) for i in graph.inputs],
                         [("x", "data", "f32", (2, 4)), ("w", "param", "f32", (3, 4)),
                          ("b", "param", "f32", (3,))])
        self.assertEqual([(o.name, o.dtype, o.shape, o.updates) for o in graph.outputs],
                         [("probs", "f32", (2, 3), None)])
        self.assertIsNone(graph.inputs[0].role)
        zeros = graph.inputs[1].zeros()
        self.assertEqual((zeros.dtype, zeros.shape, zeros.any()), (np.float32, (3, 4), False))

    def test_malformed_ir_is_a_kiln_error_with_its_location(self):
        text = "graph @g {\n  input data %x: f32[2]\n  %0 = frobnicate(%x) : f32[2]\n}\n"
        with self.assertRaises(kiln.Error) as caught:
            kiln.parse(text, "bad.kir")
        e = caught.exception
        self.assertEqual((e.file, e.line), ("bad.kir", 3))
        self.assertGreater(e.column, 0)
        self.assertEqual(e.location, f"bad.kir:3:{e.column}")
        self.assertIn("frobnicate", e.message)
        self.assertEqual(str(e), f"bad.kir:3:{e.column}: error: {e.message}")

    def test_an_error_without_a_location_is_its_message(self):
        with self.assertRaises(kiln.Error) as caught:
            kiln.config("huge")
        e = caught.exception
        self.assertEqual((e.location, e.file, e.line, e.column), (None, None, 0, 0))
        self.assertEqual(str(e), e.message)
        self.assertTrue(e.message.startswith("unknown config 'huge'"))
        self.assertIsInstance(e, Exception)
        self.assertEqual(type(e).__module__, "kiln")

    def test_a_type_that_inference_refutes_is_located(self):
        text = "graph @g {\n  input data %x: f32[2]\n  %0 = neg(%x) : f32[3]\n}\n"
        with self.assertRaises(kiln.Error) as caught:
            kiln.parse(text, "types.kir")
        self.assertEqual(caught.exception.line, 3)

    def test_text_options(self):
        model = kiln.transformer("tiny", "forward", batch=1, src_len=4, tgt_len=4)
        self.assertIn('loc("', model.graph.text())
        self.assertNotIn("loc(", model.graph.text(locations="none"))
        self.assertIn("elided<", model.graph.text(elide_constants_larger_than=16))
        with self.assertRaises(kiln.Error):
            model.graph.text(locations="some")


class DocTest(unittest.TestCase):
    def test_the_package_docstring_example_runs(self):
        result = doctest.testmod(kiln)
        self.assertGreater(result.attempted, 0)
        self.assertEqual(result.failed, 0)


class PassTest(unittest.TestCase):
    def test_pipeline_fuses_the_softmax_and_keeps_the_numbers(self):
        graph = kiln.parse(MLP_BLOCK)
        fused = graph.copy()
        kiln.run_passes(fused, pipeline="infer")
        self.assertEqual(fused.op_counts().get("softmax"), 1)
        self.assertNotIn("exp", fused.op_counts())
        self.assertIn("exp", graph.op_counts())  # the copy is independent
        inputs = mlp_block_inputs()
        want = numpy_mlp_block(inputs["x"], inputs["w"], inputs["b"])
        for g in (graph, fused):
            got = kiln.compile(g, "reference").run(inputs)["probs"]
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    def test_passes_by_list_and_by_string(self):
        by_list, by_text = kiln.parse(MLP_BLOCK), kiln.parse(MLP_BLOCK)
        kiln.run_passes(by_list, ["canonicalize", "cse", "dce"])
        kiln.run_passes(by_text, "canonicalize,cse,dce")
        self.assertEqual(str(by_list), str(by_text))
        self.assertLess(len(by_list), 13)
        self.assertNotIn("tanh", by_list.op_counts())

    def test_pass_options(self):
        graph = kiln.parse(MLP_BLOCK.replace('output "probs" = %9', """%s = reduce_sum(%9) {axes = [0, 1]} : f32[]
  output "probs" = %9
  output "total" = %s"""))
        kiln.run_passes(graph, "autodiff", options={"of": "total", "wrt": "b"})
        self.assertEqual([o.name for o in graph.outputs], ["probs", "total", "grad.b"])
        with self.assertRaisesRegex(kiln.Error, 'autodiff: output "probs" is f32\\[2,3\\]'):
            kiln.run_passes(graph, "autodiff", options={"of": "probs"})

    def test_names(self):
        self.assertIn("fuse-attention", kiln.pass_names())
        self.assertEqual(kiln.pipeline_names(), ["infer", "train"])
        self.assertEqual(kiln.pipeline_passes("infer")[0], "canonicalize")
        self.assertIn("cpu", kiln.backend_names())
        self.assertIn("tiny", kiln.config_names())

    def test_unknown_pass_and_pipeline(self):
        graph = kiln.parse(MLP_BLOCK)
        with self.assertRaisesRegex(kiln.Error, "no-such-pass"):
            kiln.run_passes(graph, "cse,no-such-pass")
        with self.assertRaises(kiln.Error):
            kiln.run_passes(graph, pipeline="nope")
        with self.assertRaises(kiln.Error):
            kiln.run_passes(graph)
        self.assertEqual(str(graph), str(kiln.parse(MLP_BLOCK)))


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.program = kiln.compile(kiln.parse(AFFINE), backend="cpu", threads=1)

    def affine_inputs(self):
        rng = np.random.default_rng(1)
        return {"x": rng.standard_normal((2, 3)).astype(np.float32),
                "w": rng.standard_normal((4, 3)).astype(np.float32)}

    def test_cpu_matches_numpy(self):
        inputs = self.affine_inputs()
        out = self.program.run(inputs)
        self.assertEqual(list(out), ["y"])
        self.assertEqual((out["y"].dtype, out["y"].shape), (np.float32, (2, 4)))
        want = inputs["x"].astype(np.float64) @ inputs["w"].astype(np.float64).T
        np.testing.assert_allclose(out["y"], want, rtol=1e-5, atol=1e-6)
        self.assertEqual(self.program.backend, "cpu")
        self.assertEqual([i.name for i in self.program.inputs], ["x", "w"])

    def test_non_contiguous_inputs_are_read_by_value(self):
        inputs = self.affine_inputs()
        strided = {"x": np.asfortranarray(inputs["x"]), "w": inputs["w"].T.copy().T}
        np.testing.assert_array_equal(self.program(strided)["y"], self.program(inputs)["y"])

    def test_wrong_name(self):
        inputs = self.affine_inputs()
        inputs["X"] = inputs.pop("x")
        with self.assertRaises(kiln.Error) as caught:
            self.program.run(inputs)
        self.assertIn("'x' (f32[2,3])", caught.exception.message)
        self.assertIn("'X'", caught.exception.message)

    def test_a_name_that_is_no_input(self):
        inputs = self.affine_inputs()
        inputs["z"] = np.zeros(1, np.float32)
        with self.assertRaisesRegex(kiln.Error, r"bound, but not inputs: 'z'; the program's "
                                                r"inputs: 'x' \(f32\[2,3\]\), 'w'"):
            self.program.run(inputs)

    def test_wrong_dtype(self):
        inputs = self.affine_inputs()
        inputs["x"] = inputs["x"].astype(np.float64)
        with self.assertRaisesRegex(kiln.Error, r"input 'x' expects f32\[2,3\], found f64\[2,3\]"):
            self.program.run(inputs)

    def test_wrong_shape(self):
        inputs = self.affine_inputs()
        inputs["w"] = np.zeros((3, 3), np.float32)
        with self.assertRaisesRegex(kiln.Error, r"input 'w' expects f32\[4,3\], found f32\[3,3\]"):
            self.program.run(inputs)

    def test_dtype_without_a_kiln_dtype(self):
        inputs = self.affine_inputs()
        inputs["x"] = inputs["x"].astype(np.float16)
        with self.assertRaisesRegex(kiln.Error, "input 'x': numpy dtype float16 has no kiln dtype"):
            self.program.run(inputs)
        inputs["x"] = object()
        with self.assertRaisesRegex(kiln.Error, "input 'x'"):
            self.program.run(inputs)

    def test_unknown_backend_and_options(self):
        graph = kiln.parse(AFFINE)
        with self.assertRaisesRegex(kiln.Error, "reference"):
            kiln.compile(graph, backend="tpu")
        with self.assertRaises(kiln.Error):
            kiln.compile(graph, threads=-1)
        with self.assertRaises(kiln.Error):
            kiln.compile(graph, cpu_kernels="fast")

    def test_outputs_that_update_inputs(self):
        graph = kiln.parse("""graph @count {
  input data %d: i64[]
  input state %n: i64[]
  %0 = add(%n, %d) : i64[]
  output "n" = %0 updates %n
}""")
        program = kiln.compile(graph, "cpu")
        self.assertEqual(program.outputs[0].updates, "n")
        n = np.array(5, np.int64)
        out = program.run({"d": 2, "n": n})
        self.assertEqual((int(out["n"]), int(n)), (7, 5))


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "t.safetensors")

    def tearDown(self):
        self.dir.cleanup()

    def test_safetensors_round_trip(self):
        tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                   "b": np.array([1, -2], np.int64), "c": np.array([True, False]),
                   "d": np.float64(2.5), "e": kiln.to_bf16(np.array([1.5], np.float32))}
        kiln.write_safetensors(self.path, tensors, {"note": "hi"})
        back = kiln.read_safetensors(self.path)
        self.assertEqual(sorted(back), sorted(tensors))
        for name, value in tensors.items():
            self.assertEqual(back[name].dtype, np.asarray(value).dtype, name)
            np.testing.assert_array_equal(back[name], value)
        self.assertEqual(kiln.read_metadata(self.path), {"note": "hi"})

    def test_checkpoint_checked_against_a_program(self):
        graph = kiln.parse(MLP_BLOCK)
        kiln.save_checkpoint(self.path, {"w": np.ones((3, 4), np.float32),
                                         "b": np.zeros(3, np.float32)}, step=3)
        meta = kiln.read_metadata(self.path)
        self.assertEqual((meta["kiln.step"], meta["kiln.format"]), ("3", "1"))
        self.assertEqual(meta["kiln.version"], kiln.__version__)
        loaded = kiln.load_checkpoint(self.path, graph.inputs)
        self.assertEqual(sorted(loaded), ["b", "w"])
        kiln.save_checkpoint(self.path, {"w": np.ones((4, 4), np.float32)})
        with self.assertRaises(kiln.Error) as caught:
            kiln.load_checkpoint(self.path, graph.inputs)
        self.assertEqual(caught.exception.file, self.path)
        self.assertIn("tensor 'w' has shape [4,4], expected [3,4]", caught.exception.message)
        self.assertIn("missing tensor 'b' (f32[3])", caught.exception.message)

    def test_a_checkpoint_with_a_nan_is_not_saved(self):
        with self.assertRaisesRegex(kiln.Error, "not saved"):
            kiln.save_checkpoint(self.path, {"w": np.array([np.nan], np.float32)}, step=1)
        self.assertFalse(os.path.exists(self.path))

    def test_corrupt_and_missing_files(self):
        pathlib.Path(self.path).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
        with self.assertRaises(kiln.Error) as caught:
            kiln.read_safetensors(self.path)
        self.assertEqual(caught.exception.file, self.path)
        with self.assertRaises(kiln.Error):
            kiln.read_safetensors(os.path.join(self.dir.name, "missing.safetensors"))

    def test_bf16(self):
        values = np.array([1.0, 1.00390625, -3.5, 1e-3], np.float32)
        bits = kiln.to_bf16(values)
        self.assertEqual(bits.dtype, np.uint16)
        # bf16 is the upper half of float32's bits, rounded to nearest even (1 + 2^-8 is a tie).
        self.assertEqual(list(bits[:3]), [0x3F80, 0x3F80, 0xC060])
        np.testing.assert_array_equal(kiln.from_bf16(bits)[:3], [1.0, 1.0, -3.5])
        self.assertAlmostEqual(float(kiln.from_bf16(bits)[3]), 1e-3, delta=1e-5)
        with self.assertRaisesRegex(kiln.Error, "to_bf16"):
            kiln.to_bf16(np.zeros(2, np.float64))


class ModelTest(unittest.TestCase):
    def test_config_overrides_like_kilns_flags(self):
        cfg = kiln.config("tiny", d_model=32, heads=2, layers=1, decoder_layers=3, vocab=50,
                          pre_norm=True, pad_id=5)
        self.assertEqual((cfg.name, cfg.d_model, cfg.heads, cfg.encoder_layers,
                          cfg.decoder_layers, cfg.vocab, cfg.pre_norm, cfg.pad_id),
                         ("tiny", 32, 2, 1, 3, 50, True, 5))
        with self.assertRaisesRegex(kiln.Error, "heads: must be positive, found 0"):
            kiln.config("tiny", heads=0)
        with self.assertRaisesRegex(kiln.Error, "unknown config 'huge'"):
            kiln.config("huge")

    def test_a_config_the_model_refuses(self):
        with self.assertRaisesRegex(kiln.Error, "not divisible by 3 heads"):
            kiln.loss(kiln.config("tiny", heads=3))
        with self.assertRaisesRegex(kiln.Error, "batch: must be positive"):
            kiln.loss("tiny", batch=0)

    def test_programs(self):
        cfg = kiln.config("tiny", d_model=16, heads=2, ffn=32, layers=1, vocab=20)
        sizes = dict(batch=2, src_len=4, tgt_len=4)
        loss = kiln.loss(cfg, **sizes)
        self.assertEqual([o.name for o in loss.graph.outputs], ["loss", "logits"])
        self.assertEqual(loss.graph.op_counts().get("attention"), 3)
        grads = kiln.gradients(cfg, **sizes)
        self.assertIn("grad.generator.weight", [o.name for o in grads.graph.outputs])
        step = kiln.train_step(cfg, **sizes, lr=1e-3)
        roles = {i.role: i.name for i in step.graph.inputs if i.role}
        self.assertEqual(roles, {"source": "src", "target": "tgt", "step": "step"})
        self.assertIn("adam.m.generator.weight", [i.name for i in step.graph.inputs])
        encoder = kiln.encoder(cfg, **sizes)
        self.assertIn("memory_mask", [o.name for o in encoder.graph.outputs])
        decode = kiln.decode_step(cfg, **sizes)
        self.assertIn("position", [i.name for i in decode.graph.inputs])
        forward = kiln.transformer(cfg, "forward", **sizes)
        self.assertNotIn("attention", forward.graph.op_counts())  # as recorded: no fusion
        self.assertEqual(str(kiln.transformer(cfg, "fused", **sizes).graph), str(loss.graph))
        with self.assertRaisesRegex(kiln.Error, "unknown stage"):
            kiln.transformer(cfg, "sideways")
        with self.assertRaisesRegex(kiln.Error, "lr"):
            kiln.train_step(cfg, lr=-1.0)

    def test_decoding_programs_give_the_forward_logits(self):
        # Teacher forcing: the forward program reads BOS, tgt[:, :-1]; the encoder and decode
        # step fed the same tokens one position at a time (KV cache in state) must agree.
        cfg = kiln.config("tiny", d_model=16, heads=2, ffn=32, layers=1, vocab=20)
        sizes = dict(batch=2, src_len=4, tgt_len=4)
        forward = kiln.transformer(cfg, "forward", **sizes)
        params = forward.initial_parameters(seed=5)
        rng = np.random.default_rng(2)
        src = rng.integers(4, 20, size=(2, 4), dtype=np.int64)
        tgt = rng.integers(4, 20, size=(2, 4), dtype=np.int64)
        logits = kiln.compile(forward.graph, "cpu").run({**params, "src": src, "tgt": tgt})

        def bind(program, **values):
            taken = {i.name: params[i.name] for i in program.inputs if i.kind == "param"}
            return {**taken, **values}

        encoder = kiln.compile(kiln.encoder(cfg, **sizes).graph, "cpu")
        memory = encoder.run(bind(encoder, src=src))
        step = kiln.compile(kiln.decode_step(cfg, **sizes).graph, "cpu")
        cache = {i.name: i.zeros() for i in step.inputs if i.kind == "state"}
        self.assertEqual(len(cache), 2)  # one layer's self-attention keys and values
        for position in range(4):
            token = np.full(2, cfg.bos_id, np.int64) if position == 0 else tgt[:, position - 1]
            out = step.run(bind(step, **memory, **cache, token=token, position=position))
            cache = {name: out[name] for name in cache}
            np.testing.assert_allclose(out["logits"], logits["logits"][:, position, :],
                                       rtol=1e-4, atol=1e-5, err_msg=f"position {position}")

    def test_initial_parameters_are_seeded(self):
        model = kiln.loss(kiln.config("tiny", d_model=16, heads=2, ffn=32, layers=1, vocab=20))
        a, b, c = (model.initial_parameters(seed=s) for s in (1, 1, 2))
        self.assertEqual(sorted(a), sorted(p.name for p in model.params))
        for name in a:
            self.assertEqual(a[name].shape, next(p.shape for p in model.params if p.name == name))
            np.testing.assert_array_equal(a[name], b[name])
        self.assertFalse(np.array_equal(a["generator.weight"], c["generator.weight"]))

    def test_make_train_step_of_a_graph_with_a_loss(self):
        graph = kiln.parse("""graph @fit {
  input data %x: f32[4]
  input param %w: f32[4]
  %0 = sub(%w, %x) : f32[4]
  %1 = mul(%0, %0) : f32[4]
  %2 = reduce_sum(%1) {axes = [0]} : f32[]
  output "loss" = %2
}""")
        kiln.make_train_step(graph, optimizer="sgd", lr=0.1, momentum=0.0)
        program = kiln.compile(graph, "reference")
        x = np.array([1, 2, 3, 4], np.float32)
        state = {"w": np.zeros(4, np.float32)}
        state.update({i.name: i.zeros() for i in program.inputs if i.kind == "state"})
        for step in range(1, 4):
            out = program.run({**state, "x": x, "step": step})
            state = {name: out[name] for name in state}
        # Gradient descent on |w - x|^2 at rate 0.1: w moves 0.2 of the way to x each step.
        np.testing.assert_allclose(state["w"], x * (1 - 0.8 ** 3), rtol=1e-6)

    def test_synthetic_task(self):
        task = kiln.SyntheticTask("reverse", vocab=10, batch=3, src_len=5, tgt_len=5, seed=4)
        src, tgt = task.batch(1)
        self.assertEqual((src.dtype, src.shape), (np.int64, (3, 5)))
        for s, t in zip(src, tgt):
            content = [int(v) for v in s if v not in (0, 2)]
            self.assertEqual([int(v) for v in t if v not in (0, 2)], content[::-1])
            self.assertTrue(all(4 <= v < 10 for v in content))
        np.testing.assert_array_equal(task.batch(1)[0], src)
        with self.assertRaises(kiln.Error):
            kiln.SyntheticTask("sort")
        with self.assertRaises(kiln.Error):
            kiln.SyntheticTask(batch=-1)
        with self.assertRaises(kiln.Error):
            kiln.SyntheticTask(src_len=1)


if __name__ == "__main__":
    unittest.main()
