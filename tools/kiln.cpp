// kiln: the driver. `kiln --help` lists the subcommands.

#include "backend/cpu/host_info.h"
#include "backend/kernel/lower.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "ir/dot.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "runtime/checkpoint.h"
#include "runtime/random_key.h"
#include "runtime/safetensors.h"
#include "tools/backend_flags.h"
#include "tools/bench_command.h"
#include "tools/bundle_command.h"
#include "tools/data_command.h"
#include "tools/data_parallel.h"
#include "tools/emit_command.h"
#include "tools/eval_command.h"
#include "tools/model_options.h"
#include "tools/tensor_summary.h"
#include "tools/tool_support.h"
#include "tools/train_command.h"
#include "tools/translate_command.h"

#include <iostream>

namespace kiln {
namespace {

std::vector<TensorDecl> declsOf(const std::vector<ParamSpec> &params) {
  std::vector<TensorDecl> decls;
  for (const ParamSpec &p : params)
    decls.push_back({p.name, p.type});
  return decls;
}

int cmdDump(const tools::ModelFlags &mf, const tools::ShapeFlags &sf, const std::string &stage,
            const std::string &level, const std::string &format, const std::string &out,
            double dropout, const std::string &passes, const std::string &precision,
            const PrintOptions &print, const DotOptions &dot, const std::string &cpu_kernels) {
  if (level != "graph" && format != "text")
    throw Error({},
                fmt::format("--level {} prints text; --format {} is for graphs", level, format));
  GraphOptions opts = sf.opts;
  opts.dropout = dropout;
  TransformerConfig cfg = mf.resolve();
  for (const std::string &p : forwardPasses(passes))
    if (!lookupPass(p))
      throw Error({}, fmt::format("--passes: unknown pass '{}'; known passes: {}", p, passNames()));
  bool compiled = stage != "forward" && stage != "loss";
  if (passes != "default" && !compiled)
    throw Error({}, "--passes applies to --stage fused, train, encoder and decode-step only");
  if (precision != "f32" && !compiled)
    throw Error({}, "--precision applies to --stage fused, train, encoder and decode-step only");
  if (dropout > 0 && (stage == "encoder" || stage == "decode-step"))
    throw Error({}, fmt::format("--dropout: the decoding programs take none, found {}", dropout));
  BuiltModel m = buildStage(cfg, stage, opts, withPrecision(passes, precision));
  CpuKernels mode = parseCpuKernels(cpu_kernels);
  std::string text = level == "kernels"  ? tools::kernelsText(*m.graph, mode)
                     : level == "memory" ? tools::memoryPlanText(*m.graph, mode)
                     : format != "text"  ? tools::renderDot(printDot(*m.graph, dot), format)
                                         : printGraph(*m.graph, print);
  tools::writeTextFile(out, text);
  return 0;
}

int cmdParams(const tools::ModelFlags &mf) {
  TransformerConfig c = mf.resolve();
  BuiltModel m =
      buildTransformer(c, Stage::Forward, GraphOptions{.batch = 1, .src_len = 1, .tgt_len = 1});
  int64_t total = 0;
  size_t width = 0;
  for (const ParamSpec &p : m.params)
    width = std::max(width, p.name.size());
  for (const ParamSpec &p : m.params) {
    std::cout << fmt::format("{:<{}}  {:<14} {:>12}\n", p.name, width, p.type.str(),
                             p.type.numElements());
    total += p.type.numElements();
  }
  std::cout << fmt::format("{} parameters in {} tensors (config {})\n", total, m.params.size(),
                           c.name);
  return 0;
}

int cmdInit(const tools::ModelFlags &mf, uint64_t seed, const std::string &out) {
  TransformerConfig c = mf.resolve();
  BuiltModel m =
      buildTransformer(c, Stage::Forward, GraphOptions{.batch = 1, .src_len = 1, .tgt_len = 1});
  Bindings tensors = tools::initialParameters(m.params, seed);
  std::map<std::string, std::string> metadata = tools::configMetadata(c);
  metadata["kiln.seed"] = std::to_string(seed);
  saveCheckpoint(out, tensors, metadata);
  std::cout << fmt::format("wrote {} tensors to {}\n", tensors.size(), out);
  return 0;
}

/// Reads a token tensor (i64 or i32) of rank 2 as i64 and checks every id against the vocabulary.
HostBuffer readTokens(const TensorMap &file, const std::string &path, const std::string &name,
                      int64_t vocab) {
  Location loc;
  loc.file = path;
  auto it = file.find(name);
  if (it == file.end())
    throw Error(loc,
                fmt::format("missing tensor '{}' (token ids, i64 or i32, [batch, length])", name));
  const TensorData &t = it->second;
  if (!isInteger(t.dtype) || t.shape.size() != 2)
    throw Error(loc, fmt::format("tensor '{}' must be i64 or i32 of rank 2, found {}", name,
                                 TensorType{t.dtype, t.shape}.str()));
  HostBuffer read(TensorType{t.dtype, t.shape}, t.bytes);
  HostBuffer ids(TensorType{DType::i64, t.shape});
  for (int64_t i = 0; i < ids.numElements(); ++i) {
    int64_t id = read.getInt(i);
    if (id < 0 || id >= vocab)
      throw Error(loc, fmt::format("{}[{},{}] = {} is outside the vocabulary [0, {})", name,
                                   i / t.shape[1], i % t.shape[1], id, vocab));
    ids.setInt(i, id);
  }
  return ids;
}

int cmdRun(const tools::ModelFlags &mf, const tools::BackendFlags &bf, const std::string &weights,
           const std::string &inputs, const std::string &out, double dropout, uint64_t seed,
           bool grads, const std::string &passes, const std::string &precision, bool print_full) {
  std::map<std::string, std::string> meta = readSafetensorsMetadata(weights);
  TransformerConfig c = mf.resolveFor(meta, weights);
  TensorMap file = readSafetensors(inputs);
  HostBuffer src = readTokens(file, inputs, "src", c.vocab),
             tgt = readTokens(file, inputs, "tgt", c.vocab);
  if (src.shape()[0] != tgt.shape()[0]) {
    Location loc;
    loc.file = inputs;
    throw Error(loc, fmt::format("src and tgt batch sizes differ: {} and {}", src.shape()[0],
                                 tgt.shape()[0]));
  }
  GraphOptions opts{.batch = src.shape()[0],
                    .src_len = src.shape()[1],
                    .tgt_len = tgt.shape()[1],
                    .dropout = dropout};
  std::string forward = withPrecision(passes, precision);
  BuiltModel m = grads ? buildGradients(c, opts, forward) : buildLoss(c, opts, forward);
  // A training checkpoint holds the optimizer's state too, which a forward pass does not read.
  bool training = meta.count("kiln.step") > 0;
  if (training)
    std::cerr << fmt::format("kiln run: {} is a training checkpoint (step {}): its weights are "
                             "used, its optimizer state is ignored\n",
                             weights, meta.at("kiln.step"));
  Bindings bindings = loadCheckpoint(weights, declsOf(m.params), training);
  bindings[m.graph->findInput(InputRole::Source)->name] = std::move(src);
  bindings[m.graph->findInput(InputRole::Target)->name] = std::move(tgt);
  if (const GraphInput *s = m.graph->findInput(InputRole::Seed))
    bindings[s->name] = keyBuffer(streamKey(seed, RandomStream::Dropout));
  std::unique_ptr<Executable> program = bf.get().compile(*m.graph, bf.options());
  program->run(bindings);
  std::map<std::string, HostBuffer> named;
  for (const GraphOutput &o : m.graph->outputs())
    named.emplace(o.name, std::move(bindings.at(o.name)));
  std::cout << fmt::format("loss {}\n", tools::bufferStr(named.at("loss")));
  const HostBuffer &logits = named.at("logits");
  std::cout << (print_full ? tools::tensorLine("logits", logits)
                           : tools::tensorSummary("logits", logits));
  if (!out.empty()) {
    saveCheckpoint(out, named);
    std::cout << fmt::format(
        "wrote logits {}{} to {}\n", named.at("logits").type().str(),
        grads ? fmt::format(", loss and {} gradients", m.params.size()) : " and loss", out);
  }
  return 0;
}

int runMain(int argc, char **argv) {
  CLI::App app{"kiln: a compiler for transformer models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("kiln {}", kKilnVersion));

  app.add_subcommand("version", "print kiln's version and the LLVM and oneDNN it runs on")
      ->callback([] {
        std::cout << "kiln " << kKilnVersion << "\n"
                  << cpu::hostInfo() << "\n"
                  << "data-parallel training: "
                  << (tools::haveMpi() ? "MPI" : "not built (no MPI found at build time)") << "\n";
      });

  tools::ModelFlags dump_model, params_model, init_model, run_model;
  tools::ShapeFlags dump_shape;
  std::string stage = "forward", level = "graph", format = "text", dump_out = "-";
  double dump_dropout = 0;
  CLI::App *dump = app.add_subcommand("dump", "print the Transformer's graph IR");
  dump_model.add(*dump);
  dump_shape.add(*dump);
  dump->add_option("--stage", stage,
                   "forward or loss (as recorded), fused (the loss after the infer pipeline), "
                   "train (forward, backward and the Adam update after the train pipeline), or "
                   "decoding's programs after the infer pipeline: encoder (the source's mask and "
                   "the cross-attention keys and values) and decode-step (one position with a KV "
                   "cache of --tgt-len positions)")
      ->check(CLI::IsMember({"forward", "loss", "fused", "train", "encoder", "decode-step"}))
      ->capture_default_str();
  dump->add_option("--level", level,
                   "how far down: graph (the graph IR), kernels (the kernels the cpu backend "
                   "runs, which nodes oneDNN computes and which fall back to reference kernels) "
                   "or memory (its memory plan)")
      ->check(CLI::IsMember({"graph", "kernels", "memory"}))
      ->capture_default_str();
  dump->add_option("--format", format,
                   "text, or a picture: dot (Graphviz's language), or svg or png (drawn by "
                   "Graphviz's dot), one box per module scope")
      ->check(CLI::IsMember({"text", "dot", "svg", "png"}))
      ->capture_default_str();
  DotOptions dump_dot;
  dump->add_option("--dot-depth", dump_dot.depth,
                   "pictures: boxes for the first N levels of module scopes (decoder, layers.1, "
                   "self_attn); deeper ones are drawn in their ancestor's box (default: all)")
      ->check(tools::nonNegative());
  dump->add_option("--dropout", dump_dropout, "dropout rate (adds the random op and a seed input)")
      ->check(tools::rate());
  std::string dump_cpu_kernels = "auto";
  dump->add_option("--cpu-kernels", dump_cpu_kernels,
                   "--level kernels and memory: the cpu backend's choice of kernels, auto "
                   "(oneDNN where it measured faster), jit (a JIT kernel for every node) or onednn")
      ->check(CLI::IsMember({"auto", "jit", "onednn"}))
      ->capture_default_str();
  dump->add_option("-o,--output", dump_out, "output file (default: stdout)");
  std::string dump_passes = "default";
  dump->add_option("--passes", dump_passes,
                   "passes before autodiff for fused and train: default, none, or a list");
  std::string dump_precision = "f32";
  tools::addPrecisionFlag(*dump, dump_precision);
  PrintOptions dump_print{.elide_constants_larger_than = 16};
  std::string dump_locations = "user";
  dump->add_option("--locations", dump_locations,
                   "where loc(...) points: user, the line that called a node's module, and the "
                   "module's scope (in \"decoder.layers.1.self_attn\"); full, also the line "
                   "inside the module; none")
      ->check(CLI::IsMember({"user", "full", "none"}))
      ->each([&](const std::string &v) { dump_print.locations = *locationsNamed(v); })
      ->capture_default_str();
  dump->add_flag_callback(
      "--no-locations", [&] { dump_print.locations = Locations::None; },
      "the same as --locations none");
  dump->add_option("--elide-constants-larger-than", dump_print.elide_constants_larger_than,
                   "print a constant of more than N values as its type and a hash of its bytes, "
                   "elided<f32[64,32], fnv1a:...>; 0 prints every value, a text that kiln-opt "
                   "reads back")
      ->check(tools::nonNegative())
      ->capture_default_str();

  CLI::App *params =
      app.add_subcommand("params", "list the parameters with their shapes and the total");
  params_model.add(*params);

  uint64_t init_seed = 0;
  std::string init_out;
  CLI::App *init = app.add_subcommand(
      "init", "write initial weights (Xavier-uniform matrices, zero biases, unit norms)");
  init_model.add(*init);
  init->add_option("--seed", init_seed, "seed of the initialisation")
      ->check(tools::unsignedInteger())
      ->capture_default_str();
  init->add_option("-o,--output", init_out, "safetensors file to write")->required();

  std::string weights, inputs, run_out;
  double run_dropout = 0;
  uint64_t run_seed = 0;
  CLI::App *run =
      app.add_subcommand("run", "compile and run the forward pass and the loss; print the loss "
                                "and the logits summarised as NumPy prints arrays");
  run_model.add(*run);
  tools::BackendFlags run_backend;
  run_backend.add(*run, "cpu");
  run->add_option("--weights", weights, "safetensors file of the parameters")->required();
  run->add_option("--inputs", inputs, "safetensors file with src and tgt token ids (i64 or i32)")
      ->required();
  run->add_option("-o,--output", run_out, "safetensors file for logits and loss");
  run->add_option("--dropout", run_dropout, "dropout rate (off by default)")->check(tools::rate());
  run->add_option("--seed", run_seed, "seed of dropout")->check(tools::unsignedInteger());
  bool run_grads = false;
  run->add_flag("--grads", run_grads, "also write grad.<param> for every parameter");
  bool run_print_full = false;
  run->add_flag("--print-full", run_print_full,
                "print every logit, on one line as nested lists in the shortest exact spelling, "
                "instead of NumPy's summary (dtype and shape; min, max and mean; the first and "
                "last 3 items of each axis)");
  std::string run_passes = "default", run_precision = "f32";
  tools::addPrecisionFlag(*run, run_precision);
  run->add_option("--passes", run_passes,
                  "default (canonicalize and fuse), none (run the graph as recorded), or a list");

  tools::TrainFlags train_flags;
  CLI::App *train =
      app.add_subcommand("train", "train on a synthetic task (copy or reverse) or, with --data, "
                                  "on a corpus of sentence pairs");
  train_flags.add(*train);

  tools::BenchFlags bench_flags;
  CLI::App *bench = app.add_subcommand(
      "bench", "time the training step or the forward pass: ms, tokens/s, GFLOP/s, memory");
  bench_flags.add(*bench);

  tools::DataCommand data_command;
  CLI::App *data = data_command.add(app);
  tools::TokenizerCommand tokenizer_command;
  CLI::App *tokenizer = tokenizer_command.add(app);
  tools::TranslateCommand translate_command;
  CLI::App *translate = translate_command.add(app);
  tools::BleuCommand bleu_command;
  CLI::App *bleu = bleu_command.add(app);
  tools::EvalCommand eval_command;
  CLI::App *eval = eval_command.add(app);
  tools::EmitCommand emit_command;
  CLI::App *emit = emit_command.add(app);
  tools::BundleCommand bundle_command;
  CLI::App *bundle = bundle_command.add(app);

  tools::finishCommandLine(app);
  tools::checkSubcommandName(app, argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return tools::reportParseError(app, e, "kiln");
  }
  if (dump->parsed())
    return cmdDump(dump_model, dump_shape, stage, level, format, dump_out, dump_dropout,
                   dump_passes, dump_precision, dump_print, dump_dot, dump_cpu_kernels);
  if (params->parsed())
    return cmdParams(params_model);
  if (init->parsed())
    return cmdInit(init_model, init_seed, init_out);
  if (run->parsed())
    return cmdRun(run_model, run_backend, weights, inputs, run_out, run_dropout, run_seed,
                  run_grads, run_passes, run_precision, run_print_full);
  if (train->parsed())
    return tools::runTrain(train_flags);
  if (bench->parsed())
    return tools::runBench(bench_flags);
  if (data->parsed())
    return data_command.run();
  if (tokenizer->parsed())
    return tokenizer_command.run();
  if (translate->parsed())
    return translate_command.run();
  if (bleu->parsed())
    return bleu_command.run();
  if (eval->parsed())
    return eval_command.run();
  if (emit->parsed())
    return emit_command.run();
  if (bundle->parsed())
    return bundle_command.run();
  return 0;
}

} // namespace
} // namespace kiln

int main(int argc, char **argv) { return kiln::tools::runTool("kiln", kiln::runMain, argc, argv); }
