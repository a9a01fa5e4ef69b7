#pragma once
// Reads the text form printed by printGraph back into a graph.

#include "ir/graph.h"

#include <memory>
#include <string_view>

namespace kiln {

/// Parses one graph. Errors are thrown as Error located in `filename`; `first_line` is the
/// line number of the text's first line (for chunks of a split input file). The result is
/// verified: every node's types are checked against inference as it is read. A first line
/// "kiln.format N" names the text's format (ir/text_format.h): a text without it is read as
/// format 1, and a newer or unknown one is refused. So is a constant printed elided
/// (PrintOptions::elide_constants_larger_than): its values are not in the text.
std::unique_ptr<Graph> parseGraph(std::string_view text, const std::string &filename,
                                  int first_line = 1);

} // namespace kiln
