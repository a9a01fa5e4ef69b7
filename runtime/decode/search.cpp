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

/// Rows repeated `times` times each: [r0, r0, ..., r1, r1, ...].
HostBuffer repeatRows(const HostBuffer &src, int64_t times) {
  int64_t rows = src.type().shape[0], len = src.type().shape[1];
  HostBuffer out(TensorType{DType::i64, {rows * times, len}});
  std::span<const int64_t> in = src.as<int64_t>();
  std::span<int64_t> o = out.as<int64_t>();
  for (int64_t r = 0; r < rows * times; ++r)
    std::copy_n(in.begin() + (r / times) * len, len, o.begin() + r * len);
  return out;
}

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

/// Writes each hypothesis's tokens into its row of tgt, PAD after them.
void writePrefixes(HostBuffer &tgt, const std::vector<std::vector<int64_t>> &prefixes,
                   int64_t pad) {
  int64_t len = tgt.type().shape[1];
  std::span<int64_t> t = tgt.as<int64_t>();
  std::fill(t.begin(), t.end(), pad);
  for (size_t r = 0; r < prefixes.size(); ++r)
    std::copy(prefixes[r].begin(), prefixes[r].end(), t.begin() + static_cast<int64_t>(r) * len);
}

} // namespace

std::vector<std::vector<Hypothesis>> beamSearch(const LogitsFn &logits, const HostBuffer &src,
                                                int64_t tgt_len, const BeamOptions &options,
                                                const DecodeTokens &tokens) {
  if (options.width < 1 || options.nbest < 1 || options.nbest > options.width)
    throw Error({}, fmt::format("beam search needs 1 <= nbest <= width; given width {} and "
                                "nbest {}",
                                options.width, options.nbest));
  const int64_t rows = src.type().shape[0], width = options.width;
  HostBuffer wide_src = repeatRows(src, width);
  HostBuffer tgt(TensorType{DType::i64, {rows * width, tgt_len}});
  struct Open {
    std::vector<int64_t> tokens;
    double log_probability = 0;
  };
  std::vector<std::vector<Open>> open(rows, std::vector<Open>(1));
  std::vector<std::vector<Hypothesis>> finished(rows);
  auto rank = [&](Hypothesis h, int64_t length) {
    h.score = h.log_probability /
              std::pow((5.0 + static_cast<double>(length)) / 6.0, options.length_penalty);
    return h;
  };
  for (int64_t pos = 0; pos < tgt_len; ++pos) {
    std::vector<std::vector<int64_t>> prefixes(rows * width);
    bool any = false;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < width && !open[r].empty(); ++k) {
        prefixes[r * width + k] = open[r][std::min<size_t>(k, open[r].size() - 1)].tokens;
        any = true;
      }
    if (!any)
      break;
    writePrefixes(tgt, prefixes, tokens.pad);
    HostBuffer l = logits(wide_src, tgt);
    for (int64_t r = 0; r < rows; ++r) {
      if (open[r].empty())
        continue;
      struct Candidate {
        double log_probability;
        size_t from;
        int64_t id;
      };
      std::vector<Candidate> candidates;
      for (size_t k = 0; k < open[r].size(); ++k) {
        std::vector<double> lp = logSoftmax(
            logitsAt(l, rows * width, tgt_len, r * width + static_cast<int64_t>(k), pos), tokens);
        for (int64_t id = 0; id < static_cast<int64_t>(lp.size()); ++id)
          if (allowed(id, tokens))
            candidates.push_back({open[r][k].log_probability + lp[id], k, id});
      }
      size_t keep = std::min(candidates.size(), static_cast<size_t>(2 * width));
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(keep),
                        candidates.end(), [](const Candidate &a, const Candidate &b) {
                          if (a.log_probability != b.log_probability)
                            return a.log_probability > b.log_probability;
                          return std::tie(a.from, a.id) < std::tie(b.from, b.id);
                        });
      std::vector<Open> next;
      for (size_t c = 0; c < keep; ++c) {
        const Candidate &cand = candidates[c];
        const Open &from = open[r][cand.from];
        if (cand.id == tokens.eos) {
          // Only an ending among the `width` best finishes; the others fall away.
          if (static_cast<int64_t>(c) < width && static_cast<int64_t>(finished[r].size()) < width)
            finished[r].push_back(rank({from.tokens, 0, cand.log_probability},
                                       static_cast<int64_t>(from.tokens.size()) + 1));
        } else if (static_cast<int64_t>(next.size()) < width) {
          Open extended = from;
          extended.tokens.push_back(cand.id);
          extended.log_probability = cand.log_probability;
          next.push_back(std::move(extended));
        }
      }
      open[r] = std::move(next);
      bool last = pos + 1 == tgt_len;
      if (static_cast<int64_t>(finished[r].size()) >= width || last) {
        if (last)
          for (const Open &o : open[r])
            finished[r].push_back(
                rank({o.tokens, 0, o.log_probability}, static_cast<int64_t>(o.tokens.size())));
        open[r].clear();
      }
    }
  }
  for (std::vector<Hypothesis> &f : finished) {
    std::stable_sort(f.begin(), f.end(),
                     [](const Hypothesis &a, const Hypothesis &b) { return a.score > b.score; });
    f.resize(std::min<size_t>(f.size(), static_cast<size_t>(options.nbest)));
  }
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

std::vector<std::vector<int64_t>> sample(const LogitsFn &logits, const HostBuffer &src,
                                         int64_t tgt_len, const SampleOptions &options,
                                         const DecodeTokens &tokens) {
  if (!(options.temperature > 0) || !(options.top_p > 0 && options.top_p <= 1) || options.top_k < 0)
    throw Error({}, fmt::format("sampling needs a positive temperature, top-p in (0, 1] and "
                                "top-k >= 0; given {}, {} and {}",
                                options.temperature, options.top_p, options.top_k));
  int64_t rows = src.type().shape[0];
  PhiloxKey key = foldIn(streamKey(options.seed, RandomStream::Sample), options.stream);
  HostBuffer tgt(TensorType{DType::i64, {rows, tgt_len}});
  std::vector<std::vector<int64_t>> out(rows);
  std::vector<bool> done(rows, false);
  for (int64_t pos = 0; pos < tgt_len; ++pos) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
      break;
    writePrefixes(tgt, out, tokens.pad);
    HostBuffer l = logits(src, tgt);
    for (int64_t r = 0; r < rows; ++r) {
      if (done[r])
        continue;
      std::vector<double> p =
          samplingDistribution(logitsAt(l, rows, tgt_len, r, pos), options, tokens);
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
      if (id == tokens.eos)
        done[r] = true;
      else
        out[r].push_back(id);
    }
  }
  return out;
}

} // namespace kiln::decode
