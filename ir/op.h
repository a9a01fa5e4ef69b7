#pragma once
// The op table. Every op is declared once, in its family's file under ir/ops/, as one OpDef:
// mnemonic, operands, attributes, type inference, reference kernel and VJP. The printer, parser,
// verifier, interpreter and autodiff all read this table.

#include "ir/attributes.h"
#include "ir/diagnostics.h"
#include "ir/literal.h"

#include <fmt/format.h>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct Node;
struct Value;
class Builder;

/// Declares one attribute of an op: its name, kind and default (none means required).
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  std::optional<Attribute> default_value = std::nullopt;
};

/// What type inference sees: operand types, attributes (defaults filled in) and the location.
struct InferContext {
  std::string_view op;
  std::span<const TensorType> operands;
  const AttrMap &attrs;
  Location loc;

  /// Throws a located error prefixed with the op's mnemonic.
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> f, Args &&...args) const {
    throw Error(loc, fmt::format("{}: {}", op, fmt::format(f, std::forward<Args>(args)...)));
  }
  int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const;
  bool getBool(std::string_view name) const;
  const IntList &getInts(std::string_view name) const;
  DType getDType(std::string_view name) const;
  /// Resolves an axis attribute value against a rank, or reports it out of range.
  int64_t axis(int64_t axis, int64_t rank) const;
};

/// Computes the result types of a node from its operands and attributes, or throws an Error.
using InferFn = std::vector<TensorType> (*)(const InferContext &);
/// Computes a node's results from operand values; the oracle every backend is checked against.
/// Results are produced in double precision and rounded to their dtype by the interpreter.
using ReferenceFn = std::vector<Literal> (*)(const Node &, std::span<const Literal *const>);
/// Appends the vector-Jacobian product of a node: one cotangent per result in, one gradient
/// per operand out (nullptr for an operand without a gradient).
using VjpFn = std::vector<Value *> (*)(Builder &, const Node &, std::span<Value *const>);

/// How an op takes part in differentiation.
enum class Differentiable {
  Unset, ///< no VJP declared yet: autodiff reports the op as unsupported
  Yes,   ///< the VJP field holds its rule
  No,    ///< no gradient flows through it (integer, boolean or random results)
};

/// Where a sample draws one of its inputs from, when the defaults do not suit the op (floats
/// uniform in [-1, 1), integers uniform in -3..3, bools fair coins).
struct SampleRange {
  std::string input;               ///< the input's name as declared, "%i"
  double lo = 0;                   ///< floats uniform in [lo, hi); integers and bools in lo..hi-1
  double hi = 1;                   ///< the exclusive upper bound
  std::vector<double> values = {}; ///< fixed elements instead (a mask that must keep a key visible)
};

/// One example node of an op, for the tests that walk the table (round trip, conformance of
/// every backend, gradients): the node in the text IR over inputs declared with it.
struct OpSample {
  std::vector<std::string> inputs;      ///< graph inputs, each "%a: f32[2,3]"
  std::string node;                     ///< the node, "gather(%a, %i) {axis = 1} : f32[2,2]"
  std::vector<SampleRange> ranges = {}; ///< inputs not drawn from the defaults
  bool accumulates = false; ///< sums many terms per result element: compared more loosely
};

/// One entry of the op table.
struct OpDef {
  std::string_view name;
  std::string_view summary;
  int min_operands = 0;
  int max_operands = 0; ///< -1: variadic
  int num_results = 1;
  std::vector<AttrSpec> attrs;
  InferFn infer = nullptr;
  ReferenceFn reference = nullptr;
  Differentiable differentiable = Differentiable::Unset;
  VjpFn vjp = nullptr;
  /// Examples of the op that the table's tests run: 1 to 4, covering its interesting cases.
  std::vector<OpSample> samples;
  /// Element i of the result depends only on element i of each operand after numpy
  /// broadcasting (the fusion and in-place rules of fuse-elementwise and the memory planner).
  bool elementwise = false;

  /// The attribute declaration of this name, or nullptr.
  const AttrSpec *attrSpec(std::string_view attr) const;
};

/// Looks an op up by mnemonic; nullptr when unknown.
const OpDef *lookupOp(std::string_view name);
/// Every op of the table, ordered by mnemonic.
const std::vector<const OpDef *> &allOps();

} // namespace kiln
