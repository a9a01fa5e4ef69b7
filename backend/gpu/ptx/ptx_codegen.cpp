// One kernel as an NVPTX kernel function. Every variable lives in an alloca that mem2reg
// promotes, one copy per thread. Where a statement runs (`Place`):
//   Thread  one thread runs it alone: the iteration of a parallel loop, or the whole of a
//           kernel without a parallel or group loop (thread 0 of block 0);
//   Group   every thread of the block runs it in step (a group loop's body outside its worker
//           loops): values are computed by all alike, stores are made by thread 0 (then a
//           barrier), barriers and group reductions take effect;
//   Worker  one thread's share of a worker loop (block-stride over threadIdx.x).
// A group reduction starts every thread but thread 0 from the identity of its op, so that the
// accumulator's initial value counts once, and combines the threads' copies in a tree through
// shared memory.

#include "backend/gpu/ptx/ptx_codegen.h"

#include "backend/gpu/ptx/launch.h"
#include "backend/llvm/expr_emitter.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <functional>
#include <map>

namespace kiln::gpu {
namespace {

using namespace kernel;
using codegen::ExprEmitter;
using codegen::MathLowering;
using codegen::ScalarEmitter;

constexpr unsigned kGlobal = 1, kShared = 3;

/// Who runs a statement (see the file comment).
enum class Place { Thread, Group, Worker };

void findReductions(const Block &body, std::map<int, BinaryOp> &ops) {
  for (const Stmt &s : body) {
    if (const auto *r = std::get_if<GroupReduce>(&s.node))
      ops[r->var] = r->op;
    else if (const auto *l = std::get_if<Loop>(&s.node))
      findReductions(l->body, ops);
    else if (const auto *i = std::get_if<If>(&s.node))
      findReductions(i->body, ops);
  }
}

class PtxEmitter {
public:
  PtxEmitter(llvm::Module &m, const Kernel &k, const PtxLaunch &launch)
      : m_(m), ctx_(m.getContext()), b_(ctx_), k_(k), launch_(launch),
        layout_(sharedLayout(k, launch.block)) {
    findReductions(k.body, reduce_ops_);
  }

  void emit() {
    std::vector<int> params = k_.parameters();
    std::vector<llvm::Type *> arg_types(params.size() + !k_.traps.empty(), b_.getPtrTy(kGlobal));
    auto *fty = llvm::FunctionType::get(b_.getVoidTy(), arg_types, false);
    auto *f = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, k_.name, m_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    exprs_.buffers.assign(k_.buffers.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Buffer &buf = k_.buffers[params[i]];
      f->getArg(i)->setName(buf.name);
      f->addParamAttr(i, llvm::Attribute::NoCapture);
      // The memory plan aligns every buffer to 64 bytes.
      f->addParamAttr(i, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(16)));
      if (buf.role == Role::Read)
        f->addParamAttr(i, llvm::Attribute::ReadOnly);
      exprs_.buffers[params[i]] = f->getArg(i);
    }
    if (!k_.traps.empty()) {
      traps_ = f->getArg(params.size());
      traps_->setName("errors");
      f->addParamAttr(params.size(), llvm::Attribute::NoCapture);
    }
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    for (const Var &v : k_.vars)
      exprs_.slots.push_back(b_.CreateAlloca(scalar_.type(v.type), nullptr, v.name));
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const Buffer &buf = k_.buffers[i];
      if (buf.role == Role::Constant)
        exprs_.buffers[i] = constantTable(buf);
      else if (buf.role == Role::Local)
        exprs_.buffers[i] = sharedAt(layout_.offsets[i]);
    }
    if (layout_.scratch >= 0)
      scratch_ = sharedAt(layout_.scratch);
    tid_ = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x);
    ntid_ = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x);
    ctaid_ = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x);
    nctaid_ = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x);
    body();
    b_.CreateRetVoid();
    annotate(f);
  }

private:
  // ---- the kernel ----------------------------------------------------------------------------

  void body() {
    const Loop *top = k_.parallelLoop();
    if (top && top->kind == LoopKind::Parallel) {
      llvm::Value *start = b_.CreateAdd(b_.CreateMul(ctaid_, ntid_), tid_);
      counted(*top, start, b_.CreateMul(ntid_, nctaid_), Place::Thread);
    } else if (top) {
      counted(*top, ctaid_, nctaid_, Place::Group);
    } else {
      llvm::Value *first = b_.CreateICmpEQ(b_.CreateOr(ctaid_, tid_), b_.getInt64(0));
      ifThen(first, [&] { block(k_.body); });
    }
  }

  /// Marks the function a kernel with its block size: group kernels need exactly that many
  /// threads (their reductions' tree is unrolled for it), others at most that many.
  void annotate(llvm::Function *f) {
    llvm::NamedMDNode *md = m_.getOrInsertNamedMetadata("nvvm.annotations");
    auto entry = [&](const char *key, int64_t value) {
      llvm::Metadata *ops[] = {llvm::ValueAsMetadata::get(f), llvm::MDString::get(ctx_, key),
                               llvm::ValueAsMetadata::get(b_.getInt32(value))};
      md->addOperand(llvm::MDNode::get(ctx_, ops));
    };
    entry("kernel", 1);
    entry(isGroupKernel(k_) ? "reqntidx" : "maxntidx", launch_.block);
  }

  llvm::Value *sreg(llvm::Intrinsic::ID id) {
    return b_.CreateZExt(b_.CreateIntrinsic(id, {}, {}), b_.getInt64Ty());
  }

  llvm::Value *sharedAt(int64_t offset) {
    llvm::GlobalVariable *g = m_.getNamedGlobal("kiln_shared");
    if (!g) {
      g = new llvm::GlobalVariable(m_, llvm::ArrayType::get(b_.getInt8Ty(), 0), false,
                                   llvm::GlobalValue::ExternalLinkage, nullptr, "kiln_shared",
                                   nullptr, llvm::GlobalValue::NotThreadLocal, kShared);
      g->setAlignment(llvm::Align(16));
    }
    return b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), g, offset);
  }

  llvm::Value *constantTable(const Buffer &buf) {
    llvm::Constant *init = scalar_.constantArray(buf);
    auto *g = new llvm::GlobalVariable(
        m_, init->getType(), true, llvm::GlobalValue::InternalLinkage, init,
        k_.name + "." + buf.name, nullptr, llvm::GlobalValue::NotThreadLocal, kGlobal);
    g->setAlignment(llvm::Align(16));
    return g;
  }

  // ---- control flow --------------------------------------------------------------------------

  void ifThen(llvm::Value *cond, const std::function<void()> &then_body) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    auto *then = llvm::BasicBlock::Create(ctx_, "then", f);
    auto *cont = llvm::BasicBlock::Create(ctx_, "endif", f);
    b_.CreateCondBr(cond, then, cont);
    b_.SetInsertPoint(then);
    then_body();
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }

  /// for (var = start; var < extent; var += step) body, run at `inner`.
  void counted(const Loop &l, llvm::Value *start, llvm::Value *step, Place inner) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    llvm::AllocaInst *slot = exprs_.slots[l.var];
    b_.CreateStore(start, slot);
    const std::string &name = k_.vars[l.var].name;
    auto *cond = llvm::BasicBlock::Create(ctx_, name + ".cond", f);
    auto *body = llvm::BasicBlock::Create(ctx_, name + ".body", f);
    auto *exit = llvm::BasicBlock::Create(ctx_, name + ".exit", f);
    b_.CreateBr(cond);
    b_.SetInsertPoint(cond);
    llvm::Value *i = b_.CreateLoad(b_.getInt64Ty(), slot);
    b_.CreateCondBr(b_.CreateICmpSLT(i, b_.getInt64(l.extent)), body, exit);
    b_.SetInsertPoint(body);
    Place outer = place_;
    place_ = inner;
    block(l.body);
    place_ = outer;
    llvm::Value *cur = b_.CreateLoad(b_.getInt64Ty(), slot);
    b_.CreateStore(b_.CreateAdd(cur, step, "", false, true), slot);
    b_.CreateBr(cond);
    b_.SetInsertPoint(exit);
  }

  void block(const Block &body) {
    for (const Stmt &s : body)
      std::visit([&](const auto &n) { stmt(n); }, s.node);
  }

  // ---- statements ----------------------------------------------------------------------------

  void stmt(const Loop &l) {
    if (l.kind == LoopKind::Worker && place_ == Place::Group)
      counted(l, tid_, ntid_, Place::Worker);
    else
      counted(l, b_.getInt64(0), b_.getInt64(1), place_);
  }

  void stmt(const Store &s) {
    if (place_ != Place::Group) {
      exprs_.store(s);
      return;
    }
    // Every thread holds the value; one writes it, and the barrier makes it seen by all (the
    // block's threads may read it back).
    ifThen(b_.CreateICmpEQ(tid_, b_.getInt64(0)), [&] { exprs_.store(s); });
    barrier();
  }

  void stmt(const Let &s) { b_.CreateStore(exprs_.expr(s.value), exprs_.slots[s.var]); }

  void stmt(const Accumulator &s) {
    llvm::Value *init = exprs_.expr(s.init);
    auto op = reduce_ops_.find(s.var);
    if (place_ == Place::Group && op != reduce_ops_.end())
      init = b_.CreateSelect(b_.CreateICmpEQ(tid_, b_.getInt64(0)), init,
                             identity(op->second, k_.vars[s.var].type));
    b_.CreateStore(init, exprs_.slots[s.var]);
  }

  void stmt(const Assign &s) { b_.CreateStore(exprs_.expr(s.value), exprs_.slots[s.var]); }

  void stmt(const Barrier &) { barrier(); }

  void stmt(const GroupReduce &r) {
    // Outside a block of workers one thread holds the only copy.
    if (place_ != Place::Group)
      return;
    ScalarType t = k_.vars[r.var].type;
    bool flag = t == ScalarType::boolean;
    llvm::Type *slot_type = flag ? b_.getInt8Ty() : scalar_.type(t);
    auto at = [&](llvm::Value *i) { return b_.CreateInBoundsGEP(slot_type, scratch_, i); };
    auto get = [&](llvm::Value *i) {
      llvm::Value *v = b_.CreateLoad(slot_type, at(i));
      return flag ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
    };
    auto put = [&](llvm::Value *v, llvm::Value *i) {
      b_.CreateStore(flag ? b_.CreateZExt(v, b_.getInt8Ty()) : v, at(i));
    };
    llvm::AllocaInst *var = exprs_.slots[r.var];
    put(b_.CreateLoad(scalar_.type(t), var), tid_);
    barrier();
    for (int64_t half = launch_.block / 2; half >= 1; half /= 2) {
      ifThen(b_.CreateICmpULT(tid_, b_.getInt64(half)), [&] {
        llvm::Value *other = b_.CreateAdd(tid_, b_.getInt64(half));
        put(scalar_.binary(r.op, t, get(tid_), get(other), true), tid_);
      });
      barrier();
    }
    b_.CreateStore(get(b_.getInt64(0)), var);
    // The scratch is free again only when every thread has read the result.
    barrier();
  }

  /// An atomic minimum: the first failing position wins whatever the order of threads.
  void stmt(const Check &c) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    auto *fail = llvm::BasicBlock::Create(ctx_, "trap", f);
    auto *cont = llvm::BasicBlock::Create(ctx_, "checked", f);
    llvm::MDBuilder md(ctx_);
    b_.CreateCondBr(exprs_.expr(c.ok), cont, fail, md.createLikelyBranchWeights());
    b_.SetInsertPoint(fail);
    llvm::Value *slot = b_.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), traps_, c.trap);
    b_.CreateAtomicRMW(llvm::AtomicRMWInst::Min, slot, exprs_.expr(c.position), llvm::Align(8),
                       llvm::AtomicOrdering::Monotonic);
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }

  void stmt(const If &s) {
    ifThen(exprs_.expr(s.cond), [&] { block(s.body); });
  }

  void barrier() {
    if (place_ == Place::Group)
      b_.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  }

  /// The value that op leaves unchanged: a thread without work contributes it.
  llvm::Value *identity(BinaryOp op, ScalarType t) {
    bool fp = isFloat(t);
    llvm::Type *ty = scalar_.type(t);
    auto num = [&](double f, int64_t i) -> llvm::Value * {
      return fp ? llvm::ConstantFP::get(ty, f)
                : llvm::ConstantInt::get(ty, static_cast<uint64_t>(i), true);
    };
    int64_t lowest = t == ScalarType::i32 ? INT32_MIN : INT64_MIN;
    int64_t highest = t == ScalarType::i32 ? INT32_MAX : INT64_MAX;
    switch (op) {
    case BinaryOp::Add:
    case BinaryOp::Or:
      return t == ScalarType::boolean ? b_.getFalse() : num(0, 0);
    case BinaryOp::Mul:
      return num(1, 1);
    case BinaryOp::And:
      return b_.getTrue();
    case BinaryOp::Max:
      return num(-INFINITY, lowest);
    case BinaryOp::Min:
      return num(INFINITY, highest);
    default:
      throw Error({}, fmt::format("PTX: kernel {}: a group reduction by {} has no identity",
                                  k_.name, binaryOpName(op)));
    }
  }

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const Kernel &k_;
  PtxLaunch launch_;
  SharedLayout layout_;
  ScalarEmitter scalar_{m_, b_, MathLowering::Inline};
  ExprEmitter exprs_{b_, scalar_, k_};
  std::map<int, BinaryOp> reduce_ops_;
  Place place_ = Place::Thread;
  llvm::Value *traps_ = nullptr, *scratch_ = nullptr;
  llvm::Value *tid_ = nullptr, *ntid_ = nullptr, *ctaid_ = nullptr, *nctaid_ = nullptr;
};

} // namespace

void emitPtxKernel(llvm::Module &module, const Kernel &k, const PtxLaunch &launch) {
  PtxEmitter(module, k, launch).emit();
}

} // namespace kiln::gpu
