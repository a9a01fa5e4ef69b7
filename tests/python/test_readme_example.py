"""The Python example of README.md ("### Python") runs as written and does what its comments
say: the affine graph's 1.5s, a falling loss, a checkpoint at step 20, and the wrong dtype
reported as a kiln.Error naming the input."""

import contextlib
import io
import os
import pathlib
import re
import tempfile
import unittest

import numpy as np

import kiln

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_example():
    """The first ```python block after the README's "### Python" heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n### Python\n"):]
    m = re.search(r"^```python\n(.*?)^```$", section, re.S | re.M)
    return m.group(1)


class ReadmeExampleTest(unittest.TestCase):
    def test_the_example_runs_as_written(self):
        code = readme_example()
        with tempfile.TemporaryDirectory() as tmp:
            cwd = os.getcwd()
            os.chdir(tmp)
            printed = io.StringIO()
            try:
                namespace = {"__name__": "readme_example"}
                with contextlib.redirect_stdout(printed):
                    exec(compile(code, "README.md (### Python)", "exec"), namespace)
                meta = kiln.read_metadata("tiny.safetensors")
            finally:
                os.chdir(cwd)
        # x is ones and w is 0.5 everywhere: each y is three products of 1 and 0.5.
        np.testing.assert_array_equal(namespace["y"], np.full((2, 4), 1.5, np.float32))
        losses = [float(m.group(1))
                  for m in re.finditer(r"(?m)^\d+ (\d+\.\d+(?:e-?\d+)?)$", printed.getvalue())]
        self.assertEqual(len(losses), 20)
        self.assertLess(losses[-1], losses[0])
        self.assertEqual(meta["kiln.step"], "20")
        self.assertIn("input 'src' expects i64[4,6], found i32[4,6]", printed.getvalue())


if __name__ == "__main__":
    unittest.main()
