#include "tools/translator.h"

#include "runtime/decode/cached_decoder.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::tools {
namespace {

int64_t roundUp(int64_t n, int64_t step) { return (n + step - 1) / step * step; }

} // namespace

void SearchOptions::check() const {
  SearchOptions defaults;
  if (batch <= 0 || max_length <= 0 || beam <= 0)
    throw Error({}, fmt::format("--batch, --max-length and --beam must be positive, found {}, {} "
                                "and {}",
                                batch, max_length, beam));
  if (!sample && (temperature != defaults.temperature || top_k != defaults.top_k ||
                  top_p != defaults.top_p || seed != defaults.seed))
    throw Error({}, "--temperature, --top-k, --top-p and --seed need --sample");
  if ((greedy || sample) && (beam != defaults.beam || length_penalty != defaults.length_penalty))
    throw Error({}, "--beam and --length-penalty are for beam search, not --greedy or --sample");
  if (nbest > 0 && (greedy || sample))
    throw Error({}, "--nbest lists the beam's best: it excludes --greedy and --sample");
  if (nbest > beam)
    throw Error({}, fmt::format("--nbest {} is more than the beam's width {}", nbest, beam));
}

Translator::Translator(TransformerConfig config, const data::Tokenizer &tokenizer,
                       const BackendFlags &backend)
    : config_(std::move(config)), tokenizer_(tokenizer), backend_(backend) {
  if (config_.vocab != tokenizer.vocabSize())
    throw Error({}, fmt::format("the model's vocabulary of {} differs from its tokenizer's {}",
                                config_.vocab, tokenizer.vocabSize()));
}

Translator::Programs &Translator::programsFor(int64_t rows, int64_t width, int64_t src_len,
                                              int64_t capacity) {
  auto key = std::tuple(rows, width, src_len, capacity);
  auto it = programs_.find(key);
  if (it != programs_.end())
    return it->second;
  Programs p;
  p.encoder = backend_.get().compile(
      *buildEncoder(config_, {.batch = rows, .src_len = src_len}).graph, backend_.options());
  p.step = backend_.get().compile(
      *buildDecodeStep(config_, {.batch = rows * width, .src_len = src_len, .tgt_len = capacity})
           .graph,
      backend_.options());
  return programs_.emplace(key, std::move(p)).first->second;
}

std::vector<std::vector<Translation>> Translator::translate(const Bindings &weights,
                                                            const SearchOptions &search,
                                                            const std::vector<std::string> &lines) {
  search.check();
  int64_t width = search.greedy || search.sample ? 1 : search.beam;
  std::vector<std::vector<int64_t>> sources;
  for (const std::string &line : lines)
    sources.push_back(tokenizer_.encode(line));

  // Sentences of similar lengths share a batch and its programs; an empty line stays empty.
  std::vector<size_t> order;
  for (size_t i = 0; i < lines.size(); ++i)
    if (!sources[i].empty())
      order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sources[a].size() < sources[b].size(); });
  // The decoder of the current shape holds a copy of these weights; batches come in order of
  // length, so a shape never comes back once the next one starts.
  std::tuple<int64_t, int64_t, int64_t> current{};
  std::unique_ptr<decode::CachedDecoder> decoder;
  decode::DecodeTokens special{config_.tokens.pad, config_.tokens.bos, config_.tokens.eos};
  std::vector<std::vector<Translation>> out(lines.size());
  for (size_t first = 0; first < order.size(); first += static_cast<size_t>(search.batch)) {
    size_t last = std::min(order.size(), first + static_cast<size_t>(search.batch));
    int64_t rows = static_cast<int64_t>(last - first);
    int64_t src_len = roundUp(static_cast<int64_t>(sources[order[last - 1]].size()) + 1, 8);
    int64_t capacity = std::min(search.max_length, roundUp(2 * src_len, 8));
    auto key = std::tuple(rows, src_len, capacity);
    if (!decoder || key != current) {
      Programs &p = programsFor(rows, width, src_len, capacity);
      decoder.reset();
      decoder = std::make_unique<decode::CachedDecoder>(*p.encoder, *p.step, weights);
      current = key;
    }
    HostBuffer src(TensorType{DType::i64, {rows, src_len}});
    std::span<int64_t> s = src.as<int64_t>();
    std::fill(s.begin(), s.end(), config_.tokens.pad);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<int64_t> &ids = sources[order[first + static_cast<size_t>(r)]];
      std::copy(ids.begin(), ids.end(), s.begin() + r * src_len);
      s[r * src_len + static_cast<int64_t>(ids.size())] = config_.tokens.eos;
    }
    std::vector<std::vector<decode::Hypothesis>> found(rows);
    if (search.greedy || search.sample) {
      std::vector<std::vector<int64_t>> ids =
          search.greedy ? decode::greedyDecode(*decoder, src, capacity, special)
                        : decode::sample(*decoder, src, capacity,
                                         {.temperature = search.temperature,
                                          .top_k = search.top_k,
                                          .top_p = search.top_p,
                                          .seed = search.seed,
                                          .stream = first},
                                         special);
      for (int64_t r = 0; r < rows; ++r)
        found[r].push_back({ids[r], 0, 0});
    } else {
      found = decode::beamSearch(*decoder, src, capacity,
                                 {.width = search.beam,
                                  .length_penalty = search.length_penalty,
                                  .nbest = std::max<int64_t>(1, search.nbest)},
                                 special);
    }
    for (int64_t r = 0; r < rows; ++r)
      for (const decode::Hypothesis &h : found[r])
        out[order[first + static_cast<size_t>(r)]].push_back(
            {h.score, tokenizer_.decode(h.tokens)});
  }
  return out;
}

} // namespace kiln::tools
