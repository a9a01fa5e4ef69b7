// Greedy decoding's driver on a program whose logits are written by hand: the choice at each
// position, EOS ending a row, PAD and BOS never chosen, and the prefix the program is shown.

#include "runtime/decode/decoder.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"

#include "test_util.h"
#include <cmath>
#include <functional>

using namespace kiln;
using namespace kiln::decode;

namespace {

// The searches over a program of whole targets of `len` positions, without a cache.
std::vector<std::vector<int64_t>> greedyOn(const LogitsFn &f, const HostBuffer &src, int64_t len) {
  FullDecoder d(f, len, {});
  return greedyDecode(d, src, len, {});
}
std::vector<std::vector<Hypothesis>> beamOn(const LogitsFn &f, const HostBuffer &src, int64_t len,
                                            const BeamOptions &o) {
  FullDecoder d(f, len, {});
  return beamSearch(d, src, len, o, {});
}
std::vector<std::vector<int64_t>> sampleOn(const LogitsFn &f, const HostBuffer &src, int64_t len,
                                           const SampleOptions &o) {
  FullDecoder d(f, len, {});
  return sample(d, src, len, o, {});
}

} // namespace

TEST_CASE("greedy: the best token at each position, EOS ends a row, never PAD or BOS") {
  const int64_t rows = 2, len = 5, vocab = 8;
  HostBuffer src(TensorType{DType::i64, {rows, 3}});
  int calls = 0;
  // Row 0 wants 5, 6, then EOS; row 1 wants 7 everywhere, but PAD and BOS score higher.
  LogitsFn logits = [&](const HostBuffer &, const HostBuffer &tgt) {
    ++calls;
    std::span<const int64_t> t = tgt.as<int64_t>();
    // The program sees the tokens chosen so far and PAD after them.
    for (int64_t p = calls - 1; p < len; ++p)
      CHECK(t[p] == 0);
    HostBuffer l(TensorType{DType::f32, {rows, len, vocab}});
    std::span<float> v = l.as<float>();
    for (int64_t p = 0; p < len; ++p) {
      float *a = v.data() + p * vocab, *b = v.data() + (len + p) * vocab;
      a[p == 0 ? 5 : p == 1 ? 6 : 2] = 1;
      b[0] = b[1] = 9;
      b[7] = 2;
    }
    return l;
  };
  std::vector<std::vector<int64_t>> out = greedyOn(logits, src, len);
  CHECK(out[0] == std::vector<int64_t>{5, 6});
  CHECK(out[1] == std::vector<int64_t>(len, 7));
  CHECK(calls == len);
}

namespace {

/// A model of hand-made logits: at each position, a pseudo-random function of the prefix before
/// it (what the decoder reads there), over `vocab` tokens, PAD and BOS scoring highest.
LogitsFn tableModel(int64_t vocab) {
  return [vocab](const HostBuffer &, const HostBuffer &tgt) {
    int64_t rows = tgt.type().shape[0], len = tgt.type().shape[1];
    HostBuffer l(TensorType{DType::f32, {rows, len, vocab}});
    std::span<const int64_t> t = tgt.as<int64_t>();
    std::span<float> v = l.as<float>();
    for (int64_t r = 0; r < rows; ++r) {
      uint64_t h = 1469598103934665603ull;
      for (int64_t p = 0; p < len; ++p) {
        for (int64_t id = 0; id < vocab; ++id) {
          uint64_t x = (h ^ static_cast<uint64_t>(id)) * 1099511628211ull;
          v[(r * len + p) * vocab + id] =
              id < 2 ? 9.0f : static_cast<float>((x >> 11) % 4000) / 1000.0f - 2.0f;
        }
        h = (h ^ static_cast<uint64_t>(t[r * len + p])) * 1099511628211ull;
      }
    }
    return l;
  };
}

/// A model whose logits depend on the position alone: fill(p, x) writes the `vocab` logits x
/// of position p, the same for every row and prefix.
LogitsFn byPosition(int64_t vocab, std::function<void(int64_t, float *)> fill) {
  return [vocab, fill](const HostBuffer &, const HostBuffer &tgt) {
    int64_t rows = tgt.type().shape[0], n = tgt.type().shape[1];
    HostBuffer l(TensorType{DType::f32, {rows, n, vocab}});
    std::span<float> v = l.as<float>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t p = 0; p < n; ++p)
        fill(p, v.data() + (r * n + p) * vocab);
    return l;
  };
}

HostBuffer sources(int64_t rows) {
  HostBuffer src(TensorType{DType::i64, {rows, 2}});
  for (int64_t &x : src.as<int64_t>())
    x = 5;
  return src;
}

/// The log-probability of a sequence (EOS appended when `ended`) under the table model.
double logProbability(const LogitsFn &model, const std::vector<int64_t> &seq, bool ended,
                      int64_t len, int64_t vocab) {
  HostBuffer tgt(TensorType{DType::i64, {1, len}});
  std::span<int64_t> t = tgt.as<int64_t>();
  std::fill(t.begin(), t.end(), 0);
  std::copy(seq.begin(), seq.end(), t.begin());
  std::vector<int64_t> full = seq;
  if (ended)
    full.push_back(2);
  HostBuffer l = model(sources(1), tgt);
  double total = 0;
  for (size_t p = 0; p < full.size(); ++p) {
    std::span<const float> row = l.as<float>().subspan(p * vocab, vocab);
    double m = -1e30, sum = 0;
    for (int64_t id = 2; id < vocab; ++id)
      m = std::max(m, static_cast<double>(row[id]));
    for (int64_t id = 2; id < vocab; ++id)
      sum += std::exp(row[id] - m);
    total += row[full[p]] - m - std::log(sum);
  }
  return total;
}

} // namespace

TEST_CASE("beam search: width 1 is greedy; a wide beam finds the brute-force best") {
  const int64_t vocab = 6, len = 3;
  LogitsFn model = tableModel(vocab);
  HostBuffer src = sources(3);
  std::vector<std::vector<int64_t>> greedy = greedyOn(model, src, len);
  std::vector<std::vector<Hypothesis>> beam1 =
      beamOn(model, src, len, {.width = 1, .length_penalty = 0.6});
  for (int64_t r = 0; r < 3; ++r)
    CHECK(beam1[r].at(0).tokens == greedy[r]);

  // EOS second best at every position but the last: an ending outside the beam does not
  // finish it.
  LogitsFn runner_up = byPosition(5, [](int64_t p, float *x) {
    x[3] = p < 3 ? 2.0f : 0.0f;
    x[2] = p < 3 ? 1.5f : 5.0f;
  });
  CHECK(greedyOn(runner_up, sources(1), 6)[0] == std::vector<int64_t>{3, 3, 3});
  CHECK(beamOn(runner_up, sources(1), 6, {.width = 1})[0].at(0).tokens ==
        std::vector<int64_t>{3, 3, 3});

  // Every sequence of up to len tokens from {3, 4, 5}, ended by EOS or cut at len.
  std::vector<std::pair<std::vector<int64_t>, bool>> all = {{{}, true}};
  for (size_t i = 0; i < all.size(); ++i) {
    auto [seq, ended] = all[i];
    if (!ended || static_cast<int64_t>(seq.size()) == len)
      continue;
    for (int64_t id = 3; id < vocab; ++id) {
      std::vector<int64_t> longer = seq;
      longer.push_back(id);
      all.push_back({longer, static_cast<int64_t>(longer.size()) < len});
      if (static_cast<int64_t>(longer.size()) == len)
        all.push_back({longer, false});
    }
  }
  for (double alpha : {0.0, 1.0}) {
    INFO("length penalty " << alpha);
    double best = -1e30;
    std::vector<int64_t> best_seq;
    for (const auto &[seq, ended] : all) {
      if (ended && static_cast<int64_t>(seq.size()) >= len)
        continue; // no room left for EOS
      double lp = logProbability(model, seq, ended, len, vocab);
      double s = lp / std::pow((5.0 + static_cast<double>(seq.size() + ended)) / 6.0, alpha);
      if (s > best)
        best = s, best_seq = seq;
    }
    std::vector<std::vector<Hypothesis>> wide =
        beamOn(model, sources(1), len, {.width = 64, .length_penalty = alpha, .nbest = 3});
    REQUIRE(wide[0].size() == 3);
    CHECK(wide[0][0].tokens == best_seq);
    CHECK(wide[0][0].score == doctest::Approx(best).epsilon(1e-6));
    CHECK(wide[0][0].score >= wide[0][1].score);
    CHECK(wide[0][1].score >= wide[0][2].score);
  }
}

TEST_CASE("sampling: temperature near 0 is greedy; a seed reproduces; top-k and top-p cut") {
  const int64_t vocab = 9, len = 6;
  LogitsFn model = tableModel(vocab);
  HostBuffer src = sources(4);
  std::vector<std::vector<int64_t>> greedy = greedyOn(model, src, len);
  CHECK(sampleOn(model, src, len, {.temperature = 1e-6}) == greedy);
  auto a = sampleOn(model, src, len, {.seed = 7});
  CHECK(sampleOn(model, src, len, {.seed = 7}) == a);
  bool differs = false;
  for (uint64_t seed = 8; seed < 12; ++seed)
    differs |= sampleOn(model, src, len, {.seed = seed}) != a;
  CHECK(differs);

  // Allowed tokens EOS, 3, 4, 5 with probabilities 1/8, 4/8, 2/8, 1/8.
  std::vector<float> logits = {9, 9, 0, std::log(4.0f), std::log(2.0f), 0};
  auto p = samplingDistribution(logits, {}, {});
  CHECK(p[0] == 0);
  CHECK(p[1] == 0);
  CHECK(p[2] == doctest::Approx(0.125));
  CHECK(p[3] == doctest::Approx(0.5));
  auto k2 = samplingDistribution(logits, {.top_k = 2}, {});
  CHECK(k2[3] == doctest::Approx(2.0 / 3));
  CHECK(k2[4] == doctest::Approx(1.0 / 3));
  CHECK(k2[2] == 0);
  auto p06 = samplingDistribution(logits, {.top_p = 0.6}, {});
  CHECK(p06[3] == doctest::Approx(2.0 / 3));
  CHECK(p06[4] == doctest::Approx(1.0 / 3));
  auto p05 = samplingDistribution(logits, {.top_p = 0.5}, {});
  CHECK(p05[3] == doctest::Approx(1.0));
  auto hot = samplingDistribution(logits, {.temperature = 0.5}, {});
  CHECK(hot[3] == doctest::Approx(16.0 / 22)); // squared: 1, 16, 4, 1
  CHECK_THROWS_AS(sampleOn(model, src, len, {.temperature = 0}), Error);
}

TEST_CASE("beam search: a poor ending found early does not stop a better, longer hypothesis") {
  // Every row reads the same distribution at a position: at 0, EOS 0.3 and token 3 0.6; at 1,
  // EOS 0.35 and 3 0.6; from 2 on, EOS 0.99. Width 2 finishes [] (log 0.3) and [3] (log 0.21)
  // by position 1; the open [3, 3] (log 0.36) ends at position 2, better than both.
  LogitsFn model = byPosition(5, [](int64_t p, float *x) {
    x[0] = x[1] = 9; // PAD and BOS, never chosen
    x[2] = std::log(p == 0 ? 0.3f : p == 1 ? 0.35f : 0.99f);
    x[3] = std::log(p < 2 ? 0.6f : 0.005f);
    x[4] = std::log(p == 0 ? 0.1f : p == 1 ? 0.05f : 0.005f);
  });
  std::vector<std::vector<Hypothesis>> found =
      beamOn(model, sources(1), 6, {.width = 2, .length_penalty = 0, .nbest = 2});
  REQUIRE(found[0].size() == 2);
  CHECK(found[0][0].tokens == std::vector<int64_t>{3, 3});
  CHECK(found[0][0].log_probability == doctest::Approx(std::log(0.6 * 0.6 * 0.99)).epsilon(1e-5));
  CHECK(found[0][1].tokens.empty());
}
