// The math functions that GLSL.std.450 lacks or has only for 16- and 32-bit floats, in straight
// SPIR-V: f32 e^x as backend/cpu computes it, f32 log x of subnormals from their bits (Cephes'
// polynomial, the same constants and order), f64 e^x and log x by range reduction and series that
// reach about 1 ulp, tanh from e^x (with a series near 0, where 1 - 2 / (e^2x + 1) would cancel),
// erf by a rational approximation in f32 and a series of positive terms in f64, and pow
// through f64 e^(b log |a|) with C's special cases.

#include "backend/gpu/spirv/spirv_scalar.h"

#include <cmath>

namespace kiln::spirv {

using namespace kernel;

Id ScalarEmitter::fma(ScalarType t, const Id &a, const Id &b, const Id &c) {
  return ext("Fma", type(t), {a, b, c});
}

/// coefficients[0] x^(n-1) + ... + coefficients[n-1], by Horner's rule.
Id ScalarEmitter::poly(ScalarType t, const Id &x, const std::vector<double> &coefficients) {
  Id p = fconst(t, coefficients[0]);
  for (size_t i = 1; i < coefficients.size(); ++i)
    p = fma(t, p, x, fconst(t, coefficients[i]));
  return p;
}

/// e^x for f32: x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' polynomial (about 1 ulp),
/// times 2^n applied in two halves so that n may reach the limits of the exponent range.
Id ScalarEmitter::expF32(const Id &x0) {
  const ScalarType f = ScalarType::f32;
  Id ft = type(f), b1 = type(ScalarType::boolean), i32 = type(ScalarType::i32);
  // Beyond these e^x is inf or 0 anyway; NaN passes through the selects.
  Id x = select(ft, op("OpFOrdGreaterThan", b1, {x0, fconst(f, 89.0)}), fconst(f, 89.0), x0);
  x = select(ft, op("OpFOrdLessThan", b1, {x, fconst(f, -104.0)}), fconst(f, -104.0), x);
  Id n = ext("RoundEven", ft, {op("OpFMul", ft, {x, fconst(f, 1.44269504088896341)})});
  Id r = fma(f, n, fconst(f, -0.693359375), x);
  r = fma(f, n, fconst(f, 2.12194440e-4), r);
  Id p = poly(f, r,
              {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
               5.0000001201e-1});
  p = fma(f, p, op("OpFMul", ft, {r, r}), op("OpFAdd", ft, {r, fconst(f, 1.0)}));
  // n is NaN only when x is, and then p is NaN whatever the scale.
  Id ni = op("OpConvertFToS", i32, {select(ft, op("OpIsNan", b1, {n}), fconst(f, 0.0), n)});
  Id half = op("OpShiftRightArithmetic", i32, {ni, u32c(1)});
  auto pow2 = [&](const Id &e) {
    Id biased = op("OpIAdd", i32, {e, iconst(ScalarType::i32, 127)});
    return op("OpBitcast", ft, {op("OpShiftLeftLogical", i32, {biased, u32c(23)})});
  };
  return op("OpFMul", ft, {op("OpFMul", ft, {p, pow2(half)}), pow2(op("OpISub", i32, {ni, half}))});
}

/// e^x for f64: x = n ln2 + r (ln2 in two parts), e^r by its Taylor series to r^13 (error below
/// 1e-17 for |r| <= ln2 / 2), times 2^n in two halves.
Id ScalarEmitter::expF64(const Id &x0) {
  const ScalarType d = ScalarType::f64;
  Id dt = type(d), b1 = type(ScalarType::boolean), i64 = type(ScalarType::i64);
  Id x = select(dt, op("OpFOrdGreaterThan", b1, {x0, fconst(d, 710.0)}), fconst(d, 710.0), x0);
  x = select(dt, op("OpFOrdLessThan", b1, {x, fconst(d, -746.0)}), fconst(d, -746.0), x);
  Id n = ext("RoundEven", dt, {op("OpFMul", dt, {x, fconst(d, 1.4426950408889634)})});
  Id r = fma(d, n, fconst(d, -0x1.62e42fee00000p-1), x);
  r = fma(d, n, fconst(d, -0x1.a39ef35793c76p-33), r);
  std::vector<double> c;
  for (int k = 13; k >= 0; --k)
    c.push_back(1.0 / std::tgamma(k + 1.0));
  Id p = poly(d, r, c);
  Id ni = op("OpConvertFToS", i64, {select(dt, op("OpIsNan", b1, {n}), fconst(d, 0.0), n)});
  Id half = op("OpShiftRightArithmetic", i64, {ni, u32c(1)});
  auto pow2 = [&](const Id &e) {
    Id biased = op("OpIAdd", i64, {e, iconst(ScalarType::i64, 1023)});
    return op("OpBitcast", dt, {op("OpShiftLeftLogical", i64, {biased, u32c(52)})});
  };
  return op("OpFMul", dt, {op("OpFMul", dt, {p, pow2(half)}), pow2(op("OpISub", i64, {ni, half}))});
}

/// log x for f32: GLSL's Log, but a subnormal x = m 2^-149 (which a device may flush to 0)
/// as log m - 149 ln2, from its bits.
Id ScalarEmitter::logF32(const Id &x) {
  const ScalarType f = ScalarType::f32;
  Id ft = type(f), b1 = type(ScalarType::boolean), u = u32();
  Id bits = op("OpBitcast", u, {x});
  Id sub =
      op("OpLogicalAnd", b1,
         {op("OpINotEqual", b1, {bits, u32c(0)}), op("OpULessThan", b1, {bits, u32c(0x800000)})});
  Id scaled =
      op("OpFSub", ft, {ext("Log", ft, {op("OpConvertUToF", ft, {bits})}), fconst(f, 149 * M_LN2)});
  return select(ft, sub, scaled, ext("Log", ft, {x}));
}

/// log x for f64: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) for
/// s = (m - 1) / (m + 1) by its series to s^25, plus e ln2 in two parts. log 0 = -inf, log of a
/// negative number is NaN, log inf = inf.
Id ScalarEmitter::logF64(const Id &x) {
  const ScalarType d = ScalarType::f64;
  Id dt = type(d), b1 = type(ScalarType::boolean), i64 = type(ScalarType::i64);
  // Subnormals are scaled into the normal range first.
  Id sub = op("OpFOrdLessThan", b1, {x, fconst(d, 0x1p-1022)});
  Id xs = select(dt, sub, op("OpFMul", dt, {x, fconst(d, 0x1p54)}), x);
  Id bits = op("OpBitcast", i64, {xs});
  Id e = op("OpISub", i64,
            {op("OpBitwiseAnd", i64,
                {op("OpShiftRightLogical", i64, {bits, u32c(52)}), iconst(ScalarType::i64, 0x7ff)}),
             select(i64, sub, iconst(ScalarType::i64, 1023 + 54), iconst(ScalarType::i64, 1023))});
  Id mbits = op("OpBitwiseOr", i64,
                {op("OpBitwiseAnd", i64, {bits, iconst(ScalarType::i64, 0x000fffffffffffffLL)}),
                 iconst(ScalarType::i64, 0x3ff0000000000000LL)});
  Id m = op("OpBitcast", dt, {mbits});
  Id high = op("OpFOrdGreaterThan", b1, {m, fconst(d, 1.4142135623730951)});
  m = select(dt, high, op("OpFMul", dt, {m, fconst(d, 0.5)}), m);
  e = op("OpIAdd", i64,
         {e, select(i64, high, iconst(ScalarType::i64, 1), iconst(ScalarType::i64, 0))});
  Id f = op("OpFSub", dt, {m, fconst(d, 1.0)});
  Id s = op("OpFDiv", dt, {f, op("OpFAdd", dt, {f, fconst(d, 2.0)})});
  Id z = op("OpFMul", dt, {s, s});
  std::vector<double> c;
  for (int k = 11; k >= 0; --k)
    c.push_back(1.0 / (2 * k + 3));
  Id s2 = op("OpFAdd", dt, {s, s});
  Id lm = fma(d, op("OpFMul", dt, {s2, z}), poly(d, z, c), s2);
  Id ef = op("OpConvertSToF", dt, {e});
  Id r =
      fma(d, ef, fconst(d, 0x1.62e42fee00000p-1), fma(d, ef, fconst(d, 0x1.a39ef35793c76p-33), lm));
  r = select(dt, op("OpFOrdEqual", b1, {x, fconst(d, INFINITY)}), x, r);
  r = select(dt, op("OpFOrdEqual", b1, {x, fconst(d, 0.0)}), fconst(d, -INFINITY), r);
  r = select(dt, op("OpFOrdLessThan", b1, {x, fconst(d, 0.0)}), fconst(d, NAN), r);
  return select(dt, op("OpIsNan", b1, {x}), x, r);
}

/// tanh for f32 as Cephes' tanhf: 1 - 2 / (e^2|x| + 1) with x's sign beyond 0.625, an odd
/// polynomial below.
Id ScalarEmitter::tanhF32(const Id &x) {
  const ScalarType f = ScalarType::f32;
  Id ft = type(f), b1 = type(ScalarType::boolean);
  Id ax = ext("FAbs", ft, {x});
  Id s = expF32(op("OpFAdd", ft, {ax, ax}));
  Id big = op(
      "OpFSub", ft,
      {fconst(f, 1.0), op("OpFDiv", ft, {fconst(f, 2.0), op("OpFAdd", ft, {s, fconst(f, 1.0)})})});
  big = select(ft, op("OpFOrdLessThan", b1, {x, fconst(f, 0.0)}), op("OpFNegate", ft, {big}), big);
  Id z = op("OpFMul", ft, {x, x});
  Id p = poly(f, z,
              {-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
               -3.33332819422e-1});
  Id small = fma(f, op("OpFMul", ft, {p, z}), x, x);
  return select(ft, op("OpFOrdGreaterThan", b1, {ax, fconst(f, 0.625)}), big, small);
}

/// tanh for f64: 1 - 2 / (e^2|x| + 1) with x's sign beyond 0.625; below, e^2x - 1 by its
/// Taylor series (to the 21st power) over itself plus 2, which does not cancel.
Id ScalarEmitter::tanhF64(const Id &x) {
  const ScalarType d = ScalarType::f64;
  Id dt = type(d), b1 = type(ScalarType::boolean);
  Id ax = ext("FAbs", dt, {x});
  Id s = expF64(op("OpFAdd", dt, {ax, ax}));
  Id big = op(
      "OpFSub", dt,
      {fconst(d, 1.0), op("OpFDiv", dt, {fconst(d, 2.0), op("OpFAdd", dt, {s, fconst(d, 1.0)})})});
  big = select(dt, op("OpFOrdLessThan", b1, {x, fconst(d, 0.0)}), op("OpFNegate", dt, {big}), big);
  Id y = op("OpFAdd", dt, {x, x});
  std::vector<double> c;
  for (int k = 20; k >= 0; --k)
    c.push_back(1.0 / std::tgamma(k + 2.0));
  Id em1 = op("OpFMul", dt, {y, poly(d, y, c)});
  Id small = op("OpFDiv", dt, {em1, op("OpFAdd", dt, {em1, fconst(d, 2.0)})});
  return select(dt, op("OpFOrdGreaterThan", b1, {ax, fconst(d, 0.625)}), big, small);
}

/// erf for f64, to about 1e-15 relative: the series
///   erf x = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1 3 5 ... (2n+1)),
/// whose terms are all positive, so nothing cancels. On |x| <= 6 (beyond, erf is +-1 in f64)
/// 120 terms leave a remainder below 1e-20; they are summed from the last, by Horner's rule.
Id ScalarEmitter::erfF64(const Id &x0) {
  const ScalarType d = ScalarType::f64;
  Id dt = type(d), b1 = type(ScalarType::boolean);
  Id ax = ext("FAbs", dt, {x0});
  ax = select(dt, op("OpFOrdGreaterThan", b1, {ax, fconst(d, 6.0)}), fconst(d, 6.0), ax);
  Id x2 = op("OpFMul", dt, {ax, ax});
  Id y = op("OpFAdd", dt, {x2, x2});
  Id sum = fconst(d, 1.0);
  for (int n = 120; n >= 1; --n)
    sum = fma(d, sum, op("OpFDiv", dt, {y, fconst(d, 2.0 * n + 1)}), fconst(d, 1.0));
  Id r = op("OpFMul", dt,
            {op("OpFMul", dt, {fconst(d, 1.1283791670955126), ax}),
             op("OpFMul", dt, {expF64(op("OpFNegate", dt, {x2})), sum})});
  r = select(dt, op("OpFOrdGreaterThan", b1, {r, fconst(d, 1.0)}), fconst(d, 1.0), r);
  return select(dt, op("OpFOrdLessThan", b1, {x0, fconst(d, 0.0)}), op("OpFNegate", dt, {r}), r);
}

/// erf for f32 by the rational approximation of XLA and Eigen on [-4, 4] (beyond it erf is
/// +-1 in f32): relative error below 4e-7; f64 takes erfF64.
Id ScalarEmitter::erf(ScalarType t, const Id &x0) {
  if (t == ScalarType::f64)
    return erfF64(x0);
  Id ty = type(t), b1 = type(ScalarType::boolean);
  Id x = select(ty, op("OpFOrdGreaterThan", b1, {x0, fconst(t, 4.0)}), fconst(t, 4.0), x0);
  x = select(ty, op("OpFOrdLessThan", b1, {x, fconst(t, -4.0)}), fconst(t, -4.0), x);
  Id x2 = op("OpFMul", ty, {x, x});
  Id p = op("OpFMul", ty,
            {x, poly(t, x2,
                     {-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                      -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                      -1.60960333262415e-02})});
  Id q = poly(t, x2,
              {-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
               -7.37332916720468e-03, -1.42647390514189e-02});
  return op("OpFDiv", ty, {p, q});
}

/// a^b as C's pow: |a|^b = e^(b log |a|) in f64, negated for a negative a and an odd integer b,
/// NaN for a finite negative a and a finite non-integer b; x^0 = 1^y = 1 and (-1)^+-inf = 1.
Id ScalarEmitter::pow(ScalarType t, const Id &a0, const Id &b0) {
  const ScalarType d = ScalarType::f64;
  Id dt = type(d), b1 = type(ScalarType::boolean);
  Id a = t == d ? a0 : op("OpFConvert", dt, {a0});
  Id b = t == d ? b0 : op("OpFConvert", dt, {b0});
  Id ax = ext("FAbs", dt, {a});
  Id r = expF64(op("OpFMul", dt, {b, logF64(ax)}));
  Id integral = op("OpFOrdEqual", b1, {ext("RoundEven", dt, {b}), b});
  Id odd = op("OpLogicalAnd", b1,
              {integral,
               op("OpFOrdNotEqual", b1, {op("OpFRem", dt, {b, fconst(d, 2.0)}), fconst(d, 0.0)})});
  Id sign = op("OpSLessThan", b1,
               {op("OpBitcast", type(ScalarType::i64), {a}), iconst(ScalarType::i64, 0)});
  r = select(dt, op("OpLogicalAnd", b1, {sign, odd}), op("OpFNegate", dt, {r}), r);
  // -inf to a non-integer power is inf or 0, as |a|^b gives it.
  Id negative = op("OpFOrdGreaterThan", b1, {a, fconst(d, -INFINITY)});
  negative = op("OpLogicalAnd", b1, {negative, op("OpFOrdLessThan", b1, {a, fconst(d, 0.0)})});
  Id finite_b = op("OpLogicalNot", b1, {op("OpIsInf", b1, {b})});
  r = select(dt,
             op("OpLogicalAnd", b1,
                {op("OpLogicalAnd", b1, {negative, finite_b}), op("OpLogicalNot", b1, {integral})}),
             fconst(d, NAN), r);
  Id one = op("OpLogicalOr", b1,
              {op("OpFOrdEqual", b1, {b, fconst(d, 0.0)}),
               op("OpLogicalOr", b1,
                  {op("OpFOrdEqual", b1, {a, fconst(d, 1.0)}),
                   op("OpLogicalAnd", b1,
                      {op("OpFOrdEqual", b1, {ax, fconst(d, 1.0)}), op("OpIsInf", b1, {b})})})});
  r = select(dt, one, fconst(d, 1.0), r);
  return t == d ? r : op("OpFConvert", type(t), {r});
}

} // namespace kiln::spirv
