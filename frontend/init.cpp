#include "frontend/init.h"

#include "ir/philox.h"

#include <cmath>

namespace kiln {

std::vector<Literal> initialValues(const std::vector<ParamSpec> &params, uint64_t seed) {
  std::vector<Literal> values;
  PhiloxKey key = streamKey(seed, RandomStream::Init);
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamSpec &p = params[i];
    Literal lit(p.type);
    switch (p.init) {
    case Init::Zeros:
      break;
    case Init::Ones:
      std::fill(lit.data.begin(), lit.data.end(), 1.0);
      break;
    case Init::XavierUniform: {
      KILN_ASSERT(p.type.rank() == 2, "Xavier initialisation needs a matrix");
      double fan_out = static_cast<double>(p.type.shape[0]),
             fan_in = static_cast<double>(p.type.shape[1]);
      double bound = std::sqrt(6.0 / (fan_in + fan_out));
      uint64_t base = static_cast<uint64_t>(i) << 32;
      for (size_t j = 0; j < lit.data.size(); ++j)
        lit.data[j] = (2.0 * philoxUniform(key, base + j) - 1.0) * bound;
      break;
    }
    }
    lit.roundToDType();
    values.push_back(std::move(lit));
  }
  return values;
}

} // namespace kiln
