#!/usr/bin/env bash
# Installs the Debian packages kiln needs to build, test and run its demo, and sacreBLEU from
# PyPI (the oracle of kiln's BLEU) into build/pyenv. Idempotent: when everything is present it
# does nothing.
set -euo pipefail

packages=(
  cmake ninja-build g++ python3
  llvm-19-dev llvm-19-tools lld-19 libzstd-dev
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  libfmt-dev doctest-dev nlohmann-json3-dev libcli11-dev
  spirv-tools spirv-headers      # backend/gpu/spirv: assembles, validates and optimises SPIR-V
  libssl-dev pkg-config          # MD5 of the corpus split
  libsentencepiece-dev sentencepiece
  trans-de-en                    # Ding's dictionary: the example sentences kiln trains on
  graphviz                      # dot -Tsvg renders `kiln dump --format dot`
  libvulkan-dev mesa-vulkan-drivers vulkan-tools  # the Vulkan runtime; lavapipe runs its tests
  vulkan-validationlayers       # the Vulkan tests run again under the validation layer
  spirv-headers spirv-tools     # SPIR-V: the tests assemble their shaders with SPIRV-Tools
  python3-torch python3-numpy   # the PyTorch oracle of the tests
  python3-venv                  # build/pyenv, for sacreBLEU
  clang-19 libclang-rt-19-dev   # scripts/fuzz.sh: libFuzzer and the sanitizers
  libomp-19-dev                 # OpenMP for clang (scripts/fuzz.sh)
  pybind11-dev python3-dev      # the kiln Python module (python/)
  libopenmpi-dev openmpi-bin    # data-parallel training: kiln_mpi and mpirun (its ctest)
)
root=$(cd "$(dirname "$0")/.." && pwd)

# sacreBLEU, pinned, in a virtual environment over Debian's Python (its packages stay visible).
install_sacrebleu() {
  local venv="$root/build/pyenv"
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import sacrebleu" 2>/dev/null; then
    return
  fi
  echo "install-deps: installing sacreBLEU 2.4.3 into $venv"
  mkdir -p "$root/build"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check sacrebleu==2.4.3
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  install_sacrebleu
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_sacrebleu
