// Ops that create tensors: constant (a splat, or a constant table), iota and random_uniform
// (Philox, bit-identical to the reference kernel).

#include "backend/kernel/lowerings.h"

#include "ir/literal.h"

namespace kiln::kernel {
namespace {

/// A constant of the compute type of `dtype` holding v as that dtype holds it.
Expr dtypeConst(double v, DType dtype) {
  ScalarType t = computeType(dtype);
  double r = roundTo(v, dtype);
  return isInteger(t) ? intConst(static_cast<int64_t>(r), t) : constant(r, t);
}

std::optional<Kernel> lowerConstant(const Node &n) {
  Kernel k = kernelFor(n);
  const TensorType &type = n.result()->type;
  const FloatList &values = n.getFloats("value");
  int64_t count = type.numElements();
  setView(k, 0, {count});
  LoopNest nest = LoopNest::make(k, {count});
  Expr idx = nest.indices(k)[0];
  Expr value;
  if (values.size() == 1) {
    value = dtypeConst(values[0], type.dtype);
  } else {
    int table = k.addConstant(type.dtype, {count}, values);
    value = load(k, table, {idx});
  }
  k.body = nest.wrap({store(0, {idx}, value)});
  return k;
}

std::optional<Kernel> lowerIota(const Node &n) {
  Kernel k = kernelFor(n);
  const TensorType &type = n.result()->type;
  int64_t axis = *normalizeAxis(n.getInt("axis"), type.rank());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < type.rank(); ++d)
    (d < axis ? outer : inner) *= d == axis ? 1 : type.shape[d];
  // Loops over outer, the axis and inner, leaving out those of extent 1.
  Shape dims, view;
  int axis_loop = -1;
  for (int part = 0; part < 3; ++part) {
    int64_t extent = part == 0 ? outer : part == 1 ? type.shape[axis] : inner;
    if (extent == 1 && part != 1)
      continue;
    if (part == 1)
      axis_loop = static_cast<int>(dims.size());
    dims.push_back(extent);
  }
  setView(k, 0, dims);
  LoopNest nest = LoopNest::make(k, dims);
  std::vector<Expr> idx = nest.indices(k);
  k.body = nest.wrap({store(0, idx, iotaValue(n, idx[axis_loop]))});
  return k;
}

std::optional<Kernel> lowerRandom(const Node &n) {
  Kernel k = kernelFor(n);
  const TensorType &type = n.result()->type;
  int64_t count = type.numElements();
  setView(k, 1, {count});
  LoopNest nest = LoopNest::make(k, {count});
  Expr i = nest.indices(k)[0];
  k.body = nest.wrap({store(1, {i}, randomValue(n, k, 0, i))});
  return k;
}

} // namespace

Expr iotaValue(const Node &node, const Expr &axis_index) {
  return cast(axis_index, computeType(node.result()->type.dtype));
}

Expr keyWord(const Kernel &k, int key, int i) { return load(k, key, {intConst(i)}); }

Expr randomValue(const Node &node, const Kernel &k, int key, const Expr &flat) {
  // The reference numbers element i with counter offset + i, whatever the loops look like.
  Expr counter = add(flat, intConst(node.getInt("offset")));
  return philox(keyWord(k, key, 0), keyWord(k, key, 1), counter,
                computeType(node.result()->type.dtype));
}

void addCreationLowerings(LoweringTable &t) {
  addLowering(t, op::Constant, lowerConstant);
  addLowering(t, op::Iota, lowerIota);
  addLowering(t, op::RandomUniform, lowerRandom);
}

} // namespace kiln::kernel
