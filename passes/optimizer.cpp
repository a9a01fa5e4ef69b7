// The optimizer pass: SGD with momentum, Adam and AdamW (following PyTorch's update rules),
// global-norm clipping and the paper's warm-up schedule, all as graph nodes.

#include "passes/optimizer.h"

#include "ir/builder.h"
#include "passes/pass.h"

#include <cmath>

namespace kiln {

OptimizerKind parseOptimizerKind(const std::string &name) {
  if (name == "sgd")
    return OptimizerKind::Sgd;
  if (name == "adam")
    return OptimizerKind::Adam;
  if (name == "adamw")
    return OptimizerKind::AdamW;
  throw Error({}, fmt::format("unknown optimizer '{}'; expected sgd, adam or adamw", name));
}

std::vector<std::string> optimizerStateNames(OptimizerKind kind, const std::string &param) {
  if (kind == OptimizerKind::Sgd)
    return {"sgd.momentum." + param};
  return {"adam.m." + param, "adam.v." + param};
}

namespace {

/// Emits scalar arithmetic compactly.
struct Scalars {
  Builder &b;
  Value *c(double v) const { return b.splat(v, DType::f32); }
  Value *op(OpHandle h, Value *x, Value *y) const { return b.create(h, {x, y}); }
};

/// The learning rate at this step.
Value *learningRate(const Scalars &s, Value *step, const OptimizerOptions &o) {
  if (o.lr)
    return s.c(*o.lr);
  Value *t = s.b.create(op::Cast, {step}, {{"dtype", DType::f32}});
  Value *decay = s.b.create(op::Rsqrt, {t});
  Value *ramp = s.op(op::Mul, t, s.c(std::pow(static_cast<double>(o.warmup), -1.5)));
  return s.op(op::Mul, s.c(std::pow(static_cast<double>(o.d_model), -0.5)),
              s.op(op::Min, decay, ramp));
}

/// min(1, clip / (norm + 1e-6)) over all gradients, as torch.nn.utils.clip_grad_norm_.
Value *clipScale(const Scalars &s, const std::vector<Value *> &grads, double clip) {
  Value *sum = s.c(0.0);
  for (Value *g : grads) {
    IntList axes;
    for (int64_t d = 0; d < g->type.rank(); ++d)
      axes.push_back(d);
    sum = s.op(op::Add, sum, s.b.create(op::ReduceSum, {s.op(op::Mul, g, g)}, {{"axes", axes}}));
  }
  Value *norm = s.b.create(op::Sqrt, {sum});
  return s.op(op::Min, s.c(1.0), s.op(op::Div, s.c(clip), s.op(op::Add, norm, s.c(1e-6))));
}

} // namespace

int appendOptimizer(Graph &g, const OptimizerOptions &o) {
  struct Item {
    Value *param;
    Value *grad;
    std::string name;
  };
  std::vector<Item> items;
  for (const GraphInput &in : g.inputs())
    if (in.kind == InputKind::Parameter)
      if (const GraphOutput *out = g.findOutput("grad." + in.name))
        items.push_back({in.value.get(), out->value, in.name});
  if (items.empty())
    throw Error(
        {}, fmt::format("optimizer: graph @{} has no grad.<parameter> outputs; run autodiff first",
                        g.name()));
  // Every name the update adds must be free.
  auto requireFreeInput = [&](const std::string &name) {
    if (g.findInput(name))
      throw Error(
          {}, fmt::format("optimizer: graph @{} already has an input named '%{}'", g.name(), name));
  };
  auto requireFreeOutput = [&](const std::string &name) {
    if (g.findOutput(name))
      throw Error({}, fmt::format("optimizer: graph @{} already has an output named \"{}\"",
                                  g.name(), name));
  };
  requireFreeInput("step");
  requireFreeOutput("lr");
  for (const Item &it : items) {
    requireFreeOutput(it.name);
    for (const std::string &state : optimizerStateNames(o.kind, it.name)) {
      requireFreeInput(state);
      requireFreeOutput(state);
    }
  }
  if (o.warmup < 1 || !(o.lr.value_or(1.0) > 0) || !(o.clip_norm.value_or(1.0) > 0))
    throw Error({}, "optimizer: warmup must be at least 1, and lr and clip-norm positive");

  Builder b(g);
  Scalars s{b};
  Value *step =
      g.addInput("step", InputKind::Data, TensorType{DType::i64, {}}, {}, InputRole::Step);
  Value *lr = learningRate(s, step, o);
  Value *t = b.create(op::Cast, {step}, {{"dtype", DType::f32}});
  Value *clip = nullptr;
  if (o.clip_norm) {
    std::vector<Value *> grads;
    for (const Item &it : items)
      grads.push_back(it.grad);
    clip = clipScale(s, grads, *o.clip_norm);
  }
  // Adam's bias corrections 1 - beta^t.
  Value *bc1 = s.op(op::Sub, s.c(1.0), s.op(op::Pow, s.c(o.beta1), t));
  Value *bc2 = s.op(op::Sub, s.c(1.0), s.op(op::Pow, s.c(o.beta2), t));

  std::vector<std::pair<std::string, Value *>> updates;
  for (const Item &it : items) {
    Value *p = it.param, *grad = clip ? s.op(op::Mul, it.grad, clip) : it.grad;
    DType dt = p->type.dtype;
    auto c = [&](double v) { return b.splat(v, dt); };
    auto bin = [&](OpHandle h, Value *x, Value *y) { return b.create(h, {x, y}); };
    Value *lr_p = dt == DType::f32 ? lr : b.create(op::Cast, {lr}, {{"dtype", dt}});
    std::vector<std::string> state = optimizerStateNames(o.kind, it.name);
    if (o.kind != OptimizerKind::AdamW && o.weight_decay > 0)
      grad = bin(op::Add, grad, bin(op::Mul, p, c(o.weight_decay)));
    Value *next;
    std::vector<std::pair<std::string, Value *>> next_state;
    if (o.kind == OptimizerKind::Sgd) {
      Value *buf = g.addInput(state[0], InputKind::State, p->type);
      Value *buf2 = bin(op::Add, bin(op::Mul, buf, c(o.momentum)), grad);
      next = bin(op::Sub, p, bin(op::Mul, buf2, lr_p));
      next_state.push_back({state[0], buf2});
    } else {
      Value *m = g.addInput(state[0], InputKind::State, p->type);
      Value *v = g.addInput(state[1], InputKind::State, p->type);
      Value *m2 = bin(op::Add, bin(op::Mul, m, c(o.beta1)), bin(op::Mul, grad, c(1 - o.beta1)));
      Value *v2 = bin(op::Add, bin(op::Mul, v, c(o.beta2)),
                      bin(op::Mul, bin(op::Mul, grad, grad), c(1 - o.beta2)));
      Value *m_hat =
          bin(op::Div, m2, dt == DType::f32 ? bc1 : b.create(op::Cast, {bc1}, {{"dtype", dt}}));
      Value *v_hat =
          bin(op::Div, v2, dt == DType::f32 ? bc2 : b.create(op::Cast, {bc2}, {{"dtype", dt}}));
      Value *base = p;
      if (o.kind == OptimizerKind::AdamW && o.weight_decay > 0)
        base = bin(op::Mul, p, bin(op::Sub, c(1.0), bin(op::Mul, lr_p, c(o.weight_decay))));
      Value *step_dir = bin(op::Div, m_hat, bin(op::Add, b.create(op::Sqrt, {v_hat}), c(o.eps)));
      next = bin(op::Sub, base, bin(op::Mul, step_dir, lr_p));
      next_state.push_back({state[0], m2});
      next_state.push_back({state[1], v2});
    }
    updates.push_back({it.name, next});
    updates.insert(updates.end(), next_state.begin(), next_state.end());
  }
  std::erase_if(g.outputs(),
                [](const GraphOutput &out) { return out.name.rfind("grad.", 0) == 0; });
  for (auto &[name, value] : updates)
    g.addOutput(name, value, {}, name);
  g.addOutput("lr", lr);
  g.removeDeadNodes();
  return static_cast<int>(items.size());
}

namespace {

double number(const PassOptions &opts, const std::string &name, double fallback) {
  std::string text = optionOr(opts, name, "");
  if (text.empty())
    return fallback;
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size())
      return v;
  } catch (const std::exception &) {
  }
  throw Error({}, fmt::format("optimizer: option --{} takes a number, found '{}'", name, text));
}

class OptimizerPass : public Pass {
public:
  explicit OptimizerPass(OptimizerOptions opts) : opts_(opts) {}
  std::string_view name() const override { return "optimizer"; }
  bool run(Graph &g, PassContext &ctx) override {
    ctx.count("parameters updated", appendOptimizer(g, opts_));
    return true;
  }

private:
  OptimizerOptions opts_;
};

} // namespace

std::unique_ptr<Pass> createOptimizerPass(const PassOptions &options) {
  OptimizerOptions o;
  o.kind = parseOptimizerKind(optionOr(options, "optimizer", "adam"));
  if (options.count("lr"))
    o.lr = number(options, "lr", 0);
  o.warmup = static_cast<int64_t>(number(options, "warmup", 4000));
  o.d_model = static_cast<int64_t>(number(options, "d-model", 512));
  o.beta1 = number(options, "beta1", 0.9);
  o.beta2 = number(options, "beta2", 0.98);
  o.eps = number(options, "eps", 1e-9);
  o.momentum = number(options, "momentum", 0.9);
  o.weight_decay = number(options, "weight-decay", 0);
  if (options.count("clip-norm"))
    o.clip_norm = number(options, "clip-norm", 0);
  return createOptimizerPass(o);
}

std::unique_ptr<Pass> createOptimizerPass(const OptimizerOptions &opts) {
  return std::make_unique<OptimizerPass>(opts);
}

} // namespace kiln
