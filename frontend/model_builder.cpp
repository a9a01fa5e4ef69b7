#include "frontend/model_builder.h"

#include "frontend/tensor.h"
#include "ir/philox.h"

namespace kiln {

ModelBuilder::ModelBuilder(std::string graph_name)
    : graph_(std::make_unique<Graph>(std::move(graph_name))) {}

Tensor ModelBuilder::input(const std::string &name, TensorType type, InputRole role,
                           std::source_location loc) {
  if (graph_->findInput(name))
    throw Error(Location::fromSource(loc),
                fmt::format("input {} is declared twice", quoteBytes(name)));
  return Tensor(this, graph_->addInput(name, InputKind::Data, std::move(type),
                                       Location::fromSource(loc), role));
}

std::string ModelBuilder::scoped(const std::string &name) const {
  std::string full;
  for (const std::string &s : scopes_)
    full += s + ".";
  return full + name;
}

Tensor ModelBuilder::parameter(const std::string &name, Shape shape, Init init, DType dtype,
                               std::source_location loc) {
  std::string full = scoped(name);
  if (graph_->findInput(full))
    throw Error(Location::fromSource(loc),
                fmt::format("parameter {} is declared twice", quoteBytes(full)));
  TensorType type{dtype, std::move(shape)};
  params_.push_back(ParamSpec{full, type, init});
  return Tensor(this,
                graph_->addInput(full, InputKind::Parameter, type, Location::fromSource(loc)));
}

Tensor ModelBuilder::state(const std::string &name, TensorType type, std::source_location loc) {
  if (graph_->findInput(name))
    throw Error(Location::fromSource(loc),
                fmt::format("input {} is declared twice", quoteBytes(name)));
  return Tensor(
      this, graph_->addInput(name, InputKind::State, std::move(type), Location::fromSource(loc)));
}

void ModelBuilder::output(const std::string &name, const Tensor &t) {
  KILN_ASSERT(!graph_->findOutput(name), "output declared twice");
  graph_->addOutput(name, t.value());
}

void ModelBuilder::update(const std::string &state, const Tensor &t) {
  const GraphInput *in = graph_->findInput(state);
  KILN_ASSERT(in && in->kind == InputKind::State, "update() names a state input");
  KILN_ASSERT(!graph_->findOutput(state), "a state is updated once");
  graph_->addOutput(state, t.value(), {}, state);
}

void ModelBuilder::enterModule(const std::string &name, const std::source_location &call) {
  modules_.emplace_back(name, Location::fromSource(call));
}

Value *ModelBuilder::create(OpHandle op, std::vector<Value *> operands, AttrMap attrs,
                            const std::source_location &loc) {
  Location at = Location::fromSource(loc);
  if (!modules_.empty()) {
    const Location &call = modules_.front().second;
    at.scope = modules_.back().first;
    at.caller_file = call.file, at.caller_line = call.line, at.caller_col = call.col;
  }
  Builder b(*graph_, at);
  return b.create(op, std::move(operands), std::move(attrs));
}

Tensor ModelBuilder::seed(std::source_location loc) {
  if (!seed_)
    seed_ = graph_->addInput("seed", InputKind::Data, philoxKeyType(), Location::fromSource(loc),
                             InputRole::Seed);
  return Tensor(this, seed_);
}

int64_t ModelBuilder::reserveRandom(int64_t n) {
  int64_t first = random_counter_;
  random_counter_ += n;
  return first;
}

std::unique_ptr<Graph> ModelBuilder::finish() {
  auto unread = [&](const GraphInput &in) {
    return in.kind == InputKind::Parameter && graph_->numUses(in.value.get()) == 0;
  };
  std::erase_if(params_, [&](const ParamSpec &p) { return unread(*graph_->findInput(p.name)); });
  graph_->eraseInputs(unread);
  return std::move(graph_);
}

} // namespace kiln
