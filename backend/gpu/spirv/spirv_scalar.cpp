// The scalar operations of the kernel IR in SPIR-V, op for op as backend/cpu's ScalarEmitter
// computes them in LLVM IR. SPIR-V has no saturating arithmetic: i32 results are computed in 64
// bits and clamped, i64 overflow is detected from the operands' and the result's signs (and
// from OpSMulExtended's high word for products).

#include "backend/gpu/spirv/spirv_scalar.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace kiln::spirv {

using namespace kernel;

namespace {
/// The largest i64 the reference holds: the largest double below 2^63.
constexpr int64_t kI64Max = 9223372036854774784;

/// A float literal the assembler reads back exactly: hexadecimal, with inf and NaN spelled as
/// the disassembler spells them.
std::string floatLiteral(double v, bool f32) {
  if (std::isnan(v))
    return f32 ? "0x1.8p+128" : "0x1.8p+1024";
  if (std::isinf(v))
    return std::string(v < 0 ? "-" : "") + (f32 ? "0x1p+128" : "0x1p+1024");
  return fmt::format("{:a}", f32 ? static_cast<double>(static_cast<float>(v)) : v);
}
} // namespace

Id ScalarEmitter::type(ScalarType t) {
  switch (t) {
  case ScalarType::f32:
    return m_.type("f32", "OpTypeFloat 32");
  case ScalarType::f64:
    m_.capability("Float64");
    return m_.type("f64", "OpTypeFloat 64");
  case ScalarType::i32:
    return m_.type("i32", "OpTypeInt 32 1");
  case ScalarType::i64:
  case ScalarType::index:
    m_.capability("Int64");
    return m_.type("i64", "OpTypeInt 64 1");
  case ScalarType::boolean:
    return m_.type("bool", "OpTypeBool");
  }
  return "";
}

Id ScalarEmitter::u8() {
  m_.capability("Int8");
  return m_.type("u8", "OpTypeInt 8 0");
}
Id ScalarEmitter::u16() {
  m_.capability("Int16");
  return m_.type("u16", "OpTypeInt 16 0");
}
Id ScalarEmitter::u32() { return m_.type("u32", "OpTypeInt 32 0"); }
Id ScalarEmitter::u64() {
  m_.capability("Int64");
  return m_.type("u64", "OpTypeInt 64 0");
}

Id ScalarEmitter::fconst(ScalarType t, double v) {
  return m_.constant("OpConstant", type(t), floatLiteral(v, t == ScalarType::f32));
}
Id ScalarEmitter::iconst(ScalarType t, int64_t v) {
  return m_.constant("OpConstant", type(t), std::to_string(v));
}
Id ScalarEmitter::u32c(uint32_t v) { return m_.constant("OpConstant", u32(), std::to_string(v)); }
Id ScalarEmitter::u64c(uint64_t v) { return m_.constant("OpConstant", u64(), std::to_string(v)); }
Id ScalarEmitter::boolc(bool v) {
  return m_.constant(v ? "OpConstantTrue" : "OpConstantFalse", type(ScalarType::boolean), "");
}

Id ScalarEmitter::constant(ScalarType t, double value, int64_t int_value) {
  if (isFloat(t))
    return fconst(t, value);
  if (t == ScalarType::boolean)
    return boolc(value != 0);
  return iconst(t, int_value);
}

Id ScalarEmitter::op(const std::string &opcode, const Id &type, const std::vector<Id> &args) {
  Id r = m_.id();
  std::string text = fmt::format("{} = {} {}", r, opcode, type);
  for (const Id &a : args)
    text += " " + a;
  m_.line(std::move(text));
  return r;
}

Id ScalarEmitter::ext(const std::string &name, const Id &type, const std::vector<Id> &args) {
  std::vector<Id> all = {m_.glsl(), name};
  all.insert(all.end(), args.begin(), args.end());
  return op("OpExtInst", type, all);
}

Id ScalarEmitter::select(const Id &type, const Id &cond, const Id &a, const Id &b) {
  return op("OpSelect", type, {cond, a, b});
}

Id ScalarEmitter::smax(ScalarType t, const Id &a, const Id &b) {
  return select(type(t), op("OpSGreaterThan", type(ScalarType::boolean), {a, b}), a, b);
}
Id ScalarEmitter::smin(ScalarType t, const Id &a, const Id &b) {
  return select(type(t), op("OpSLessThan", type(ScalarType::boolean), {a, b}), a, b);
}
Id ScalarEmitter::intMin(ScalarType t) {
  return t == ScalarType::i32 ? iconst(t, INT32_MIN) : iconst(t, INT64_MIN);
}
Id ScalarEmitter::intMax(ScalarType t) {
  return t == ScalarType::i32 ? iconst(t, INT32_MAX) : iconst(t, kI64Max);
}
/// An i64 result saturated at the reference's largest i64 (i32 results need nothing).
Id ScalarEmitter::capI64(ScalarType t, const Id &v) {
  return t == ScalarType::i64 ? smin(t, v, intMax(t)) : v;
}

Id ScalarEmitter::saturateTo32(const Id &wide) {
  Id clamped =
      smax(ScalarType::i64, smin(ScalarType::i64, wide, iconst(ScalarType::i64, INT32_MAX)),
           iconst(ScalarType::i64, INT32_MIN));
  return op("OpSConvert", type(ScalarType::i32), {clamped});
}

/// a + b saturated at the type's limits (i64: at INT64_MIN and INT64_MAX, as llvm.sadd.sat).
Id ScalarEmitter::addSat(ScalarType t, const Id &a, const Id &b) {
  Id i64 = type(ScalarType::i64), b1 = type(ScalarType::boolean);
  if (t == ScalarType::i32)
    return saturateTo32(
        op("OpIAdd", i64, {op("OpSConvert", i64, {a}), op("OpSConvert", i64, {b})}));
  Id r = op("OpIAdd", i64, {a, b});
  Id signs =
      op("OpBitwiseAnd", i64, {op("OpBitwiseXor", i64, {a, r}), op("OpBitwiseXor", i64, {b, r})});
  Id over = op("OpSLessThan", b1, {signs, iconst(t, 0)});
  Id limit = select(i64, op("OpSLessThan", b1, {a, iconst(t, 0)}), iconst(t, INT64_MIN),
                    iconst(t, INT64_MAX));
  return select(i64, over, limit, r);
}

/// a - b saturated at the type's limits.
Id ScalarEmitter::subSat(ScalarType t, const Id &a, const Id &b) {
  Id i64 = type(ScalarType::i64), b1 = type(ScalarType::boolean);
  if (t == ScalarType::i32)
    return saturateTo32(
        op("OpISub", i64, {op("OpSConvert", i64, {a}), op("OpSConvert", i64, {b})}));
  Id r = op("OpISub", i64, {a, b});
  Id signs =
      op("OpBitwiseAnd", i64, {op("OpBitwiseXor", i64, {a, b}), op("OpBitwiseXor", i64, {a, r})});
  Id over = op("OpSLessThan", b1, {signs, iconst(t, 0)});
  Id limit = select(i64, op("OpSLessThan", b1, {a, iconst(t, 0)}), iconst(t, INT64_MIN),
                    iconst(t, INT64_MAX));
  return select(i64, over, limit, r);
}

Id ScalarEmitter::unary(UnaryOp o, ScalarType t, const Id &x) {
  bool fp = isFloat(t), sat = t == ScalarType::i32 || t == ScalarType::i64;
  Id ty = type(t), b1 = type(ScalarType::boolean);
  Id zero = fp ? fconst(t, 0.0) : t == ScalarType::boolean ? Id() : iconst(t, 0);
  switch (o) {
  case UnaryOp::Neg:
    if (fp)
      return op("OpFNegate", ty, {x});
    return sat ? capI64(t, subSat(t, zero, x)) : op("OpSNegate", ty, {x});
  case UnaryOp::Abs:
    if (fp)
      return ext("FAbs", ty, {x});
    return sat ? capI64(t, smax(t, x, subSat(t, zero, x))) : smax(t, x, op("OpSNegate", ty, {x}));
  case UnaryOp::Exp:
    return t == ScalarType::f32 ? expF32(x) : expF64(x);
  case UnaryOp::Log:
    return t == ScalarType::f32 ? logF32(x) : logF64(x);
  case UnaryOp::Sqrt:
    return ext("Sqrt", ty, {x});
  case UnaryOp::Rsqrt:
    return op("OpFDiv", ty, {fconst(t, 1.0), ext("Sqrt", ty, {x})});
  case UnaryOp::Tanh:
    return t == ScalarType::f32 ? tanhF32(x) : tanhF64(x);
  case UnaryOp::Erf:
    return erf(t, x);
  case UnaryOp::Relu:
    if (fp)
      return select(ty, op("OpFOrdGreaterThan", b1, {x, zero}), x, zero);
    return smax(t, x, zero);
  case UnaryOp::Not:
    return op("OpLogicalNot", ty, {x});
  case UnaryOp::RoundBF16:
    return op("OpBitcast", ty, {bf16Bits(x)});
  }
  return x;
}

Id ScalarEmitter::bf16Bits(const Id &f) {
  Id u = u32(), b1 = type(ScalarType::boolean);
  Id bits = op("OpBitcast", u, {f});
  Id odd = op("OpBitwiseAnd", u, {op("OpShiftRightLogical", u, {bits, u32c(16)}), u32c(1)});
  Id rounded = op("OpIAdd", u, {bits, op("OpIAdd", u, {odd, u32c(0x7fff)})});
  Id out = select(u, op("OpIsNan", b1, {f}), bits, rounded);
  return op("OpBitwiseAnd", u, {out, u32c(0xffff0000u)});
}

Id ScalarEmitter::binary(BinaryOp o, ScalarType t, const Id &a, const Id &b) {
  if (isFloat(t))
    return floatBinary(o, t, a, b);
  if (t == ScalarType::boolean)
    return boolBinary(o, a, b);
  if (t == ScalarType::index)
    return indexBinary(o, a, b);
  return intBinary(o, t, a, b);
}

Id ScalarEmitter::floatBinary(BinaryOp o, ScalarType t, const Id &a, const Id &b) {
  Id ty = type(t), b1 = type(ScalarType::boolean);
  switch (o) {
  case BinaryOp::Add:
    return op("OpFAdd", ty, {a, b});
  case BinaryOp::Sub:
    return op("OpFSub", ty, {a, b});
  case BinaryOp::Mul:
    return op("OpFMul", ty, {a, b});
  case BinaryOp::Div:
    return op("OpFDiv", ty, {a, b});
  case BinaryOp::Rem:
    return op("OpFRem", ty, {a, b});
  case BinaryOp::Pow:
    return pow(t, a, b);
  // NaN in a wins, then the larger (smaller): the reference kernels' max and min.
  case BinaryOp::Max:
    return select(
        ty, op("OpLogicalOr", b1, {op("OpIsNan", b1, {a}), op("OpFOrdGreaterThan", b1, {a, b})}), a,
        b);
  case BinaryOp::Min:
    return select(ty,
                  op("OpLogicalOr", b1, {op("OpIsNan", b1, {a}), op("OpFOrdLessThan", b1, {a, b})}),
                  a, b);
  case BinaryOp::Eq:
    return op("OpFOrdEqual", b1, {a, b});
  case BinaryOp::Ne:
    return op("OpFUnordNotEqual", b1, {a, b});
  case BinaryOp::Lt:
    return op("OpFOrdLessThan", b1, {a, b});
  case BinaryOp::Le:
    return op("OpFOrdLessThanEqual", b1, {a, b});
  case BinaryOp::Gt:
    return op("OpFOrdGreaterThan", b1, {a, b});
  case BinaryOp::Ge:
    return op("OpFOrdGreaterThanEqual", b1, {a, b});
  case BinaryOp::And:
  case BinaryOp::Or:
    break;
  }
  KILN_ASSERT(false, "logical op on floats; the verifier rejects it");
  return "";
}

/// Bools order false < true, as the CPU's unsigned i1 compares.
Id ScalarEmitter::boolBinary(BinaryOp o, const Id &a, const Id &b) {
  Id b1 = type(ScalarType::boolean);
  auto no = [&](const Id &x) { return op("OpLogicalNot", b1, {x}); };
  switch (o) {
  case BinaryOp::And:
    return op("OpLogicalAnd", b1, {a, b});
  case BinaryOp::Or:
    return op("OpLogicalOr", b1, {a, b});
  case BinaryOp::Eq:
    return op("OpLogicalEqual", b1, {a, b});
  case BinaryOp::Ne:
    return op("OpLogicalNotEqual", b1, {a, b});
  case BinaryOp::Lt:
    return op("OpLogicalAnd", b1, {no(a), b});
  case BinaryOp::Le:
    return op("OpLogicalOr", b1, {no(a), b});
  case BinaryOp::Gt:
    return op("OpLogicalAnd", b1, {a, no(b)});
  case BinaryOp::Ge:
    return op("OpLogicalOr", b1, {a, no(b)});
  default:
    break;
  }
  KILN_ASSERT(false, "arithmetic on bools; the verifier rejects it");
  return "";
}

Id ScalarEmitter::compare(BinaryOp o, const Id &a, const Id &b) {
  static const std::map<BinaryOp, std::string> ops = {
      {BinaryOp::Eq, "OpIEqual"},       {BinaryOp::Ne, "OpINotEqual"},
      {BinaryOp::Lt, "OpSLessThan"},    {BinaryOp::Le, "OpSLessThanEqual"},
      {BinaryOp::Gt, "OpSGreaterThan"}, {BinaryOp::Ge, "OpSGreaterThanEqual"}};
  auto it = ops.find(o);
  KILN_ASSERT(it != ops.end(), "pow or logic on integers; the verifier rejects it");
  return op(it->second, type(ScalarType::boolean), {a, b});
}

Id ScalarEmitter::indexBinary(BinaryOp o, const Id &a, const Id &b) {
  Id ty = type(ScalarType::index);
  switch (o) {
  case BinaryOp::Add:
    return op("OpIAdd", ty, {a, b});
  case BinaryOp::Sub:
    return op("OpISub", ty, {a, b});
  case BinaryOp::Mul:
    return op("OpIMul", ty, {a, b});
  case BinaryOp::Div:
    return op("OpSDiv", ty, {a, b});
  case BinaryOp::Rem:
    return op("OpSRem", ty, {a, b});
  case BinaryOp::Max:
    return smax(ScalarType::index, a, b);
  case BinaryOp::Min:
    return smin(ScalarType::index, a, b);
  default:
    return compare(o, a, b);
  }
}

/// The graph's integers: results saturate, x / 0 is the saturated sign of x (0 for 0 / 0),
/// as the reference computes in doubles and rounds back.
Id ScalarEmitter::intBinary(BinaryOp o, ScalarType t, const Id &a, const Id &b) {
  Id ty = type(t), b1 = type(ScalarType::boolean);
  switch (o) {
  case BinaryOp::Add:
    return capI64(t, addSat(t, a, b));
  case BinaryOp::Sub:
    return capI64(t, subSat(t, a, b));
  case BinaryOp::Mul: {
    if (t == ScalarType::i32) {
      Id i64 = type(ScalarType::i64);
      return saturateTo32(
          op("OpIMul", i64, {op("OpSConvert", i64, {a}), op("OpSConvert", i64, {b})}));
    }
    Id pair = m_.type("pair_i64", fmt::format("OpTypeStruct {} {}", ty, ty));
    Id r = op("OpSMulExtended", pair, {a, b});
    Id lo = op("OpCompositeExtract", ty, {r, "0"}), hi = op("OpCompositeExtract", ty, {r, "1"});
    Id over = op("OpINotEqual", b1, {hi, op("OpShiftRightArithmetic", ty, {lo, u32c(63)})});
    Id negative = op("OpSLessThan", b1, {op("OpBitwiseXor", ty, {a, b}), iconst(t, 0)});
    return capI64(t, select(ty, over, select(ty, negative, intMin(t), intMax(t)), lo));
  }
  case BinaryOp::Div:
  case BinaryOp::Rem: {
    Id zero = iconst(t, 0);
    Id by_zero = op("OpIEqual", b1, {b, zero});
    Id overflow = op("OpLogicalAnd", b1,
                     {op("OpIEqual", b1, {a, intMin(t)}), op("OpIEqual", b1, {b, iconst(t, -1)})});
    Id safe = select(ty, op("OpLogicalOr", b1, {by_zero, overflow}), iconst(t, 1), b);
    if (o == BinaryOp::Rem)
      return select(ty, by_zero, zero, op("OpSRem", ty, {a, safe}));
    Id q = select(ty, overflow, intMax(t), op("OpSDiv", ty, {a, safe}));
    Id inf = select(ty, op("OpSGreaterThan", b1, {a, zero}), intMax(t),
                    select(ty, op("OpSLessThan", b1, {a, zero}), intMin(t), zero));
    return select(ty, by_zero, inf, q);
  }
  case BinaryOp::Max:
    return smax(t, a, b);
  case BinaryOp::Min:
    return smin(t, a, b);
  default:
    return compare(o, a, b);
  }
}

/// fptosi.sat: truncation toward zero, NaN to 0, out-of-range values to the type's limits.
Id ScalarEmitter::toIntSat(const Id &x, ScalarType from, ScalarType to) {
  Id ft = type(from), it = type(to), b1 = type(ScalarType::boolean);
  double limit = to == ScalarType::i32 ? 2147483648.0 : 9223372036854775808.0;
  Id big = op("OpFOrdGreaterThanEqual", b1, {x, fconst(from, limit)});
  Id small = op("OpFOrdLessThan", b1, {x, fconst(from, -limit)});
  Id bad = op("OpLogicalOr", b1, {op("OpLogicalOr", b1, {big, small}), op("OpIsNan", b1, {x})});
  Id conv = op("OpConvertFToS", it, {select(ft, bad, fconst(from, 0.0), x)});
  Id top = to == ScalarType::i32 ? iconst(to, INT32_MAX) : iconst(to, INT64_MAX);
  Id bottom = to == ScalarType::i32 ? iconst(to, INT32_MIN) : iconst(to, INT64_MIN);
  return select(it, big, top, select(it, small, bottom, conv));
}

/// The graph's cast rules: floats to integers truncate toward zero, saturate and send NaN to
/// 0; anything to bool is x != 0; i64 to f32 rounds through f64 as the reference does.
Id ScalarEmitter::cast(const Id &x, ScalarType from, ScalarType to) {
  if (from == to ||
      (isInteger(from) && isInteger(to) && from != ScalarType::i32 && to != ScalarType::i32))
    return x;
  Id ty = type(to), b1 = type(ScalarType::boolean);
  if (to == ScalarType::boolean)
    return isFloat(from) ? op("OpFUnordNotEqual", b1, {x, fconst(from, 0.0)})
                         : op("OpINotEqual", b1, {x, iconst(from, 0)});
  if (from == ScalarType::boolean)
    return isFloat(to) ? select(ty, x, fconst(to, 1.0), fconst(to, 0.0))
                       : select(ty, x, iconst(to, 1), iconst(to, 0));
  if (isFloat(from) && isFloat(to))
    return op("OpFConvert", ty, {x});
  if (isFloat(from)) {
    if (to == ScalarType::index)
      return op("OpConvertFToS", ty, {x});
    Id v = x;
    ScalarType vt = from;
    if (to == ScalarType::i64) {
      // The reference clamps to the largest double below 2^63 before truncating.
      if (from == ScalarType::f32)
        v = op("OpFConvert", type(ScalarType::f64), {v});
      vt = ScalarType::f64;
      Id top = fconst(vt, 9223372036854774784.0);
      v = select(type(vt), op("OpFOrdGreaterThan", b1, {v, top}), top, v);
    }
    return toIntSat(v, vt, to);
  }
  if (isFloat(to)) {
    if (from == ScalarType::i64 && to == ScalarType::f32)
      return op("OpFConvert", ty, {op("OpConvertSToF", type(ScalarType::f64), {x})});
    return op("OpConvertSToF", ty, {x});
  }
  // Integer to integer, one side i32: i64 saturates, index truncates, i32 sign-extends.
  if (to == ScalarType::i32 && from == ScalarType::i64)
    return saturateTo32(x);
  if (from == ScalarType::i32) {
    // Sign extension by shifts rather than OpSConvert: lavapipe (Mesa 22.3) widens a negative
    // i32 loaded from a buffer wrongly through OpSConvert (a dynamic_slice at corner -2 was not
    // clamped to 0); the shifts give the same bits everywhere.
    Id wide = op("OpUConvert", u64(), {op("OpBitcast", u32(), {x})});
    Id shifted = op("OpShiftLeftLogical", u64(), {wide, u64c(32)});
    return op("OpShiftRightArithmetic", ty, {op("OpBitcast", ty, {shifted}), u64c(32)});
  }
  return op("OpSConvert", ty, {x});
}

/// Philox-4x32-10 as ir/philox.cpp: counter (lo, hi, 0, 0), key (lo, hi).
Id ScalarEmitter::philox(const Id &key_lo, const Id &key_hi, const Id &counter, ScalarType t) {
  Id u = u32(), w = u64();
  Id c64 = op("OpBitcast", w, {counter});
  auto lo = [&](const Id &v) { return op("OpUConvert", u, {v}); };
  auto hi = [&](const Id &v) { return lo(op("OpShiftRightLogical", w, {v, u32c(32)})); };
  Id c[4] = {lo(c64), hi(c64), u32c(0), u32c(0)};
  Id key[2] = {op("OpBitcast", u, {key_lo}), op("OpBitcast", u, {key_hi})};
  for (int round = 0; round < 10; ++round) {
    Id p0 = op("OpIMul", w, {u64c(0xD2511F53), op("OpUConvert", w, {c[0]})});
    Id p1 = op("OpIMul", w, {u64c(0xCD9E8D57), op("OpUConvert", w, {c[2]})});
    Id n0 = op("OpBitwiseXor", u, {op("OpBitwiseXor", u, {hi(p1), c[1]}), key[0]});
    Id n2 = op("OpBitwiseXor", u, {op("OpBitwiseXor", u, {hi(p0), c[3]}), key[1]});
    c[0] = n0;
    c[1] = lo(p1);
    c[2] = n2;
    c[3] = lo(p0);
    key[0] = op("OpIAdd", u, {key[0], u32c(0x9E3779B9)});
    key[1] = op("OpIAdd", u, {key[1], u32c(0xBB67AE85)});
  }
  Id top24 = op("OpShiftRightLogical", u, {c[0], u32c(8)});
  return op("OpFMul", type(t),
            {op("OpConvertUToF", type(t), {top24}), fconst(t, 1.0 / 16777216.0)});
}

} // namespace kiln::spirv
