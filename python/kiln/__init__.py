"""kiln: a compiler for transformer models, from Python.

Graphs parse from and print to kiln's text IR, or are built from a Transformer configuration;
passes run by name or pipeline; kiln.compile turns a graph into an Executable for a backend,
which runs on dicts of numpy arrays. Every kiln error is raised as kiln.Error.

    >>> import numpy as np
    >>> import kiln
    >>> graph = kiln.parse('''
    ... graph @twice {
    ...   input data %x: f32[2]
    ...   %0 = add(%x, %x) : f32[2]
    ...   output "y" = %0
    ... }''')
    >>> program = kiln.compile(graph, backend="cpu")
    >>> program.run({"x": np.array([1, 2], dtype=np.float32)})["y"]
    array([2., 4.], dtype=float32)

dtypes: f32, f64, i32, i64 and bool are numpy's float32, float64, int32, int64 and bool; numpy
has no bfloat16 (ml_dtypes is not a Debian package), so a bf16 tensor is a uint16 array of its
bits: kiln.to_bf16 and kiln.from_bf16 convert float32 arrays to and from it.
"""

from ._kiln import *  # noqa: F401,F403
from ._kiln import __version__  # noqa: F401
