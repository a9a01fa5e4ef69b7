#include "runtime/random_key.h"

namespace kiln {

HostBuffer keyBuffer(PhiloxKey key) {
  HostBuffer b(philoxKeyType());
  for (int i = 0; i < 2; ++i)
    b.as<int32_t>()[i] = static_cast<int32_t>(key[i]);
  return b;
}

PhiloxKey dropoutKey(uint64_t seed, int64_t step) {
  return foldIn(streamKey(seed, RandomStream::Dropout), static_cast<uint64_t>(step));
}

PhiloxKey dropoutKey(uint64_t seed, int64_t step, int rank) {
  PhiloxKey key = dropoutKey(seed, step);
  return rank == 0 ? key : foldIn(key, static_cast<uint64_t>(rank));
}

} // namespace kiln
