#pragma once
// Built-in synthetic tasks: seeded random token sequences to copy or to reverse. A batch
// depends only on (seed, step), so a resumed run sees the same data as an uninterrupted one.

#include "runtime/host_buffer.h"

#include <string>

namespace kiln {

/// A batch of token ids: src [B, S] and tgt [B, T], i64, padded.
struct Batch {
  HostBuffer src, tgt;
};

/// A synthetic sequence-to-sequence task.
struct SyntheticTask {
  enum class Kind { Copy, Reverse } kind = Kind::Copy;
  int64_t vocab = 1000;    ///< content tokens are drawn from [first_token, vocab)
  int64_t first_token = 4; ///< the ids below are special (PAD 0, BOS 1, EOS 2, UNK 3)
  int64_t pad = 0, eos = 2;
  int64_t batch = 16, src_len = 10, tgt_len = 10;
  int64_t min_len = 1; ///< content lengths are drawn from [min_len, min(src_len, tgt_len) - 1]
  uint64_t seed = 0;

  /// Parses "copy" or "reverse"; throws Error otherwise.
  static Kind parseKind(const std::string &name);
  /// The batch of a step: each sentence is content + EOS, padded.
  Batch batchAt(int64_t step) const;
};

} // namespace kiln
