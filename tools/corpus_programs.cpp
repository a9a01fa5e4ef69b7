#include "tools/corpus_programs.h"

#include <chrono>

namespace kiln::tools {

std::vector<data::EncodedPair> encode(const data::Tokenizer &t,
                                      const std::vector<data::SentencePair> &pairs) {
  std::vector<data::EncodedPair> out;
  out.reserve(pairs.size());
  for (const data::SentencePair &p : pairs)
    out.push_back({t.encode(p.source), t.encode(p.target)});
  return out;
}

data::BatchShape shapeOf(const Batch &b) {
  return {b.src.type().shape[0], b.src.type().shape[1], b.tgt.type().shape[1]};
}

Executable &ProgramCache::at(const data::BatchShape &shape) {
  auto it = programs_.find(shape);
  if (it != programs_.end())
    return *it->second;
  auto start = std::chrono::steady_clock::now();
  GraphOptions opts{.batch = shape.batch,
                    .src_len = shape.src_len,
                    .tgt_len = shape.tgt_len,
                    .dropout = dropout_};
  BuiltModel m = build_(opts);
  params_ = m.params;
  std::unique_ptr<Executable> exe = backend_.get().compile(*m.graph, backend_.options());
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return *programs_.emplace(shape, std::move(exe)).first->second;
}

double validationLoss(ProgramCache &programs, const data::BatchSchedule &valid,
                      const std::map<std::string, HostBuffer> &tensors, int64_t pad) {
  double total = 0;
  int64_t tokens = 0;
  for (int64_t s = 1; s <= valid.batchesPerEpoch(); ++s) {
    Batch b = valid.batchAt(s);
    Executable &exe = programs.at(shapeOf(b));
    int64_t n = 0;
    for (int64_t id : b.tgt.as<int64_t>())
      n += id != pad;
    std::vector<HostBuffer> inputs;
    for (const Signature::Input &in : exe.signature().inputs)
      inputs.push_back(in.role == InputRole::Source   ? b.src
                       : in.role == InputRole::Target ? b.tgt
                                                      : tensors.at(in.name));
    std::vector<HostBuffer> out = exe.run(inputs);
    auto loss = exe.signature().findOutput("loss");
    total += out[*loss].getDouble(0) * static_cast<double>(n);
    tokens += n;
  }
  return tokens > 0 ? total / static_cast<double>(tokens) : 0;
}

} // namespace kiln::tools
