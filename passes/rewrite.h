#pragma once
// Rewrite patterns and the greedy driver that applies them to a fixed point.
//
// A pattern names the op it is rooted at and a function that either declines (returns nullptr)
// or builds a replacement for the root's single result with the Builder it is given. The driver
// replaces the root's uses, removes what the rewrites left dead (dead code the graph already had
// stays, for dce) and sorts the graph again.

#include "ir/builder.h"
#include "passes/pass.h"

#include <optional>
#include <span>

namespace kiln {

/// What a pattern sees besides its root: the graph, a builder at the root's location, and the
/// pass context for remarks.
struct Rewriter {
  Graph &graph;
  Builder &b;
  PassContext &ctx;
  /// Notes why the pattern did not apply at a location.
  void missed(const Location &loc, std::string message) { ctx.missed(loc, std::move(message)); }
};

/// A local rewrite rooted at a node of one op (or of any op when `root` is empty).
struct RewritePattern {
  std::string_view name;
  std::optional<OpHandle> root;
  /// Returns the value that replaces the root's result, or nullptr when the pattern does not apply.
  Value *(*rewrite)(Node &root, Rewriter &r);
};

/// Applies the patterns until none applies (or a sweep limit is reached); counts each
/// application under the pattern's name. Returns the number of rewrites.
int applyPatternsGreedily(Graph &g, std::span<const RewritePattern> patterns, PassContext &ctx);

/// A pass that applies a fixed list of patterns greedily (the list must outlive the pass).
std::unique_ptr<Pass> createPatternPass(std::string_view name,
                                        std::span<const RewritePattern> patterns);

} // namespace kiln
