# lit configuration of kiln's IR and pass tests: text IR in, kiln-opt, FileCheck out.
import os
import sys
import tempfile

import lit.formats

config.name = "kiln"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".kir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
# Temporary files go to the build tree, never beside the tests.
if lit_config.params.get("exec_root"):
    config.test_exec_root = lit_config.params["exec_root"]

# The tools under test: --param kiln_bin_dir=DIR, by default build/bin of this checkout. A
# relative DIR is read from the directory lit was started in, as a path on its command line is
# (each test runs in a directory of its own, where a relative PATH entry would find nothing).
repo_root = os.path.dirname(os.path.dirname(os.path.abspath(config.test_source_root)))
kiln_bin_dir = os.path.abspath(
    lit_config.params.get("kiln_bin_dir") or os.path.join(repo_root, "build", "bin"))
llvm_tools_dir = os.path.abspath(lit_config.params.get("llvm_tools_dir", "/usr/lib/llvm-19/bin"))
if not os.path.isfile(os.path.join(kiln_bin_dir, "kiln-opt")):
    lit_config.fatal(f"no kiln-opt in {kiln_bin_dir}: build kiln, or pass "
                     "--param kiln_bin_dir=<build>/bin")

config.environment["PATH"] = os.pathsep.join(
    [kiln_bin_dir, llvm_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))]
)
# The tools' compiles keep the kernel cache in the build tree, never in the user's cache.
# Tests run side by side on few cores: OpenMP workers sleep between parallel loops, never spin.
config.environment["OMP_WAIT_POLICY"] = "passive"
config.environment["XDG_CACHE_HOME"] = os.path.join(
    config.test_exec_root or tempfile.gettempdir(), "kiln-cache")
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.substitutions.append(("%python", sys.executable))
# CUDA's ptxas checks the PTX that kiln emits: --param ptxas=PATH (CMake's find_program), else
# PATH or /usr/local/cuda/bin. Without it the ptxas checks are skipped, and say so: CUDA is not
# a Debian package, so scripts/install-deps.sh cannot install it, and only for that reason may a
# CI run (CI=true) skip them.
import shutil
ptxas = lit_config.params.get("ptxas") or shutil.which("ptxas") or shutil.which(
    "ptxas", path="/usr/local/cuda/bin")
if ptxas and os.path.isfile(ptxas):
    config.available_features.add("ptxas")
    config.environment["PATH"] = os.pathsep.join(
        [config.environment["PATH"], os.path.dirname(os.path.abspath(ptxas))])
else:
    lit_config.note("ptxas not found: the PTX tests skip assembling with it (CUDA's ptxas is "
                    "not a Debian package that scripts/install-deps.sh can install; that alone "
                    "allows the skip under CI=true)")
# lit itself and the tools' directory, for the tests that run a suite of their own.
config.substitutions.append(("%kiln_bin_dir", kiln_bin_dir))
config.substitutions.append(("%lit", sys.executable + " " + os.path.abspath(sys.argv[0])))
config.substitutions.append(("%inputs", os.path.join(os.path.dirname(__file__), "Inputs")))

# A CUDA driver (libcuda.so.1) that loads: where there is none, --backend cuda must say so.
import ctypes
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
