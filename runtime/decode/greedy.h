#pragma once
// Greedy decoding with a program that computes the logits of a whole target at once (the
// forward pass of training, teacher forcing included): step t runs it on the tokens chosen so
// far and takes the most likely token at position t, whose decoder input is token t - 1 (BOS at
// 0); the causal mask keeps the padding after it out. Every step re-runs the decoder over the
// whole prefix, so a sentence of T tokens costs T full passes. It is the reference that decoding
// with a KV cache must equal.

#include "runtime/host_buffer.h"

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace kiln::decode {

/// Special ids the decoder needs.
struct DecodeTokens {
  int64_t pad = 0, bos = 1, eos = 2;
};

/// Runs the program on src [B, S] and tgt [B, T] (i64) and returns its logits [B, T, V] (f32).
using LogitsFn = std::function<HostBuffer(const HostBuffer &src, const HostBuffer &tgt)>;

/// The logits of one row at one position of what a LogitsFn gave, checked to be
/// f32[rows, tgt_len, V].
std::span<const float> logitsAt(const HostBuffer &logits, int64_t rows, int64_t tgt_len,
                                int64_t row, int64_t pos);

/// Each row's tokens, EOS excluded, at most tgt_len of them: greedy choices, never PAD or BOS.
std::vector<std::vector<int64_t>> greedyDecode(const LogitsFn &logits, const HostBuffer &src,
                                               int64_t tgt_len, const DecodeTokens &tokens);

} // namespace kiln::decode
