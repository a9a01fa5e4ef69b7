// exp, log, tanh, erf and pow as straight-line LLVM IR, for targets without a C library
// (NVPTX has no libm and kiln does not depend on libdevice). Each is an argument reduction and
// a polynomial in the operand's own type:
//   exp  x = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series, times 2^n in two halves;
//   log  x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1);
//   tanh  1 - 2 / (e^2|x| + 1) with x's sign, its Taylor series near 0;
//   erf  Numerical Recipes' erfc (fractional error below 1.2e-7), its Taylor series near 0;
//   pow  exp(b log |a|), with the sign of an odd integer power of a negative base.
// exp and log are accurate to a few ulp in f64; tanh, erf and pow in f64 are not correctly
// rounded (erf holds about 7 digits).

#include "backend/llvm/scalar_emitter.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <cmath>
#include <numbers>

namespace kiln::codegen {

using namespace kernel;

llvm::Value *ScalarEmitter::fconst(llvm::Type *t, double v) { return llvm::ConstantFP::get(t, v); }

/// c0 + c1 x + c2 x^2 + ... by Horner's rule with fused multiply-adds.
llvm::Value *ScalarEmitter::polynomial(llvm::Value *x, std::initializer_list<double> coefficients) {
  llvm::Type *t = x->getType();
  auto it = std::rbegin(coefficients);
  llvm::Value *p = fconst(t, *it);
  for (++it; it != std::rend(coefficients); ++it)
    p = b_.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {p, x, fconst(t, *it)});
  return p;
}

llvm::Value *ScalarEmitter::inlineExp(ScalarType t, llvm::Value *x) {
  return t == ScalarType::f32 ? expF32(x) : expF64(x);
}

llvm::Value *ScalarEmitter::expF64(llvm::Value *x) {
  llvm::Type *d = b_.getDoubleTy();
  // Beyond these e^x is inf or 0 anyway; NaN passes through the selects.
  x = b_.CreateSelect(b_.CreateFCmpOGT(x, fconst(d, 710.0)), fconst(d, 710.0), x);
  x = b_.CreateSelect(b_.CreateFCmpOLT(x, fconst(d, -746.0)), fconst(d, -746.0), x);
  llvm::Value *n = b_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven,
                                           b_.CreateFMul(x, fconst(d, std::numbers::log2e)));
  auto fma = [&](llvm::Value *a, llvm::Value *b, llvm::Value *c) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fma, {d}, {a, b, c});
  };
  // ln2 in two parts: n * hi is exact for |n| < 2^11.
  llvm::Value *r = fma(n, fconst(d, -6.93147180369123816490e-01), x);
  r = fma(n, fconst(d, -1.90821492927058770002e-10), r);
  std::vector<double> taylor;
  double term = 1;
  for (int k = 0; k <= 13; ++k) {
    taylor.push_back(term);
    term /= k + 1;
  }
  llvm::Value *p = fconst(d, taylor.back());
  for (auto it = taylor.rbegin() + 1; it != taylor.rend(); ++it)
    p = fma(p, r, fconst(d, *it));
  llvm::Value *ni = b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {b_.getInt64Ty(), d}, {n});
  llvm::Value *half = b_.CreateAShr(ni, 1);
  auto pow2 = [&](llvm::Value *e) {
    return b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(e, b_.getInt64(1023)), 52), d);
  };
  return b_.CreateFMul(b_.CreateFMul(p, pow2(half)), pow2(b_.CreateSub(ni, half)));
}

llvm::Value *ScalarEmitter::inlineLog(ScalarType t, llvm::Value *x) {
  bool f32 = t == ScalarType::f32;
  llvm::Type *ft = type(t);
  llvm::Type *it = f32 ? b_.getInt32Ty() : b_.getInt64Ty();
  int mantissa = f32 ? 23 : 52, bias = f32 ? 127 : 1023;
  auto ic = [&](int64_t v) { return llvm::ConstantInt::get(it, static_cast<uint64_t>(v), true); };
  // Subnormals are scaled into the normal range first.
  double smallest_normal = f32 ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
  llvm::Value *tiny = b_.CreateFCmpOLT(x, fconst(ft, smallest_normal));
  llvm::Value *scaled =
      b_.CreateSelect(tiny, b_.CreateFMul(x, fconst(ft, std::ldexp(1.0, mantissa))), x);
  llvm::Value *bits = b_.CreateBitCast(scaled, it);
  llvm::Value *e = b_.CreateSub(b_.CreateLShr(bits, mantissa), ic(bias));
  e = b_.CreateSub(e, b_.CreateSelect(tiny, ic(mantissa), ic(0)));
  llvm::Value *frac = b_.CreateAnd(bits, ic((int64_t{1} << mantissa) - 1));
  llvm::Value *m = b_.CreateBitCast(b_.CreateOr(frac, ic(int64_t{bias} << mantissa)), ft);
  llvm::Value *big = b_.CreateFCmpOGT(m, fconst(ft, std::numbers::sqrt2));
  m = b_.CreateSelect(big, b_.CreateFMul(m, fconst(ft, 0.5)), m);
  e = b_.CreateAdd(e, b_.CreateSelect(big, ic(1), ic(0)));
  llvm::Value *s =
      b_.CreateFDiv(b_.CreateFSub(m, fconst(ft, 1.0)), b_.CreateFAdd(m, fconst(ft, 1.0)));
  llvm::Value *z = b_.CreateFMul(s, s);
  llvm::Value *series =
      f32 ? polynomial(z, {2.0, 2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11})
          : polynomial(z, {2.0, 2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11, 2.0 / 13, 2.0 / 15,
                           2.0 / 17, 2.0 / 19, 2.0 / 21, 2.0 / 23});
  llvm::Value *log_m = b_.CreateFMul(s, series);
  // e ln2 with ln2 in two parts, the first exact in the operand's type.
  double ln2_hi =
      f32 ? static_cast<double>(static_cast<float>(std::numbers::ln2)) : 6.93147180369123816490e-01;
  double ln2_lo = f32 ? std::numbers::ln2 - ln2_hi : 1.90821492927058770002e-10;
  llvm::Value *ef = b_.CreateSIToFP(e, ft);
  llvm::Value *fma_lo =
      b_.CreateIntrinsic(llvm::Intrinsic::fma, {ft}, {ef, fconst(ft, ln2_lo), log_m});
  llvm::Value *result =
      b_.CreateIntrinsic(llvm::Intrinsic::fma, {ft}, {ef, fconst(ft, ln2_hi), fma_lo});
  // log 0 = -inf, log of a negative number or NaN is NaN, log inf = inf.
  result = b_.CreateSelect(b_.CreateFCmpOEQ(x, fconst(ft, 0.0)), fconst(ft, -INFINITY), result);
  result = b_.CreateSelect(b_.CreateFCmpOEQ(x, fconst(ft, INFINITY)), x, result);
  return b_.CreateSelect(b_.CreateFCmpULT(x, fconst(ft, 0.0)), fconst(ft, NAN), result);
}

llvm::Value *ScalarEmitter::inlineTanh(ScalarType t, llvm::Value *x) {
  llvm::Type *ft = type(t);
  llvm::Value *ax = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *e2 = unary(UnaryOp::Exp, t, b_.CreateFMul(ax, fconst(ft, 2.0)));
  llvm::Value *far = b_.CreateFSub(
      fconst(ft, 1.0), b_.CreateFDiv(fconst(ft, 2.0), b_.CreateFAdd(e2, fconst(ft, 1.0))));
  // tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - ...
  llvm::Value *x2 = b_.CreateFMul(ax, ax);
  llvm::Value *near = b_.CreateFMul(
      ax, polynomial(x2, {1.0, -1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835, -1382.0 / 155925}));
  // Where the series' next term (21844/6081075 x^13) falls below the rounding error of the
  // other form.
  double threshold = t == ScalarType::f32 ? 0.3 : 0.1;
  llvm::Value *r = b_.CreateSelect(b_.CreateFCmpOLT(ax, fconst(ft, threshold)), near, far);
  return b_.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x);
}

llvm::Value *ScalarEmitter::inlineErf(ScalarType t, llvm::Value *x) {
  llvm::Type *ft = type(t);
  llvm::Value *z = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *tt = b_.CreateFDiv(
      fconst(ft, 1.0), b_.CreateFAdd(fconst(ft, 1.0), b_.CreateFMul(z, fconst(ft, 0.5))));
  llvm::Value *p = polynomial(tt, {-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                                   0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277});
  llvm::Value *arg = b_.CreateFSub(p, b_.CreateFMul(z, z));
  llvm::Value *erfc = b_.CreateFMul(tt, unary(UnaryOp::Exp, t, arg));
  llvm::Value *far = b_.CreateFSub(fconst(ft, 1.0), erfc);
  // erf x = 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320 + x^13/9360)
  llvm::Value *z2 = b_.CreateFMul(z, z);
  llvm::Value *near = b_.CreateFMul(
      b_.CreateFMul(z, fconst(ft, 2.0 * std::numbers::inv_sqrtpi)),
      polynomial(z2, {1.0, -1.0 / 3, 1.0 / 10, -1.0 / 42, 1.0 / 216, -1.0 / 1320, 1.0 / 9360}));
  llvm::Value *r = b_.CreateSelect(b_.CreateFCmpOLT(z, fconst(ft, 0.5)), near, far);
  return b_.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x);
}

llvm::Value *ScalarEmitter::inlinePow(llvm::Value *a, llvm::Value *b) {
  llvm::Type *ft = a->getType();
  ScalarType t = ft->isFloatTy() ? ScalarType::f32 : ScalarType::f64;
  llvm::Value *abs_a = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a);
  llvm::Value *mag = unary(UnaryOp::Exp, t, b_.CreateFMul(b, inlineLog(t, abs_a)));
  llvm::Value *integral = b_.CreateFCmpOEQ(b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, b), b);
  llvm::Value *half = b_.CreateFMul(b, fconst(ft, 0.5));
  llvm::Value *odd = b_.CreateAnd(
      integral, b_.CreateFCmpUNE(b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, half), half));
  llvm::Value *negative = b_.CreateFCmpOLT(a, fconst(ft, 0.0));
  llvm::Value *r = b_.CreateSelect(b_.CreateAnd(negative, odd), b_.CreateFNeg(mag), mag);
  r = b_.CreateSelect(b_.CreateAnd(negative, b_.CreateNot(integral)), fconst(ft, NAN), r);
  // pow(1, b) and pow(a, 0) are 1 whatever the other operand, NaN included.
  llvm::Value *one =
      b_.CreateOr(b_.CreateFCmpOEQ(a, fconst(ft, 1.0)), b_.CreateFCmpOEQ(b, fconst(ft, 0.0)));
  return b_.CreateSelect(one, fconst(ft, 1.0), r);
}

const char *inlineMathStamp() { return __DATE__ " " __TIME__; }

} // namespace kiln::codegen
