#pragma once
// The scalar operations of the kernel IR as SPIR-V instructions, with the reference kernels'
// semantics as the CPU code generator has them (backend/cpu/llvm_codegen_expr.cpp): integers
// saturate, x / 0 is the saturated sign of x, casts truncate and saturate, max and min let a
// NaN in their first operand win, bf16 rounds to nearest even, Philox matches ir/philox.cpp.

#include "backend/gpu/spirv/spirv_module.h"
#include "backend/kernel/kernel_ir.h"

#include <string>
#include <vector>

namespace kiln::spirv {

/// An id of a SPIR-V value.
using Id = std::string;

/// Emits scalar instructions into a module's function body.
class ScalarEmitter {
public:
  explicit ScalarEmitter(Module &m) : m_(m) {}

  /// The register type of a scalar type: index is a 64-bit integer, bool is OpTypeBool.
  Id type(kernel::ScalarType t);
  /// Unsigned 8-, 16-, 32- and 64-bit integer types.
  Id u8();
  Id u16();
  Id u32();
  Id u64();
  /// A floating-point constant of a float type.
  Id fconst(kernel::ScalarType t, double v);
  /// An integer constant of an integer type (i32, i64 or index).
  Id iconst(kernel::ScalarType t, int64_t v);
  /// A 32-bit unsigned constant.
  Id u32c(uint32_t v);
  /// A 64-bit unsigned constant.
  Id u64c(uint64_t v);
  /// true or false.
  Id boolc(bool v);
  /// A constant of any scalar type from a kernel IR constant.
  Id constant(kernel::ScalarType t, double value, int64_t int_value);

  /// One instruction `opcode type args...`; returns its result id.
  Id op(const std::string &opcode, const Id &type, const std::vector<Id> &args);
  /// A GLSL.std.450 instruction.
  Id ext(const std::string &name, const Id &type, const std::vector<Id> &args);
  /// cond ? a : b.
  Id select(const Id &type, const Id &cond, const Id &a, const Id &b);

  /// A unary op on x of type t.
  Id unary(kernel::UnaryOp op, kernel::ScalarType t, const Id &x);
  /// A binary op on operands of type t.
  Id binary(kernel::BinaryOp op, kernel::ScalarType t, const Id &a, const Id &b);
  /// The graph's cast of x from one scalar type to another.
  Id cast(const Id &x, kernel::ScalarType from, kernel::ScalarType to);
  /// The bits of an f32 rounded to the nearest bf16 (ties to even; a NaN keeps its top bits), as
  /// a 32-bit unsigned integer whose low 16 bits are zero.
  Id bf16Bits(const Id &f);
  /// random_uniform's number of type t for a key's two i32 words and an index counter.
  Id philox(const Id &key_lo, const Id &key_hi, const Id &counter, kernel::ScalarType t);

private:
  Id floatBinary(kernel::BinaryOp op, kernel::ScalarType t, const Id &a, const Id &b);
  Id boolBinary(kernel::BinaryOp op, const Id &a, const Id &b);
  Id compare(kernel::BinaryOp op, const Id &a, const Id &b);
  Id indexBinary(kernel::BinaryOp op, const Id &a, const Id &b);
  Id intBinary(kernel::BinaryOp op, kernel::ScalarType t, const Id &a, const Id &b);
  Id smax(kernel::ScalarType t, const Id &a, const Id &b);
  Id smin(kernel::ScalarType t, const Id &a, const Id &b);
  Id intMin(kernel::ScalarType t);
  Id intMax(kernel::ScalarType t);
  Id capI64(kernel::ScalarType t, const Id &v);
  Id addSat(kernel::ScalarType t, const Id &a, const Id &b);
  Id subSat(kernel::ScalarType t, const Id &a, const Id &b);
  Id saturateTo32(const Id &wide);
  Id toIntSat(const Id &x, kernel::ScalarType from, kernel::ScalarType to);

  // Math without an exact-enough GLSL.std.450 instruction (spirv_math.cpp).
  Id fma(kernel::ScalarType t, const Id &a, const Id &b, const Id &c);
  Id poly(kernel::ScalarType t, const Id &x, const std::vector<double> &coefficients);
  Id expF32(const Id &x);
  Id expF64(const Id &x);
  Id logF32(const Id &x);
  Id logF64(const Id &x);
  Id tanhF32(const Id &x);
  Id tanhF64(const Id &x);
  Id erf(kernel::ScalarType t, const Id &x);
  Id erfF64(const Id &x);
  Id pow(kernel::ScalarType t, const Id &a, const Id &b);

  Module &m_;
};

} // namespace kiln::spirv
