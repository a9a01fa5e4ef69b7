// How --run prints tensors: NumPy's layout with the middle of long axes elided, statistics, and
// the one-line form of --print-full. The expected layouts of whole tensors are what NumPy 1.24
// prints for the same values, np.array2string(a, separator=', '), as quoted in each case; kiln
// spells items as NumPy does wherever these values are chosen (integers; floats that all have
// the same number of decimals, which NumPy aligns as kiln pads, on the left).

#include "tools/tensor_summary.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace kiln {
namespace {

/// A tensor of this dtype and shape whose element i is value(i).
template <typename F> HostBuffer tensorOf(DType dtype, Shape shape, F value) {
  HostBuffer b(TensorType{dtype, std::move(shape)});
  for (int64_t i = 0; i < b.numElements(); ++i)
    b.setDouble(i, value(i));
  return b;
}

/// np.arange(n).reshape(shape) in i64.
HostBuffer arange(Shape shape) {
  return tensorOf(DType::i64, std::move(shape), [](int64_t i) { return double(i); });
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST_CASE("a [2,1000] tensor shows 3 items at each end of its long axis, as NumPy does") {
  // np.array2string(np.arange(2000).reshape(2, 1000), separator=', ')
  CHECK(tools::arrayStr(arange({2, 1000})) == "[[   0,    1,    2, ...,  997,  998,  999],\n"
                                              " [1000, 1001, 1002, ..., 1997, 1998, 1999]]");
  // a = (np.arange(2000) % 13 - 5.75).astype(np.float32).reshape(2, 1000):
  // np.array2string(a, separator=', '); a.min(), a.max(), a.astype(np.float64).mean() are
  // -5.75, 6.25 and 0.2445 (sum(i % 13) over 2000 = 153 cycles of 78 plus 0..10 is 11989).
  HostBuffer a = tensorOf(DType::f32, {2, 1000}, [](int64_t i) { return double(i % 13) - 5.75; });
  CHECK(tools::arrayStr(a) == "[[-5.75, -4.75, -3.75, ...,  3.25,  4.25,  5.25],\n"
                              " [ 6.25, -5.75, -4.75, ...,  2.25,  3.25,  4.25]]");
  CHECK(tools::statisticsStr(a) == "min -5.75, max 6.25, mean 0.2445");
  CHECK(tools::tensorSummary("a", a) == "\"a\" = f32[2,1000]\n"
                                        "min -5.75, max 6.25, mean 0.2445\n"
                                        "[[-5.75, -4.75, -3.75, ...,  3.25,  4.25,  5.25],\n"
                                        " [ 6.25, -5.75, -4.75, ...,  2.25,  3.25,  4.25]]\n");
}

TEST_CASE("a [3,4,500] tensor elides only the axis longer than 6, with blank lines between "
          "matrices") {
  // np.array2string(np.arange(6000).reshape(3, 4, 500), separator=', ')
  CHECK(tools::arrayStr(arange({3, 4, 500})) == "[[[   0,    1,    2, ...,  497,  498,  499],\n"
                                                "  [ 500,  501,  502, ...,  997,  998,  999],\n"
                                                "  [1000, 1001, 1002, ..., 1497, 1498, 1499],\n"
                                                "  [1500, 1501, 1502, ..., 1997, 1998, 1999]],\n"
                                                "\n"
                                                " [[2000, 2001, 2002, ..., 2497, 2498, 2499],\n"
                                                "  [2500, 2501, 2502, ..., 2997, 2998, 2999],\n"
                                                "  [3000, 3001, 3002, ..., 3497, 3498, 3499],\n"
                                                "  [3500, 3501, 3502, ..., 3997, 3998, 3999]],\n"
                                                "\n"
                                                " [[4000, 4001, 4002, ..., 4497, 4498, 4499],\n"
                                                "  [4500, 4501, 4502, ..., 4997, 4998, 4999],\n"
                                                "  [5000, 5001, 5002, ..., 5497, 5498, 5499],\n"
                                                "  [5500, 5501, 5502, ..., 5997, 5998, 5999]]]");
  CHECK(tools::statisticsStr(arange({3, 4, 500})) == "min 0, max 5999");
}

TEST_CASE("the threshold counts elements; an axis is elided only when longer than 2 edge items") {
  tools::SummaryOptions five{.threshold = 5};
  // np.array2string(np.arange(7), separator=', ', threshold=5)
  CHECK(tools::arrayStr(arange({7}), five) == "[0, 1, 2, ..., 4, 5, 6]");
  // np.arange(6): more elements than the threshold, but no axis longer than 6.
  CHECK(tools::arrayStr(arange({6}), five) == "[0, 1, 2, 3, 4, 5]");
  // np.arange(5): not more than the threshold.
  CHECK(tools::arrayStr(arange({5}), five) == "[0, 1, 2, 3, 4]");
  // np.array2string(np.arange(32).reshape(2, 8, 2), separator=', ', threshold=5): the elided
  // middle of a higher axis is a line of its own.
  CHECK(tools::arrayStr(arange({2, 8, 2}), five) == "[[[ 0,  1],\n"
                                                    "  [ 2,  3],\n"
                                                    "  [ 4,  5],\n"
                                                    "  ...,\n"
                                                    "  [10, 11],\n"
                                                    "  [12, 13],\n"
                                                    "  [14, 15]],\n"
                                                    "\n"
                                                    " [[16, 17],\n"
                                                    "  [18, 19],\n"
                                                    "  [20, 21],\n"
                                                    "  ...,\n"
                                                    "  [26, 27],\n"
                                                    "  [28, 29],\n"
                                                    "  [30, 31]]]");
  // One more element than the default threshold of 1000: np.arange(1001).
  CHECK(tools::arrayStr(arange({1001})) == "[   0,    1,    2, ...,  998,  999, 1000]");
}

TEST_CASE("rows longer than 75 columns wrap under their bracket, as NumPy's do") {
  auto wide = [](Shape shape) {
    return tensorOf(DType::i64, std::move(shape), [](int64_t i) { return double(i * 1000003); });
  };
  // np.array2string(np.arange(30) * 1000003, separator=', ')
  CHECK(tools::arrayStr(wide({30})) ==
        "[       0,  1000003,  2000006,  3000009,  4000012,  5000015,  6000018,\n"
        "  7000021,  8000024,  9000027, 10000030, 11000033, 12000036, 13000039,\n"
        " 14000042, 15000045, 16000048, 17000051, 18000054, 19000057, 20000060,\n"
        " 21000063, 22000066, 23000069, 24000072, 25000075, 26000078, 27000081,\n"
        " 28000084, 29000087]");
  // The same reshaped to (2, 15): each row wraps one column further in.
  CHECK(tools::arrayStr(wide({2, 15})) ==
        "[[       0,  1000003,  2000006,  3000009,  4000012,  5000015,  6000018,\n"
        "   7000021,  8000024,  9000027, 10000030, 11000033, 12000036, 13000039,\n"
        "  14000042],\n"
        " [15000045, 16000048, 17000051, 18000054, 19000057, 20000060, 21000063,\n"
        "  22000066, 23000069, 24000072, 25000075, 26000078, 27000081, 28000084,\n"
        "  29000087]]");
}

TEST_CASE("nan and infinities print as such and are counted apart from the statistics") {
  std::vector<double> values = {1, kNaN, kInf, -kInf, -2, 0.5};
  HostBuffer x = tensorOf(DType::f32, {6}, [&](int64_t i) { return values[i]; });
  CHECK(tools::arrayStr(x) == "[   1,  nan,  inf, -inf,   -2,  0.5]");
  // The finite elements 1, -2 and 0.5: min -2, max 1, mean -0.5 / 3 = -0.1666..., whose nearest
  // f32 prints as -0.16666667.
  CHECK(tools::statisticsStr(x) ==
        "min -2, max 1, mean -0.16666667 (of 3 finite); nan 1, inf 1, -inf 1");
  HostBuffer nans = tensorOf(DType::f64, {2}, [](int64_t) { return kNaN; });
  CHECK(tools::statisticsStr(nans) == "no finite elements; nan 2");
  CHECK(tools::bufferStr(x) == "[1, nan, inf, -inf, -2, 0.5]");
}

TEST_CASE("the mean of large f64 values does not overflow") {
  HostBuffer big = tensorOf(DType::f64, {3}, [](int64_t) { return 1e308; });
  CHECK(tools::statisticsStr(big) == "min 1e+308, max 1e+308, mean 1e+308");
}

TEST_CASE("an empty tensor prints [] and no statistics; a scalar its value alone") {
  HostBuffer empty(TensorType{DType::f32, {2, 0, 3}});
  CHECK(tools::arrayStr(empty) == "[]"); // np.array2string(np.zeros((2, 0, 3)))
  CHECK(tools::statisticsStr(empty).empty());
  CHECK(tools::tensorSummary("e", empty) == "\"e\" = f32[2,0,3]\n[]\n");
  CHECK(tools::bufferStr(empty) == "[[], []]");

  HostBuffer scalar = HostBuffer::scalarFloat(2.5);
  CHECK(tools::arrayStr(scalar) == "2.5"); // np.array2string(np.array(2.5))
  CHECK(tools::statisticsStr(scalar).empty());
  CHECK(tools::tensorSummary("s", scalar) == "\"s\" = f32[]\n2.5\n");
  CHECK(tools::tensorLine("s", scalar) == "\"s\" = f32[] 2.5\n");
}

TEST_CASE("bool, integer and bf16 tensors") {
  std::vector<double> mask = {1, 0, 0, 1, 1, 1};
  HostBuffer b = tensorOf(DType::boolean, {3, 2}, [&](int64_t i) { return mask[i]; });
  // np.array2string(np.array([[True, False], [False, True], [True, True]]), separator=', ')
  // prints True and False capitalised; the layout is the same.
  CHECK(tools::arrayStr(b) == "[[ true, false],\n"
                              " [false,  true],\n"
                              " [ true,  true]]");
  CHECK(tools::statisticsStr(b) == "true 4, false 2");

  std::vector<double> ints = {-3, 10, 7};
  HostBuffer i = tensorOf(DType::i32, {3}, [&](int64_t k) { return ints[k]; });
  // np.array2string(np.array([-3, 10, 7], dtype=np.int32), separator=', ')
  CHECK(tools::arrayStr(i) == "[-3, 10,  7]");
  CHECK(tools::statisticsStr(i) == "min -3, max 10");
  // Integers beyond 2^53 stay exact.
  HostBuffer huge(TensorType{DType::i64, {2}});
  huge.setInt(0, std::numeric_limits<int64_t>::max());
  huge.setInt(1, std::numeric_limits<int64_t>::min());
  CHECK(tools::statisticsStr(huge) == "min -9223372036854775808, max 9223372036854775807");

  // bf16 keeps 8 significant bits: 0.1 rounds to 0.10009765625 (torch.tensor(0.1).bfloat16()),
  // whose shortest f32 spelling is 0.100097656 (repr(np.float32(0.10009765625))), and -300.5 to
  // -300. The mean, (0.10009765625 + 1 - 300) / 3 = -99.63330078125, prints as the nearest f32.
  std::vector<double> halves = {0.1, 1, -300.5};
  HostBuffer h = tensorOf(DType::bf16, {3}, [&](int64_t k) { return halves[k]; });
  CHECK(tools::arrayStr(h) == "[0.100097656,           1,        -300]");
  CHECK(tools::statisticsStr(h) == "min -300, max 1, mean -99.6333");
  CHECK(tools::bufferStr(h) == "[0.100097656, 1, -300]");
}

TEST_CASE("--print-full's line holds every element in nested lists") {
  HostBuffer x = tensorOf(DType::f32, {2, 2}, [](int64_t i) { return double(i) + 0.25; });
  CHECK(tools::tensorLine("x", x) == "\"x\" = f32[2,2] [[0.25, 1.25], [2.25, 3.25]]\n");
  // f32 items in their shortest exact spelling: 0.1f is 0.100000001490116..., spelled 0.1.
  HostBuffer tenth = HostBuffer::scalarFloat(0.1);
  CHECK(tools::elementStr(tenth, 0) == "0.1");
  HostBuffer tenth64 = HostBuffer::scalarFloat(0.1f, DType::f64);
  CHECK(tools::elementStr(tenth64, 0) == "0.10000000149011612");
  // Nothing of a 2000-element tensor is left out.
  std::string full = tools::bufferStr(arange({2, 1000}));
  CHECK(full.find("...") == std::string::npos);
  CHECK(full.find("1000, 1001") != std::string::npos);
}

} // namespace
} // namespace kiln
