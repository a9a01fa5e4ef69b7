#pragma once
// The graph IR: typed SSA values produced by nodes, named inputs and outputs, static shapes.
//
// Nodes are kept in a topological order. Rewrites may append nodes anywhere and then call
// sortTopologically(), which restores an order that keeps the old one where it can.

#include "ir/attributes.h"
#include "ir/diagnostics.h"
#include "ir/name_index.h"
#include "ir/op.h"
#include "ir/op_handles.h"
#include "ir/types.h"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln {

struct Node;

/// An SSA value: a graph input or one result of a node.
struct Value {
  TensorType type;
  Node *def = nullptr; ///< the producing node; null for a graph input
  int index = 0;       ///< result number in def, or input number
  /// The nodes that read this value, once per operand slot; kept by Graph, in no set order.
  std::vector<Node *> users;
};

/// A named graph input.
struct GraphInput {
  std::string name;
  InputKind kind = InputKind::Data;
  std::unique_ptr<Value> value;
  Location loc;
  InputRole role = InputRole::None; ///< text form: `input data %src: i64[2,6] role source`
};

/// A named graph output.
struct GraphOutput {
  std::string name;
  Value *value = nullptr;
  Location loc;
  /// The parameter or state input whose next value this is (written over it in place), or
  /// empty. Text form: `output "w" = %9 updates %w`.
  std::string updates;
};

/// One operation: an op of the table applied to operands, with attributes and a location.
struct Node {
  const OpDef *op = nullptr;
  std::vector<Value *> operands;
  std::vector<std::unique_ptr<Value>> results;
  AttrMap attrs;
  Location loc;
  /// The fusion group of fuse-elementwise: nodes of one group run as one kernel; -1 for none.
  /// Text form: `group(3)` after the result types.
  int group = -1;

  Value *result(int i = 0) const { return results.at(i).get(); }
  std::string_view name() const { return op->name; }
  /// Whether the node applies this op.
  bool is(OpHandle h) const { return op->name == h.name; }
  const Attribute &attr(std::string_view name) const;
  int64_t getInt(std::string_view name) const { return std::get<int64_t>(attr(name)); }
  double getFloat(std::string_view name) const { return std::get<double>(attr(name)); }
  bool getBool(std::string_view name) const { return std::get<bool>(attr(name)); }
  const std::string &getString(std::string_view name) const {
    return std::get<std::string>(attr(name));
  }
  const IntList &getInts(std::string_view name) const { return std::get<IntList>(attr(name)); }
  const FloatList &getFloats(std::string_view name) const {
    return std::get<FloatList>(attr(name));
  }
  DType getDType(std::string_view name) const { return std::get<DType>(attr(name)); }
};

/// A static dataflow graph with named inputs and outputs.
///
/// Inputs and outputs change only through Graph's methods, which keep indexes of them by name
/// and of the outputs each value feeds: lookups by name and numUses() take O(1), so building,
/// parsing and rewriting a graph stays linear in its size.
class Graph {
public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  /// Adds a named input; names must be unique among inputs.
  Value *addInput(std::string name, InputKind kind, TensorType type, Location loc = {},
                  InputRole role = InputRole::None);
  /// Adds a named output; `updates` names the parameter or state input it is the next value of.
  void addOutput(std::string name, Value *v, Location loc = {}, std::string updates = {});
  /// Makes output `i` read `v`.
  void setOutputValue(size_t i, Value *v);
  /// Appends a node whose result types are inferred; throws Error on a type or attribute error.
  /// Missing attributes with defaults are filled in.
  Node *addNode(const OpDef &op, std::vector<Value *> operands, AttrMap attrs, Location loc);
  /// Appends a node with given result types, unchecked; the parser uses it and the verifier
  /// checks it afterwards.
  Node *addNodeUnchecked(const OpDef &op, std::vector<Value *> operands, AttrMap attrs,
                         std::vector<TensorType> result_types, Location loc);

  /// The inputs in order; add and remove them with addInput and eraseInputs.
  const std::vector<GraphInput> &inputs() const { return inputs_; }
  /// The outputs in order; change them with addOutput, setOutputValue and eraseOutputs.
  const std::vector<GraphOutput> &outputs() const { return outputs_; }
  std::vector<std::unique_ptr<Node>> &nodes() { return nodes_; }
  const std::vector<std::unique_ptr<Node>> &nodes() const { return nodes_; }
  /// The input of this name, or nullptr.
  const GraphInput *findInput(std::string_view name) const;
  /// The position of the input of this name, or nullopt.
  std::optional<size_t> inputIndex(std::string_view name) const;
  /// The input with this role, or nullptr.
  const GraphInput *findInput(InputRole role) const;
  /// The first output of this name, or nullptr.
  const GraphOutput *findOutput(std::string_view name) const;
  /// The index of the input an output updates in place, or nullopt.
  std::optional<size_t> updatedInput(const GraphOutput &output) const;

  /// Makes every use of `from` (operands and outputs) use `to` instead.
  void replaceAllUsesWith(Value *from, Value *to);
  /// Makes operand `i` of a node read `v`, keeping the use lists.
  void setOperand(Node &node, size_t i, Value *v);
  /// Number of operand and output uses of a value.
  int numUses(const Value *v) const;
  /// Removes the nodes the predicate selects; their results must have no users left.
  int eraseNodes(const std::function<bool(const Node &)> &erase);
  /// Removes the inputs the predicate selects, which must have no uses; the others keep their
  /// order. Returns how many were removed.
  int eraseInputs(const std::function<bool(const GraphInput &)> &erase);
  /// Removes the outputs the predicate selects; the others keep their order. Returns how many
  /// were removed.
  int eraseOutputs(const std::function<bool(const GraphOutput &)> &erase);
  /// Removes nodes that no output depends on, except those in `keep` and what they read;
  /// returns how many were removed.
  int removeDeadNodes(const std::unordered_set<const Node *> &keep = {});
  /// The nodes that no output depends on.
  std::unordered_set<const Node *> deadNodes() const;
  /// Restores a topological order, keeping the current order where it is already valid.
  void sortTopologically();
  /// A deep copy.
  std::unique_ptr<Graph> clone() const;

private:
  /// Rebuilds the output indexes after outputs were removed.
  void indexOutputs();

  std::string name_;
  std::vector<GraphInput> inputs_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<GraphOutput> outputs_;
  NameMap<size_t> input_index_; ///< input name -> position in inputs_
  /// output name -> position of the first output of that name (names repeat until verified)
  NameMap<size_t> output_index_;
  /// value -> positions of the outputs that read it
  std::unordered_map<const Value *, std::vector<size_t>> output_uses_;
};

/// Fills in defaults and checks attribute names and kinds against the op's declaration.
/// Throws a located Error naming the attribute and the expected kind.
AttrMap checkAttributes(const OpDef &op, AttrMap attrs, const Location &loc);
/// Runs the op's type inference on operand types and (checked) attributes.
std::vector<TensorType> inferTypes(const OpDef &op, const std::vector<TensorType> &operands,
                                   const AttrMap &attrs, const Location &loc);

} // namespace kiln
