#pragma once
// The scalar operations of the kernel IR as LLVM IR. Internal to the two llvm_codegen files:
// it includes IRBuilder, which nothing else in kiln should parse.

#include "backend/kernel/kernel_ir.h"

#include <llvm/IR/IRBuilder.h>

namespace kiln::cpu {

/// Emits scalar operations at a builder's insertion point with the reference kernels' semantics.
class ScalarEmitter {
public:
  ScalarEmitter(llvm::Module &m, llvm::IRBuilder<> &b) : m_(m), b_(b) {}

  /// The register type of a scalar type: index is i64, bool is i1.
  llvm::Type *type(kernel::ScalarType t);
  /// A unary op on x of type t.
  llvm::Value *unary(kernel::UnaryOp op, kernel::ScalarType t, llvm::Value *x);
  /// A binary op on operands of type t; `reassoc` lets float adds and multiplies reassociate.
  llvm::Value *binary(kernel::BinaryOp op, kernel::ScalarType t, llvm::Value *a, llvm::Value *b,
                      bool reassoc);
  /// The graph's cast of x from one scalar type to another.
  llvm::Value *cast(llvm::Value *x, kernel::ScalarType from, kernel::ScalarType to);
  /// The bits of an f32 rounded to the nearest bf16 (ties to even; a NaN keeps its top bits),
  /// as an i32 whose low 16 bits are zero.
  llvm::Value *bf16Bits(llvm::Value *f);
  /// random_uniform's number of type t for a key's two i32 words and an index counter.
  llvm::Value *philox(llvm::Value *key_lo, llvm::Value *key_hi, llvm::Value *counter,
                      kernel::ScalarType t);

private:
  llvm::Value *libm(std::string_view name, kernel::ScalarType t, llvm::Value *x);
  llvm::Value *expF32(llvm::Value *x);
  llvm::Value *intMin(kernel::ScalarType t);
  llvm::Value *intMax(kernel::ScalarType t);
  llvm::Value *capI64(kernel::ScalarType t, llvm::Value *v);
  llvm::Value *floatBinary(kernel::BinaryOp op, llvm::Value *a, llvm::Value *b, bool reassoc);
  llvm::Value *boolBinary(kernel::BinaryOp op, llvm::Value *a, llvm::Value *b);
  llvm::Value *compare(kernel::BinaryOp op, llvm::Value *a, llvm::Value *b);
  llvm::Value *indexBinary(kernel::BinaryOp op, llvm::Value *a, llvm::Value *b);
  llvm::Value *intBinary(kernel::BinaryOp op, kernel::ScalarType t, llvm::Value *a, llvm::Value *b);
  llvm::Value *saturateTo32(llvm::Value *wide);

  llvm::Module &m_;
  llvm::IRBuilder<> &b_;
};

/// When llvm_codegen_expr.cpp was compiled: part of codegenBuildStamp().
const char *scalarCodegenStamp();

} // namespace kiln::cpu
