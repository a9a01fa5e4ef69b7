// Kernel IR to LLVM IR. Every variable lives in an alloca that mem2reg promotes; loops count
// from 0 (the parallel loop from `begin`) to their extent. Parameters reach an always-inline
// body function as 64-byte-aligned pointers, noalias unless the memory plan lets this kernel
// write over one of its operands (then the vectoriser must keep loads and stores in order).
// Integer arithmetic saturates and divides as the reference kernels do; index arithmetic is
// plain `nsw` arithmetic that scalar evolution can follow.

#include "backend/cpu/llvm_codegen.h"

#include "backend/llvm/expr_emitter.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <cmath>

namespace kiln::cpu {
namespace {

using namespace kernel;
using codegen::ExprEmitter;
using codegen::ScalarEmitter;

class Emitter {
public:
  Emitter(llvm::Module &m, const llvm::TargetMachine &tm, const Kernel &k,
          const std::vector<bool> &noalias, codegen::MathLowering math)
      : m_(m), ctx_(m.getContext()), b_(ctx_), scalar_(m_, b_, math), tm_(tm), k_(k),
        noalias_(noalias) {}

  void emit(const std::string &symbol) {
    llvm::Function *body = emitBody(symbol + ".body");
    emitEntry(symbol, body);
  }

private:
  // ---- types ---------------------------------------------------------------------------------

  llvm::Type *type(ScalarType t) { return scalar_.type(t); }

  llvm::Type *storageType(DType d) { return scalar_.storageType(d); }

  void targetAttributes(llvm::Function *f) {
    f->addFnAttr("target-cpu", tm_.getTargetCPU());
    f->addFnAttr("target-features", tm_.getTargetFeatureString());
    f->addFnAttr(llvm::Attribute::NoUnwind);
  }

  // ---- functions -----------------------------------------------------------------------------

  llvm::Function *emitBody(const std::string &name) {
    std::vector<int> params = k_.parameters();
    std::vector<llvm::Type *> arg_types(params.size() + !k_.traps.empty(), b_.getPtrTy());
    arg_types.push_back(b_.getInt64Ty());
    arg_types.push_back(b_.getInt64Ty());
    auto *fty = llvm::FunctionType::get(b_.getVoidTy(), arg_types, false);
    auto *f = llvm::Function::Create(fty, llvm::Function::InternalLinkage, name, m_);
    targetAttributes(f);
    f->addFnAttr(llvm::Attribute::AlwaysInline);
    exprs_.buffers.assign(k_.buffers.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Buffer &buf = k_.buffers[params[i]];
      if (noalias_.empty() || noalias_.at(i))
        f->addParamAttr(i, llvm::Attribute::NoAlias);
      f->addParamAttr(i, llvm::Attribute::NoCapture);
      f->addParamAttr(i, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
      int64_t bytes = numElements(buf.shape) * dtypeSize(buf.dtype);
      if (bytes > 0)
        f->addParamAttr(i, llvm::Attribute::getWithDereferenceableBytes(ctx_, bytes));
      if (buf.role == Role::Read)
        f->addParamAttr(i, llvm::Attribute::ReadOnly);
      exprs_.buffers[params[i]] = f->getArg(i);
    }
    size_t next = params.size();
    if (!k_.traps.empty()) {
      f->addParamAttr(next, llvm::Attribute::NoAlias);
      f->addParamAttr(next, llvm::Attribute::NoCapture);
      traps_ = f->getArg(next++);
    }
    begin_ = f->getArg(next);
    end_ = f->getArg(next + 1);

    auto *entry = llvm::BasicBlock::Create(ctx_, "entry", f);
    b_.SetInsertPoint(entry);
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const Buffer &buf = k_.buffers[i];
      if (buf.role == Role::Constant)
        exprs_.buffers[i] = constantTable(buf);
      else if (buf.role == Role::Local)
        exprs_.buffers[i] = localBuffer(buf);
    }
    for (const Var &v : k_.vars)
      exprs_.slots.push_back(b_.CreateAlloca(type(v.type), nullptr, v.name));
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
    // The error slot, when there is one, follows the parameters.
    for (size_t i = 0; i < k_.parameters().size() + !k_.traps.empty(); ++i) {
      llvm::Value *slot = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), f->getArg(0), i);
      args.push_back(b_.CreateAlignedLoad(b_.getPtrTy(), slot, llvm::Align(8)));
    }
    args.push_back(f->getArg(1));
    args.push_back(f->getArg(2));
    b_.CreateCall(body, args);
    b_.CreateRetVoid();
  }

  llvm::Value *constantTable(const Buffer &buf) {
    llvm::Constant *init = scalar_.constantArray(buf);
    auto *g = new llvm::GlobalVariable(m_, init->getType(), true, llvm::GlobalValue::PrivateLinkage,
                                       init, buf.name);
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
    llvm::AllocaInst *slot = exprs_.slots[l.var];
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

  void stmt(const Store &s, bool) { exprs_.store(s); }

  void stmt(const Let &s, bool) { b_.CreateStore(expr(s.value), exprs_.slots[s.var]); }
  void stmt(const Accumulator &s, bool) { b_.CreateStore(expr(s.init), exprs_.slots[s.var]); }
  void stmt(const Assign &s, bool) {
    reassoc_ = reduction_depth_ > 0;
    llvm::Value *v = expr(s.value);
    reassoc_ = false;
    b_.CreateStore(v, exprs_.slots[s.var]);
  }
  // A group is one thread's loop on the CPU: workers run in order, so there is nothing to
  // wait for, and they all updated the one copy of each accumulator.
  void stmt(const Barrier &, bool) {}
  void stmt(const GroupReduce &, bool) {}

  /// The failure path is out of line and atomic, as groups run on several threads.
  void stmt(const Check &c, bool) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    auto *fail = llvm::BasicBlock::Create(ctx_, "trap", f);
    auto *cont = llvm::BasicBlock::Create(ctx_, "checked", f);
    llvm::Value *ok = expr(c.ok);
    llvm::MDBuilder md(ctx_);
    b_.CreateCondBr(ok, cont, fail, md.createLikelyBranchWeights());
    b_.SetInsertPoint(fail);
    llvm::Value *slot = b_.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), traps_, c.trap);
    b_.CreateAtomicRMW(llvm::AtomicRMWInst::Min, slot, expr(c.position), llvm::Align(8),
                       llvm::AtomicOrdering::Monotonic);
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }

  void stmt(const If &s, bool) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    auto *then = llvm::BasicBlock::Create(ctx_, "then", f);
    auto *cont = llvm::BasicBlock::Create(ctx_, "endif", f);
    b_.CreateCondBr(expr(s.cond), then, cont);
    b_.SetInsertPoint(then);
    block(s.body, false);
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }

  llvm::Value *expr(const Expr &e) { return exprs_.expr(e, reassoc_); }

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  ScalarEmitter scalar_;
  const llvm::TargetMachine &tm_;
  const Kernel &k_;
  const std::vector<bool> &noalias_;
  ExprEmitter exprs_{b_, scalar_, k_};
  llvm::Value *begin_ = nullptr, *end_ = nullptr, *traps_ = nullptr;
  int reduction_depth_ = 0;
  bool reassoc_ = false;
};

} // namespace

void emitKernel(llvm::Module &module, const llvm::TargetMachine &target,
                const kernel::Kernel &kernel, const std::string &symbol,
                const std::vector<bool> &noalias, bool inline_math) {
  Emitter(module, target, kernel, noalias,
          inline_math ? codegen::MathLowering::Inline : codegen::MathLowering::Libm)
      .emit(symbol);
}

// Both halves of the code generator stamp the key: editing either must miss the cache.
const char *codegenBuildStamp() {
  static const std::string stamp = std::string(__DATE__ " " __TIME__) + " " +
                                   codegen::scalarCodegenStamp() + " " + codegen::inlineMathStamp();
  return stamp.c_str();
}

} // namespace kiln::cpu
