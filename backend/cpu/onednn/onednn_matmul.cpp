// matmul as oneDNN's matmul primitive. Transposes and broadcast batch dimensions are strides
// of the memory descriptors, never copies: an operand stored [..., k, m] and read transposed is
// the logical [..., m, k] with strides (..., 1, m); a batch dimension of 1 broadcasts. Adds of
// the product and other tensors (a bias, a residual, a gradient's other part) and a relu can be
// the primitive's post-ops, so the result is written once instead of the product being written,
// then read again.

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

#include <optional>
#include <unordered_map>

namespace kiln::cpu::onednn {
namespace {

using dims = dnnl::memory::dims;

/// The descriptor of the rank-`rank` logical operand [..., rows, cols] of a tensor stored
/// row-major with `shape`, read transposed (its last two dimensions swapped) or not.
dnnl::memory::desc operandDesc(const TensorType &t, size_t rank, bool transposed) {
  Shape stored(rank - t.shape.size(), 1);
  stored.insert(stored.end(), t.shape.begin(), t.shape.end());
  std::vector<int64_t> strides = stridesOf(stored);
  dims logical(stored.begin(), stored.end()), logical_strides(strides.begin(), strides.end());
  if (transposed) {
    std::swap(logical[rank - 2], logical[rank - 1]);
    std::swap(logical_strides[rank - 2], logical_strides[rank - 1]);
  }
  return dnnl::memory::desc(logical, dataType(t.dtype), logical_strides);
}

/// The type with its leading dimensions folded into the row dimension: [..., m, k] as
/// [(...) m, k], the same bytes.
TensorType rowsFolded(const TensorType &t) {
  return {t.dtype, {t.numElements() / t.shape.back(), t.shape.back()}};
}

class Matmul final : public Primitive {
public:
  /// `addends` holds the post-op index of each binary post-op, in order.
  Matmul(const Node &n, dnnl::matmul::primitive_desc pd, const std::vector<int> &addends)
      : loc_(n.loc), primitive_(pd), a_(pd.src_desc(), engine(), DNNL_MEMORY_NONE),
        b_(pd.weights_desc(), engine(), DNNL_MEMORY_NONE),
        c_(pd.dst_desc(), engine(), DNNL_MEMORY_NONE) {
    for (int index : addends) {
      int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1;
      addends_.emplace_back(arg, dnnl::memory(pd.query_md(dnnl::query::exec_arg_md, arg), engine(),
                                              DNNL_MEMORY_NONE));
    }
  }

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, "matmul", [&] {
      a_.set_data_handle(buffers[0]);
      b_.set_data_handle(buffers[1]);
      c_.set_data_handle(buffers.back());
      std::unordered_map<int, dnnl::memory> args = {
          {DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, c_}};
      for (size_t i = 0; i < addends_.size(); ++i) {
        addends_[i].second.set_data_handle(buffers[2 + i]);
        args.insert(addends_[i]);
      }
      primitive_.execute(stream(), args);
      stream().wait();
    });
  }

private:
  Location loc_;
  dnnl::matmul primitive_;
  dnnl::memory a_, b_, c_;
  std::vector<std::pair<int, dnnl::memory>> addends_;
};

/// The addend of a post-op add as a tensor of the product's rank: leading 1s, then its shape.
/// With the product's rows folded, only an addend of the full shape or one that varies along the
/// last axis alone folds alike; nullopt for the others.
std::optional<TensorType> addendView(const TensorType &addend, const TensorType &product,
                                     const TensorType &folded) {
  Shape aligned(product.rank() - addend.rank(), 1);
  aligned.insert(aligned.end(), addend.shape.begin(), addend.shape.end());
  if (folded.rank() == product.rank())
    return TensorType{addend.dtype, aligned};
  if (aligned == product.shape)
    return TensorType{addend.dtype, folded.shape};
  if (numElements(aligned) == aligned.back())
    return TensorType{addend.dtype, {1, aligned.back()}};
  return std::nullopt;
}

/// The matmul primitive of node n, followed by `post_ops`.
std::unique_ptr<Primitive> matmulPrimitive(const Node &n, std::span<const PostOp> post_ops) {
  TensorType a = n.operands[0]->type, b = n.operands[1]->type, c = n.result()->type;
  const TensorType product = c;
  bool ta = n.getBool("transpose_a"), tb = n.getBool("transpose_b");
  // A batch of rows against one matrix (x W, a layer's weights) is one GEMM of all the rows,
  // not a batch of small ones: oneDNN then blocks over every row at once.
  bool shared_b = numElements(Shape(b.shape.begin(), b.shape.end() - 2)) == 1;
  if (shared_b && !ta && a.rank() == c.rank() && a.rank() > 2) {
    a = rowsFolded(a);
    c = rowsFolded(c);
    b = TensorType{b.dtype, Shape(b.shape.end() - 2, b.shape.end())};
  }
  dnnl::post_ops ops;
  std::vector<int> addends;
  for (const PostOp &op : post_ops) {
    if (op.kind == PostOp::Relu) {
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      continue;
    }
    std::optional<TensorType> view = addendView(op.addend, product, c);
    if (!view)
      return nullptr;
    addends.push_back(ops.len());
    ops.append_binary(dnnl::algorithm::binary_add, plainDesc(view->shape, view->dtype));
  }
  size_t rank = c.shape.size();
  return createOrNull(n, [&] {
    dnnl::matmul::desc desc(operandDesc(a, rank, ta), operandDesc(b, rank, tb),
                            operandDesc(c, rank, false));
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return std::make_unique<Matmul>(n, dnnl::matmul::primitive_desc(desc, attr, engine()), addends);
  });
}

} // namespace

bool matmulCanCompute(const Node &n) {
  const TensorType &out = n.result()->type;
  return (out.dtype == DType::f32 || out.dtype == DType::bf16) && out.rank() <= DNNL_MAX_NDIMS &&
         out.numElements() > 0 && n.operands[0]->type.numElements() > 0;
}

std::unique_ptr<Primitive> createMatmul(const Node &n) { return matmulPrimitive(n, {}); }

std::unique_ptr<Primitive> createMatmulWithPostOps(const Node &matmul,
                                                   std::span<const PostOp> post_ops, int threads) {
  KILN_ASSERT(canCompute(matmul) && matmul.is(op::Matmul), "post-ops need a oneDNN matmul");
  const TensorType &product = matmul.result()->type;
  for (const PostOp &op : post_ops)
    if (op.kind == PostOp::Add &&
        (op.addend.dtype != product.dtype || op.addend.rank() > product.rank()))
      return nullptr;
  ScopedThreads scope(threads);
  return matmulPrimitive(matmul, post_ops);
}

} // namespace kiln::cpu::onednn
