#pragma once
// The kernel IR: loop nests over buffers, the one input of every code generator (LLVM for the
// CPU, PTX and SPIR-V for GPUs). A kernel names its buffers (parameters, constant tables and
// group-local scratch), its scalar variables (loop indices, lets, accumulators) and a body of
// statements. Expressions are immutable trees of scalar operations.
//
// Two parallel levels serve GPUs: a `group` loop runs its iterations on independent groups of
// workers, a `worker` loop spreads its iterations over the workers of one group, which share
// `local` buffers, meet at `barrier`s and combine accumulators with `group_reduce`. A worker
// loop sits in a group loop, directly or under serial loops that all its workers run in step. On
// the CPU a group is one thread's loop: worker loops run serially and barriers and group reductions
// have nothing to do.
//
// User data that a kernel depends on (an index, a label) is checked where it is read: a failed
// `check` records the smallest failing position in the kernel's error slot, one i64 per trap,
// with an atomic minimum (PTX atom.min, SPIR-V OpAtomicSMin), and the kernel carries on with a
// clamped value; the caller reads the slot afterwards and raises the trap's Error.
//
// Scalar semantics follow the graph's: integer arithmetic saturates and divides as the
// reference kernels do, `index` arithmetic is plain 64-bit (addresses and loop bounds), bf16 is
// a storage type only (a load yields f32, a store rounds to nearest even).

#include "ir/types.h"

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace kiln::kernel {

/// Type of a scalar expression: a graph dtype other than bf16, or an index.
enum class ScalarType { f32, f64, i32, i64, boolean, index };

/// The spelling of a scalar type ("f32", "bool", "index").
std::string_view scalarTypeName(ScalarType t);
/// The type a load from a buffer of this dtype yields (bf16 computes in f32).
ScalarType computeType(DType d);
/// The dtype of a buffer that holds values of a scalar type exactly (an index as i64).
DType storageType(ScalarType t);
/// True for f32 and f64.
bool isFloat(ScalarType t);
/// True for i32, i64 and index.
bool isInteger(ScalarType t);

/// What a kernel does with a buffer.
enum class Role {
  Read,     ///< a parameter the kernel only reads
  Write,    ///< a parameter the kernel writes (and may read back while accumulating)
  Constant, ///< a table of values baked into the kernel
  Local,    ///< scratch shared by the workers of one group
};

/// A buffer: its name, element type, the kernel's view of its shape and its role.
struct Buffer {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::vector<int64_t> strides; ///< row-major, in elements
  Role role = Role::Read;
  std::vector<double> values; ///< the elements of a Constant buffer
};

/// A scalar variable: a loop index, an immutable let or a mutable accumulator.
struct Var {
  std::string name;
  ScalarType type = ScalarType::index;
  bool is_mutable = false;
};

struct ExprNode;
/// An expression; immutable, so subtrees may be shared.
using Expr = std::shared_ptr<const ExprNode>;

/// Scalar functions of one operand.
/// round_bf16 rounds an f32 to the nearest bf16 value (ties to even), as storing it in a bf16
/// buffer would, and stays f32.
enum class UnaryOp { Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Erf, Relu, Not, RoundBF16 };
/// Scalar functions of two operands; comparisons yield bool.
enum class BinaryOp { Add, Sub, Mul, Div, Rem, Pow, Max, Min, Eq, Ne, Lt, Le, Gt, Ge, And, Or };

/// The spelling of a unary op ("exp").
std::string_view unaryOpName(UnaryOp op);
/// The spelling of a binary op ("add").
std::string_view binaryOpName(BinaryOp op);
/// True for eq, ne, lt, le, gt and ge.
bool isComparison(BinaryOp op);

/// A constant of the expression's type (integers are held exactly in int_value).
struct Const {
  double value = 0;
  int64_t int_value = 0;
};
/// The current value of a variable.
struct VarRef {
  int var = 0;
};
/// The element of a buffer at a multi-index, one index expression per dimension.
struct Load {
  int buffer = 0;
  std::vector<Expr> indices;
};
/// A unary function of an operand.
struct Unary {
  UnaryOp op;
  Expr x;
};
/// A binary function of two operands of one type.
struct Binary {
  BinaryOp op;
  Expr a, b;
};
/// cond ? a : b, both arms of one type.
struct Select {
  Expr cond, a, b;
};
/// Converts an operand to the expression's type with the graph's cast rules.
struct Cast {
  Expr x;
};
/// random_uniform's number for a key (two i32 words, low first) and a counter:
/// philoxUniform({key_lo, key_hi}, counter).
struct Philox {
  Expr key_lo, key_hi, counter;
};

/// One expression node: its type and what it computes.
struct ExprNode {
  ScalarType type;
  std::variant<Const, VarRef, Load, Unary, Binary, Select, Cast, Philox> node;
};

struct Stmt;
/// A sequence of statements.
using Block = std::vector<Stmt>;

/// How the iterations of a loop relate.
enum class LoopKind {
  Parallel,  ///< independent iterations, split across threads
  Serial,    ///< iterations in order
  Reduction, ///< iterations only update accumulators; code generators may reassociate
  Group,     ///< independent iterations, one per group of workers
  Worker,    ///< iterations spread over the workers of the enclosing group
};

/// The spelling of a loop kind ("parallel").
std::string_view loopKindName(LoopKind k);

/// A counted loop: var runs from 0 to extent - 1.
struct Loop {
  int var = 0;
  LoopKind kind = LoopKind::Serial;
  int64_t extent = 0;
  Block body;
};
/// Writes a value to a buffer element.
struct Store {
  int buffer = 0;
  std::vector<Expr> indices;
  Expr value;
};
/// Binds an immutable variable to a value.
struct Let {
  int var = 0;
  Expr value;
};
/// Declares a mutable variable with its initial value.
struct Accumulator {
  int var = 0;
  Expr init;
};
/// Gives a mutable variable a new value.
struct Assign {
  int var = 0;
  Expr value;
};
/// Waits until every worker of the group has reached it (local buffers are then consistent).
struct Barrier {};
/// Combines each worker's copy of an accumulator with op; afterwards every worker sees the
/// combined value. Placed in a group loop after the worker loops that updated it.
struct GroupReduce {
  int var = 0;
  BinaryOp op = BinaryOp::Add;
};

/// Checks user data: where ok is false, lowers trap `trap`'s error slot to `position` (an
/// atomic minimum, so the first failure wins whatever the order of groups). Execution goes on,
/// so the code after it must stay in bounds by itself (clamp the checked value).
struct Check {
  int trap = 0;
  Expr ok;
  Expr position;
};

/// Runs `body` where `cond` holds. In a group loop outside its worker loops every worker takes
/// the branch alike, so there the body may hold worker loops, barriers and group reductions.
struct If {
  Expr cond;
  Block body;
};

/// One statement.
struct Stmt {
  std::variant<Loop, Store, Let, Accumulator, Assign, Barrier, GroupReduce, Check, If> node;
};

/// What a failed check means: the error text with `{}` where the offending value goes, and the
/// integer Read buffer whose element at the failing (flat) position is that value.
struct Trap {
  std::string message;
  int buffer = 0;
};

/// The error slot of a trap that did not fire.
inline constexpr int64_t kTrapClear = INT64_MAX;

/// A kernel: buffers, variables and a body. Parameters (Read and Write buffers) are passed in
/// the order they are declared; a kernel with traps takes its error slot after them. When the body
/// is a single parallel or group loop, the CPU splits its iterations across threads.
struct Kernel {
  std::string name;
  std::vector<Buffer> buffers;
  std::vector<Var> vars;
  Block body;
  std::vector<Trap> traps;
  /// No Write buffer shares memory with a Read buffer. Without it a Write buffer may lie over a
  /// Read buffer of its shape and element size: the memory plan writes elementwise nodes and
  /// dynamic_update_slice in place of an operand (memory_plan.h's canWriteInPlace). Lowerings
  /// of other nodes whose operand may have the result's shape set it. Printed as `noalias`.
  bool noalias = false;

  /// Declares a buffer with row-major strides; returns its number.
  int addBuffer(std::string name, DType dtype, Shape shape, Role role);
  /// Declares a Constant buffer holding `values`; returns its number.
  int addConstant(DType dtype, Shape shape, std::vector<double> values);
  /// Declares a trap reporting `message` (with `{}` for the value) about `buffer`; returns its
  /// number.
  int addTrap(std::string message, int buffer);
  /// Declares a variable named prefix + a number unique among that prefix; returns its number.
  int addVar(std::string_view prefix, ScalarType type, bool is_mutable = false);
  /// Indices of the parameters (Read and Write buffers) in declaration order.
  std::vector<int> parameters() const;
  /// The top-level loop whose iterations a CPU thread pool splits, or nullptr.
  const Loop *parallelLoop() const;
  /// Iterations of parallelLoop(), or 1 when there is none.
  int64_t parallelExtent() const;
  /// Rough count of scalar operations per iteration of the parallel loop (for thread counts).
  int64_t workPerIteration() const;
};

// ---- expression constructors: each computes the node's type ----------------------------------

/// A constant of a floating-point or bool type.
Expr constant(double v, ScalarType t);
/// An integer constant of an integer type (index by default).
Expr intConst(int64_t v, ScalarType t = ScalarType::index);
/// The value of variable `var` of kernel `k`.
Expr varRef(const Kernel &k, int var);
/// An element of buffer `buffer` of kernel `k`.
Expr load(const Kernel &k, int buffer, std::vector<Expr> indices);
/// A unary op; the result has the operand's type.
Expr unary(UnaryOp op, Expr x);
/// A binary op; comparisons give bool, the others the operands' type.
Expr binary(BinaryOp op, Expr a, Expr b);
/// cond ? a : b.
Expr select(Expr cond, Expr a, Expr b);
/// A conversion; returns x itself when it already has type t.
Expr cast(Expr x, ScalarType t);
/// random_uniform's number of type t (f32 or f64).
Expr philox(Expr key_lo, Expr key_hi, Expr counter, ScalarType t);

/// Short spellings for index arithmetic and common math.
Expr add(Expr a, Expr b);
Expr sub(Expr a, Expr b);
Expr mul(Expr a, Expr b);
Expr div(Expr a, Expr b);

// ---- statement constructors -------------------------------------------------------------------

/// A loop statement.
Stmt loop(int var, LoopKind kind, int64_t extent, Block body);
/// A store statement.
Stmt store(int buffer, std::vector<Expr> indices, Expr value);
/// A let statement.
Stmt let(int var, Expr value);
/// An accumulator declaration.
Stmt accumulator(int var, Expr init);
/// An assignment to an accumulator.
Stmt assign(int var, Expr value);
/// A check of user data against trap `trap`.
Stmt check(int trap, Expr ok, Expr position);
/// A statement that runs `body` where `cond` holds.
Stmt ifThen(Expr cond, Block body);

/// The Error text of a trap that fired where its buffer holds `value`.
std::string trapMessage(const Trap &trap, int64_t value);

// ---- printer and verifier ---------------------------------------------------------------------

/// The kernel as deterministic text:
/// `kernel @add(%in0: f32[16] read, %out0: f32[16] write) { parallel %i0 = 0 to 16 { ... } }`.
/// Constant tables show their first 16 values unless `all_constants` is set.
std::string print(const Kernel &k, bool all_constants = false);
/// The text that identifies what a kernel computes, for caches and sharing: the printed kernel
/// with every constant and without its name.
std::string identity(const Kernel &k);
/// An expression as text, as the printer writes it.
std::string print(const Kernel &k, const Expr &e);
/// The first problem of a malformed kernel (a variable out of scope, mismatched types, a store
/// to a read-only buffer, ...), or an empty string when the kernel is well formed.
std::string verify(const Kernel &k);
/// Asserts that a kernel is well formed: a malformed kernel is a kiln bug.
void assertValid(const Kernel &k);

} // namespace kiln::kernel
