#!/usr/bin/env bash
# Installs the Debian packages kiln needs to build, test and run its demo. Idempotent: when
# every package is present it does nothing.
set -euo pipefail

packages=(
  cmake ninja-build g++ python3
  llvm-19-dev llvm-19-tools lld-19 libzstd-dev
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  libfmt-dev doctest-dev nlohmann-json3-dev libcli11-dev
  libssl-dev pkg-config          # MD5 of the corpus split
  libsentencepiece-dev sentencepiece
  trans-de-en                    # Ding's dictionary: the example sentences kiln trains on
  graphviz                      # dot -Tsvg renders `kiln dump --format dot`
  python3-torch python3-numpy   # the PyTorch oracle of the tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
