#include "runtime/decode/search.h"

#include "ir/diagnostics.h"
#include "ir/philox.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::decode {
namespace {

bool allowed(int64_t id, const DecodeTokens &t) { return id != t.pad && id != t.bos; }

/// log-softmax over the allowed tokens; -inf for PAD and BOS.
std::vector<double> logSoftmax(std::span<const float> x, const DecodeTokens &t) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t id = 0; id < static_cast<int64_t>(x.size()); ++id)
    if (allowed(id, t))
      m = std::max(m, static_cast<double>(x[id]));
  double sum = 0;
  for (int64_t id = 0; id < static_cast<int64_t>(x.size()); ++id)
    if (allowed(id, t))
      sum += std::exp(x[id] - m);
  double lse = m + std::log(sum);
  std::vector<double> out(x.size(), -std::numeric_limits<double>::infinity());
  for (int64_t id = 0; id < static_cast<int64_t>(x.size()); ++id)
    if (allowed(id, t))
      out[id] = x[id] - lse;
  return out;
}

/// The `n` best hypotheses by score, best first (the earlier of equal ones first).
void keepBest(std::vector<Hypothesis> &h, int64_t n) {
  std::stable_sort(h.begin(), h.end(),
                   [](const Hypothesis &x, const Hypothesis &y) { return x.score > y.score; });
  h.resize(std::min<size_t>(h.size(), static_cast<size_t>(n)));
}

} // namespace

std::vector<std::vector<Hypothesis>> beamSearch(Decoder &decoder, const HostBuffer &src,
                                                int64_t max_length, const BeamOptions &options,
                                                const DecodeTokens &tokens) {
  if (options.width < 1 || options.nbest < 1 || options.nbest > options.width)
    throw Error({}, fmt::format("beam search needs 1 <= nbest <= width; given width {} and "
                                "nbest {}",
                                options.width, options.nbest));
  const int64_t sentences = src.type().shape[0], width = options.width;
  const int64_t limit = std::min(max_length, decoder.capacity());
  decoder.start(src, width);
  // Hypothesis k of sentence b lives in row b * width + k.
  struct Open {
    std::vector<int64_t> tokens;
    double log_probability = 0;
  };
  std::vector<std::vector<Open>> open(sentences, std::vector<Open>(1));
  std::vector<std::vector<Hypothesis>> finished(sentences);
  std::vector<int64_t> previous(sentences * width, tokens.bos), parents(sentences * width);
  auto rank = [&](Hypothesis h, int64_t length) {
    h.score = h.log_probability /
              std::pow((5.0 + static_cast<double>(length)) / 6.0, options.length_penalty);
    return h;
  };
  for (int64_t pos = 0; pos < limit; ++pos) {
    if (std::all_of(open.begin(), open.end(), [](const auto &o) { return o.empty(); }))
      break;
    HostBuffer logits = decoder.step(previous);
    std::iota(parents.begin(), parents.end(), 0);
    for (int64_t b = 0; b < sentences; ++b) {
      if (open[b].empty())
        continue;
      struct Candidate {
        double log_probability;
        size_t from;
        int64_t id;
      };
      std::vector<Candidate> candidates;
      for (size_t k = 0; k < open[b].size(); ++k) {
        std::vector<double> lp = logSoftmax(
            rowLogits(logits, sentences * width, b * width + static_cast<int64_t>(k)), tokens);
        for (int64_t id = 0; id < static_cast<int64_t>(lp.size()); ++id)
          if (allowed(id, tokens))
            candidates.push_back({open[b][k].log_probability + lp[id], k, id});
      }
      size_t keep = std::min(candidates.size(), static_cast<size_t>(2 * width));
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(keep),
                        candidates.end(), [](const Candidate &x, const Candidate &y) {
                          if (x.log_probability != y.log_probability)
                            return x.log_probability > y.log_probability;
                          return std::tie(x.from, x.id) < std::tie(y.from, y.id);
                        });
      std::vector<Open> next;
      std::vector<size_t> from;
      for (size_t c = 0; c < keep; ++c) {
        const Candidate &cand = candidates[c];
        const Open &parent = open[b][cand.from];
        if (cand.id == tokens.eos) {
          // Only an ending among the `width` best finishes; the others fall away.
          if (static_cast<int64_t>(c) < width)
            finished[b].push_back(rank({parent.tokens, 0, cand.log_probability},
                                       static_cast<int64_t>(parent.tokens.size()) + 1));
        } else if (static_cast<int64_t>(next.size()) < width) {
          Open extended = parent;
          extended.tokens.push_back(cand.id);
          extended.log_probability = cand.log_probability;
          next.push_back(std::move(extended));
          from.push_back(cand.from);
        }
      }
      // Rows past the open hypotheses repeat the last one; nothing reads them.
      for (int64_t k = 0; k < width && !next.empty(); ++k) {
        size_t j = std::min<size_t>(static_cast<size_t>(k), next.size() - 1);
        parents[b * width + k] = b * width + static_cast<int64_t>(from[j]);
        previous[b * width + k] = next[j].tokens.back();
      }
      open[b] = std::move(next);
      if (pos + 1 == limit) {
        for (const Open &o : open[b])
          finished[b].push_back(
              rank({o.tokens, 0, o.log_probability}, static_cast<int64_t>(o.tokens.size())));
        open[b].clear();
      } else if (static_cast<int64_t>(finished[b].size()) >= width) {
        // Done once no open hypothesis can enter the `width` best finished ones: later tokens
        // only lower its log-probability, and the penalty's divisor is largest at the limit.
        keepBest(finished[b], width);
        double best_open = -std::numeric_limits<double>::infinity();
        for (const Open &o : open[b])
          best_open = std::max(best_open, rank({o.tokens, 0, o.log_probability}, limit).score);
        if (best_open <= finished[b].back().score)
          open[b].clear();
      }
    }
    decoder.reorder(parents);
  }
  for (std::vector<Hypothesis> &f : finished)
    keepBest(f, options.nbest);
  return finished;
}

std::vector<double> samplingDistribution(std::span<const float> logits,
                                         const SampleOptions &options, const DecodeTokens &tokens) {
  std::vector<float> scaled(logits.begin(), logits.end());
  for (float &x : scaled)
    x = static_cast<float>(x / options.temperature);
  std::vector<double> lp = logSoftmax(scaled, tokens);
  std::vector<int64_t> order(lp.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lp[a] > lp[b]; });
  size_t kept = 0;
  double mass = 0;
  size_t limit = options.top_k > 0 ? std::min<size_t>(order.size(), options.top_k) : order.size();
  while (kept < limit && std::isfinite(lp[order[kept]]) && (kept == 0 || mass < options.top_p))
    mass += std::exp(lp[order[kept++]]);
  std::vector<double> p(lp.size(), 0);
  for (size_t i = 0; i < kept; ++i)
    p[order[i]] = std::exp(lp[order[i]]) / mass;
  return p;
}

std::vector<std::vector<int64_t>> sample(Decoder &decoder, const HostBuffer &src,
                                         int64_t max_length, const SampleOptions &options,
                                         const DecodeTokens &tokens) {
  if (!(options.temperature > 0) || !(options.top_p > 0 && options.top_p <= 1) || options.top_k < 0)
    throw Error({}, fmt::format("sampling needs a positive temperature, top-p in (0, 1] and "
                                "top-k >= 0; given {}, {} and {}",
                                options.temperature, options.top_p, options.top_k));
  int64_t rows = src.type().shape[0], limit = std::min(max_length, decoder.capacity());
  PhiloxKey key = foldIn(streamKey(options.seed, RandomStream::Sample), options.stream);
  decoder.start(src, 1);
  std::vector<int64_t> previous(rows, tokens.bos);
  std::vector<std::vector<int64_t>> out(rows);
  std::vector<bool> done(rows, false);
  for (int64_t pos = 0; pos < limit; ++pos) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
      break;
    HostBuffer logits = decoder.step(previous);
    for (int64_t r = 0; r < rows; ++r) {
      if (done[r])
        continue;
      std::vector<double> p = samplingDistribution(rowLogits(logits, rows, r), options, tokens);
      double u = philoxUniform(key, (static_cast<uint64_t>(r) << 32) | static_cast<uint64_t>(pos));
      int64_t id = 0, last = 0;
      for (double acc = 0; id < static_cast<int64_t>(p.size()); ++id) {
        if (p[id] > 0)
          last = id;
        acc += p[id];
        if (p[id] > 0 && u < acc)
          break;
      }
      id = std::min(id, last); // rounding can leave u at the very top
      previous[r] = id;
      if (id == tokens.eos)
        done[r] = true;
      else
        out[r].push_back(id);
    }
  }
  return out;
}

} // namespace kiln::decode
