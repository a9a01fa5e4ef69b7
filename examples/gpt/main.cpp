// A character-level language model on the German side of Ding's example sentences (Debian's
// trans-de-en): a decoder-only Transformer (gpt.h) recorded with kiln's DSL, turned into a
// training step with Adam by makeTrainStep, compiled for the CPU and trained on random windows
// of the text; then sampled with temperature (and top-k) from a prompt.
//
// makeTrainStep reports what fusion found; the program prints it and fails (status 1) unless
// fusion found every attention (causal) and every layer norm that the model has.
//
//   gpt [--steps N] [--length T] [--width D] [--layers L] [--heads H] [--batch B] [--lr LR]
//       [--seed S] [--print-every N] [--characters N] [--temperature X] [--top-k K]
//       [--prompt TEXT] [--corpus PATH] [--passes LIST]
//
// --passes replaces makeTrainStep's forward passes ("default": canonicalize, cse, the fusions),
// e.g. "canonicalize,cse" to see the fusion check fail.

#include "gpt.h"
#include "sampling.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

namespace {

/// The command line's settings.
struct Settings {
  gpt::Config model;
  int64_t steps = 600, batch = 16, print_every = 100;
  double lr = 3e-3;
  uint64_t seed = 1;
  gpt::SampleSettings sample;
  std::string prompt = "Das ";
  std::string corpus = kiln::data::kDingPath;
  std::string passes = "default"; ///< makeTrainStep's forward passes
};

/// A flag's value as a number; an Error names the flag.
double number(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0')
    throw kiln::Error({}, fmt::format("{} takes a number, found '{}'", flag, text));
  return v;
}

/// A flag's value as a whole number; an Error names the flag.
int64_t integer(const std::string &flag, const std::string &text) {
  double v = number(flag, text);
  if (v != static_cast<double>(static_cast<int64_t>(v)))
    throw kiln::Error({}, fmt::format("{} takes a whole number, found '{}'", flag, text));
  return static_cast<int64_t>(v);
}

/// What `gpt --help` prints: every flag, with its default.
void printUsage() {
  Settings d;
  std::printf("gpt: trains a character-level decoder-only Transformer on the German side of Ding's "
              "sentences, then samples from it\n\n"
              "usage: gpt [--flag value]...\n"
              "  --steps N        training steps (%lld)\n"
              "  --batch N        windows a step (%lld)\n"
              "  --length N       characters a window, the model's context (%lld)\n"
              "  --width N        d_model (%lld)\n"
              "  --layers N       decoder blocks (%lld)\n"
              "  --heads N        attention heads (%lld)\n"
              "  --lr X           Adam's learning rate (%g)\n"
              "  --seed N         seed of the weights, the windows and the sampling (%llu)\n"
              "  --print-every N  print the loss every N steps (%lld)\n"
              "  --characters N   characters to sample (%lld)\n"
              "  --temperature X  sampling temperature (%g)\n"
              "  --top-k N        sample among the k likeliest characters; 0: all (%lld)\n"
              "  --prompt TEXT    the sample's beginning (\"%s\")\n"
              "  --corpus FILE    Ding's dictionary (%s)\n"
              "  --passes LIST    makeTrainStep's forward passes (%s)\n",
              static_cast<long long>(d.steps), static_cast<long long>(d.batch),
              static_cast<long long>(d.model.length), static_cast<long long>(d.model.width),
              static_cast<long long>(d.model.layers), static_cast<long long>(d.model.heads), d.lr,
              static_cast<unsigned long long>(d.seed), static_cast<long long>(d.print_every),
              static_cast<long long>(d.sample.characters), d.sample.temperature,
              static_cast<long long>(d.sample.top_k), d.prompt.c_str(), d.corpus.c_str(),
              d.passes.c_str());
}

/// The settings of argv; an Error for an unknown flag or a bad value.
Settings parse(int argc, char **argv) {
  Settings s;
  std::map<std::string, std::function<void(const std::string &)>> flags = {
      {"--steps", [&](const std::string &v) { s.steps = integer("--steps", v); }},
      {"--length", [&](const std::string &v) { s.model.length = integer("--length", v); }},
      {"--width", [&](const std::string &v) { s.model.width = integer("--width", v); }},
      {"--layers", [&](const std::string &v) { s.model.layers = integer("--layers", v); }},
      {"--heads", [&](const std::string &v) { s.model.heads = integer("--heads", v); }},
      {"--batch", [&](const std::string &v) { s.batch = integer("--batch", v); }},
      {"--lr", [&](const std::string &v) { s.lr = number("--lr", v); }},
      {"--seed", [&](const std::string &v) { s.seed = integer("--seed", v); }},
      {"--print-every", [&](const std::string &v) { s.print_every = integer("--print-every", v); }},
      {"--characters",
       [&](const std::string &v) { s.sample.characters = integer("--characters", v); }},
      {"--temperature",
       [&](const std::string &v) { s.sample.temperature = number("--temperature", v); }},
      {"--top-k", [&](const std::string &v) { s.sample.top_k = integer("--top-k", v); }},
      {"--prompt", [&](const std::string &v) { s.prompt = v; }},
      {"--corpus", [&](const std::string &v) { s.corpus = v; }},
      {"--passes", [&](const std::string &v) { s.passes = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    auto flag = flags.find(argv[i]);
    if (flag == flags.end())
      throw kiln::Error({}, fmt::format("unknown flag '{}' (gpt --help lists them)", argv[i]));
    if (i + 1 == argc)
      throw kiln::Error({}, fmt::format("{} needs a value", argv[i]));
    flag->second(argv[++i]);
  }
  if (s.steps <= 0 || s.batch <= 0 || s.print_every <= 0 || s.sample.characters < 0 ||
      s.sample.top_k < 0 || !(s.sample.temperature > 0) || !(s.lr > 0))
    throw kiln::Error({}, "--steps, --batch, --print-every, --lr and --temperature must be "
                          "positive, --characters and --top-k not negative");
  s.sample.seed = s.seed;
  return s;
}

/// The German side of the dictionary's example sentences, one a line.
std::string germanText(const std::string &path) {
  std::string text;
  for (const kiln::data::SentencePair &pair : kiln::data::readDing(path))
    text += pair.source + "\n";
  return text;
}

/// Binds each parameter's initial value and zeros for every state input (Adam's moments).
void bindInitial(const kiln::BuiltModel &m, const kiln::Executable &exe, uint64_t seed,
                 kiln::Bindings &bindings) {
  std::vector<kiln::Literal> initial = kiln::initialValues(m.params, seed);
  for (size_t i = 0; i < m.params.size(); ++i)
    bindings[m.params[i].name] = kiln::HostBuffer(initial[i].type, initial[i].toBytes());
  for (const kiln::Signature::Input &in : exe.signature().inputs)
    if (in.kind == kiln::InputKind::State)
      bindings[in.name] = kiln::HostBuffer(in.type);
}

} // namespace

int main(int argc, char **argv) try {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      printUsage();
      return 0;
    }
  Settings s = parse(argc, argv);
  std::printf("kiln %s\n", KILN_VERSION_STRING);

  std::string text = germanText(s.corpus);
  kiln::data::CharTokenizer tokenizer = kiln::data::CharTokenizer::fromText(text);
  kiln::data::WindowSampler windows(tokenizer.encode(text), s.model.length, s.seed);
  s.model.vocab = tokenizer.size();
  (void)tokenizer.encode(s.prompt); // a character the corpus lacks fails now, not after training
  std::printf("corpus: %zu German sentences, %zu characters, %lld distinct\n",
              static_cast<size_t>(std::count(text.begin(), text.end(), '\n')), windows.ids().size(),
              static_cast<long long>(tokenizer.size()));

  // One graph is one step: the loss, its gradients and Adam's update of every parameter.
  kiln::BuiltModel model = gpt::buildLoss(s.model, s.batch);
  kiln::OptimizerOptions adam;
  adam.kind = kiln::OptimizerKind::Adam;
  adam.lr = s.lr;
  kiln::FusionStatistics fused = kiln::makeTrainStep(*model.graph, adam, s.passes);
  std::printf("fusion: %s\n", fused.str().c_str());
  int64_t norms = 2 * s.model.layers + 1;
  if (fused.attention != s.model.layers || fused.causal != s.model.layers ||
      fused.layer_norm != norms) {
    std::fprintf(stderr,
                 "fusion found %lld attentions (%lld causal) and %lld layer norms; the model has "
                 "%lld causal attentions and %lld layer norms\n",
                 static_cast<long long>(fused.attention), static_cast<long long>(fused.causal),
                 static_cast<long long>(fused.layer_norm), static_cast<long long>(s.model.layers),
                 static_cast<long long>(norms));
    return 1;
  }

  const kiln::Backend &cpu = kiln::getBackend("cpu");
  std::unique_ptr<kiln::Executable> step = cpu.compile(*model.graph, kiln::CompileOptions{});
  kiln::Bindings bindings;
  bindInitial(model, *step, s.seed, bindings);
  double first = 0, loss = 0;
  for (int64_t i = 1; i <= s.steps; ++i) {
    kiln::data::WindowBatch batch = windows.next(s.batch);
    bindings["input"] = std::move(batch.input);
    bindings["target"] = std::move(batch.target);
    bindings["step"] = kiln::HostBuffer::scalarInt(i);
    step->run(bindings); // parameters and moments are updated in place
    loss = bindings.at("loss").getDouble(0);
    if (i == 1)
      first = loss;
    if (i == 1 || i % s.print_every == 0)
      std::printf("step %4lld  loss %.4f\n", static_cast<long long>(i), loss);
  }
  std::printf("final loss %.4f after %lld steps (first %.4f)\n", loss,
              static_cast<long long>(s.steps), first);

  // Sampling reads the trained parameters, bound under the same names.
  kiln::BuiltModel sampler = gpt::buildLogits(s.model);
  kiln::PassManager infer;
  infer.addPipeline(fmt::format("{}", fmt::join(kiln::pipelinePasses("infer"), ",")));
  std::ostringstream unused;
  infer.run(*sampler.graph, unused);
  std::unique_ptr<kiln::Executable> logits = cpu.compile(*sampler.graph, kiln::CompileOptions{});
  kiln::Bindings weights;
  for (const kiln::ParamSpec &p : sampler.params)
    weights[p.name] = bindings.at(p.name);
  std::string sample = gpt::sample(*logits, weights, tokenizer, s.model.length, s.prompt, s.sample);
  std::printf("sample (temperature %.2f, top-k %lld):\n%s\n", s.sample.temperature,
              static_cast<long long>(s.sample.top_k), sample.c_str());
  return 0;
} catch (const kiln::Error &e) {
  // An error of the DSL names the line of the model; one of the command line has no place.
  std::fprintf(stderr, "gpt: %s\n", e.location().file.empty() ? e.message().c_str() : e.what());
  return 1;
}
