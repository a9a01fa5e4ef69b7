#pragma once
// ModelBuilder: what a model is recorded into. It owns the graph under construction, the
// parameters with their initializers, the name scopes that give parameters PyTorch's dotted
// names, and the counter ranges of the random op used by dropout.

#include "ir/builder.h"
#include "ir/graph.h"

#include <memory>
#include <source_location>
#include <string>
#include <vector>

namespace kiln {

class Tensor;

/// How a parameter starts out.
enum class Init {
  Zeros,
  Ones,
  XavierUniform, ///< U(-a, a), a = sqrt(6 / (fan_in + fan_out)) of a [fan_out, fan_in] matrix
};

/// A parameter the model declared: name, type and initializer.
struct ParamSpec {
  std::string name;
  TensorType type;
  Init init = Init::Zeros;
};

/// Records a model as a graph.
class ModelBuilder {
public:
  explicit ModelBuilder(std::string graph_name = "model");

  /// A data input (tokens, masks, the step number), with the role drivers bind it by.
  Tensor input(const std::string &name, TensorType type, InputRole role = InputRole::None,
               std::source_location loc = std::source_location::current());
  /// A parameter named by the current scope: scope "encoder.layers.0" and name "norm1.weight"
  /// give "encoder.layers.0.norm1.weight". Declaring a name twice is an error.
  Tensor parameter(const std::string &name, Shape shape, Init init, DType dtype = DType::f32,
                   std::source_location loc = std::source_location::current());
  /// State carried from run to run (a KV cache): an input that an output of the same name
  /// updates in place (see update()).
  Tensor state(const std::string &name, TensorType type,
               std::source_location loc = std::source_location::current());
  /// Marks a tensor as a named output of the graph.
  void output(const std::string &name, const Tensor &t);
  /// Marks a tensor as the next value of a state input, written over it in place.
  void update(const std::string &state, const Tensor &t);

  /// Creates a node of an op at a location; shape and dtype errors are thrown as Error there.
  Value *create(OpHandle op, std::vector<Value *> operands, AttrMap attrs,
                const std::source_location &loc);

  /// The seed input of the random op (a Philox key, i32[2]), created on first use.
  Tensor seed(std::source_location loc = std::source_location::current());
  /// Reserves n counters of the random op; returns the first. Every dropout site gets its own
  /// range, so masks never repeat.
  int64_t reserveRandom(int64_t n);

  /// The full name of a parameter declared now under `name`.
  std::string scoped(const std::string &name) const;
  void pushScope(const std::string &name) { scopes_.push_back(name); }
  void popScope() { scopes_.pop_back(); }
  /// While a module runs: the nodes created record `name` as their scope and, from the
  /// outermost module, `call`, where the model's code called it (see ModuleCall).
  void enterModule(const std::string &name, const std::source_location &call);
  void leaveModule() { modules_.pop_back(); }

  Graph &graph() { return *graph_; }
  const std::vector<ParamSpec> &parameters() const { return params_; }
  /// Hands the finished graph over, without the parameters that nothing reads (a program that
  /// computes one part of a model takes only that part's weights, and parameters() then lists
  /// only those); the builder must not be used afterwards but for parameters().
  std::unique_ptr<Graph> finish();

private:
  std::unique_ptr<Graph> graph_;
  std::vector<ParamSpec> params_;
  std::vector<std::string> scopes_;
  std::vector<std::pair<std::string, Location>> modules_; ///< the modules running, outermost first
  Value *seed_ = nullptr;
  int64_t random_counter_ = 0;
};

/// Runs a module for the lifetime of the object: the nodes created meanwhile belong to it.
class ModuleCall {
public:
  ModuleCall(ModelBuilder &mb, const std::string &name, const std::source_location &call)
      : mb_(mb) {
    mb_.enterModule(name, call);
  }
  ~ModuleCall() { mb_.leaveModule(); }
  ModuleCall(const ModuleCall &) = delete;
  ModuleCall &operator=(const ModuleCall &) = delete;

private:
  ModelBuilder &mb_;
};

/// Opens a name scope for the lifetime of the object.
class NameScope {
public:
  NameScope(ModelBuilder &mb, const std::string &name) : mb_(mb) { mb_.pushScope(name); }
  ~NameScope() { mb_.popScope(); }
  NameScope(const NameScope &) = delete;
  NameScope &operator=(const NameScope &) = delete;

private:
  ModelBuilder &mb_;
};

} // namespace kiln
