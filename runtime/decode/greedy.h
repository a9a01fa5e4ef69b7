#pragma once
// Greedy decoding: each row takes its most likely next token (never PAD or BOS) until it
// takes EOS or reaches the length limit.

#include "runtime/decode/decoder.h"

namespace kiln::decode {

/// Each row's tokens, EOS excluded, at most `max_length` of them (and the decoder's capacity).
std::vector<std::vector<int64_t>> greedyDecode(Decoder &decoder, const HostBuffer &src,
                                               int64_t max_length, const DecodeTokens &tokens);

} // namespace kiln::decode
