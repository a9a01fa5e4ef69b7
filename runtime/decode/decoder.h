#pragma once
// What the searches drive: rows of a batch that decode one token at a time, in step. A search
// starts the decoder on a batch of sources, feeds each row its previous token (BOS first) and
// reads the logits of each row's next token; beam search also moves rows around (row i goes on
// from what row parents[i] has decoded).
//
// Two decoders implement it: CachedDecoder (cached_decoder.h) runs the encoder program once and
// one compiled decode step a token, with a KV cache; FullDecoder re-runs a program that computes
// the logits of a whole target at once (the forward pass of training, teacher forcing included)
// over the prefix each step, so a sentence of T tokens costs T full passes. It is the reference
// that cached decoding must equal.

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

/// Rows that decode a batch of sources one token at a time.
class Decoder {
public:
  virtual ~Decoder() = default;
  /// Starts on src [B, S] (i64, PAD after each sentence's tokens and EOS) with `copies` rows a
  /// sentence: row b * copies + j decodes sentence b.
  virtual void start(const HostBuffer &src, int64_t copies) = 0;
  /// Feeds each row its previous token (BOS at the first position) and returns the logits of
  /// its next token, f32[rows, V].
  virtual HostBuffer step(std::span<const int64_t> tokens) = 0;
  /// Row i goes on from what row parents[i] has decoded so far.
  virtual void reorder(std::span<const int64_t> parents) = 0;
  /// The most positions a row can decode.
  virtual int64_t capacity() const = 0;
};

/// The logits of one row of what Decoder::step gave, checked to be f32[rows, V].
std::span<const float> rowLogits(const HostBuffer &logits, int64_t rows, int64_t row);

/// Runs a program on src [B, S] and tgt [B, T] (i64) and returns its logits [B, T, V] (f32).
using LogitsFn = std::function<HostBuffer(const HostBuffer &src, const HostBuffer &tgt)>;

/// Decoding without a cache: each step runs a LogitsFn on the tokens chosen so far (PAD after
/// them, which the causal mask keeps out) and reads the logits at the position being chosen.
class FullDecoder : public Decoder {
public:
  /// A program whose targets have `tgt_len` positions.
  FullDecoder(LogitsFn logits, int64_t tgt_len, DecodeTokens tokens);

  void start(const HostBuffer &src, int64_t copies) override;
  HostBuffer step(std::span<const int64_t> tokens) override;
  void reorder(std::span<const int64_t> parents) override;
  int64_t capacity() const override { return tgt_len_; }

private:
  LogitsFn logits_;
  int64_t tgt_len_;
  DecodeTokens tokens_;
  HostBuffer src_, tgt_; ///< the rows' sources and the targets chosen so far
  int64_t position_ = 0;
};

/// Rows repeated `times` times each: [r0, r0, ..., r1, r1, ...].
HostBuffer repeatRows(const HostBuffer &rows, int64_t times);
/// Row i of the result is row parents[i] of `rows`.
HostBuffer gatherRows(const HostBuffer &rows, std::span<const int64_t> parents);

} // namespace kiln::decode
