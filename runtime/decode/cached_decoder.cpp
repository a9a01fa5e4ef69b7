#include "runtime/decode/cached_decoder.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln::decode {
namespace {

/// The index of a named input, or an Error naming the program's role.
size_t inputOf(const Signature &sig, std::string_view name, std::string_view program) {
  auto i = sig.findInput(name);
  if (!i)
    throw Error({}, fmt::format("the {} program has no input '{}'", program, name));
  return *i;
}

} // namespace

CachedDecoder::CachedDecoder(Executable &encoder, Executable &step, const Bindings &weights)
    : encoder_(encoder), step_(step) {
  const Signature &enc = encoder.signature(), &st = step.signature();
  auto src = enc.findInput(InputRole::Source);
  if (!src)
    throw Error({}, "the encoder program has no source input");
  src_ = *src;
  token_ = inputOf(st, "token", "decode step");
  position_input_ = inputOf(st, "position", "decode step");
  auto logits = st.findOutput("logits");
  if (!logits)
    throw Error({}, "the decode step has no output 'logits'");
  logits_ = *logits;
  rows_ = st.inputs[token_].type.shape.at(0);

  std::vector<bool> bound(st.inputs.size(), false);
  bound[token_] = bound[position_input_] = true;
  for (const Signature::Output &o : enc.outputs) {
    size_t i = inputOf(st, o.name, "decode step");
    fed_.push_back(i);
    bound[i] = true;
  }
  auto weight = [&](const Signature::Input &in) {
    auto it = weights.find(in.name);
    if (it == weights.end())
      throw Error({}, fmt::format("no weights for the decoding programs' parameter '{}'", in.name));
    if (it->second.type() != in.type)
      throw Error({}, fmt::format("the weights of '{}' are {}, the decoding programs take {}",
                                  in.name, it->second.type().str(), in.type.str()));
    return it->second;
  };
  for (size_t i = 0; i < enc.inputs.size(); ++i)
    encoder_inputs_.push_back(i == src_ ? HostBuffer(enc.inputs[i].type) : weight(enc.inputs[i]));
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const Signature::Input &in = st.inputs[i];
    if (in.kind == InputKind::State) {
      cache_.push_back(i);
      // The cache's third axis holds the positions: [rows, heads, capacity, dk].
      capacity_ = capacity_ == 0 ? in.type.shape.at(2) : std::min(capacity_, in.type.shape.at(2));
      bound[i] = true;
    }
    step_inputs_.push_back(in.kind == InputKind::Parameter ? weight(in) : HostBuffer(in.type));
    if (in.kind == InputKind::Parameter)
      bound[i] = true;
  }
  for (size_t i = 0; i < st.inputs.size(); ++i)
    if (!bound[i])
      throw Error({}, fmt::format("the decode step's input '{}' is neither the token, the "
                                  "position, an encoder output, the cache nor a parameter",
                                  st.inputs[i].name));
}

void CachedDecoder::start(const HostBuffer &src, int64_t copies) {
  const TensorType &want = encoder_.signature().inputs[src_].type;
  if (src.type() != want)
    throw Error({}, fmt::format("the encoder program takes sources {}, given {}", want.str(),
                                src.type().str()));
  if (want.shape.at(0) * copies != rows_)
    throw Error({}, fmt::format("{} sentences of {} rows each do not fill the decode step's {}",
                                want.shape[0], copies, rows_));
  copies_ = copies;
  encoder_inputs_[src_] = src;
  std::vector<HostBuffer> out = encoder_.run(encoder_inputs_);
  for (size_t k = 0; k < out.size(); ++k) {
    HostBuffer &dst = step_inputs_[fed_[k]];
    dst = copies == 1 ? std::move(out[k]) : repeatRows(out[k], copies);
    if (dst.type() != step_.signature().inputs[fed_[k]].type)
      throw Error({}, fmt::format("the encoder's output '{}' is {}, the decode step takes {}",
                                  encoder_.signature().outputs[k].name, dst.type().str(),
                                  step_.signature().inputs[fed_[k]].type.str()));
  }
  position_ = 0;
}

HostBuffer CachedDecoder::step(std::span<const int64_t> tokens) {
  KILN_ASSERT(static_cast<int64_t>(tokens.size()) == rows_, "a token for every row");
  if (position_ >= capacity_)
    throw Error({}, fmt::format("decoding past the {} positions of the KV cache", capacity_));
  std::span<int64_t> t = step_inputs_[token_].as<int64_t>();
  std::copy(tokens.begin(), tokens.end(), t.begin());
  step_inputs_[position_input_] = HostBuffer::scalarInt(position_);
  std::vector<HostBuffer> out = step_.runInPlace(step_inputs_);
  ++position_;
  return std::move(out[logits_]);
}

void CachedDecoder::reorder(std::span<const int64_t> parents) {
  KILN_ASSERT(static_cast<int64_t>(parents.size()) == rows_, "a parent for every row");
  bool identity = true, within = true;
  for (int64_t r = 0; r < rows_; ++r) {
    identity &= parents[r] == r;
    within &= parents[r] / copies_ == r / copies_;
  }
  if (identity)
    return;
  for (size_t i : cache_)
    step_inputs_[i] = gatherRows(step_inputs_[i], parents);
  // The copies of a sentence share its encoder outputs; rows from another sentence do not.
  if (!within)
    for (size_t i : fed_)
      step_inputs_[i] = gatherRows(step_inputs_[i], parents);
}

} // namespace kiln::decode
