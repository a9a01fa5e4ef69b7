#include "runtime/trainer.h"

#include "ir/diagnostics.h"
#include "runtime/safetensors.h"

#include <charconv>
#include <fmt/format.h>

namespace kiln {

namespace {

bool isBatchInput(const std::string &name) {
  return name == "src" || name == "tgt" || name == "step" || name == "seed";
}

} // namespace

Trainer::Trainer(StepProgram program, SyntheticTask task, uint64_t seed)
    : program_(std::move(program)), task_(std::move(task)), seed_(seed) {
  task_.seed = seed;
}

void Trainer::initState(TrainerState &state) const {
  for (const TensorDecl &d : program_.inputs)
    if (!isBatchInput(d.name) && !state.tensors.count(d.name))
      state.tensors.emplace(d.name, Literal(d.type));
}

StepReport Trainer::step(TrainerState &state) const {
  int64_t step = state.step + 1;
  Batch batch = task_.batchAt(step);
  std::vector<Literal> args;
  for (const TensorDecl &d : program_.inputs) {
    if (d.name == "src")
      args.push_back(batch.src);
    else if (d.name == "tgt")
      args.push_back(batch.tgt);
    else if (d.name == "step")
      args.push_back(Literal::scalar(static_cast<double>(step), DType::i64));
    else if (d.name == "seed") // a fresh dropout stream each step, exact in a double
      args.push_back(Literal::scalar(
          static_cast<double>(((seed_ & 0xfffff) << 32) | static_cast<uint64_t>(step)),
          DType::i64));
    else
      args.push_back(state.tensors.at(d.name));
  }
  std::vector<Literal> results = program_.run(args);
  StepReport report{step, 0, 0};
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string &name = program_.outputs[i];
    if (name == "loss")
      report.loss = results[i].data[0];
    else if (name == "lr")
      report.lr = results[i].data[0];
    else if (auto it = state.tensors.find(name); it != state.tensors.end())
      it->second = std::move(results[i]);
  }
  state.step = step;
  return report;
}

void saveTrainerState(const std::string &path, const TrainerState &state,
                      std::map<std::string, std::string> metadata) {
  metadata["kiln.step"] = std::to_string(state.step);
  saveCheckpoint(path, state.tensors, metadata);
}

TrainerState loadTrainerState(const std::string &path, const StepProgram &program) {
  std::vector<TensorDecl> expected;
  for (const TensorDecl &d : program.inputs)
    if (!isBatchInput(d.name))
      expected.push_back(d);
  TrainerState state;
  state.tensors = loadCheckpoint(path, expected);
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
