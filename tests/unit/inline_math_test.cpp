// The inline exp, log, tanh, erf and pow that the GPU code generators emit (NVPTX has no libm),
// checked on the host: the CPU's JIT compiles the same LLVM IR when asked for inline math, and
// its numbers are compared with the C library's. The tolerances are the error bounds of the
// methods (inline_math.cpp), not fitted to the results.

#include "backend/cpu/jit.h"
#include "test_util.h"

#include <cmath>
#include <limits>
#include <vector>

using namespace kiln;
using namespace kiln::kernel;

namespace {

/// out[i] = f(a[i]) or f(a[i], b[i]) for op in a kernel of inline math, run on the host.
template <typename T>
std::vector<T> runInline(std::variant<UnaryOp, BinaryOp> op, const std::vector<T> &a,
                         const std::vector<T> &b = {}) {
  DType d = std::is_same_v<T, float> ? DType::f32 : DType::f64;
  auto n = static_cast<int64_t>(a.size());
  Kernel k;
  k.name = "math";
  int in_a = k.addBuffer("in0", d, {n}, Role::Read);
  int in_b = k.addBuffer("in1", d, {n}, Role::Read);
  int out = k.addBuffer("out0", d, {n}, Role::Write);
  int i = k.addVar("i", ScalarType::index);
  Expr x = load(k, in_a, {varRef(k, i)}), y = load(k, in_b, {varRef(k, i)});
  Expr value = std::holds_alternative<UnaryOp>(op) ? unary(std::get<UnaryOp>(op), x)
                                                   : binary(std::get<BinaryOp>(op), x, y);
  k.body.push_back(loop(i, LoopKind::Parallel, n, {store(out, {varRef(k, i)}, value)}));
  std::vector<Kernel> kernels = {k};
  auto jit = cpu::JitKernels::compile(
      cpu::JitProgram{.kernels = kernels, .noalias = {}, .inline_math = true}, false);
  std::vector<T> bb = b.empty() ? std::vector<T>(a.size(), T(0)) : b;
  std::vector<T> result(a.size());
  void *buffers[] = {const_cast<T *>(a.data()), bb.data(), result.data()};
  jit->function(0)(buffers, 0, n);
  return result;
}

/// Whether got is want within a relative tolerance (NaNs and infinities must match exactly).
template <typename T> bool close(T got, T want, double rel) {
  if (std::isnan(want))
    return std::isnan(got);
  if (std::isinf(want) || want == 0)
    return got == want;
  return std::abs(static_cast<double>(got) - want) <= rel * std::abs(static_cast<double>(want));
}

template <typename T> std::vector<T> grid(double lo, double hi, int n) {
  std::vector<T> v;
  for (int i = 0; i < n; ++i)
    v.push_back(static_cast<T>(lo + (hi - lo) * i / (n - 1)));
  return v;
}

template <typename T>
void checkUnary(UnaryOp op, double (*ref)(double), std::vector<T> xs, double rel) {
  std::vector<T> got = runInline<T>(op, xs);
  for (size_t i = 0; i < xs.size(); ++i) {
    T want = static_cast<T>(ref(static_cast<double>(xs[i])));
    INFO(unaryOpName(op), "(", xs[i], ") = ", got[i], ", want ", want);
    CHECK(close(got[i], want, rel));
  }
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T> std::vector<T> with(std::vector<T> v, std::initializer_list<double> extra) {
  for (double e : extra)
    v.push_back(static_cast<T>(e));
  return v;
}

} // namespace

TEST_CASE("inline exp and log match the C library's") {
  // A few ulp: the reduction is exact, the series' truncation far below an ulp.
  checkUnary<double>(UnaryOp::Exp, std::exp,
                     with(grid<double>(-740, 709, 997), {kInf, -kInf, kNaN}), 4e-15);
  checkUnary<float>(UnaryOp::Exp, std::exp, with(grid<float>(-87, 88, 501), {kInf, -kInf, kNaN}),
                    4e-7);
  std::vector<double> positive = with(grid<double>(1e-3, 1e3, 999), {1e-310, 1e-300, 1, 2, 1e300});
  checkUnary<double>(UnaryOp::Log, std::log, with(positive, {0, -1, kInf, kNaN}), 4e-15);
  checkUnary<float>(
      UnaryOp::Log, std::log,
      with(grid<float>(1e-3, 1e3, 999), {1e-40, 1e-30, 1, 2, 1e30, 0, -1, kInf, kNaN}), 4e-7);
}

TEST_CASE("inline tanh and erf match the C library's") {
  // tanh: 1 - 2/(e^2x + 1) loses a few ulp of 1 against tanh x at the series' threshold (0.1
  // in f64, 0.3 in f32).
  std::vector<double> xs =
      with(grid<double>(-20, 20, 1001), {1e-5, -3e-3, 0.0999, 0.1001, kInf, -kInf, kNaN});
  checkUnary<double>(UnaryOp::Tanh, std::tanh, xs, 1e-14);
  checkUnary<float>(
      UnaryOp::Tanh, std::tanh,
      with(grid<float>(-10, 10, 1001), {1e-5, -3e-3, 0.299, 0.301, kInf, -kInf, kNaN}), 1e-6);
  // erf: Numerical Recipes' erfc has a fractional error below 1.2e-7.
  checkUnary<double>(UnaryOp::Erf, std::erf,
                     with(grid<double>(-6, 6, 1001), {1e-8, kInf, -kInf, kNaN}), 3e-7);
  checkUnary<float>(UnaryOp::Erf, std::erf,
                    with(grid<float>(-6, 6, 1001), {1e-8, kInf, -kInf, kNaN}), 5e-7);
}

TEST_CASE("inline pow matches the C library's, signs and special cases included") {
  std::vector<double> a = {2, 10, 0.5, 3.7, -2, -2, -2, -8, 0, 0, 1, kNaN, 2, 1e-3, 7};
  std::vector<double> b = {10, -3, 2.5, 1.3, 3, 2, 0.5, 1.0 / 3, 2, -1, kNaN, 0, kNaN, 40, -50};
  std::vector<double> got = runInline<double>(BinaryOp::Pow, a, b);
  for (size_t i = 0; i < a.size(); ++i) {
    double want = std::pow(a[i], b[i]);
    INFO("pow(", a[i], ", ", b[i], ") = ", got[i], ", want ", want);
    // The error of log a grows by |b log a| in the exponent.
    CHECK(close(got[i], want, 1e-13));
  }
  std::vector<float> fa(a.begin(), a.end()), fb(b.begin(), b.end());
  fa.resize(11);
  fb.resize(11);
  std::vector<float> fgot = runInline<float>(BinaryOp::Pow, fa, fb);
  for (size_t i = 0; i < fa.size(); ++i) {
    float want = std::pow(fa[i], fb[i]);
    INFO("powf(", fa[i], ", ", fb[i], ") = ", fgot[i], ", want ", want);
    CHECK(close(fgot[i], want, 4e-6));
  }
}
