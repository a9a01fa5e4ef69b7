#pragma once
// How the tools print a tensor to the terminal: in full, on one line, or summarised as NumPy
// prints an array (a header, a statistics line, and the values with the middle of long axes
// elided).

#include "runtime/host_buffer.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::tools {

/// How much of a tensor a summary shows; the defaults are NumPy's (np.set_printoptions).
struct SummaryOptions {
  /// A tensor of more elements than this is elided (NumPy's `threshold`).
  int64_t threshold = 1000;
  /// How many items an elided axis shows at each end (NumPy's `edgeitems`).
  int64_t edge_items = 3;
  /// Lines wrap before they grow longer than this (NumPy's `linewidth`).
  int64_t line_width = 75;
};

/// Element i in its shortest exact spelling: f32 and bf16 as the shortest decimal that reads
/// back to the same float, f64 to the same double, integers in decimal, `true` or `false`, and
/// `nan`, `inf`, `-inf`.
std::string elementStr(const HostBuffer &value, int64_t i);

/// Every element as nested lists on one line: [[1, 2], [3, 4]].
std::string bufferStr(const HostBuffer &value);

/// The elements in NumPy's layout, as np.array2string(a, separator=', ') prints them: one row
/// of the last axis a line (wrapped at the line width), a blank line between blocks of higher
/// axes, items padded on the left to a common width. A tensor of more than `threshold` elements
/// shows only `edge_items` items at each end of every axis longer than twice that, with `...`
/// between. Items keep elementStr's spelling (NumPy's would round floats to 8 digits). An empty
/// tensor prints as [].
std::string arrayStr(const HostBuffer &value, const SummaryOptions &options = {});

/// The statistics of a tensor on one line: min, max and mean for floats (of the finite elements,
/// with counts of nan, inf and -inf when there are any), min and max for integers, the counts of
/// true and false for bools; "" for a scalar or an empty tensor.
std::string statisticsStr(const HostBuffer &value);

/// What --run prints for an output: the header `"name" = f32[2,3]`, the statistics line (if
/// any) and arrayStr, each line ending in a newline.
std::string tensorSummary(std::string_view name, const HostBuffer &value,
                          const SummaryOptions &options = {});

/// What --run --print-full prints for an output: `"name" = f32[2,3] [[...]]` and a newline,
/// every element in bufferStr's form.
std::string tensorLine(std::string_view name, const HostBuffer &value);

} // namespace kiln::tools
