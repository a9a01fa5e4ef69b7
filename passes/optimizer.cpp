// The optimizer pass: SGD with momentum, Adam and AdamW (following PyTorch's update rules),
// global-norm clipping and the paper's warm-up schedule, all as graph nodes.

#include "passes/optimizer.h"

#include "ir/builder.h"
#include "passes/pass.h"

#include <cmath>
#include <limits>

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

std::string optimizerName(OptimizerKind kind) {
  switch (kind) {
  case OptimizerKind::Sgd:
    return "sgd";
  case OptimizerKind::Adam:
    return "adam";
  case OptimizerKind::AdamW:
    return "adamw";
  }
  KILN_ASSERT(false, "unknown optimizer kind");
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

/// The sum of the squares of every gradient's elements.
Value *squaredNorm(const Scalars &s, const std::vector<Value *> &grads) {
  Value *sum = s.c(0.0);
  for (Value *g : grads) {
    IntList axes;
    for (int64_t d = 0; d < g->type.rank(); ++d)
      axes.push_back(d);
    sum = s.op(op::Add, sum, s.b.create(op::ReduceSum, {s.op(op::Mul, g, g)}, {{"axes", axes}}));
  }
  return sum;
}

/// min(1, clip / (norm + 1e-6)) for the global norm, as torch.nn.utils.clip_grad_norm_.
Value *clipScale(const Scalars &s, Value *squared_norm, double clip) {
  Value *norm = s.b.create(op::Sqrt, {squared_norm});
  return s.op(op::Min, s.c(1.0), s.op(op::Div, s.c(clip), s.op(op::Add, norm, s.c(1e-6))));
}

/// Whether an f32 scalar is finite: |x| <= the largest float is false for NaN and infinities.
Value *isFinite(const Scalars &s, Value *x) {
  return s.op(op::Le, s.b.create(op::Abs, {x}), s.c(std::numeric_limits<float>::max()));
}

} // namespace

int appendOptimizer(Graph &g, const OptimizerOptions &o) {
  checkOptimizerOptions(o);
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
      throw Error({}, fmt::format("optimizer: graph @{} already has an input named {}", g.name(),
                                  quoteBytes("%" + name)));
  };
  auto requireFreeOutput = [&](const std::string &name) {
    if (g.findOutput(name))
      throw Error({}, fmt::format("optimizer: graph @{} already has an output named {}", g.name(),
                                  quoteBytes(name, '"')));
  };
  requireFreeInput("step");
  requireFreeOutput("lr");
  if (o.skip_nonfinite)
    requireFreeOutput("skipped");
  for (const Item &it : items) {
    requireFreeOutput(it.name);
    for (const std::string &state : optimizerStateNames(o.kind, it.name)) {
      requireFreeInput(state);
      requireFreeOutput(state);
    }
  }

  Builder b(g);
  Scalars s{b};
  Value *step =
      g.addInput("step", InputKind::Data, TensorType{DType::i64, {}}, {}, InputRole::Step);
  Value *lr = learningRate(s, step, o);
  Value *t = b.create(op::Cast, {step}, {{"dtype", DType::f32}});
  std::vector<Value *> grads;
  for (const Item &it : items)
    grads.push_back(it.grad);
  Value *squared_norm = o.clip_norm || o.skip_nonfinite ? squaredNorm(s, grads) : nullptr;
  Value *clip = o.clip_norm ? clipScale(s, squared_norm, *o.clip_norm) : nullptr;
  // A step whose loss or gradients are not finite keeps every parameter and state as it was.
  Value *finite = nullptr;
  if (o.skip_nonfinite) {
    const GraphOutput *loss = g.findOutput("loss");
    if (!loss || loss->value->type != TensorType{DType::f32, {}})
      throw Error({}, fmt::format("optimizer: --skip-nonfinite needs an f32 scalar output "
                                  "\"loss\" in graph @{}",
                                  g.name()));
    finite = s.op(op::And, isFinite(s, loss->value), isFinite(s, squared_norm));
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
    if (finite) {
      next = b.create(op::Select, {finite, next, p});
      for (auto &[name, value] : next_state)
        value = b.create(op::Select, {finite, value, g.findInput(name)->value.get()});
    }
    updates.push_back({it.name, next});
    updates.insert(updates.end(), next_state.begin(), next_state.end());
  }
  g.eraseOutputs([](const GraphOutput &out) { return out.name.rfind("grad.", 0) == 0; });
  for (auto &[name, value] : updates)
    g.addOutput(name, value, {}, name);
  g.addOutput("lr", lr);
  if (finite)
    g.addOutput("skipped", b.create(op::Not, {finite}));
  g.removeDeadNodes();
  return static_cast<int>(items.size());
}

void checkOptimizerOptions(const OptimizerOptions &o) {
  auto refuse = [](std::string_view flag, double v, std::string_view rule) {
    throw Error({}, fmt::format("optimizer: --{} must be {}, found {}", flag, rule, v));
  };
  // The update computes in f32: a value must be a positive f32 after rounding, not 0 or inf.
  constexpr double kMax = std::numeric_limits<float>::max();
  auto positive = [&](std::string_view flag, double v) {
    if (!(v > 0 && v <= kMax && static_cast<float>(v) > 0))
      refuse(flag, v, "positive and within f32's range");
  };
  auto belowOne = [&](std::string_view flag, double v) {
    if (!(v >= 0 && v < 1))
      refuse(flag, v, "in [0, 1)");
  };
  if (o.lr)
    positive("lr", *o.lr);
  if (o.warmup < 1)
    refuse("warmup", static_cast<double>(o.warmup), "at least 1");
  if (o.d_model < 1)
    refuse("d-model", static_cast<double>(o.d_model), "at least 1");
  belowOne("beta1", o.beta1);
  belowOne("beta2", o.beta2);
  positive("eps", o.eps);
  belowOne("momentum", o.momentum);
  if (!(o.weight_decay >= 0 && o.weight_decay <= kMax))
    refuse("weight-decay", o.weight_decay, "0 or more and within f32's range");
  if (o.clip_norm)
    positive("clip-norm", *o.clip_norm);
}

namespace {

double number(const PassOptions &opts, const std::string &name, double fallback) {
  auto it = opts.find(name);
  if (it == opts.end())
    return fallback;
  const std::string &text = it->second;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::out_of_range &) {
    throw Error({}, fmt::format("optimizer: --{} {} is out of range", name, text));
  } catch (const std::exception &) {
  }
  // stod reads hexadecimal too (0x10 as 16); the options are decimal numbers.
  bool hex = text.find_first_of("xX") != std::string::npos;
  if (used == 0 || used != text.size() || hex)
    throw UsageError(
        {}, fmt::format("optimizer: option --{} takes a decimal number, found '{}'", name, text));
  return v;
}

/// An option that counts something: a whole number in [1, 2^53], so the cast is exact.
int64_t count(const PassOptions &opts, const std::string &name, int64_t fallback) {
  double v = number(opts, name, static_cast<double>(fallback));
  if (!(v >= 1 && v <= 9007199254740992.0 && v == std::floor(v)))
    throw Error({}, fmt::format("optimizer: --{} must be a whole number of at least 1, found {}",
                                name, optionOr(opts, name, "")));
  return static_cast<int64_t>(v);
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
  o.warmup = count(options, "warmup", 4000);
  o.d_model = count(options, "d-model", 512);
  o.beta1 = number(options, "beta1", 0.9);
  o.beta2 = number(options, "beta2", 0.98);
  o.eps = number(options, "eps", 1e-9);
  o.momentum = number(options, "momentum", 0.9);
  o.weight_decay = number(options, "weight-decay", 0);
  if (options.count("clip-norm"))
    o.clip_norm = number(options, "clip-norm", 0);
  std::string skip = optionOr(options, "skip-nonfinite", "false");
  if (skip != "true" && skip != "false")
    throw UsageError({}, fmt::format("optimizer: option --skip-nonfinite takes true or false, "
                                     "found '{}'",
                                     skip));
  o.skip_nonfinite = skip == "true";
  checkOptimizerOptions(o);
  return createOptimizerPass(o);
}

std::unique_ptr<Pass> createOptimizerPass(const OptimizerOptions &opts) {
  return std::make_unique<OptimizerPass>(opts);
}

} // namespace kiln
