#include "ir/builder.h"

#include <algorithm>

namespace kiln {

Node *Builder::createNode(OpHandle op, std::vector<Value *> operands, AttrMap attrs) {
  return graph_.addNode(op.def(), std::move(operands), std::move(attrs), loc_);
}

Value *Builder::create(OpHandle op, std::vector<Value *> operands, AttrMap attrs) {
  return createNode(op, std::move(operands), std::move(attrs))->result();
}

Value *Builder::splat(double value, DType dtype, Shape shape) {
  return create(op::Constant, {},
                {{"dtype", dtype},
                 {"shape", IntList(shape.begin(), shape.end())},
                 {"value", FloatList{value}}});
}

Value *Builder::constant(std::vector<double> values, DType dtype, Shape shape) {
  return create(op::Constant, {},
                {{"dtype", dtype},
                 {"shape", IntList(shape.begin(), shape.end())},
                 {"value", FloatList(std::move(values))}});
}

std::optional<double> splatValue(const Value *v) {
  if (!v->def || !v->def->is(op::Constant))
    return std::nullopt;
  const FloatList &values = v->def->getFloats("value");
  if (values.empty() ||
      !std::all_of(values.begin(), values.end(), [&](double x) { return x == values[0]; }))
    return std::nullopt;
  return values[0];
}

} // namespace kiln
