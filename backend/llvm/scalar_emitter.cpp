// The scalar operations of the kernel IR in LLVM IR, with the reference kernels' semantics:
// integers saturate, x / 0 is the saturated sign of x, casts truncate and saturate, f32 exp is
// inline code that vectorises, Philox matches ir/philox.cpp bit for bit. Elements move between
// memory and registers here too (bf16 and bool have storage types of their own).

#include "backend/llvm/scalar_emitter.h"

#include "ir/diagnostics.h"
#include "ir/literal.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <bit>

namespace kiln::codegen {

using namespace kernel;

namespace {
/// The largest i64 the reference holds: the largest double below 2^63.
constexpr int64_t kI64Max = 9223372036854774784;
} // namespace

llvm::Type *ScalarEmitter::type(ScalarType t) {
  switch (t) {
  case ScalarType::f32:
    return b_.getFloatTy();
  case ScalarType::f64:
    return b_.getDoubleTy();
  case ScalarType::i32:
    return b_.getInt32Ty();
  case ScalarType::i64:
  case ScalarType::index:
    return b_.getInt64Ty();
  case ScalarType::boolean:
    return b_.getInt1Ty();
  }
  return nullptr;
}

llvm::Type *ScalarEmitter::storageType(DType d) {
  switch (d) {
  case DType::f32:
    return b_.getFloatTy();
  case DType::f64:
    return b_.getDoubleTy();
  case DType::bf16:
    return b_.getInt16Ty();
  case DType::i32:
    return b_.getInt32Ty();
  case DType::i64:
    return b_.getInt64Ty();
  case DType::boolean:
    return b_.getInt8Ty();
  }
  return nullptr;
}

llvm::Value *ScalarEmitter::fromStorage(DType d, llvm::Value *v) {
  if (d == DType::bf16)
    return b_.CreateBitCast(b_.CreateShl(b_.CreateZExt(v, b_.getInt32Ty()), 16), b_.getFloatTy());
  if (d == DType::boolean)
    return b_.CreateICmpNE(v, b_.getInt8(0));
  return v;
}

/// bf16 rounds to nearest even, as roundToBF16; NaN keeps its top bits, as Literal::toBytes.
llvm::Value *ScalarEmitter::toStorage(DType d, llvm::Value *v) {
  if (d == DType::bf16)
    return b_.CreateTrunc(b_.CreateLShr(bf16Bits(v), 16), b_.getInt16Ty());
  if (d == DType::boolean)
    return b_.CreateZExt(v, b_.getInt8Ty());
  return v;
}

llvm::Constant *ScalarEmitter::constantArray(const Buffer &buf) {
  llvm::Type *elem = storageType(buf.dtype);
  std::vector<llvm::Constant *> elems;
  for (double v : buf.values) {
    double r = roundTo(v, buf.dtype);
    switch (buf.dtype) {
    case DType::f32:
      elems.push_back(llvm::ConstantFP::get(elem, static_cast<float>(r)));
      break;
    case DType::f64:
      elems.push_back(llvm::ConstantFP::get(elem, r));
      break;
    case DType::bf16:
      elems.push_back(
          llvm::ConstantInt::get(elem, std::bit_cast<uint32_t>(static_cast<float>(r)) >> 16));
      break;
    default:
      elems.push_back(
          llvm::ConstantInt::get(elem, static_cast<uint64_t>(static_cast<int64_t>(r)), true));
    }
  }
  return llvm::ConstantArray::get(llvm::ArrayType::get(elem, elems.size()), elems);
}

llvm::Value *ScalarEmitter::libm(std::string_view name, ScalarType t, llvm::Value *x) {
  std::string fn = t == ScalarType::f32 ? std::string(name) + "f" : std::string(name);
  auto *fty = llvm::FunctionType::get(type(t), {type(t)}, false);
  llvm::FunctionCallee callee = m_.getOrInsertFunction(fn, fty);
  if (auto *f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->setDoesNotThrow();
    f->setWillReturn();
    f->setDoesNotAccessMemory();
  }
  return b_.CreateCall(callee, {x});
}

/// e^x for f32 in straight-line code, so that loops calling it vectorise (a call to expf
/// would not): x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' polynomial (about 1 ulp),
/// times 2^n applied in two halves so that n may reach the limits of the exponent range.
llvm::Value *ScalarEmitter::expF32(llvm::Value *x) {
  auto f = [&](double v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); };
  auto fma = [&](llvm::Value *a, llvm::Value *b, llvm::Value *c) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fma, {b_.getFloatTy()}, {a, b, c});
  };
  // Beyond these e^x is inf or 0 anyway; NaN passes through the selects.
  x = b_.CreateSelect(b_.CreateFCmpOGT(x, f(89.0)), f(89.0), x);
  x = b_.CreateSelect(b_.CreateFCmpOLT(x, f(-104.0)), f(-104.0), x);
  llvm::Value *n =
      b_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, b_.CreateFMul(x, f(1.44269504088896341)));
  llvm::Value *r = fma(n, f(-0.693359375), x);
  r = fma(n, f(2.12194440e-4), r);
  llvm::Value *p = f(1.9875691500e-4);
  for (double c :
       {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1})
    p = fma(p, r, f(c));
  p = fma(p, b_.CreateFMul(r, r), b_.CreateFAdd(r, f(1.0)));
  llvm::Value *ni =
      b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {b_.getInt32Ty(), b_.getFloatTy()}, {n});
  llvm::Value *half = b_.CreateAShr(ni, 1);
  auto pow2 = [&](llvm::Value *e) {
    return b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(e, b_.getInt32(127)), 23), b_.getFloatTy());
  };
  return b_.CreateFMul(b_.CreateFMul(p, pow2(half)), pow2(b_.CreateSub(ni, half)));
}

llvm::Value *ScalarEmitter::intMin(ScalarType t) {
  return t == ScalarType::i32 ? b_.getInt32(INT32_MIN) : b_.getInt64(INT64_MIN);
}
llvm::Value *ScalarEmitter::intMax(ScalarType t) {
  return t == ScalarType::i32 ? b_.getInt32(INT32_MAX) : b_.getInt64(kI64Max);
}
/// An i64 result saturated at the reference's largest i64 (i32 results need nothing).
llvm::Value *ScalarEmitter::capI64(ScalarType t, llvm::Value *v) {
  return t == ScalarType::i64 ? b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, v, intMax(t)) : v;
}

llvm::Value *ScalarEmitter::unary(UnaryOp op, ScalarType t, llvm::Value *x) {
  bool fp = isFloat(t), sat = t == ScalarType::i32 || t == ScalarType::i64;
  llvm::Value *zero = fp ? llvm::ConstantFP::get(type(t), 0.0) : llvm::ConstantInt::get(type(t), 0);
  switch (op) {
  case UnaryOp::Neg:
    if (fp)
      return b_.CreateFNeg(x);
    return sat ? capI64(t, b_.CreateBinaryIntrinsic(llvm::Intrinsic::ssub_sat, zero, x))
               : b_.CreateNeg(x, "", true);
  case UnaryOp::Abs:
    if (fp)
      return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
    return sat ? capI64(t, b_.CreateBinaryIntrinsic(
                               llvm::Intrinsic::smax, x,
                               b_.CreateBinaryIntrinsic(llvm::Intrinsic::ssub_sat, zero, x)))
               : b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, x, b_.getFalse());
  case UnaryOp::Exp:
    if (t == ScalarType::f32)
      return expF32(x);
    return math_ == MathLowering::Inline ? inlineExp(t, x)
                                         : b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
  case UnaryOp::Log:
    return math_ == MathLowering::Inline ? inlineLog(t, x)
                                         : b_.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
  case UnaryOp::Sqrt:
    return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
  case UnaryOp::Rsqrt:
    return b_.CreateFDiv(llvm::ConstantFP::get(type(t), 1.0),
                         b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
  case UnaryOp::Tanh:
    return math_ == MathLowering::Inline ? inlineTanh(t, x) : libm("tanh", t, x);
  case UnaryOp::Erf:
    return math_ == MathLowering::Inline ? inlineErf(t, x) : libm("erf", t, x);
  case UnaryOp::Relu:
    if (fp)
      return b_.CreateSelect(b_.CreateFCmpOGT(x, zero), x, zero);
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, zero);
  case UnaryOp::Not:
    return b_.CreateNot(x);
  case UnaryOp::RoundBF16:
    return b_.CreateBitCast(bf16Bits(x), b_.getFloatTy());
  }
  return x;
}

llvm::Value *ScalarEmitter::bf16Bits(llvm::Value *f) {
  llvm::Value *bits = b_.CreateBitCast(f, b_.getInt32Ty());
  llvm::Value *odd = b_.CreateAnd(b_.CreateLShr(bits, 16), b_.getInt32(1));
  llvm::Value *rounded = b_.CreateAdd(bits, b_.CreateAdd(odd, b_.getInt32(0x7fff)));
  llvm::Value *out = b_.CreateSelect(b_.CreateFCmpUNO(f, f), bits, rounded);
  return b_.CreateAnd(out, b_.getInt32(0xffff0000u));
}

llvm::Value *ScalarEmitter::binary(BinaryOp op, ScalarType t, llvm::Value *a, llvm::Value *b,
                                   bool reassoc) {
  if (isFloat(t))
    return floatBinary(op, a, b, reassoc);
  if (t == ScalarType::boolean)
    return boolBinary(op, a, b);
  if (t == ScalarType::index)
    return indexBinary(op, a, b);
  return intBinary(op, t, a, b);
}

llvm::Value *ScalarEmitter::floatBinary(BinaryOp op, llvm::Value *a, llvm::Value *b, bool reassoc) {
  llvm::FastMathFlags fmf;
  if (reassoc)
    fmf.setAllowReassoc();
  llvm::IRBuilder<>::FastMathFlagGuard guard(b_);
  b_.setFastMathFlags(fmf);
  switch (op) {
  case BinaryOp::Add:
    return b_.CreateFAdd(a, b);
  case BinaryOp::Sub:
    return b_.CreateFSub(a, b);
  case BinaryOp::Mul:
    return b_.CreateFMul(a, b);
  case BinaryOp::Div:
    return b_.CreateFDiv(a, b);
  case BinaryOp::Rem:
    return b_.CreateFRem(a, b);
  case BinaryOp::Pow:
    return math_ == MathLowering::Inline ? inlinePow(a, b)
                                         : b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, b);
  // NaN in a wins, then the larger (smaller): the reference kernels' max and min.
  case BinaryOp::Max:
    return b_.CreateSelect(b_.CreateOr(b_.CreateFCmpUNO(a, a), b_.CreateFCmpOGT(a, b)), a, b);
  case BinaryOp::Min:
    return b_.CreateSelect(b_.CreateOr(b_.CreateFCmpUNO(a, a), b_.CreateFCmpOLT(a, b)), a, b);
  case BinaryOp::Eq:
    return b_.CreateFCmpOEQ(a, b);
  case BinaryOp::Ne:
    return b_.CreateFCmpUNE(a, b);
  case BinaryOp::Lt:
    return b_.CreateFCmpOLT(a, b);
  case BinaryOp::Le:
    return b_.CreateFCmpOLE(a, b);
  case BinaryOp::Gt:
    return b_.CreateFCmpOGT(a, b);
  case BinaryOp::Ge:
    return b_.CreateFCmpOGE(a, b);
  case BinaryOp::And:
  case BinaryOp::Or:
    break;
  }
  KILN_ASSERT(false, "logical op on floats; the verifier rejects it");
  return nullptr;
}

llvm::Value *ScalarEmitter::boolBinary(BinaryOp op, llvm::Value *a, llvm::Value *b) {
  switch (op) {
  case BinaryOp::And:
    return b_.CreateAnd(a, b);
  case BinaryOp::Or:
    return b_.CreateOr(a, b);
  case BinaryOp::Eq:
    return b_.CreateICmpEQ(a, b);
  case BinaryOp::Ne:
    return b_.CreateICmpNE(a, b);
  case BinaryOp::Lt:
    return b_.CreateICmpULT(a, b);
  case BinaryOp::Le:
    return b_.CreateICmpULE(a, b);
  case BinaryOp::Gt:
    return b_.CreateICmpUGT(a, b);
  case BinaryOp::Ge:
    return b_.CreateICmpUGE(a, b);
  default:
    break;
  }
  KILN_ASSERT(false, "arithmetic on bools; the verifier rejects it");
  return nullptr;
}

llvm::Value *ScalarEmitter::compare(BinaryOp op, llvm::Value *a, llvm::Value *b) {
  switch (op) {
  case BinaryOp::Eq:
    return b_.CreateICmpEQ(a, b);
  case BinaryOp::Ne:
    return b_.CreateICmpNE(a, b);
  case BinaryOp::Lt:
    return b_.CreateICmpSLT(a, b);
  case BinaryOp::Le:
    return b_.CreateICmpSLE(a, b);
  case BinaryOp::Gt:
    return b_.CreateICmpSGT(a, b);
  case BinaryOp::Ge:
    return b_.CreateICmpSGE(a, b);
  default:
    return nullptr;
  }
}

llvm::Value *ScalarEmitter::indexBinary(BinaryOp op, llvm::Value *a, llvm::Value *b) {
  switch (op) {
  case BinaryOp::Add:
    return b_.CreateAdd(a, b, "", false, true);
  case BinaryOp::Sub:
    return b_.CreateSub(a, b, "", false, true);
  case BinaryOp::Mul:
    return b_.CreateMul(a, b, "", false, true);
  case BinaryOp::Div:
    return b_.CreateSDiv(a, b);
  case BinaryOp::Rem:
    return b_.CreateSRem(a, b);
  case BinaryOp::Max:
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, a, b);
  case BinaryOp::Min:
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, a, b);
  default:
    break;
  }
  llvm::Value *c = compare(op, a, b);
  KILN_ASSERT(c, "pow or logic on indices; the verifier rejects it");
  return c;
}

/// The graph's integers: results saturate, x / 0 is the saturated sign of x (0 for 0 / 0),
/// as the reference computes in doubles and rounds back.
llvm::Value *ScalarEmitter::intBinary(BinaryOp op, ScalarType t, llvm::Value *a, llvm::Value *b) {
  switch (op) {
  case BinaryOp::Add:
    return capI64(t, b_.CreateBinaryIntrinsic(llvm::Intrinsic::sadd_sat, a, b));
  case BinaryOp::Sub:
    return capI64(t, b_.CreateBinaryIntrinsic(llvm::Intrinsic::ssub_sat, a, b));
  case BinaryOp::Mul: {
    if (t == ScalarType::i32) {
      llvm::Value *wide =
          b_.CreateMul(b_.CreateSExt(a, b_.getInt64Ty()), b_.CreateSExt(b, b_.getInt64Ty()));
      return saturateTo32(wide);
    }
    llvm::Value *r = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smul_with_overflow, a, b);
    llvm::Value *prod = b_.CreateExtractValue(r, 0), *over = b_.CreateExtractValue(r, 1);
    llvm::Value *negative = b_.CreateICmpSLT(b_.CreateXor(a, b), b_.getInt64(0));
    return capI64(t, b_.CreateSelect(over, b_.CreateSelect(negative, intMin(t), intMax(t)), prod));
  }
  case BinaryOp::Div:
  case BinaryOp::Rem: {
    llvm::Value *zero = llvm::ConstantInt::get(type(t), 0);
    llvm::Value *by_zero = b_.CreateICmpEQ(b, zero);
    llvm::Value *overflow = b_.CreateAnd(b_.CreateICmpEQ(a, intMin(t)),
                                         b_.CreateICmpEQ(b, llvm::ConstantInt::get(type(t), -1)));
    llvm::Value *safe =
        b_.CreateSelect(b_.CreateOr(by_zero, overflow), llvm::ConstantInt::get(type(t), 1), b);
    if (op == BinaryOp::Rem)
      return b_.CreateSelect(by_zero, zero, b_.CreateSRem(a, safe));
    llvm::Value *q = b_.CreateSelect(overflow, intMax(t), b_.CreateSDiv(a, safe));
    llvm::Value *inf = b_.CreateSelect(b_.CreateICmpSGT(a, zero), intMax(t),
                                       b_.CreateSelect(b_.CreateICmpSLT(a, zero), intMin(t), zero));
    return b_.CreateSelect(by_zero, inf, q);
  }
  case BinaryOp::Max:
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, a, b);
  case BinaryOp::Min:
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, a, b);
  default:
    break;
  }
  llvm::Value *c = compare(op, a, b);
  KILN_ASSERT(c, "pow or logic on integers; the verifier rejects it");
  return c;
}

llvm::Value *ScalarEmitter::saturateTo32(llvm::Value *wide) {
  llvm::Value *clamped = b_.CreateBinaryIntrinsic(
      llvm::Intrinsic::smax,
      b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, wide, b_.getInt64(INT32_MAX)),
      b_.getInt64(INT32_MIN));
  return b_.CreateTrunc(clamped, b_.getInt32Ty());
}

/// The graph's cast rules: floats to integers truncate toward zero, saturate and send NaN to
/// 0; anything to bool is x != 0; i64 to f32 rounds through f64 as the reference does.
llvm::Value *ScalarEmitter::cast(llvm::Value *x, ScalarType from, ScalarType to) {
  llvm::Type *ty = type(to);
  if (from == to)
    return x;
  if (to == ScalarType::boolean)
    return isFloat(from) ? b_.CreateFCmpUNE(x, llvm::ConstantFP::get(type(from), 0.0))
                         : b_.CreateICmpNE(x, llvm::ConstantInt::get(type(from), 0));
  if (from == ScalarType::boolean)
    return isFloat(to) ? b_.CreateUIToFP(x, ty) : b_.CreateZExt(x, ty);
  if (isFloat(from) && isFloat(to))
    return to == ScalarType::f64 ? b_.CreateFPExt(x, ty) : b_.CreateFPTrunc(x, ty);
  if (isFloat(from)) {
    if (to == ScalarType::index)
      return b_.CreateFPToSI(x, ty);
    if (to == ScalarType::i64) {
      // The reference clamps to the largest double below 2^63 before truncating.
      if (from == ScalarType::f32)
        x = b_.CreateFPExt(x, b_.getDoubleTy());
      llvm::Value *top = llvm::ConstantFP::get(b_.getDoubleTy(), 9223372036854774784.0);
      x = b_.CreateSelect(b_.CreateFCmpOGT(x, top), top, x);
    }
    return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {ty, x->getType()}, {x});
  }
  if (isFloat(to)) {
    if (from == ScalarType::i64 && to == ScalarType::f32)
      return b_.CreateFPTrunc(b_.CreateSIToFP(x, b_.getDoubleTy()), ty);
    return b_.CreateSIToFP(x, ty);
  }
  // Integer to integer.
  if (to == ScalarType::i32 && from == ScalarType::i64)
    return saturateTo32(x);
  if (to == ScalarType::i32)
    return b_.CreateTrunc(x, ty);
  return b_.CreateSExtOrTrunc(x, ty);
}

/// Philox-4x32-10 as ir/philox.cpp: counter (lo, hi, 0, 0), key (lo, hi).
llvm::Value *ScalarEmitter::philox(llvm::Value *key_lo, llvm::Value *key_hi, llvm::Value *counter,
                                   ScalarType t) {
  auto lo = [&](llvm::Value *v) { return b_.CreateTrunc(v, b_.getInt32Ty()); };
  auto hi = [&](llvm::Value *v) { return b_.CreateTrunc(b_.CreateLShr(v, 32), b_.getInt32Ty()); };
  llvm::Value *c[4] = {lo(counter), hi(counter), b_.getInt32(0), b_.getInt32(0)};
  llvm::Value *key[2] = {key_lo, key_hi};
  for (int round = 0; round < 10; ++round) {
    llvm::Value *p0 = b_.CreateMul(b_.getInt64(0xD2511F53), b_.CreateZExt(c[0], b_.getInt64Ty()));
    llvm::Value *p1 = b_.CreateMul(b_.getInt64(0xCD9E8D57), b_.CreateZExt(c[2], b_.getInt64Ty()));
    llvm::Value *n0 = b_.CreateXor(b_.CreateXor(hi(p1), c[1]), key[0]);
    llvm::Value *n2 = b_.CreateXor(b_.CreateXor(hi(p0), c[3]), key[1]);
    c[0] = n0;
    c[1] = lo(p1);
    c[2] = n2;
    c[3] = lo(p0);
    key[0] = b_.CreateAdd(key[0], b_.getInt32(0x9E3779B9));
    key[1] = b_.CreateAdd(key[1], b_.getInt32(0xBB67AE85));
  }
  llvm::Value *top24 = b_.CreateLShr(c[0], 8);
  return b_.CreateFMul(b_.CreateUIToFP(top24, type(t)),
                       llvm::ConstantFP::get(type(t), 1.0 / 16777216.0));
}

const char *scalarCodegenStamp() { return __DATE__ " " __TIME__; }

} // namespace kiln::codegen
