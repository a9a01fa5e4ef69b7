// Kernel IR to LLVM IR. Every variable lives in an alloca that mem2reg promotes; loops count
// from 0 (the parallel loop from `begin`) to their extent. Parameters reach an always-inline
// body function as noalias, 64-byte-aligned pointers, which lets the vectoriser skip alias
// checks. Integer arithmetic saturates and divides as the reference kernels do; index
// arithmetic is plain `nsw` arithmetic that scalar evolution can follow.

#include "backend/cpu/llvm_codegen.h"

#include "ir/diagnostics.h"
#include "ir/literal.h"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <bit>
#include <cmath>

namespace kiln::cpu {
namespace {

using namespace kernel;

class Emitter {
public:
  Emitter(llvm::Module &m, const llvm::TargetMachine &tm, const Kernel &k)
      : m_(m), ctx_(m.getContext()), b_(ctx_), tm_(tm), k_(k) {}

  void emit(const std::string &symbol) {
    llvm::Function *body = emitBody(symbol + ".body");
    emitEntry(symbol, body);
  }

private:
  // ---- types ---------------------------------------------------------------------------------

  llvm::Type *type(ScalarType t) {
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

  llvm::Type *storageType(DType d) {
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

  void targetAttributes(llvm::Function *f) {
    f->addFnAttr("target-cpu", tm_.getTargetCPU());
    f->addFnAttr("target-features", tm_.getTargetFeatureString());
    f->addFnAttr(llvm::Attribute::NoUnwind);
  }

  // ---- functions -----------------------------------------------------------------------------

  llvm::Function *emitBody(const std::string &name) {
    std::vector<int> params = k_.parameters();
    std::vector<llvm::Type *> arg_types(params.size(), b_.getPtrTy());
    arg_types.push_back(b_.getInt64Ty());
    arg_types.push_back(b_.getInt64Ty());
    auto *fty = llvm::FunctionType::get(b_.getVoidTy(), arg_types, false);
    auto *f = llvm::Function::Create(fty, llvm::Function::InternalLinkage, name, m_);
    targetAttributes(f);
    f->addFnAttr(llvm::Attribute::AlwaysInline);
    buffers_.assign(k_.buffers.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Buffer &buf = k_.buffers[params[i]];
      f->addParamAttr(i, llvm::Attribute::NoAlias);
      f->addParamAttr(i, llvm::Attribute::NoCapture);
      f->addParamAttr(i, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
      int64_t bytes = numElements(buf.shape) * dtypeSize(buf.dtype);
      if (bytes > 0)
        f->addParamAttr(i, llvm::Attribute::getWithDereferenceableBytes(ctx_, bytes));
      if (buf.role == Role::Read)
        f->addParamAttr(i, llvm::Attribute::ReadOnly);
      buffers_[params[i]] = f->getArg(i);
    }
    begin_ = f->getArg(params.size());
    end_ = f->getArg(params.size() + 1);

    auto *entry = llvm::BasicBlock::Create(ctx_, "entry", f);
    b_.SetInsertPoint(entry);
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const Buffer &buf = k_.buffers[i];
      if (buf.role == Role::Constant)
        buffers_[i] = constantTable(buf);
      else if (buf.role == Role::Local)
        buffers_[i] = localBuffer(buf);
    }
    for (const Var &v : k_.vars)
      slots_.push_back(b_.CreateAlloca(type(v.type), nullptr, v.name));
    block(k_.body, true);
    b_.CreateRetVoid();
    return f;
  }

  void emitEntry(const std::string &name, llvm::Function *body) {
    auto *fty = llvm::FunctionType::get(b_.getVoidTy(),
                                        {b_.getPtrTy(), b_.getInt64Ty(), b_.getInt64Ty()}, false);
    auto *f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m_);
    targetAttributes(f);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    std::vector<llvm::Value *> args;
    for (size_t i = 0; i < k_.parameters().size(); ++i) {
      llvm::Value *slot = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), f->getArg(0), i);
      args.push_back(b_.CreateAlignedLoad(b_.getPtrTy(), slot, llvm::Align(8)));
    }
    args.push_back(f->getArg(1));
    args.push_back(f->getArg(2));
    b_.CreateCall(body, args);
    b_.CreateRetVoid();
  }

  llvm::Value *constantTable(const Buffer &buf) {
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
    auto *aty = llvm::ArrayType::get(elem, elems.size());
    auto *g = new llvm::GlobalVariable(m_, aty, true, llvm::GlobalValue::PrivateLinkage,
                                       llvm::ConstantArray::get(aty, elems), buf.name);
    g->setAlignment(llvm::Align(64));
    return g;
  }

  llvm::Value *localBuffer(const Buffer &buf) {
    llvm::AllocaInst *a =
        b_.CreateAlloca(storageType(buf.dtype),
                        b_.getInt64(std::max<int64_t>(1, numElements(buf.shape))), buf.name);
    a->setAlignment(llvm::Align(64));
    return a;
  }

  // ---- statements ----------------------------------------------------------------------------

  void block(const Block &body, bool top) {
    for (const Stmt &s : body)
      std::visit([&](const auto &n) { stmt(n, top && body.size() == 1); }, s.node);
  }

  void stmt(const Loop &l, bool top) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    bool split = top && (l.kind == LoopKind::Parallel || l.kind == LoopKind::Group);
    llvm::Value *lo = split ? begin_ : b_.getInt64(0);
    llvm::Value *hi = split ? end_ : b_.getInt64(l.extent);
    llvm::AllocaInst *slot = slots_[l.var];
    b_.CreateStore(lo, slot);
    auto *cond = llvm::BasicBlock::Create(ctx_, k_.vars[l.var].name + ".cond", f);
    auto *body = llvm::BasicBlock::Create(ctx_, k_.vars[l.var].name + ".body", f);
    auto *exit = llvm::BasicBlock::Create(ctx_, k_.vars[l.var].name + ".exit", f);
    b_.CreateBr(cond);
    b_.SetInsertPoint(cond);
    llvm::Value *i = b_.CreateLoad(b_.getInt64Ty(), slot);
    b_.CreateCondBr(b_.CreateICmpSLT(i, hi), body, exit);
    b_.SetInsertPoint(body);
    // Accumulators of reduction and worker loops combine in no particular order.
    bool unordered = l.kind == LoopKind::Reduction || l.kind == LoopKind::Worker;
    reduction_depth_ += unordered;
    block(l.body, false);
    reduction_depth_ -= unordered;
    llvm::Value *cur = b_.CreateLoad(b_.getInt64Ty(), slot);
    b_.CreateStore(b_.CreateAdd(cur, b_.getInt64(1), "", false, true), slot);
    b_.CreateBr(cond);
    b_.SetInsertPoint(exit);
  }

  void stmt(const Store &s, bool) {
    const Buffer &buf = k_.buffers[s.buffer];
    llvm::Value *v = expr(s.value);
    llvm::Value *stored;
    switch (buf.dtype) {
    case DType::bf16:
      stored = toBF16(v);
      break;
    case DType::boolean:
      stored = b_.CreateZExt(v, b_.getInt8Ty());
      break;
    default:
      stored = v;
    }
    b_.CreateStore(stored, address(s.buffer, s.indices));
  }

  void stmt(const Let &s, bool) { b_.CreateStore(expr(s.value), slots_[s.var]); }
  void stmt(const Accumulator &s, bool) { b_.CreateStore(expr(s.init), slots_[s.var]); }
  void stmt(const Assign &s, bool) {
    reassoc_ = reduction_depth_ > 0;
    llvm::Value *v = expr(s.value);
    reassoc_ = false;
    b_.CreateStore(v, slots_[s.var]);
  }
  // A group is one thread's loop on the CPU: workers run in order, so there is nothing to
  // wait for, and they all updated the one copy of each accumulator.
  void stmt(const Barrier &, bool) {}
  void stmt(const GroupReduce &, bool) {}

  // ---- memory --------------------------------------------------------------------------------

  llvm::Value *address(int buffer, const std::vector<Expr> &indices) {
    const Buffer &buf = k_.buffers[buffer];
    llvm::Value *flat = b_.getInt64(0);
    for (size_t d = 0; d < indices.size(); ++d) {
      llvm::Value *term = expr(indices[d]);
      if (buf.strides[d] != 1)
        term = b_.CreateMul(term, b_.getInt64(buf.strides[d]), "", false, true);
      flat = d == 0 ? term : b_.CreateAdd(flat, term, "", false, true);
    }
    return b_.CreateInBoundsGEP(storageType(buf.dtype), buffers_[buffer], flat);
  }

  llvm::Value *fromStorage(DType d, llvm::Value *v) {
    if (d == DType::bf16)
      return b_.CreateBitCast(b_.CreateShl(b_.CreateZExt(v, b_.getInt32Ty()), 16), b_.getFloatTy());
    if (d == DType::boolean)
      return b_.CreateICmpNE(v, b_.getInt8(0));
    return v;
  }

  /// Round to nearest even, as roundToBF16; NaN keeps its top bits, as Literal::toBytes.
  llvm::Value *toBF16(llvm::Value *f) {
    llvm::Value *bits = b_.CreateBitCast(f, b_.getInt32Ty());
    llvm::Value *odd = b_.CreateAnd(b_.CreateLShr(bits, 16), b_.getInt32(1));
    llvm::Value *rounded = b_.CreateAdd(bits, b_.CreateAdd(odd, b_.getInt32(0x7fff)));
    llvm::Value *out = b_.CreateSelect(b_.CreateFCmpUNO(f, f), bits, rounded);
    return b_.CreateTrunc(b_.CreateLShr(out, 16), b_.getInt16Ty());
  }

  // ---- expressions ---------------------------------------------------------------------------

  llvm::Value *expr(const Expr &e) {
    return std::visit([&](const auto &n) { return node(e->type, n); }, e->node);
  }

  llvm::Value *node(ScalarType t, const Const &c) {
    if (isFloat(t))
      return llvm::ConstantFP::get(type(t), c.value);
    if (t == ScalarType::boolean)
      return b_.getInt1(c.value != 0);
    return llvm::ConstantInt::get(type(t), static_cast<uint64_t>(c.int_value), true);
  }

  llvm::Value *node(ScalarType t, const VarRef &v) {
    return b_.CreateLoad(type(t), slots_[v.var], k_.vars[v.var].name);
  }

  llvm::Value *node(ScalarType, const Load &l) {
    const Buffer &buf = k_.buffers[l.buffer];
    llvm::Value *raw = b_.CreateLoad(storageType(buf.dtype), address(l.buffer, l.indices));
    return fromStorage(buf.dtype, raw);
  }

  llvm::Value *libm(std::string_view name, ScalarType t, llvm::Value *x) {
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
  llvm::Value *expF32(llvm::Value *x) {
    auto f = [&](double v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); };
    auto fma = [&](llvm::Value *a, llvm::Value *b, llvm::Value *c) {
      return b_.CreateIntrinsic(llvm::Intrinsic::fma, {b_.getFloatTy()}, {a, b, c});
    };
    // Beyond these e^x is inf or 0 anyway; NaN passes through the selects.
    x = b_.CreateSelect(b_.CreateFCmpOGT(x, f(89.0)), f(89.0), x);
    x = b_.CreateSelect(b_.CreateFCmpOLT(x, f(-104.0)), f(-104.0), x);
    llvm::Value *n = b_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven,
                                             b_.CreateFMul(x, f(1.44269504088896341)));
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

  llvm::Value *intMin(ScalarType t) {
    return t == ScalarType::i32 ? b_.getInt32(INT32_MIN) : b_.getInt64(INT64_MIN);
  }
  /// The largest i64 the reference holds: the largest double below 2^63.
  static constexpr int64_t kI64Max = 9223372036854774784;
  llvm::Value *intMax(ScalarType t) {
    return t == ScalarType::i32 ? b_.getInt32(INT32_MAX) : b_.getInt64(kI64Max);
  }
  /// An i64 result saturated at the reference's largest i64 (i32 results need nothing).
  llvm::Value *capI64(ScalarType t, llvm::Value *v) {
    return t == ScalarType::i64 ? b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, v, intMax(t)) : v;
  }

  llvm::Value *node(ScalarType t, const Unary &u) {
    llvm::Value *x = expr(u.x);
    bool fp = isFloat(t), sat = t == ScalarType::i32 || t == ScalarType::i64;
    llvm::Value *zero =
        fp ? llvm::ConstantFP::get(type(t), 0.0) : llvm::ConstantInt::get(type(t), 0);
    switch (u.op) {
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
      return t == ScalarType::f32 ? expF32(x) : b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
    case UnaryOp::Log:
      return b_.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
    case UnaryOp::Sqrt:
      return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
    case UnaryOp::Rsqrt:
      return b_.CreateFDiv(llvm::ConstantFP::get(type(t), 1.0),
                           b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
    case UnaryOp::Tanh:
      return libm("tanh", t, x);
    case UnaryOp::Erf:
      return libm("erf", t, x);
    case UnaryOp::Relu:
      if (fp)
        return b_.CreateSelect(b_.CreateFCmpOGT(x, zero), x, zero);
      return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, zero);
    case UnaryOp::Not:
      return b_.CreateNot(x);
    }
    return x;
  }

  llvm::Value *node(ScalarType, const Binary &bin) {
    llvm::Value *a = expr(bin.a), *b = expr(bin.b);
    ScalarType t = bin.a->type;
    if (isFloat(t))
      return floatBinary(bin.op, a, b);
    if (t == ScalarType::boolean)
      return boolBinary(bin.op, a, b);
    if (t == ScalarType::index)
      return indexBinary(bin.op, a, b);
    return intBinary(bin.op, t, a, b);
  }

  llvm::Value *floatBinary(BinaryOp op, llvm::Value *a, llvm::Value *b) {
    llvm::FastMathFlags fmf;
    if (reassoc_)
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
      return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, b);
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

  llvm::Value *boolBinary(BinaryOp op, llvm::Value *a, llvm::Value *b) {
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

  llvm::Value *compare(BinaryOp op, llvm::Value *a, llvm::Value *b) {
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

  llvm::Value *indexBinary(BinaryOp op, llvm::Value *a, llvm::Value *b) {
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
  llvm::Value *intBinary(BinaryOp op, ScalarType t, llvm::Value *a, llvm::Value *b) {
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
      return capI64(t,
                    b_.CreateSelect(over, b_.CreateSelect(negative, intMin(t), intMax(t)), prod));
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
      llvm::Value *inf =
          b_.CreateSelect(b_.CreateICmpSGT(a, zero), intMax(t),
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

  llvm::Value *saturateTo32(llvm::Value *wide) {
    llvm::Value *clamped = b_.CreateBinaryIntrinsic(
        llvm::Intrinsic::smax,
        b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, wide, b_.getInt64(INT32_MAX)),
        b_.getInt64(INT32_MIN));
    return b_.CreateTrunc(clamped, b_.getInt32Ty());
  }

  llvm::Value *node(ScalarType, const Select &s) {
    llvm::Value *c = expr(s.cond), *a = expr(s.a), *b = expr(s.b);
    return b_.CreateSelect(c, a, b);
  }

  /// The graph's cast rules: floats to integers truncate toward zero, saturate and send NaN to
  /// 0; anything to bool is x != 0; i64 to f32 rounds through f64 as the reference does.
  llvm::Value *node(ScalarType to, const Cast &c) {
    llvm::Value *x = expr(c.x);
    ScalarType from = c.x->type;
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

  /// Philox-4x32-10 as ir/philox.cpp: counter (lo, hi, 0, 0), key (seed lo, seed hi).
  llvm::Value *node(ScalarType t, const Philox &p) {
    llvm::Value *seed = expr(p.seed);
    if (p.seed->type == ScalarType::i32)
      seed = b_.CreateSExt(seed, b_.getInt64Ty());
    llvm::Value *counter = expr(p.counter);
    auto lo = [&](llvm::Value *v) { return b_.CreateTrunc(v, b_.getInt32Ty()); };
    auto hi = [&](llvm::Value *v) { return b_.CreateTrunc(b_.CreateLShr(v, 32), b_.getInt32Ty()); };
    llvm::Value *c[4] = {lo(counter), hi(counter), b_.getInt32(0), b_.getInt32(0)};
    llvm::Value *key[2] = {lo(seed), hi(seed)};
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

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const llvm::TargetMachine &tm_;
  const Kernel &k_;
  std::vector<llvm::Value *> buffers_;
  std::vector<llvm::AllocaInst *> slots_;
  llvm::Value *begin_ = nullptr, *end_ = nullptr;
  int reduction_depth_ = 0;
  bool reassoc_ = false;
};

} // namespace

void emitKernel(llvm::Module &module, const llvm::TargetMachine &target,
                const kernel::Kernel &kernel, const std::string &symbol) {
  Emitter(module, target, kernel).emit(symbol);
}

} // namespace kiln::cpu
