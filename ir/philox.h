#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): the
// counter-based generator behind random_uniform. Every backend computes the same numbers from
// (key, counter), so dropout is reproducible everywhere.
//
// The key is two 32-bit words, held in the graph as an i32[2] tensor (as JAX holds its keys in
// uint32[2]): every word is exact in every backend's integers, including the reference
// interpreter's doubles, so every 64-bit seed gives the same numbers on every backend.

#include "ir/types.h"

#include <array>
#include <cstdint>

namespace kiln {

/// A Philox key: two 32-bit words.
using PhiloxKey = std::array<uint32_t, 2>;

/// The type of a key in the graph: i32[2], its low word first.
TensorType philoxKeyType();

/// One Philox-4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, PhiloxKey key);

/// The key of a 64-bit seed: its low word, then its high word.
PhiloxKey philoxKey(uint64_t seed);

/// A new key derived from `key` and `data`, in the manner of JAX's fold_in: the first two words
/// of the block for counter (data lo, data hi, 1, 0). random_uniform's counters end in (0, 0),
/// so a folded key never repeats one of its blocks.
PhiloxKey foldIn(PhiloxKey key, uint64_t data);

/// The random streams of a run under one user seed. Each has its own key, so no two share a
/// Philox block: the initial weights, the data's order, dropout (whose key the trainer folds
/// each step into), and the tokens that decoding samples.
enum class RandomStream : uint64_t { Init = 1, Data = 2, Dropout = 3, Sample = 4 };

/// The key of a stream under a seed: foldIn(philoxKey(seed), stream).
PhiloxKey streamKey(uint64_t seed, RandomStream stream);

/// The uniform [0,1) number of random_uniform for a key and an element counter: the first word
/// of the block for counter (lo, hi, 0, 0), top 24 bits * 2^-24.
double philoxUniform(PhiloxKey key, uint64_t counter);

} // namespace kiln
