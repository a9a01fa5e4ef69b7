#include "runtime/trainer.h"

#include "ir/diagnostics.h"
#include "runtime/batch_share.h"
#include "runtime/random_key.h"
#include "runtime/safetensors.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

namespace kiln {

Trainer::Trainer(Programs programs, Batches batches, int64_t pad, uint64_t seed)
    : programs_(std::move(programs)), batches_(std::move(batches)), pad_(pad), seed_(seed) {}

Trainer::Trainer(Executable &program, SyntheticTask task, uint64_t seed)
    : programs_([&program](const Batch &) -> Executable & { return program; }),
      batches_([task, seed](int64_t step) mutable {
        task.seed = seed;
        return task.batchAt(step);
      }),
      pad_(task.pad), seed_(seed) {}

std::vector<TensorDecl> carriedTensors(const Signature &signature) {
  std::vector<TensorDecl> decls;
  for (const Signature::Input &in : signature.inputs)
    if (in.kind != InputKind::Data)
      decls.push_back({in.name, in.type});
  return decls;
}

void Trainer::joinGroup(int rank, int ranks) {
  KILN_ASSERT(ranks >= 1 && rank >= 0 && rank < ranks, "a rank of the group");
  rank_ = rank;
  ranks_ = ranks;
}

void Trainer::initState(TrainerState &state) const {
  Batch first = batches_(state.step + 1);
  if (ranks_ > 1)
    first = batchShare(first, rank_, ranks_, pad_);
  Executable &program = programs_(first);
  for (const TensorDecl &d : carriedTensors(program.signature()))
    if (!state.tensors.count(d.name))
      state.tensors.emplace(d.name, HostBuffer(d.type));
}

StepReport Trainer::step(TrainerState &state) const {
  int64_t step = state.step + 1;
  Batch batch = batches_(step);
  if (ranks_ > 1)
    batch = batchShare(batch, rank_, ranks_, pad_);
  int64_t tokens = 0;
  for (int64_t id : batch.tgt.as<int64_t>())
    tokens += id != pad_;
  Executable &program = programs_(batch);
  Bindings &b = state.tensors;
  const Signature &sig = program.signature();
  auto bind = [&](InputRole role, HostBuffer value) {
    if (auto i = sig.findInput(role))
      b[sig.inputs[*i].name] = std::move(value);
    else if (role != InputRole::Seed)
      throw Error({},
                  fmt::format("the training step has no input with role {}", inputRoleName(role)));
  };
  bind(InputRole::Source, std::move(batch.src));
  bind(InputRole::Target, std::move(batch.tgt));
  bind(InputRole::Step, HostBuffer::scalarInt(step));
  // A fresh dropout stream each step: the step folded into the seed's key.
  bind(InputRole::Seed, keyBuffer(dropoutKey(seed_, step, rank_)));
  program.run(b);
  StepReport report{step, b.at("loss").getDouble(0), 0, tokens};
  if (auto lr = b.find("lr"); lr != b.end())
    report.lr = lr->second.getDouble(0);
  if (auto correct = b.find("correct"); correct != b.end())
    report.correct = static_cast<int64_t>(correct->second.getDouble(0));
  if (auto group = b.find("dp.tokens"); group != b.end())
    report.tokens = static_cast<int64_t>(group->second.getDouble(0));
  if (auto skipped = b.find("skipped"); skipped != b.end())
    report.skipped = skipped->second.getInt(0) != 0;
  // The state keeps only what the step carries: parameters and optimizer moments.
  for (const Signature::Input &in : sig.inputs)
    if (in.kind == InputKind::Data)
      b.erase(in.name);
  for (const Signature::Output &out : sig.outputs)
    if (!out.updates)
      b.erase(out.name);
  state.step = step;
  return report;
}

void saveTrainerState(const std::string &path, const TrainerState &state,
                      std::map<std::string, std::string> metadata) {
  for (const auto &[name, tensor] : state.tensors) {
    if (!isFloat(tensor.dtype()))
      continue;
    int64_t bad = -1;
    if (tensor.dtype() == DType::f32) {
      std::span<const float> values = tensor.as<float>();
      auto it =
          std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
      bad = it == values.end() ? -1 : it - values.begin();
    } else {
      for (int64_t i = 0; i < tensor.numElements() && bad < 0; ++i)
        bad = std::isfinite(tensor.getDouble(i)) ? -1 : i;
    }
    if (bad >= 0)
      throw Error({path}, fmt::format("not saved: {} holds {} at element {} after step {}; {}",
                                      name, tensor.getDouble(bad), bad, state.step,
                                      std::filesystem::exists(path) ? "the file is left as it was"
                                                                    : "nothing was written"));
  }
  metadata["kiln.step"] = std::to_string(state.step);
  saveCheckpoint(path, state.tensors, metadata);
}

TrainerState loadTrainerState(const std::string &path, const Signature &signature) {
  TrainerState state;
  state.tensors = loadCheckpoint(path, carriedTensors(signature));
  auto meta = readSafetensorsMetadata(path);
  auto it = meta.find("kiln.step");
  Location loc;
  loc.file = path;
  if (it == meta.end())
    throw Error(loc, "no kiln.step in the metadata: not a checkpoint written by kiln train");
  const std::string &text = it->second;
  auto res = std::from_chars(text.data(), text.data() + text.size(), state.step);
  if (res.ec != std::errc() || res.ptr != text.data() + text.size() || state.step < 0)
    throw Error(loc, fmt::format("kiln.step '{}' in the metadata is not a step count", text));
  return state;
}

} // namespace kiln
