// The autodiff pass. It walks the graph backwards from the chosen output, calling each op's
// VJP with the cotangents of its results and adding up the cotangents that reach a value by
// several paths. Only nodes on a path from a chosen input to the output are visited.

#include "passes/autodiff.h"

#include "ir/builder.h"
#include "passes/pass.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

const GraphOutput &chooseOutput(const Graph &g, const std::string &of) {
  const GraphOutput *out = nullptr;
  if (!of.empty()) {
    out = g.findOutput(of);
    if (!out)
      throw Error(
          {}, fmt::format("autodiff: graph @{} has no output {}", g.name(), quoteBytes(of, '"')));
  } else if ((out = g.findOutput("loss")) == nullptr) {
    for (const GraphOutput &o : g.outputs())
      if (o.value->type.rank() == 0) {
        if (out)
          throw Error(
              o.loc,
              fmt::format("autodiff: graph @{} has several scalar outputs ({}, {}); name one "
                          "with --of",
                          g.name(), quoteBytes(out->name, '"'), quoteBytes(o.name, '"')));
        out = &o;
      }
    if (!out)
      throw Error(
          {}, fmt::format("autodiff: graph @{} has no scalar output to differentiate", g.name()));
  }
  const TensorType &t = out->value->type;
  if (t.rank() != 0 || !isFloat(t.dtype))
    throw Error(out->loc,
                fmt::format("autodiff: output {} is {}; a floating-point scalar is needed",
                            quoteBytes(out->name, '"'), t.str()));
  return *out;
}

std::vector<const GraphInput *> chooseInputs(const Graph &g, const std::vector<std::string> &wrt) {
  std::vector<const GraphInput *> inputs;
  if (wrt.empty()) {
    for (const GraphInput &in : g.inputs())
      if (in.kind == InputKind::Parameter && isFloat(in.value->type.dtype))
        inputs.push_back(&in);
    return inputs;
  }
  for (const std::string &name : wrt) {
    const GraphInput *in = g.findInput(name);
    if (!in)
      throw Error(
          {}, fmt::format("autodiff: graph @{} has no input {}", g.name(), quoteBytes("%" + name)));
    if (!isFloat(in->value->type.dtype))
      throw Error(in->loc,
                  fmt::format("autodiff: cannot differentiate with respect to {} of type {}; only "
                              "floating-point inputs have gradients",
                              quoteBytes("%" + name), in->value->type.str()));
    inputs.push_back(in);
  }
  return inputs;
}

/// Values that depend on a chosen input, through float values only.
std::unordered_set<const Value *> dependents(const Graph &g,
                                             const std::vector<const GraphInput *> &inputs) {
  std::unordered_set<const Value *> active;
  for (const GraphInput *in : inputs)
    active.insert(in->value.get());
  for (const auto &n : g.nodes()) {
    bool depends = false;
    for (const Value *v : n->operands)
      depends |= active.count(v) > 0;
    if (!depends)
      continue;
    for (const auto &r : n->results) {
      if (!isFloat(r->type.dtype))
        continue;
      // Ops marked non-differentiable have integer, boolean or random results; a float result
      // of one (a backward op) that depends on a differentiated input would need a second
      // derivative, which kiln does not have.
      if (n->op->differentiable == Differentiable::No)
        throw Error(
            n->loc,
            fmt::format("autodiff: op '{}' is not differentiable, and its result depends on a "
                        "differentiated input",
                        n->name()));
      active.insert(r.get());
    }
  }
  return active;
}

} // namespace

std::vector<std::string> differentiate(Graph &g, const AutodiffOptions &opts) {
  const GraphOutput &target = chooseOutput(g, opts.of);
  std::vector<const GraphInput *> inputs = chooseInputs(g, opts.wrt);
  std::unordered_set<const Value *> active = dependents(g, inputs);
  Value *loss = target.value;

  std::unordered_map<const Value *, Value *> cotangent;
  Builder b(g, target.loc);
  if (active.count(loss))
    cotangent[loss] = b.splat(1.0, loss->type.dtype);
  auto accumulate = [&](const Value *v, Value *grad) {
    auto [it, fresh] = cotangent.emplace(v, grad);
    if (!fresh)
      it->second = b.create(op::Add, {it->second, grad});
  };

  // Snapshot the forward nodes: the VJPs append to the same list.
  std::vector<Node *> forward;
  for (const auto &n : g.nodes())
    forward.push_back(n.get());
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    Node &n = **it;
    std::vector<Value *> cots;
    bool any = false;
    for (const auto &r : n.results) {
      auto c = cotangent.find(r.get());
      cots.push_back(c == cotangent.end() ? nullptr : c->second);
      any |= c != cotangent.end();
    }
    if (!any)
      continue;
    if (n.op->differentiable == Differentiable::Unset || !n.op->vjp)
      throw Error(n.loc, fmt::format("autodiff: op '{}' has no VJP", n.name()));
    b.setLocation(n.loc);
    for (size_t i = 0; i < cots.size(); ++i)
      if (!cots[i])
        cots[i] = b.splat(0.0, n.results[i]->type.dtype, n.results[i]->type.shape);
    std::vector<Value *> grads = n.op->vjp(b, n, cots);
    KILN_ASSERT(grads.size() == n.operands.size(),
                "a VJP must give one gradient (or null) per operand");
    for (size_t i = 0; i < grads.size(); ++i) {
      const Value *operand = n.operands[i];
      if (!active.count(operand))
        continue;
      if (!grads[i])
        throw Error(
            n.loc,
            fmt::format("autodiff: {} gives no gradient to its operand {}, which depends on a "
                        "differentiated input",
                        n.name(), i));
      KILN_ASSERT(grads[i]->type == operand->type, "a VJP produced a gradient of the wrong type");
      accumulate(operand, grads[i]);
    }
  }

  std::vector<std::string> names;
  b.setLocation(target.loc);
  for (const GraphInput *in : inputs) {
    auto c = cotangent.find(in->value.get());
    Value *grad = c != cotangent.end() ? c->second
                                       : b.splat(0.0, in->value->type.dtype, in->value->type.shape);
    std::string name = "grad." + in->name;
    if (g.findOutput(name))
      throw Error({}, fmt::format("autodiff: graph @{} already has an output {}", g.name(),
                                  quoteBytes(name, '"')));
    g.addOutput(name, grad, in->loc);
    names.push_back(name);
  }
  g.removeDeadNodes();
  return names;
}

namespace {

class AutodiffPass : public Pass {
public:
  explicit AutodiffPass(AutodiffOptions opts) : opts_(std::move(opts)) {}
  std::string_view name() const override { return "autodiff"; }
  bool run(Graph &g, PassContext &ctx) override {
    size_t before = g.nodes().size();
    auto grads = differentiate(g, opts_);
    ctx.count("gradients", static_cast<int64_t>(grads.size()));
    ctx.count("nodes added", static_cast<int64_t>(g.nodes().size()) - static_cast<int64_t>(before));
    return true;
  }

private:
  AutodiffOptions opts_;
};

} // namespace

std::unique_ptr<Pass> createAutodiffPass(const PassOptions &options) {
  AutodiffOptions opts;
  opts.of = optionOr(options, "of", "");
  opts.wrt = splitList(optionOr(options, "wrt", ""));
  return createAutodiffPass(std::move(opts));
}

std::unique_ptr<Pass> createAutodiffPass(AutodiffOptions opts) {
  return std::make_unique<AutodiffPass>(std::move(opts));
}

} // namespace kiln
