#include "tools/tensor_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

namespace kiln::tools {

namespace {

/// A number at the precision of `dtype`: the shortest decimal that reads back to the same
/// double (f64) or float (f32, bf16, whose values are all floats).
std::string numberStr(double v, DType dtype) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = dtype == DType::f64 ? std::to_chars(buf, buf + sizeof buf, v)
                                 : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  return std::string(buf, res.ptr);
}

void appendNested(std::string &out, const HostBuffer &value, size_t axis, int64_t &pos) {
  if (axis == value.shape().size()) {
    out += elementStr(value, pos++);
    return;
  }
  out += "[";
  for (int64_t i = 0; i < value.shape()[axis]; ++i) {
    if (i)
      out += ", ";
    appendNested(out, value, axis + 1, pos);
  }
  out += "]";
}

/// Where `...` stands among the indices an axis shows.
constexpr int64_t kGap = -1;

/// Lays out one tensor as NumPy's _formatArray does (numpy/core/arrayprint.py).
class ArrayLayout {
public:
  ArrayLayout(const HostBuffer &value, const SummaryOptions &options)
      : value_(value), options_(options), elide_(value.numElements() > options.threshold) {
    const Shape &shape = value.shape();
    strides_.assign(shape.size(), 1);
    for (size_t axis = shape.size(); axis-- > 1;)
      strides_[axis - 1] = strides_[axis] * shape[axis];
    item_width_ = widestItem(0, 0);
  }

  /// The whole tensor: the outer "[" takes the first column, so nested lines start in the
  /// second.
  std::string str() const { return format(0, 0, " ", options_.line_width); }

private:
  /// The indices of `axis` that are shown, with kGap where the elided middle is.
  std::vector<int64_t> shown(size_t axis) const {
    int64_t size = value_.shape()[axis], edge = options_.edge_items;
    std::vector<int64_t> items;
    if (elide_ && size > 2 * edge) {
      for (int64_t i = 0; i < edge; ++i)
        items.push_back(i);
      items.push_back(kGap);
      for (int64_t i = size - edge; i < size; ++i)
        items.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i)
        items.push_back(i);
    }
    return items;
  }

  /// The length of the longest shown element at or below `axis`, from element `offset` on.
  size_t widestItem(size_t axis, int64_t offset) const {
    if (axis == value_.shape().size())
      return elementStr(value_, offset).size();
    size_t widest = 0;
    for (int64_t i : shown(axis))
      if (i != kGap)
        widest = std::max(widest, widestItem(axis + 1, offset + i * strides_[axis]));
    return widest;
  }

  /// The sub-tensor at `axis` that starts at element `offset`. `indent` begins each of its
  /// lines (the first one's is replaced by its "["), and no line may pass column `width`.
  std::string format(size_t axis, int64_t offset, const std::string &indent, int64_t width) const {
    size_t rank = value_.shape().size();
    if (axis == rank) {
      std::string item = elementStr(value_, offset);
      return std::string(item_width_ - item.size(), ' ') + item;
    }
    // Nested brackets start one column further right and leave room for this one's "]".
    std::string inner_indent = indent + " ";
    auto nested = [&](int64_t i) {
      return i == kGap ? std::string("...")
                       : format(axis + 1, offset + i * strides_[axis], inner_indent, width - 1);
    };
    std::vector<int64_t> items = shown(axis);
    std::string s;
    if (axis + 1 == rank) {
      // Items fill lines; a line keeps its last column for the "," or "]" that follows.
      int64_t last_column = width - 1;
      std::string line = indent;
      for (size_t k = 0; k < items.size(); ++k) {
        if (k)
          line += ", ";
        std::string word = nested(items[k]);
        bool holds_items = line.size() > indent.size();
        if (holds_items && static_cast<int64_t>(line.size() + word.size()) > last_column) {
          s += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
          line = indent;
        }
        line += word;
      }
      s += line;
    } else {
      // Rows of a matrix are one line apart, matrices two lines, blocks of matrices three.
      std::string separator = "," + std::string(rank - axis - 1, '\n');
      for (size_t k = 0; k < items.size(); ++k) {
        if (k)
          s += separator;
        s += indent + nested(items[k]);
      }
    }
    return "[" + s.substr(indent.size()) + "]";
  }

  const HostBuffer &value_;
  SummaryOptions options_;
  bool elide_;
  std::vector<int64_t> strides_;
  size_t item_width_ = 0;
};

/// min, max and mean of a float tensor's finite elements, and how many are not finite.
std::string floatStatistics(const HostBuffer &value) {
  DType dtype = value.dtype();
  int64_t nans = 0, infs = 0, negative_infs = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  // A long double sum neither overflows for large f64 values nor loses much to rounding.
  long double sum = 0;
  for (int64_t i = 0; i < value.numElements(); ++i) {
    double v = value.getDouble(i);
    if (std::isnan(v)) {
      ++nans;
    } else if (std::isinf(v)) {
      ++(v > 0 ? infs : negative_infs);
    } else {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
  }
  int64_t finite = value.numElements() - nans - infs - negative_infs;
  std::string s = "no finite elements";
  if (finite > 0) {
    double mean = static_cast<double>(sum / finite);
    s = fmt::format("min {}, max {}, mean {}", numberStr(lo, dtype), numberStr(hi, dtype),
                    numberStr(mean, dtype));
    if (finite < value.numElements())
      s += fmt::format(" (of {} finite)", finite);
  }
  std::vector<std::string> counts;
  if (nans)
    counts.push_back(fmt::format("nan {}", nans));
  if (infs)
    counts.push_back(fmt::format("inf {}", infs));
  if (negative_infs)
    counts.push_back(fmt::format("-inf {}", negative_infs));
  if (!counts.empty())
    s += fmt::format("; {}", fmt::join(counts, ", "));
  return s;
}

} // namespace

std::string elementStr(const HostBuffer &value, int64_t i) {
  DType dtype = value.dtype();
  if (dtype == DType::boolean)
    return value.getInt(i) != 0 ? "true" : "false";
  if (isInteger(dtype))
    return fmt::format("{}", value.getInt(i));
  return numberStr(value.getDouble(i), dtype);
}

std::string bufferStr(const HostBuffer &value) {
  std::string out;
  int64_t pos = 0;
  appendNested(out, value, 0, pos);
  return out;
}

std::string arrayStr(const HostBuffer &value, const SummaryOptions &options) {
  if (value.numElements() == 0)
    return "[]";
  return ArrayLayout(value, options).str();
}

std::string statisticsStr(const HostBuffer &value) {
  int64_t n = value.numElements();
  if (value.shape().empty() || n == 0)
    return "";
  if (value.dtype() == DType::boolean) {
    int64_t trues = 0;
    for (int64_t i = 0; i < n; ++i)
      trues += value.getInt(i) != 0;
    return fmt::format("true {}, false {}", trues, n - trues);
  }
  if (isInteger(value.dtype())) {
    int64_t lo = value.getInt(0), hi = lo;
    for (int64_t i = 1; i < n; ++i) {
      lo = std::min(lo, value.getInt(i));
      hi = std::max(hi, value.getInt(i));
    }
    return fmt::format("min {}, max {}", lo, hi);
  }
  return floatStatistics(value);
}

std::string tensorSummary(std::string_view name, const HostBuffer &value,
                          const SummaryOptions &options) {
  std::string s = fmt::format("\"{}\" = {}\n", name, value.type().str());
  if (std::string statistics = statisticsStr(value); !statistics.empty())
    s += statistics + "\n";
  return s + arrayStr(value, options) + "\n";
}

std::string tensorLine(std::string_view name, const HostBuffer &value) {
  return fmt::format("\"{}\" = {} {}\n", name, value.type().str(), bufferStr(value));
}

} // namespace kiln::tools
