#pragma once
// The graph of one op sample from the table, and seeded random inputs for it in the sample's
// ranges. The op table test and the conformance suite both build samples this way.

#include "ir/graph.h"
#include "ir/literal.h"
#include "ir/op.h"
#include "ir/parser.h"
#include "ir/text_format.h"

#include <cmath>
#include <fmt/format.h>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::test {

/// The number of results a sample node declares: its types after the last " : ".
inline size_t sampleResultCount(const OpSample &s) {
  size_t colon = s.node.rfind(" : ");
  size_t n = 1;
  for (size_t i = s.node.find("], ", colon); i != std::string::npos; i = s.node.find("], ", i + 1))
    ++n;
  return n;
}

/// The text of a graph with the sample's inputs, its node as %0 and one output per result:
/// "out", or "out0", "out1", ... for several. Printing the parsed graph gives it back.
inline std::string sampleText(const OpSample &s) {
  std::string text = fmt::format("kiln.format {}\ngraph @sample {{\n", kTextFormat);
  for (const std::string &in : s.inputs)
    text += "  input data " + in + "\n";
  size_t results = sampleResultCount(s);
  text += results > 1 ? fmt::format("  %0:{} = {}\n", results, s.node) : "  %0 = " + s.node + "\n";
  for (size_t i = 0; i < results; ++i)
    text += results > 1 ? fmt::format("  output \"out{}\" = %0#{}\n", i, i)
                        : std::string("  output \"out\" = %0\n");
  return text + "}\n";
}

/// Parses the sample's graph; throws Error when the sample does not parse or verify.
inline std::unique_ptr<Graph> sampleGraph(const OpSample &s) {
  return parseGraph(sampleText(s), "sample.kir");
}

/// The range a sample gives an input (named without '%'), or nullptr for the defaults.
inline const SampleRange *sampleRange(const OpSample &s, const std::string &name) {
  for (const SampleRange &r : s.ranges)
    if (r.input == "%" + name)
      return &r;
  return nullptr;
}

/// Inputs of a sample graph in its input order: the sample's fixed values, or draws from its
/// ranges and else the defaults of SampleRange, rounded to their dtypes (so every backend sees
/// the same bits).
inline std::vector<Literal> sampleInputs(const Graph &g, const OpSample &s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Literal> out;
  for (const GraphInput &in : g.inputs()) {
    Literal lit(in.value->type);
    const SampleRange *r = sampleRange(s, in.name);
    DType dt = lit.type.dtype;
    if (r && !r->values.empty()) {
      if (static_cast<int64_t>(r->values.size()) != lit.size())
        throw std::invalid_argument(fmt::format("sample input %{} has {} values for {}", in.name,
                                                r->values.size(), lit.type.str()));
      lit.data = r->values;
    } else if (isFloat(dt)) {
      std::uniform_real_distribution<double> draw(r ? r->lo : -1.0, r ? r->hi : 1.0);
      for (double &v : lit.data)
        v = draw(rng);
    } else {
      double lo = r ? r->lo : dt == DType::boolean ? 0 : -3;
      double hi = r ? r->hi : dt == DType::boolean ? 2 : 4;
      std::uniform_int_distribution<int64_t> draw(static_cast<int64_t>(std::ceil(lo)),
                                                  static_cast<int64_t>(std::ceil(hi)) - 1);
      for (double &v : lit.data)
        v = static_cast<double>(draw(rng));
    }
    lit.roundToDType();
    out.push_back(std::move(lit));
  }
  return out;
}

/// A seed that depends only on the sample's text, so adding a sample leaves the others' inputs
/// unchanged (FNV-1a).
inline uint64_t sampleSeed(const OpSample &s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s.node)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

} // namespace kiln::test
