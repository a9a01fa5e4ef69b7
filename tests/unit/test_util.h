#pragma once
// Helpers shared by the unit tests.

#include "backend/backend.h"
#include "backend/reference/interpreter.h"
#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/philox.h"
#include "runtime/executable.h"
#include "runtime/host_buffer.h"

#include <doctest/doctest.h>
#include <map>
#include <random>
#include <string>

namespace kiln::test {

/// A literal of the given dtype and shape.
inline Literal lit(Shape shape, std::vector<double> values, DType dtype = DType::f32) {
  return Literal(TensorType{dtype, std::move(shape)}, std::move(values));
}

/// A graph with one node of `op` over inputs of the given types, one output per result.
inline std::unique_ptr<Graph> oneOp(OpHandle op, const std::vector<TensorType> &types,
                                    AttrMap attrs = {}) {
  auto g = std::make_unique<Graph>("op");
  std::vector<Value *> operands;
  for (size_t i = 0; i < types.size(); ++i)
    operands.push_back(g->addInput("in" + std::to_string(i), InputKind::Data, types[i]));
  Builder b(*g);
  Node *n = b.createNode(op, operands, std::move(attrs));
  for (size_t i = 0; i < n->results.size(); ++i)
    g->addOutput("out" + std::to_string(i), n->result(static_cast<int>(i)));
  return g;
}

/// Builds a graph with one node of `op` over the given operands and runs it on the reference
/// interpreter (in f64 when `f64` is set); returns the node's results.
inline std::vector<Literal> runOp(OpHandle op, const std::vector<Literal> &operands,
                                  AttrMap attrs = {}, bool f64 = false) {
  std::vector<TensorType> types;
  for (const Literal &l : operands)
    types.push_back(l.type);
  return reference::run(*oneOp(op, types, std::move(attrs)), operands, reference::Options{f64});
}

/// The single result of runOp.
inline Literal runOp1(OpHandle op, const std::vector<Literal> &operands, AttrMap attrs = {},
                      bool f64 = false) {
  return runOp(op, operands, std::move(attrs), f64).at(0);
}

/// Runs a graph on inputs in its input order (in f64 when `f64` is set); outputs by name.
inline std::map<std::string, Literal> runByName(const Graph &g, const std::vector<Literal> &args,
                                                bool f64 = false) {
  auto out = reference::run(g, args, reference::Options{f64});
  std::map<std::string, Literal> named;
  for (size_t i = 0; i < out.size(); ++i)
    named.emplace(g.outputs()[i].name, out[i]);
  return named;
}

/// Runs a graph in f64 on inputs given by name; outputs by name.
inline std::map<std::string, Literal> runNamed(const Graph &g,
                                               const std::map<std::string, Literal> &inputs) {
  std::vector<Literal> args;
  for (const GraphInput &in : g.inputs())
    args.push_back(inputs.at(in.name));
  return runByName(g, args, true);
}

/// A Philox key as the i32[2] literal a seed input holds.
inline Literal keyLiteral(PhiloxKey k) {
  return Literal(philoxKeyType(), {static_cast<double>(static_cast<int32_t>(k[0])),
                                   static_cast<double>(static_cast<int32_t>(k[1]))});
}
/// The key of a 64-bit seed as a literal.
inline Literal keyLiteral(uint64_t seed) { return keyLiteral(philoxKey(seed)); }

/// A literal's value as a host buffer.
inline HostBuffer toBuffer(const Literal &l) { return HostBuffer(l.type, l.toBytes()); }
/// A host buffer's value as a literal.
inline Literal toLiteral(const HostBuffer &b) { return Literal::fromBytes(b.type(), b.bytes()); }

/// The value of one of an executable's statistics, or -1 when it reports none of that name.
inline int64_t stat(const Executable &exe, std::string_view name) {
  for (const auto &[key, value] : exe.statistics())
    if (key == name)
      return value;
  return -1;
}

/// Compiles a graph for a backend and runs it on literal inputs; the outputs as literals.
inline std::vector<Literal> runOn(const Backend &backend, const Graph &g,
                                  const std::vector<Literal> &inputs, CompileOptions options = {}) {
  std::vector<HostBuffer> args;
  for (const Literal &l : inputs)
    args.push_back(toBuffer(l));
  std::vector<Literal> out;
  for (const HostBuffer &b : backend.compile(g, options)->run(args))
    out.push_back(toLiteral(b));
  return out;
}

/// Seeded random inputs for every graph input: floats in [-1, 1), integers and bools 0 or 1.
inline std::vector<Literal> randomLiterals(const Graph &g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Literal> inputs;
  for (const GraphInput &in : g.inputs()) {
    Literal l(in.value->type);
    for (double &v : l.data)
      v = isFloat(l.type.dtype) ? std::uniform_real_distribution<double>(-1.0, 1.0)(rng)
                                : static_cast<double>(rng() & 1);
    l.roundToDType();
    inputs.push_back(std::move(l));
  }
  return inputs;
}

/// Checks shape and every element against expectations within an absolute tolerance.
inline void checkLiteral(const Literal &got, const Shape &shape, const std::vector<double> &want,
                         double tol = 1e-6) {
  REQUIRE(got.shape() == shape);
  REQUIRE(got.data.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    if (std::isnan(want[i]))
      CHECK(std::isnan(got.data[i]));
    else if (std::isinf(want[i]))
      CHECK(got.data[i] == want[i]);
    else
      CHECK(got.data[i] == doctest::Approx(want[i]).epsilon(tol));
  }
}

} // namespace kiln::test
