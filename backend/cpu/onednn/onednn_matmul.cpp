// matmul as oneDNN's matmul primitive. Transposes and broadcast batch dimensions are strides
// of the memory descriptors, never copies: an operand stored [..., k, m] and read transposed is
// the logical [..., m, k] with strides (..., 1, m); a batch dimension of 1 broadcasts.

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

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

class Matmul final : public Primitive {
public:
  Matmul(const Node &n, dnnl::matmul::primitive_desc pd)
      : loc_(n.loc), primitive_(pd), a_(pd.src_desc(), engine(), DNNL_MEMORY_NONE),
        b_(pd.weights_desc(), engine(), DNNL_MEMORY_NONE),
        c_(pd.dst_desc(), engine(), DNNL_MEMORY_NONE) {}

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, "matmul", [&] {
      a_.set_data_handle(buffers[0]);
      b_.set_data_handle(buffers[1]);
      c_.set_data_handle(buffers[2]);
      primitive_.execute(stream(),
                         {{DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, c_}});
      stream().wait();
    });
  }

private:
  Location loc_;
  dnnl::matmul primitive_;
  dnnl::memory a_, b_, c_;
};

} // namespace

bool matmulCanCompute(const Node &n) {
  const TensorType &out = n.result()->type;
  return (out.dtype == DType::f32 || out.dtype == DType::bf16) && out.rank() <= DNNL_MAX_NDIMS &&
         out.numElements() > 0 && n.operands[0]->type.numElements() > 0;
}

/// The type with its leading dimensions folded into the row dimension: [..., m, k] as
/// [(...) m, k], the same bytes.
TensorType rowsFolded(const TensorType &t) {
  return {t.dtype, {t.numElements() / t.shape.back(), t.shape.back()}};
}

std::unique_ptr<Primitive> createMatmul(const Node &n) {
  TensorType a = n.operands[0]->type, b = n.operands[1]->type, c = n.result()->type;
  bool ta = n.getBool("transpose_a"), tb = n.getBool("transpose_b");
  // A batch of rows against one matrix (x W, a layer's weights) is one GEMM of all the rows,
  // not a batch of small ones: oneDNN then blocks over every row at once.
  bool shared_b = numElements(Shape(b.shape.begin(), b.shape.end() - 2)) == 1;
  if (shared_b && !ta && a.rank() == c.rank() && a.rank() > 2) {
    a = rowsFolded(a);
    c = rowsFolded(c);
    b = TensorType{b.dtype, Shape(b.shape.end() - 2, b.shape.end())};
  }
  size_t rank = c.shape.size();
  return createOrNull(n, [&] {
    dnnl::matmul::desc desc(operandDesc(a, rank, ta), operandDesc(b, rank, tb),
                            operandDesc(c, rank, false));
    return std::make_unique<Matmul>(n, dnnl::matmul::primitive_desc(desc, engine()));
  });
}

} // namespace kiln::cpu::onednn
