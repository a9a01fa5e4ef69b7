// Inputs drawn from a seed.

#include "runtime/gpu/example_inputs.h"

#include "ir/literal.h"

#include <random>

namespace kiln::gpu {

std::vector<HostBuffer> exampleInputs(const Signature &sig, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<HostBuffer> out;
  for (const Signature::Input &in : sig.inputs) {
    Literal l(in.type);
    for (double &x : l.data) {
      if (isFloat(in.type.dtype) && in.kind == InputKind::Parameter)
        x = std::uniform_real_distribution<double>(-0.1, 0.1)(rng);
      else if (isFloat(in.type.dtype))
        x = std::uniform_real_distribution<double>(0, 0.01)(rng);
      else if (in.type.dtype != DType::boolean)
        x = static_cast<double>(std::uniform_int_distribution<int>(1, 7)(rng));
    }
    l.roundToDType();
    out.emplace_back(in.type, l.toBytes());
  }
  return out;
}

} // namespace kiln::gpu
