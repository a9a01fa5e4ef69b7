#pragma once
// Builder: creates nodes with inferred types at a location. Passes, autodiff and the DSL use it.

#include "ir/graph.h"

namespace kiln {

/// Appends nodes to a graph, each tagged with the builder's current location.
class Builder {
public:
  explicit Builder(Graph &g, Location loc = {}) : graph_(g), loc_(std::move(loc)) {}

  Graph &graph() { return graph_; }
  const Location &location() const { return loc_; }
  void setLocation(Location loc) { loc_ = std::move(loc); }

  /// Creates a node of an op and returns it; throws Error on a type or attribute error.
  Node *createNode(OpHandle op, std::vector<Value *> operands, AttrMap attrs = {});
  /// Creates a single-result node of an op and returns its result.
  Value *create(OpHandle op, std::vector<Value *> operands, AttrMap attrs = {});
  /// A constant filled with one value.
  Value *splat(double value, DType dtype, Shape shape = {});
  /// A constant with the given elements.
  Value *constant(std::vector<double> values, DType dtype, Shape shape);

private:
  Graph &graph_;
  Location loc_;
};

/// The single value of a splat constant (or of a one-element constant), if `v` is one.
std::optional<double> splatValue(const Value *v);

} // namespace kiln
