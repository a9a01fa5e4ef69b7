#include "sampling.h"

#include <algorithm>
#include <random>

namespace gpt {

std::string sample(kiln::Executable &logits, kiln::Bindings &bindings,
                   const kiln::data::CharTokenizer &tokenizer, int64_t length,
                   const std::string &prompt, const SampleSettings &settings) {
  std::vector<int64_t> ids = tokenizer.encode(prompt);
  if (ids.empty())
    throw kiln::Error({}, "the prompt must hold at least one character");
  kiln::decode::SampleOptions options;
  options.temperature = settings.temperature;
  options.top_k = settings.top_k;
  // Every character may be drawn: no id stands for padding or BOS.
  kiln::decode::DecodeTokens none{-1, -1, -1};
  std::mt19937_64 rng(settings.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int64_t vocab = tokenizer.size();
  for (int64_t i = 0; i < settings.characters; ++i) {
    auto context = std::min<int64_t>(length, static_cast<int64_t>(ids.size()));
    kiln::HostBuffer window(kiln::TensorType{kiln::DType::i64, {1, length}});
    std::copy(ids.end() - context, ids.end(), window.as<int64_t>().begin());
    bindings["input"] = std::move(window);
    logits.run(bindings);
    std::span<const float> all = bindings.at("logits").as<float>();
    std::span<const float> last = all.subspan((context - 1) * vocab, vocab);
    std::vector<double> p = kiln::decode::samplingDistribution(last, options, none);
    double u = uniform(rng), acc = 0;
    int64_t id = 0, chosen = -1;
    for (; id < vocab; ++id) {
      if (p[id] > 0)
        chosen = id;
      acc += p[id];
      if (p[id] > 0 && u < acc)
        break;
    }
    ids.push_back(chosen); // the last possible one when rounding leaves u at the very top
  }
  return tokenizer.decode(ids);
}

} // namespace gpt
