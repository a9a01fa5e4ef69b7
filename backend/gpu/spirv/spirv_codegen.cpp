// Kernel IR to SPIR-V assembly. Every kernel variable lives in a Function variable (the
// optimiser promotes them to registers); loops are structured (OpLoopMerge, a condition block,
// a continue block that steps the index), ifs and checks are OpSelectionMerge constructs.
// Parameters are StorageBuffer blocks of runtime arrays, local buffers Workgroup arrays and
// constant tables Private arrays with an OpConstantComposite initializer; addresses are the
// row-major flat index in 64-bit arithmetic, as on the CPU.
//
// In a group kernel every invocation of a workgroup runs the group loop's body in step: the
// statements outside worker loops run on all of them alike (each keeps its own copy of the
// accumulators and lets), worker loops stride over LocalInvocationId by the workgroup size, and
// group_reduce combines the workers' copies by a tree in Workgroup scratch, so every worker
// ends with the combined value. Workers past a worker loop's extent keep the accumulator's
// initial value, which the lowerings make the operation's identity (0 for add, -inf for max).

#include "backend/gpu/spirv/spirv_codegen.h"

#include "backend/gpu/spirv/spirv_module.h"
#include "backend/gpu/spirv/spirv_scalar.h"
#include "backend/kernel/flatten_parallel.h"
#include "ir/diagnostics.h"
#include "ir/literal.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <set>

namespace kiln::spirv {
namespace {

using namespace kernel;

/// Where a kernel's top-level loop runs.
enum class Mode {
  Parallel, ///< one parallel loop over the global invocations
  Group,    ///< one group loop over the workgroups, its worker loops over their invocations
  Single,   ///< anything else, on one invocation
};

/// Scope and memory-semantics operands (SPIR-V's enumerants).
constexpr uint32_t kScopeDevice = 1, kScopeWorkgroup = 2;
/// AcquireRelease | UniformMemory | WorkgroupMemory: workers see each other's stores to both
/// storage buffers and Workgroup memory after a barrier.
constexpr uint32_t kBarrierSemantics = 0x8 | 0x40 | 0x100;

std::string bare(const Id &id) { return id.substr(1); }

/// The longest worker loop in a block.
int64_t maxWorkerExtent(const Block &b) {
  int64_t most = 0;
  for (const Stmt &s : b) {
    if (const Loop *l = std::get_if<Loop>(&s.node)) {
      if (l->kind == LoopKind::Worker)
        most = std::max(most, l->extent);
      most = std::max(most, maxWorkerExtent(l->body));
    } else if (const If *i = std::get_if<If>(&s.node)) {
      most = std::max(most, maxWorkerExtent(i->body));
    }
  }
  return most;
}

int64_t nextPowerOfTwo(int64_t n) {
  return n <= 1 ? 1 : int64_t{1} << (64 - std::countl_zero(uint64_t(n - 1)));
}

class Emitter {
public:
  Emitter(const Kernel &k, const SpirvOptions &o) : k_(k), o_(o) {}

  SpirvKernel emit() {
    SpirvKernel out;
    out.name = k_.name;
    chooseDispatch(out);
    m_.capability("Shader");
    m_.type("void", "OpTypeVoid");
    m_.type("fn_void", "OpTypeFunction %void");
    declareBuffers();
    for (size_t i = 0; i < k_.vars.size(); ++i) {
      Id v = m_.id();
      m_.local(
          fmt::format("{} = OpVariable {} Function", v, ptr("Function", s_.type(k_.vars[i].type))));
      m_.name(v, k_.vars[i].name);
      vars_.push_back(v);
    }
    block(k_.body, true);
    m_.executionMode(fmt::format("LocalSize {} 1 1", size_));
    // Keep NaN, inf and signed zeros as IEEE has them: max, min and the casts test for NaN.
    m_.capability("SignedZeroInfNanPreserve");
    m_.executionMode("SignedZeroInfNanPreserve 32");
    if (m_.hasCapability("Float64"))
      m_.executionMode("SignedZeroInfNanPreserve 64");
    out.shared_bytes = shared_bytes_;
    out.loop_iterations = iterations(k_.body, true, out.workgroups);
    out.assembly = fmt::format("; kernel @{}: {} workgroups of {}, {} loop iterations\n", k_.name,
                               out.workgroups, out.workgroup_size, out.loop_iterations) +
                   m_.text();
    return out;
  }

private:
  // ---- dispatch ------------------------------------------------------------------------------

  void chooseDispatch(SpirvKernel &out) {
    const Loop *top = k_.parallelLoop();
    int64_t cap = std::max<int64_t>(1, o_.max_workgroups);
    int64_t size = nextPowerOfTwo(std::max(1, o_.workgroup_size));
    if (top && top->kind == LoopKind::Parallel) {
      mode_ = Mode::Parallel;
      size_ = size;
      out.workgroups = std::clamp<int64_t>((top->extent + size - 1) / size, 1, cap);
    } else if (top) {
      mode_ = Mode::Group;
      size_ = std::min(size, nextPowerOfTwo(maxWorkerExtent(top->body)));
      out.workgroups = std::clamp<int64_t>(top->extent, 1, cap);
    } else {
      mode_ = Mode::Single;
      size_ = 1;
      out.workgroups = 1;
    }
    out.workgroup_size = static_cast<int>(size_);
  }

  /// The loop iterations one invocation runs in a block, with one more for each loop's exit:
  /// the top loop strides over the invocations or workgroups, worker loops over a workgroup's
  /// invocations. Saturates rather than overflows.
  int64_t iterations(const Block &body, bool top, int64_t workgroups) const {
    constexpr int64_t most = int64_t{1} << 62;
    int64_t n = 0;
    for (const Stmt &s : body) {
      int64_t here = 0;
      if (const auto *l = std::get_if<Loop>(&s.node)) {
        int64_t stride = 1;
        if (top && body.size() == 1 && mode_ == Mode::Parallel)
          stride = workgroups * size_;
        else if (top && body.size() == 1 && mode_ == Mode::Group)
          stride = workgroups;
        else if (l->kind == LoopKind::Worker && mode_ == Mode::Group)
          stride = size_;
        int64_t trips = (l->extent + stride - 1) / stride;
        int64_t each = 1 + iterations(l->body, false, workgroups);
        here = trips > 0 && each > most / trips ? most : trips * each + 1;
      } else if (const auto *f = std::get_if<If>(&s.node)) {
        here = iterations(f->body, false, workgroups);
      }
      n = here > most - n ? most : n + here;
    }
    return n;
  }

  // ---- types and globals ---------------------------------------------------------------------

  Id ptr(const std::string &storage, const Id &pointee) {
    return m_.type(fmt::format("ptr_{}_{}", storage, bare(pointee)),
                   fmt::format("OpTypePointer {} {}", storage, pointee));
  }

  Id array(const Id &elem, int64_t n) {
    return m_.type(fmt::format("arr_{}_{}", bare(elem), n),
                   fmt::format("OpTypeArray {} {}", elem, s_.u32c(static_cast<uint32_t>(n))));
  }

  /// The element of a parameter: kiln's host layout (bf16 as 16 bits, bool as a byte).
  Id storageElem(DType d) {
    switch (d) {
    case DType::bf16:
      m_.capability("StorageBuffer16BitAccess");
      return m_.type("u16", "OpTypeInt 16 0");
    case DType::boolean:
      m_.capability("StorageBuffer8BitAccess");
      return m_.type("u8", "OpTypeInt 8 0");
    default:
      return s_.type(computeType(d));
    }
  }

  /// The element of a local buffer or constant table: bf16 as its f32 value, bool as a u32.
  Id registerElem(DType d) {
    if (d == DType::boolean)
      return s_.u32();
    return s_.type(computeType(d));
  }

  static int64_t registerBytes(DType d) { return d == DType::f64 || d == DType::i64 ? 8 : 4; }

  /// A StorageBuffer block of a runtime array of `elem`, at binding `binding`.
  Id storageBuffer(const Id &elem, int64_t stride, int binding, const std::string &name) {
    std::string rta_name = "rta_" + bare(elem), blk_name = "blk_" + bare(elem);
    Id rta = m_.type(rta_name, "OpTypeRuntimeArray " + elem);
    Id blk = m_.type(blk_name, "OpTypeStruct " + rta);
    if (decorated_.insert(blk_name).second) {
      m_.decorate(fmt::format("OpDecorate {} ArrayStride {}", rta, stride));
      m_.decorate(fmt::format("OpDecorate {} Block", blk));
      m_.decorate(fmt::format("OpMemberDecorate {} 0 Offset 0", blk));
    }
    Id v = m_.global(ptr("StorageBuffer", blk), "StorageBuffer");
    m_.decorate(fmt::format("OpDecorate {} DescriptorSet 0", v));
    m_.decorate(fmt::format("OpDecorate {} Binding {}", v, binding));
    m_.name(v, name);
    return v;
  }

  void declareBuffers() {
    buffers_.assign(k_.buffers.size(), "");
    std::vector<int> params = k_.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      const Buffer &buf = k_.buffers[params[i]];
      buffers_[params[i]] = storageBuffer(storageElem(buf.dtype), dtypeSize(buf.dtype),
                                          static_cast<int>(i), buf.name);
    }
    if (!k_.traps.empty()) {
      m_.capability("Int64Atomics");
      traps_ = storageBuffer(s_.type(ScalarType::i64), 8, static_cast<int>(params.size()), "traps");
    }
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const Buffer &buf = k_.buffers[i];
      int64_t n = std::max<int64_t>(1, numElements(buf.shape));
      if (buf.role == Role::Local) {
        buffers_[i] = m_.global(ptr("Workgroup", array(registerElem(buf.dtype), n)), "Workgroup");
        shared_bytes_ += n * registerBytes(buf.dtype);
        m_.name(buffers_[i], buf.name);
      } else if (buf.role == Role::Constant) {
        Id elem = registerElem(buf.dtype);
        std::string elems;
        for (double v : buf.values) {
          double r = roundTo(v, buf.dtype);
          elems += " ";
          if (buf.dtype == DType::boolean)
            elems += s_.u32c(r != 0);
          else
            elems += s_.constant(computeType(buf.dtype), r, static_cast<int64_t>(r));
        }
        for (int64_t j = static_cast<int64_t>(buf.values.size()); j < n; ++j)
          elems += " " + (buf.dtype == DType::boolean ? s_.u32c(0)
                                                      : s_.constant(computeType(buf.dtype), 0, 0));
        Id arr = array(elem, n);
        Id init = m_.constant("OpConstantComposite", arr, elems.substr(1));
        buffers_[i] = m_.global(ptr("Private", arr), "Private", init);
        m_.name(buffers_[i], buf.name);
      }
    }
  }

  /// x, y or z of a uvec3 builtin, as an index.
  Id builtin(const std::string &which) {
    auto it = builtins_.find(which);
    if (it == builtins_.end()) {
      Id v3 = m_.type("v3u32", "OpTypeVector " + s_.u32() + " 3");
      Id v = m_.global(ptr("Input", v3), "Input");
      m_.decorate(fmt::format("OpDecorate {} BuiltIn {}", v, which));
      m_.name(v, which);
      it = builtins_.emplace(which, v).first;
    }
    Id vec = s_.op("OpLoad", m_.type("v3u32", ""), {it->second});
    Id x = s_.op("OpCompositeExtract", s_.u32(), {vec, "0"});
    return s_.op("OpBitcast", s_.type(ScalarType::index), {s_.op("OpUConvert", s_.u64(), {x})});
  }

  // ---- statements ----------------------------------------------------------------------------

  Id label() { return m_.id(); }
  void place(const Id &l) { m_.line(l + " = OpLabel"); }
  void branch(const Id &l) { m_.line("OpBranch " + l); }

  void block(const Block &body, bool top) {
    for (const Stmt &s : body)
      std::visit([&](const auto &n) { stmt(n, top && body.size() == 1); }, s.node);
  }

  bool distributed() const { return in_group_ && size_ > 1; }

  void stmt(const Loop &l, bool top) {
    Id ix = s_.type(ScalarType::index), b1 = s_.type(ScalarType::boolean);
    Id lo = s_.iconst(ScalarType::index, 0), step = s_.iconst(ScalarType::index, 1);
    bool group = top && mode_ == Mode::Group;
    if (top && mode_ == Mode::Parallel) {
      lo = builtin("GlobalInvocationId");
      step = s_.op("OpIMul", ix, {builtin("NumWorkgroups"), s_.iconst(ScalarType::index, size_)});
    } else if (group) {
      lo = builtin("WorkgroupId");
      step = builtin("NumWorkgroups");
    } else if (l.kind == LoopKind::Worker && distributed()) {
      lo = builtin("LocalInvocationId");
      step = s_.iconst(ScalarType::index, size_);
    }
    Id var = vars_[l.var];
    m_.line(fmt::format("OpStore {} {}", var, lo));
    Id header = label(), cond = label(), body = label(), cont = label(), merge = label();
    branch(header);
    place(header);
    m_.line(fmt::format("OpLoopMerge {} {} None", merge, cont));
    branch(cond);
    place(cond);
    Id i = s_.op("OpLoad", ix, {var});
    Id more = s_.op("OpSLessThan", b1, {i, s_.iconst(ScalarType::index, l.extent)});
    m_.line(fmt::format("OpBranchConditional {} {} {}", more, body, merge));
    place(body);
    in_group_ = in_group_ || group;
    block(l.body, false);
    in_group_ = in_group_ && !group;
    branch(cont);
    place(cont);
    Id cur = s_.op("OpLoad", ix, {var});
    m_.line(fmt::format("OpStore {} {}", var, s_.op("OpIAdd", ix, {cur, step})));
    branch(header);
    place(merge);
  }

  void stmt(const Store &st, bool) {
    const Buffer &buf = k_.buffers[st.buffer];
    Id v = expr(st.value);
    Id stored = v;
    bool param = buf.role == Role::Read || buf.role == Role::Write;
    if (buf.dtype == DType::bf16) {
      Id bits = s_.bf16Bits(v);
      stored = param ? s_.op("OpUConvert", storageElem(buf.dtype),
                             {s_.op("OpShiftRightLogical", s_.u32(), {bits, s_.u32c(16)})})
                     : s_.op("OpBitcast", s_.type(ScalarType::f32), {bits});
    } else if (buf.dtype == DType::boolean) {
      Id word = s_.select(s_.u32(), v, s_.u32c(1), s_.u32c(0));
      stored = param ? s_.op("OpUConvert", storageElem(buf.dtype), {word}) : word;
    }
    m_.line(fmt::format("OpStore {} {}", address(st.buffer, st.indices), stored));
  }

  void stmt(const Let &s, bool) {
    m_.line(fmt::format("OpStore {} {}", vars_[s.var], expr(s.value)));
  }
  void stmt(const Accumulator &s, bool) {
    m_.line(fmt::format("OpStore {} {}", vars_[s.var], expr(s.init)));
  }
  void stmt(const Assign &s, bool) {
    m_.line(fmt::format("OpStore {} {}", vars_[s.var], expr(s.value)));
  }

  void barrier() {
    m_.line(fmt::format("OpControlBarrier {} {} {}", s_.u32c(kScopeWorkgroup),
                        s_.u32c(kScopeWorkgroup), s_.u32c(kBarrierSemantics)));
  }

  // Outside a distributed group (one invocation runs all the workers) there is nothing to wait
  // for, and the one copy of each accumulator is already combined.
  void stmt(const Barrier &, bool) {
    if (distributed())
      barrier();
  }

  void stmt(const GroupReduce &g, bool) {
    if (!distributed())
      return;
    ScalarType t = k_.vars[g.var].type;
    Id ty = s_.type(t), ix = s_.type(ScalarType::index), b1 = s_.type(ScalarType::boolean);
    auto found = scratch_.find(t);
    if (found == scratch_.end()) {
      Id v = m_.global(ptr("Workgroup", array(ty, size_)), "Workgroup");
      m_.name(v, fmt::format("scratch_{}", scalarTypeName(t)));
      shared_bytes_ += size_ * (t == ScalarType::f32 || t == ScalarType::i32 ? 4 : 8);
      found = scratch_.emplace(t, v).first;
    }
    Id scratch = found->second, pty = ptr("Workgroup", ty);
    auto at = [&](const Id &i) { return s_.op("OpAccessChain", pty, {scratch, i}); };
    Id lid = builtin("LocalInvocationId");
    barrier(); // the last reduction's readers are done with the scratch
    m_.line(fmt::format("OpStore {} {}", at(lid), s_.op("OpLoad", ty, {vars_[g.var]})));
    barrier();
    for (int64_t half = size_ / 2; half >= 1; half /= 2) {
      Id then = label(), end = label();
      Id active = s_.op("OpSLessThan", b1, {lid, s_.iconst(ScalarType::index, half)});
      m_.line(fmt::format("OpSelectionMerge {} None", end));
      m_.line(fmt::format("OpBranchConditional {} {} {}", active, then, end));
      place(then);
      Id mine = s_.op("OpLoad", ty, {at(lid)});
      Id other =
          s_.op("OpLoad", ty, {at(s_.op("OpIAdd", ix, {lid, s_.iconst(ScalarType::index, half)}))});
      m_.line(fmt::format("OpStore {} {}", at(lid), s_.binary(g.op, t, mine, other)));
      branch(end);
      place(end);
      barrier();
    }
    Id total = s_.op("OpLoad", ty, {at(s_.iconst(ScalarType::index, 0))});
    m_.line(fmt::format("OpStore {} {}", vars_[g.var], total));
  }

  void stmt(const Check &c, bool) {
    Id ok = expr(c.ok);
    Id fail = label(), end = label();
    m_.line(fmt::format("OpSelectionMerge {} None", end));
    m_.line(fmt::format("OpBranchConditional {} {} {}", ok, end, fail));
    place(fail);
    Id i64 = s_.type(ScalarType::i64);
    Id slot = s_.op("OpAccessChain", ptr("StorageBuffer", i64),
                    {traps_, s_.iconst(ScalarType::i32, 0), s_.iconst(ScalarType::index, c.trap)});
    s_.op("OpAtomicSMin", i64, {slot, s_.u32c(kScopeDevice), s_.u32c(0), expr(c.position)});
    branch(end);
    place(end);
  }

  void stmt(const If &s, bool) {
    Id cond = expr(s.cond);
    Id then = label(), end = label();
    m_.line(fmt::format("OpSelectionMerge {} None", end));
    m_.line(fmt::format("OpBranchConditional {} {} {}", cond, then, end));
    place(then);
    block(s.body, false);
    branch(end);
    place(end);
  }

  // ---- memory --------------------------------------------------------------------------------

  /// A pointer to a buffer element: the row-major flat index into its array.
  Id address(int buffer, const std::vector<Expr> &indices) {
    const Buffer &buf = k_.buffers[buffer];
    Id ix = s_.type(ScalarType::index);
    Id flat = s_.iconst(ScalarType::index, 0);
    for (size_t d = 0; d < indices.size(); ++d) {
      Id term = expr(indices[d]);
      if (buf.strides[d] != 1)
        term = s_.op("OpIMul", ix, {term, s_.iconst(ScalarType::index, buf.strides[d])});
      flat = d == 0 ? term : s_.op("OpIAdd", ix, {flat, term});
    }
    // Vulkan's buffer ranges are 32-bit byte counts, so every element index fits in 32 bits.
    flat = s_.op("OpSConvert", s_.type(ScalarType::i32), {flat});
    switch (buf.role) {
    case Role::Local:
      return s_.op("OpAccessChain", ptr("Workgroup", registerElem(buf.dtype)),
                   {buffers_[buffer], flat});
    case Role::Constant:
      return s_.op("OpAccessChain", ptr("Private", registerElem(buf.dtype)),
                   {buffers_[buffer], flat});
    default:
      return s_.op("OpAccessChain", ptr("StorageBuffer", storageElem(buf.dtype)),
                   {buffers_[buffer], s_.iconst(ScalarType::i32, 0), flat});
    }
  }

  // ---- expressions ---------------------------------------------------------------------------

  Id expr(const Expr &e) {
    return std::visit([&](const auto &n) { return node(e->type, n); }, e->node);
  }

  Id node(ScalarType t, const Const &c) { return s_.constant(t, c.value, c.int_value); }

  Id node(ScalarType t, const VarRef &v) { return s_.op("OpLoad", s_.type(t), {vars_[v.var]}); }

  Id node(ScalarType, const Load &l) {
    const Buffer &buf = k_.buffers[l.buffer];
    bool param = buf.role == Role::Read || buf.role == Role::Write;
    Id elem = param ? storageElem(buf.dtype) : registerElem(buf.dtype);
    Id raw = s_.op("OpLoad", elem, {address(l.buffer, l.indices)});
    if (buf.dtype == DType::bf16 && param) {
      Id word = s_.op("OpUConvert", s_.u32(), {raw});
      return s_.op("OpBitcast", s_.type(ScalarType::f32),
                   {s_.op("OpShiftLeftLogical", s_.u32(), {word, s_.u32c(16)})});
    }
    if (buf.dtype == DType::boolean) {
      Id word = param ? s_.op("OpUConvert", s_.u32(), {raw}) : raw;
      return s_.op("OpINotEqual", s_.type(ScalarType::boolean), {word, s_.u32c(0)});
    }
    return raw;
  }

  Id node(ScalarType t, const Unary &u) { return s_.unary(u.op, t, expr(u.x)); }

  Id node(ScalarType, const Binary &bin) {
    Id a = expr(bin.a), b = expr(bin.b);
    return s_.binary(bin.op, bin.a->type, a, b);
  }

  Id node(ScalarType t, const Select &s) {
    Id c = expr(s.cond), a = expr(s.a), b = expr(s.b);
    return s_.select(s_.type(t), c, a, b);
  }

  Id node(ScalarType to, const Cast &c) { return s_.cast(expr(c.x), c.x->type, to); }

  Id node(ScalarType t, const Philox &p) {
    return s_.philox(expr(p.key_lo), expr(p.key_hi), expr(p.counter), t);
  }

  const Kernel &k_;
  const SpirvOptions &o_;
  Module m_;
  ScalarEmitter s_{m_};
  Mode mode_ = Mode::Single;
  int64_t size_ = 1;
  int64_t shared_bytes_ = 0;
  bool in_group_ = false;
  std::vector<Id> buffers_, vars_;
  Id traps_;
  std::map<std::string, Id> builtins_;
  std::map<ScalarType, Id> scratch_;
  std::set<std::string> decorated_;
};

} // namespace

SpirvKernel emitSpirv(const Kernel &k, const SpirvOptions &o) {
  // An invocation per iteration of the whole nest of independent loops
  // (kernel/flatten_parallel.h).
  Kernel flat = flattenParallelLoops(k);
  return Emitter(flat, o).emit();
}

} // namespace kiln::spirv
