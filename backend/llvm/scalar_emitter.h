#pragma once
// The scalar operations of the kernel IR as LLVM IR, shared by the code generators that go
// through LLVM (backend/cpu, backend/gpu/ptx). Internal to them: it includes IRBuilder, which
// nothing else in kiln should parse.

#include "backend/kernel/kernel_ir.h"

#include <llvm/IR/IRBuilder.h>

namespace kiln::codegen {

/// How exp, log, tanh, erf and pow become code.
enum class MathLowering {
  Libm,   ///< calls to the C library (and LLVM's intrinsics that call it): the host's numbers
  Inline, ///< straight-line polynomials, for targets without a C library (NVPTX)
};

/// Emits scalar operations at a builder's insertion point with the reference kernels' semantics.
class ScalarEmitter {
public:
  ScalarEmitter(llvm::Module &m, llvm::IRBuilder<> &b, MathLowering math = MathLowering::Libm)
      : m_(m), b_(b), math_(math) {}

  /// The register type of a scalar type: index is i64, bool is i1.
  llvm::Type *type(kernel::ScalarType t);
  /// The type of a buffer element of dtype d in memory: bf16 is i16, bool is i8.
  llvm::Type *storageType(DType d);
  /// A loaded element of dtype d as a register value (bf16 widens to f32, bool to i1).
  llvm::Value *fromStorage(DType d, llvm::Value *v);
  /// A register value as an element of dtype d (f32 rounds to bf16, i1 widens to i8).
  llvm::Value *toStorage(DType d, llvm::Value *v);
  /// The elements of a Constant buffer as an array constant of its storage type.
  llvm::Constant *constantArray(const kernel::Buffer &buf);
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
  // MathLowering::Inline (inline_math.cpp).
  llvm::Value *inlineExp(kernel::ScalarType t, llvm::Value *x);
  llvm::Value *inlineLog(kernel::ScalarType t, llvm::Value *x);
  llvm::Value *inlineTanh(kernel::ScalarType t, llvm::Value *x);
  llvm::Value *inlineErf(kernel::ScalarType t, llvm::Value *x);
  llvm::Value *inlinePow(llvm::Value *a, llvm::Value *b);
  llvm::Value *expF64(llvm::Value *x);
  llvm::Value *fconst(llvm::Type *t, double v);
  llvm::Value *polynomial(llvm::Value *x, std::initializer_list<double> coefficients);

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
  MathLowering math_;
};

/// When scalar_emitter.cpp was compiled: part of the CPU's codegenBuildStamp().
const char *scalarCodegenStamp();
/// When inline_math.cpp was compiled: part of the CPU's codegenBuildStamp() too.
const char *inlineMathStamp();

} // namespace kiln::codegen
