#pragma once
// Decoding with a KV cache: the encoder program runs once a batch and gives the source's mask
// and each decoder layer's cross-attention keys and values; then one compiled decode step a
// position reads the previous tokens and the position, writes the self-attention keys and
// values of that position into the cache (state inputs it updates in place) and gives the
// logits of the next tokens. Beam search's reorder is a gather of the cache's rows.
//
// The programs are those of Stage::Encoder and Stage::DecodeStep (frontend/transformer.h):
// the step's inputs are `token` i64[rows], `position` i64[], one input for each output of the
// encoder (of the same name), its state (the cache), and parameters; its output `logits` is
// f32[rows, V].

#include "runtime/decode/decoder.h"
#include "runtime/executable.h"

namespace kiln::decode {

class CachedDecoder : public Decoder {
public:
  /// The encoder runs on [B, S] sources and the step on [B * copies] rows; both take their
  /// parameters from `weights` (copied once). Throws Error when the programs do not fit
  /// together or a parameter is missing.
  CachedDecoder(Executable &encoder, Executable &step, const Bindings &weights);

  void start(const HostBuffer &src, int64_t copies) override;
  HostBuffer step(std::span<const int64_t> tokens) override;
  void reorder(std::span<const int64_t> parents) override;
  int64_t capacity() const override { return capacity_; }

private:
  Executable &encoder_, &step_;
  std::vector<HostBuffer> encoder_inputs_, step_inputs_;
  size_t src_ = 0, token_ = 0, position_input_ = 0, logits_ = 0;
  /// For each encoder output, the step input it feeds.
  std::vector<size_t> fed_;
  std::vector<size_t> cache_; ///< the step's state inputs
  int64_t rows_ = 0, copies_ = 1, capacity_ = 0, position_ = 0;
};

} // namespace kiln::decode
