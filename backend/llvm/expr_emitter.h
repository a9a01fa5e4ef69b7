#pragma once
// The expressions of one kernel as LLVM IR: variables read from their allocas, elements loaded
// from buffers at flat row-major offsets, scalar operations through ScalarEmitter. Shared by
// the code generators that go through LLVM; internal to them (it includes IRBuilder).

#include "backend/llvm/scalar_emitter.h"

#include <vector>

namespace kiln::codegen {

/// Emits the expressions and stores of one kernel at a builder's insertion point.
class ExprEmitter {
public:
  ExprEmitter(llvm::IRBuilder<> &b, ScalarEmitter &scalar, const kernel::Kernel &k)
      : b_(b), scalar_(scalar), k_(k) {}

  /// The pointer to each buffer's first element, by buffer number (the code generator fills it).
  std::vector<llvm::Value *> buffers;
  /// The alloca of each variable, by variable number (the code generator fills it).
  std::vector<llvm::AllocaInst *> slots;

  /// The value of an expression; `reassoc` lets its float adds and multiplies reassociate.
  llvm::Value *expr(const kernel::Expr &e, bool reassoc = false);
  /// The address of a buffer element: in-bounds, `nsw` index arithmetic.
  llvm::Value *address(int buffer, const std::vector<kernel::Expr> &indices);
  /// Stores a value into a buffer element in the buffer's storage type.
  void store(const kernel::Store &s);

private:
  llvm::Value *node(kernel::ScalarType t, const kernel::Const &c);
  llvm::Value *node(kernel::ScalarType t, const kernel::VarRef &v);
  llvm::Value *node(kernel::ScalarType t, const kernel::Load &l);
  llvm::Value *node(kernel::ScalarType t, const kernel::Unary &u);
  llvm::Value *node(kernel::ScalarType t, const kernel::Binary &bin);
  llvm::Value *node(kernel::ScalarType t, const kernel::Select &s);
  llvm::Value *node(kernel::ScalarType t, const kernel::Cast &c);
  llvm::Value *node(kernel::ScalarType t, const kernel::Philox &p);

  llvm::IRBuilder<> &b_;
  ScalarEmitter &scalar_;
  const kernel::Kernel &k_;
  bool reassoc_ = false;
};

} // namespace kiln::codegen
