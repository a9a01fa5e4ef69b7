#include "backend/reference/interpreter.h"

#include <unordered_map>

namespace kiln::reference {

namespace {

TensorType promoted(TensorType t, const Options &opts) {
  if (opts.promote_f64 && t.dtype == DType::f32)
    t.dtype = DType::f64;
  return t;
}

} // namespace

std::vector<Literal> run(const Graph &g, std::span<const Literal> inputs, const Options &opts) {
  if (inputs.size() != g.inputs().size())
    throw Error({}, fmt::format("graph @{} takes {} inputs, {} given", g.name(), g.inputs().size(),
                                inputs.size()));
  std::unordered_map<const Value *, Literal> env;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const GraphInput &in = g.inputs()[i];
    TensorType want = promoted(in.value->type, opts);
    TensorType have = promoted(inputs[i].type, opts);
    if (want != have)
      throw Error(in.loc, fmt::format("input '{}' expects {}, found {}", in.name,
                                      in.value->type.str(), inputs[i].type.str()));
    Literal lit = inputs[i];
    lit.type = want;
    lit.roundToDType();
    env[in.value.get()] = std::move(lit);
  }
  for (const auto &n : g.nodes()) {
    std::vector<const Literal *> args;
    for (const Value *v : n->operands)
      args.push_back(&env.at(v));
    std::vector<Literal> results = n->op->reference(*n, args);
    KILN_ASSERT(results.size() == n->results.size(), "kernel returned a wrong number of results");
    for (size_t i = 0; i < results.size(); ++i) {
      Literal &r = results[i];
      KILN_ASSERT(r.type.shape == n->results[i]->type.shape, "kernel returned a wrong shape");
      r.type = promoted(n->results[i]->type, opts);
      r.roundToDType();
      env[n->results[i].get()] = std::move(r);
    }
  }
  std::vector<Literal> outputs;
  for (const auto &o : g.outputs())
    outputs.push_back(env.at(o.value));
  return outputs;
}

} // namespace kiln::reference
