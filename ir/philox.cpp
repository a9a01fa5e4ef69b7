#include "ir/philox.h"

namespace kiln {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, PhiloxKey k) {
  constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

TensorType philoxKeyType() { return TensorType{DType::i32, {2}}; }

PhiloxKey philoxKey(uint64_t seed) {
  return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
}

PhiloxKey foldIn(PhiloxKey key, uint64_t data) {
  auto block =
      philox4x32({static_cast<uint32_t>(data), static_cast<uint32_t>(data >> 32), 1, 0}, key);
  return {block[0], block[1]};
}

PhiloxKey streamKey(uint64_t seed, RandomStream stream) {
  return foldIn(philoxKey(seed), static_cast<uint64_t>(stream));
}

double philoxUniform(PhiloxKey key, uint64_t counter) {
  auto block =
      philox4x32({static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0, 0}, key);
  return static_cast<double>(block[0] >> 8) * (1.0 / 16777216.0);
}

} // namespace kiln
