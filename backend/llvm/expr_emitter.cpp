// The expressions of one kernel as LLVM IR.

#include "backend/llvm/expr_emitter.h"

#include <llvm/IR/Constants.h>

namespace kiln::codegen {

using namespace kernel;

llvm::Value *ExprEmitter::expr(const Expr &e, bool reassoc) {
  bool outer = reassoc_;
  reassoc_ = reassoc || outer;
  llvm::Value *v = std::visit([&](const auto &n) { return node(e->type, n); }, e->node);
  reassoc_ = outer;
  return v;
}

llvm::Value *ExprEmitter::address(int buffer, const std::vector<Expr> &indices) {
  const Buffer &buf = k_.buffers[buffer];
  llvm::Value *flat = b_.getInt64(0);
  for (size_t d = 0; d < indices.size(); ++d) {
    llvm::Value *term = expr(indices[d]);
    if (buf.strides[d] != 1)
      term = b_.CreateMul(term, b_.getInt64(buf.strides[d]), "", false, true);
    flat = d == 0 ? term : b_.CreateAdd(flat, term, "", false, true);
  }
  return b_.CreateInBoundsGEP(scalar_.storageType(buf.dtype), buffers[buffer], flat);
}

void ExprEmitter::store(const Store &s) {
  llvm::Value *stored = scalar_.toStorage(k_.buffers[s.buffer].dtype, expr(s.value));
  b_.CreateStore(stored, address(s.buffer, s.indices));
}

llvm::Value *ExprEmitter::node(ScalarType t, const Const &c) {
  if (isFloat(t))
    return llvm::ConstantFP::get(scalar_.type(t), c.value);
  if (t == ScalarType::boolean)
    return b_.getInt1(c.value != 0);
  return llvm::ConstantInt::get(scalar_.type(t), static_cast<uint64_t>(c.int_value), true);
}

llvm::Value *ExprEmitter::node(ScalarType t, const VarRef &v) {
  return b_.CreateLoad(scalar_.type(t), slots[v.var], k_.vars[v.var].name);
}

llvm::Value *ExprEmitter::node(ScalarType, const Load &l) {
  const Buffer &buf = k_.buffers[l.buffer];
  llvm::Value *raw = b_.CreateLoad(scalar_.storageType(buf.dtype), address(l.buffer, l.indices));
  return scalar_.fromStorage(buf.dtype, raw);
}

llvm::Value *ExprEmitter::node(ScalarType t, const Unary &u) {
  return scalar_.unary(u.op, t, expr(u.x));
}

llvm::Value *ExprEmitter::node(ScalarType, const Binary &bin) {
  llvm::Value *a = expr(bin.a), *b = expr(bin.b);
  return scalar_.binary(bin.op, bin.a->type, a, b, reassoc_);
}

llvm::Value *ExprEmitter::node(ScalarType, const Select &s) {
  llvm::Value *c = expr(s.cond), *a = expr(s.a), *b = expr(s.b);
  return b_.CreateSelect(c, a, b);
}

llvm::Value *ExprEmitter::node(ScalarType to, const Cast &c) {
  return scalar_.cast(expr(c.x), c.x->type, to);
}

llvm::Value *ExprEmitter::node(ScalarType t, const Philox &p) {
  return scalar_.philox(expr(p.key_lo), expr(p.key_hi), expr(p.counter), t);
}

} // namespace kiln::codegen
