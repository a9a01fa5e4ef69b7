#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): the
// counter-based generator behind random_uniform. Every backend computes the same numbers from
// (seed, counter), so dropout is reproducible everywhere.

#include <array>
#include <cstdint>

namespace kiln {

/// One Philox-4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

/// The uniform [0,1) number of random_uniform for a seed and an element counter: the first
/// word of the block for counter (lo, hi, 0, 0) and key (seed lo, seed hi), top 24 bits * 2^-24.
double philoxUniform(uint64_t seed, uint64_t counter);

} // namespace kiln
