#include "backend/reference/reference_backend.h"

#include "backend/reference/interpreter.h"

namespace kiln {

namespace {

/// The interpreter holds every element in a double, exact for integers up to 2^53: a larger
/// one is refused, naming the input, rather than silently rounded.
void checkExactInDouble(const std::string &name, const HostBuffer &b) {
  if (std::optional<int64_t> i = firstInexactInteger(b.dtype(), b.bytes()))
    throw Error({}, fmt::format("input '{}' holds {} at element {}: the reference backend "
                                "computes integers exactly up to 2^53 only",
                                name, b.getInt(*i), *i));
}

/// Runs a copy of the graph on the interpreter, converting host buffers at this edge.
class ReferenceExecutable final : public Executable {
public:
  ReferenceExecutable(const Graph &graph, const CompileOptions &options)
      : Executable(signatureOf(graph)), graph_(graph.clone()), options_{options.promote_f64} {}

  std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) override {
    if (inputs.size() != signature().inputs.size())
      throw Error({}, fmt::format("the program takes {} inputs, {} given",
                                  signature().inputs.size(), inputs.size()));
    std::vector<Literal> args;
    args.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      // Promoted runs take f32 or f64 for an f32 input; the interpreter checks the rest.
      TensorType want = signature().inputs[i].type;
      if (options_.promote_f64 && want.dtype == DType::f32 && inputs[i].dtype() == DType::f64)
        want.dtype = DType::f64;
      if (inputs[i].type() != want)
        throw Error({}, fmt::format("input '{}' expects {}, found {}", signature().inputs[i].name,
                                    signature().inputs[i].type.str(), inputs[i].type().str()));
      checkExactInDouble(signature().inputs[i].name, inputs[i]);
      args.push_back(Literal::fromBytes(inputs[i].type(), inputs[i].bytes()));
    }
    std::vector<Literal> results = reference::run(*graph_, args, options_);
    std::vector<HostBuffer> outputs;
    outputs.reserve(results.size());
    for (const Literal &r : results)
      outputs.emplace_back(r.type, r.toBytes());
    return outputs;
  }

  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    return {{"reference nodes", static_cast<int64_t>(graph_->nodes().size())}};
  }

private:
  std::unique_ptr<Graph> graph_;
  reference::Options options_;
};

class ReferenceBackend final : public Backend {
public:
  std::string_view name() const override { return "reference"; }
  std::string_view summary() const override {
    return "the reference interpreter: every op, in f32 (or f64 with kiln-opt --run --f64); the "
           "oracle";
  }
  bool supports(const Node &) const override { return true; }
  std::unique_ptr<Executable> compile(const Graph &graph,
                                      const CompileOptions &options) const override {
    return std::make_unique<ReferenceExecutable>(graph, options);
  }
};

} // namespace

const Backend &referenceBackend() {
  static const ReferenceBackend backend;
  return backend;
}

} // namespace kiln
