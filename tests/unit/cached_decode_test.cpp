// Decoding with the KV cache against decoding without one: the encoder and decode-step
// programs of the tiny Transformer give, position by position, the logits that the whole
// forward pass gives over the prefix, and so greedy search, beam search and sampling choose the
// same tokens with either.

#include "backend/backend.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "runtime/decode/cached_decoder.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"
#include "test_util.h"

#include <cmath>

using namespace kiln;
using namespace kiln::decode;
using namespace kiln::test;

namespace {

constexpr int64_t kRows = 3, kSrcLen = 8, kCapacity = 16;

/// Sources of different lengths, EOS after each sentence and PAD after that.
HostBuffer sources() {
  HostBuffer src(TensorType{DType::i64, {kRows, kSrcLen}});
  std::span<int64_t> s = src.as<int64_t>();
  std::fill(s.begin(), s.end(), 0);
  for (int64_t r = 0; r < kRows; ++r) {
    int64_t n = 3 + 2 * r;
    for (int64_t i = 0; i < n; ++i)
      s[r * kSrcLen + i] = 4 + (r * 7 + i * 5) % 40;
    s[r * kSrcLen + n] = 2;
  }
  return src;
}

/// The tiny model's programs, compiled for the cpu backend, and weights for them.
struct Models {
  TransformerConfig cfg;
  Bindings weights;
  std::unique_ptr<Executable> forward, encoder, step;
  std::unique_ptr<Executable> beam_forward, beam_step; ///< for kRows * kWidth rows
};

constexpr int64_t kWidth = 3;

Models build(bool pre_norm) {
  Models m;
  m.cfg = presetConfig("tiny");
  m.cfg.vocab = 48;
  m.cfg.pre_norm = pre_norm;
  const Backend &cpu = *lookupBackend("cpu");
  BuiltModel whole = buildLoss(m.cfg, {.batch = kRows, .src_len = kSrcLen, .tgt_len = kCapacity});
  std::vector<Literal> values = initialValues(whole.params, 11);
  for (size_t i = 0; i < values.size(); ++i)
    m.weights[whole.params[i].name] = toBuffer(values[i]);
  m.forward = cpu.compile(*whole.graph, {});
  m.encoder = cpu.compile(*buildEncoder(m.cfg, {.batch = kRows, .src_len = kSrcLen}).graph, {});
  m.step = cpu.compile(
      *buildDecodeStep(m.cfg, {.batch = kRows, .src_len = kSrcLen, .tgt_len = kCapacity}).graph,
      {});
  m.beam_step = cpu.compile(
      *buildDecodeStep(m.cfg, {.batch = kRows * kWidth, .src_len = kSrcLen, .tgt_len = kCapacity})
           .graph,
      {});
  // The forward program of the beam's rows.
  BuiltModel wide =
      buildLoss(m.cfg, {.batch = kRows * kWidth, .src_len = kSrcLen, .tgt_len = kCapacity});
  m.beam_forward = cpu.compile(*wide.graph, {});
  return m;
}

/// The forward program as a LogitsFn.
LogitsFn logitsOf(Executable &exe, const Bindings &weights) {
  return [&exe, &weights](const HostBuffer &src, const HostBuffer &tgt) {
    const Signature &sig = exe.signature();
    std::vector<HostBuffer> inputs;
    for (const Signature::Input &in : sig.inputs)
      inputs.push_back(in.role == InputRole::Source   ? src
                       : in.role == InputRole::Target ? tgt
                                                      : weights.at(in.name));
    return std::move(exe.run(inputs)[*sig.findOutput("logits")]);
  };
}

} // namespace

TEST_CASE("cached decoding: the decode step's logits equal the whole forward pass's, and every "
          "search chooses the same tokens") {
  for (bool pre_norm : {false, true}) {
    INFO("pre-norm " << pre_norm);
    Models m = build(pre_norm);
    DecodeTokens special;
    HostBuffer src = sources();
    CachedDecoder cached(*m.encoder, *m.step, m.weights);
    FullDecoder full(logitsOf(*m.forward, m.weights), kCapacity, special);
    CHECK(cached.capacity() == kCapacity);

    // Position by position on the same tokens: the logits agree to f32 rounding.
    cached.start(src, 1);
    full.start(src, 1);
    std::vector<int64_t> tokens(kRows, special.bos);
    double worst = 0;
    for (int64_t pos = 0; pos < kCapacity; ++pos) {
      HostBuffer a = cached.step(tokens), b = full.step(tokens);
      REQUIRE(a.type() == b.type());
      std::span<const float> x = a.as<float>(), y = b.as<float>();
      for (size_t i = 0; i < x.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs(x[i] - y[i])));
      for (int64_t r = 0; r < kRows; ++r)
        tokens[r] = 3 + (pos * 5 + r * 11) % 45; // any tokens the searches may choose
    }
    MESSAGE("largest logit difference, cached against whole: " << worst);
    CHECK(worst < 1e-4);
    CHECK_THROWS_WITH_AS(cached.step(tokens), doctest::Contains("past the 16 positions"), Error);

    // Greedy and sampling choose the same tokens; a fixed seed gives the same samples.
    std::vector<std::vector<int64_t>> greedy = greedyDecode(cached, src, kCapacity, special);
    CHECK(greedy == greedyDecode(full, src, kCapacity, special));
    CHECK(greedy[0].size() > 2); // the search had something to agree on
    SampleOptions s{.temperature = 0.8, .top_p = 0.9, .seed = 5};
    std::vector<std::vector<int64_t>> sampled = sample(cached, src, kCapacity, s, special);
    CHECK(sampled == sample(full, src, kCapacity, s, special));
    CHECK(sampled == sample(cached, src, kCapacity, s, special));

    // Beam search reorders the cache's rows: the hypotheses and scores agree too.
    CachedDecoder cached_beam(*m.encoder, *m.beam_step, m.weights);
    FullDecoder full_beam(logitsOf(*m.beam_forward, m.weights), kCapacity, special);
    BeamOptions beam{.width = kWidth, .length_penalty = 0.6, .nbest = kWidth};
    auto a = beamSearch(cached_beam, src, kCapacity, beam, special);
    auto b = beamSearch(full_beam, src, kCapacity, beam, special);
    REQUIRE(a.size() == b.size());
    for (size_t r = 0; r < a.size(); ++r) {
      REQUIRE(a[r].size() == b[r].size());
      for (size_t k = 0; k < a[r].size(); ++k) {
        CHECK(a[r][k].tokens == b[r][k].tokens);
        CHECK(a[r][k].score == doctest::Approx(b[r][k].score).epsilon(1e-4));
      }
    }
    // Width 1 is greedy with the cache as without.
    CachedDecoder narrow(*m.encoder, *m.step, m.weights);
    auto one = beamSearch(narrow, src, kCapacity, {.width = 1}, special);
    for (int64_t r = 0; r < kRows; ++r)
      CHECK(one[r].at(0).tokens == greedy[r]);
  }
}

TEST_CASE("cached decoding: programs that do not fit together are refused with a reason") {
  Models m = build(false);
  Bindings missing = m.weights;
  missing.erase("decoder.layers.0.norm1.weight");
  CHECK_THROWS_WITH_AS(CachedDecoder(*m.encoder, *m.step, missing),
                       doctest::Contains("decoder.layers.0.norm1.weight"), Error);
  CachedDecoder d(*m.encoder, *m.step, m.weights);
  CHECK_THROWS_WITH_AS(d.start(sources(), 2), doctest::Contains("do not fill"), Error);
  HostBuffer short_src(TensorType{DType::i64, {kRows, 4}});
  CHECK_THROWS_WITH_AS(d.start(short_src, 1), doctest::Contains("takes sources"), Error);
}
