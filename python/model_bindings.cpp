// kiln.Config (a Transformer's hyper-parameters, from a preset and kiln's model flags),
// kiln.Model (a built graph and its parameters), the Transformer's stages and the programs of
// compiler/programs.h: loss, gradients, train step, encoder and decode step.

#include "compiler/programs.h"
#include "ir/diagnostics.h"
#include "python/bindings.h"
#include "python/convert.h"
#include "tools/model_options.h"
#include "tools/tool_support.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace kiln::python {

namespace {

/// A built program as Python holds it: the graph (shared with the kiln.Graph objects that name
/// it) and its parameters with their initializers.
struct Model {
  std::shared_ptr<Graph> graph;
  std::vector<ParamSpec> params;
};

Model toModel(BuiltModel built) {
  return Model{std::shared_ptr<Graph>(std::move(built.graph)), std::move(built.params)};
}

/// kiln.config: a preset with the overrides kiln's --d-model, --heads, ... flags apply, checked
/// as those flags check their values.
TransformerConfig makeConfig(const std::string &name, std::optional<int64_t> d_model,
                             std::optional<int64_t> heads, std::optional<int64_t> ffn,
                             std::optional<int64_t> layers, std::optional<int64_t> encoder_layers,
                             std::optional<int64_t> decoder_layers, std::optional<int64_t> vocab,
                             std::optional<double> label_smoothing, bool pre_norm, bool gelu,
                             bool tie_generator, std::optional<int64_t> pad_id,
                             std::optional<int64_t> bos_id, std::optional<int64_t> eos_id,
                             std::optional<int64_t> unk_id) {
  auto check = [](const char *what, const std::optional<int64_t> &v, int64_t least) {
    if (v && *v < least)
      throw Error({}, fmt::format("{}: must be {}, found {}", what,
                                  least > 0 ? "positive" : "at least 0", *v));
  };
  check("d_model", d_model, 1);
  check("heads", heads, 1);
  check("ffn", ffn, 1);
  check("vocab", vocab, 1);
  check("layers", layers, 0);
  check("encoder_layers", encoder_layers, 0);
  check("decoder_layers", decoder_layers, 0);
  check("pad_id", pad_id, 0);
  check("bos_id", bos_id, 0);
  check("eos_id", eos_id, 0);
  check("unk_id", unk_id, 0);
  if (label_smoothing && !(*label_smoothing >= 0 && *label_smoothing <= 1))
    throw Error({}, fmt::format("label_smoothing: must lie in [0, 1], found {}", *label_smoothing));
  tools::ModelFlags flags;
  flags.config = name;
  flags.d_model = d_model, flags.heads = heads, flags.ffn = ffn, flags.layers = layers;
  flags.encoder_layers = encoder_layers, flags.decoder_layers = decoder_layers;
  flags.vocab = vocab, flags.label_smoothing = label_smoothing;
  flags.pre_norm = pre_norm, flags.gelu = gelu, flags.tie_generator = tie_generator;
  flags.pad_id = pad_id, flags.bos_id = bos_id, flags.eos_id = eos_id, flags.unk_id = unk_id;
  return flags.resolve();
}

/// A Config, or the preset a name names.
TransformerConfig configOf(const py::object &config) {
  if (py::isinstance<py::str>(config))
    return presetConfig(config.cast<std::string>());
  return config.cast<TransformerConfig>();
}

/// Graph sizes, checked as kiln's --batch, --src-len and --tgt-len flags check them.
GraphOptions graphOptions(int64_t batch, int64_t src_len, int64_t tgt_len, double dropout) {
  for (auto [what, v] : {std::pair{"batch", batch}, {"src_len", src_len}, {"tgt_len", tgt_len}})
    if (v < 1)
      throw Error({}, fmt::format("{}: must be positive, found {}", what, v));
  return GraphOptions{batch, src_len, tgt_len, dropout};
}

/// The optimizer of kiln train's flags (--optimizer, --lr, --warmup, ...), checked.
OptimizerOptions optimizerOptions(const std::string &optimizer, std::optional<double> lr,
                                  int64_t warmup, int64_t d_model, double weight_decay,
                                  std::optional<double> clip_norm, bool skip_nonfinite,
                                  double beta1, double beta2, double eps, double momentum) {
  OptimizerOptions opt;
  opt.kind = parseOptimizerKind(optimizer);
  opt.lr = lr;
  opt.warmup = warmup;
  opt.d_model = d_model;
  opt.weight_decay = weight_decay;
  opt.clip_norm = clip_norm;
  opt.skip_nonfinite = skip_nonfinite;
  opt.beta1 = beta1, opt.beta2 = beta2, opt.eps = eps, opt.momentum = momentum;
  checkOptimizerOptions(opt);
  return opt;
}

std::string initName(Init init) {
  switch (init) {
  case Init::Zeros:
    return "zeros";
  case Init::Ones:
    return "ones";
  case Init::XavierUniform:
    return "xavier_uniform";
  }
  return "?";
}

const char *const kGraphArgsDoc =
    "batch, src_len and tgt_len are the graph's static sizes; dropout > 0 adds the random ops "
    "and a 'seed' input. config is a kiln.Config or a preset name.";

const char *const kOptimizerDoc =
    "The optimizer takes kiln train's options: optimizer ('sgd', 'adam', 'adamw'), lr (a "
    "constant rate; None: the warm-up schedule d_model^-0.5 * min(step^-0.5, step * "
    "warmup^-1.5)), warmup, weight_decay, clip_norm (None: no clipping), skip_nonfinite, beta1, "
    "beta2, eps and momentum.";

} // namespace

void bindModels(py::module_ &m) {
  py::class_<TransformerConfig>(m, "Config",
                                "The Transformer's hyper-parameters; kiln.config builds one.")
      .def_readwrite("name", &TransformerConfig::name, "The preset's name, or 'custom'.")
      .def_readwrite("d_model", &TransformerConfig::d_model, "The model's width.")
      .def_readwrite("heads", &TransformerConfig::heads, "Attention heads.")
      .def_readwrite("ffn", &TransformerConfig::ffn, "The feed-forward width.")
      .def_readwrite("encoder_layers", &TransformerConfig::encoder_layers, "Encoder layers.")
      .def_readwrite("decoder_layers", &TransformerConfig::decoder_layers, "Decoder layers.")
      .def_readwrite("vocab", &TransformerConfig::vocab, "The vocabulary's size.")
      .def_readwrite("norm_eps", &TransformerConfig::norm_eps, "LayerNorm's epsilon.")
      .def_readwrite("pre_norm", &TransformerConfig::pre_norm, "LayerNorm before each sub-layer.")
      .def_readwrite("gelu", &TransformerConfig::gelu, "GELU instead of ReLU.")
      .def_readwrite("tie_generator", &TransformerConfig::tie_generator,
                     "The generator reuses tgt_embed.weight.")
      .def_readwrite("label_smoothing", &TransformerConfig::label_smoothing,
                     "The loss's label smoothing.")
      .def_property(
          "pad_id", [](const TransformerConfig &c) { return c.tokens.pad; },
          [](TransformerConfig &c, int64_t v) { c.tokens.pad = v; }, "The padding token id.")
      .def_property(
          "bos_id", [](const TransformerConfig &c) { return c.tokens.bos; },
          [](TransformerConfig &c, int64_t v) { c.tokens.bos = v; }, "The begin token id.")
      .def_property(
          "eos_id", [](const TransformerConfig &c) { return c.tokens.eos; },
          [](TransformerConfig &c, int64_t v) { c.tokens.eos = v; }, "The end token id.")
      .def_property(
          "unk_id", [](const TransformerConfig &c) { return c.tokens.unk; },
          [](TransformerConfig &c, int64_t v) { c.tokens.unk = v; }, "The unknown token id.")
      .def("__repr__", [](const TransformerConfig &c) {
        return fmt::format("kiln.Config('{}', d_model={}, heads={}, ffn={}, encoder_layers={}, "
                           "decoder_layers={}, vocab={})",
                           c.name, c.d_model, c.heads, c.ffn, c.encoder_layers, c.decoder_layers,
                           c.vocab);
      });

  m.def("config", &makeConfig, py::arg("name") = "tiny", py::kw_only(),
        py::arg("d_model") = py::none(), py::arg("heads") = py::none(), py::arg("ffn") = py::none(),
        py::arg("layers") = py::none(), py::arg("encoder_layers") = py::none(),
        py::arg("decoder_layers") = py::none(), py::arg("vocab") = py::none(),
        py::arg("label_smoothing") = py::none(), py::arg("pre_norm") = false,
        py::arg("gelu") = false, py::arg("tie_generator") = false, py::arg("pad_id") = py::none(),
        py::arg("bos_id") = py::none(), py::arg("eos_id") = py::none(),
        py::arg("unk_id") = py::none(),
        "A preset configuration (tiny, small, base) with the overrides of kiln's model flags: "
        "d_model, heads, ffn, layers (both stacks), encoder_layers, decoder_layers, vocab, "
        "label_smoothing, pre_norm, gelu, tie_generator and the token ids.");
  m.def("config_names", &presetNames, "The preset configurations kiln.config knows.");

  py::class_<ParamSpec>(m, "Param", "A parameter a model declares.")
      .def_readonly("name", &ParamSpec::name, "Its name (PyTorch's nn.Transformer names).")
      .def_property_readonly(
          "dtype", [](const ParamSpec &p) { return std::string(dtypeName(p.type.dtype)); },
          "kiln's dtype.")
      .def_property_readonly(
          "shape", [](const ParamSpec &p) { return py::tuple(py::cast(p.type.shape)); },
          "The dimensions.")
      .def_property_readonly(
          "init", [](const ParamSpec &p) { return initName(p.init); },
          "How it starts: zeros, ones or xavier_uniform.")
      .def("__repr__", [](const ParamSpec &p) {
        return fmt::format("Param('{}', {}, {})", p.name, p.type.str(), initName(p.init));
      });

  py::class_<Model>(m, "Model", "A built program: its graph and the parameters it declares.")
      .def_readonly("graph", &Model::graph, "The kiln.Graph.")
      .def_readonly("params", &Model::params, "The parameters, as kiln.Param records.")
      .def(
          "initial_parameters",
          [](const Model &model, uint64_t seed) {
            return toDict(tools::initialParameters(model.params, seed));
          },
          py::arg("seed") = 0,
          "The initial weights for a seed, by name, as kiln init and kiln train draw them "
          "(Philox; the same on every machine).")
      .def("__repr__", [](const Model &model) {
        return fmt::format("<kiln.Model @{}: {} params, {} nodes>", model.graph->name(),
                           model.params.size(), model.graph->nodes().size());
      });

  m.def(
      "transformer",
      [](const py::object &config, const std::string &stage, int64_t batch, int64_t src_len,
         int64_t tgt_len, double dropout, const std::string &passes) {
        return toModel(buildStage(configOf(config), stage,
                                  graphOptions(batch, src_len, tgt_len, dropout), passes));
      },
      py::arg("config") = "tiny", py::arg("stage") = "forward", py::kw_only(), py::arg("batch") = 2,
      py::arg("src_len") = 8, py::arg("tgt_len") = 8, py::arg("dropout") = 0.0,
      py::arg("passes") = "default",
      (std::string("The Transformer at a stage, as kiln dump --stage builds it: forward or loss "
                   "(as recorded), fused (the loss after passes), train (the training step, "
                   "Adam for the model's width), encoder or decode-step. ") +
       kGraphArgsDoc)
          .c_str());
  m.def("stage_names", &stageNames, "The stages kiln.transformer builds.");

  auto forward_program = [&m](const char *name, auto build, const char *doc) {
    m.def(
        name,
        [build](const py::object &config, int64_t batch, int64_t src_len, int64_t tgt_len,
                double dropout, const std::string &passes) {
          return toModel(
              build(configOf(config), graphOptions(batch, src_len, tgt_len, dropout), passes));
        },
        py::arg("config") = "tiny", py::kw_only(), py::arg("batch") = 2, py::arg("src_len") = 8,
        py::arg("tgt_len") = 8, py::arg("dropout") = 0.0, py::arg("passes") = "default",
        (std::string(doc) +
         " passes: the forward passes, 'default' (canonicalize, cse, the fusions), 'none', or "
         "a comma-separated list; cse, dce and fuse-elementwise follow. " +
         kGraphArgsDoc)
            .c_str());
  };
  forward_program("loss", &buildLoss,
                  "The loss program: inputs src and tgt, outputs loss and logits.");
  forward_program("gradients", &buildGradients,
                  "The loss with a grad.<param> output for every parameter.");
  forward_program("encoder", &buildEncoder,
                  "Decoding's encoder program: src in; the memory mask and each decoder layer's "
                  "cross-attention keys and values out.");
  forward_program("decode_step", &buildDecodeStep,
                  "Decoding's step program with a KV cache of tgt_len positions: token and "
                  "position in, the next token's logits out; the cache is state it updates.");

  m.def(
      "train_step",
      [](const py::object &config, int64_t batch, int64_t src_len, int64_t tgt_len, double dropout,
         const std::string &passes, const std::string &precision, const std::string &optimizer,
         std::optional<double> lr, int64_t warmup, double weight_decay,
         std::optional<double> clip_norm, bool skip_nonfinite, double beta1, double beta2,
         double eps, double momentum) {
        TransformerConfig cfg = configOf(config);
        OptimizerOptions opt =
            optimizerOptions(optimizer, lr, warmup, cfg.d_model, weight_decay, clip_norm,
                             skip_nonfinite, beta1, beta2, eps, momentum);
        return toModel(buildTrainStep(cfg, graphOptions(batch, src_len, tgt_len, dropout), opt,
                                      withPrecision(passes, precision)));
      },
      py::arg("config") = "tiny", py::kw_only(), py::arg("batch") = 2, py::arg("src_len") = 8,
      py::arg("tgt_len") = 8, py::arg("dropout") = 0.0, py::arg("passes") = "default",
      py::arg("precision") = "f32", py::arg("optimizer") = "adam", py::arg("lr") = py::none(),
      py::arg("warmup") = 4000, py::arg("weight_decay") = 0.0, py::arg("clip_norm") = py::none(),
      py::arg("skip_nonfinite") = false, py::arg("beta1") = 0.9, py::arg("beta2") = 0.98,
      py::arg("eps") = 1e-9, py::arg("momentum") = 0.9,
      (std::string("The training step as one graph, as kiln train builds it: inputs src, tgt, "
                   "step (i64, from 1), seed with dropout, the parameters and the optimizer's "
                   "state; outputs loss, lr, and the next parameters and state (named like the "
                   "inputs they update). precision: 'f32' or 'bf16' (mixed precision). ") +
       kOptimizerDoc + " " + kGraphArgsDoc)
          .c_str());

  m.def(
      "make_train_step",
      [](Graph &graph, const std::string &passes, const std::string &optimizer,
         std::optional<double> lr, int64_t warmup, int64_t d_model, double weight_decay,
         std::optional<double> clip_norm, bool skip_nonfinite, double beta1, double beta2,
         double eps, double momentum) {
        makeTrainStep(graph,
                      optimizerOptions(optimizer, lr, warmup, d_model, weight_decay, clip_norm,
                                       skip_nonfinite, beta1, beta2, eps, momentum),
                      passes);
      },
      py::arg("graph"), py::kw_only(), py::arg("passes") = "default", py::arg("optimizer") = "adam",
      py::arg("lr") = py::none(), py::arg("warmup") = 4000, py::arg("d_model") = 512,
      py::arg("weight_decay") = 0.0, py::arg("clip_norm") = py::none(),
      py::arg("skip_nonfinite") = false, py::arg("beta1") = 0.9, py::arg("beta2") = 0.98,
      py::arg("eps") = 1e-9, py::arg("momentum") = 0.9,
      (std::string("Turns a graph with a scalar output 'loss', in place, into its training "
                   "step: the forward passes, autodiff, the optimizer's update of every param "
                   "input (adding 'step', the optimizer's state inputs and an 'lr' output). "
                   "d_model is the warm-up schedule's width. ") +
       kOptimizerDoc)
          .c_str());
}

} // namespace kiln::python
