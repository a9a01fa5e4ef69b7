// reduce_sum, reduce_max and reduce_mean as oneDNN's reduction primitive: the source as it is
// stored, the destination with the reduced axes kept as 1 (the same bytes with or without
// keepdims).

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

namespace kiln::cpu::onednn {
namespace {

class Reduction final : public Primitive {
public:
  Reduction(const Node &n, dnnl::reduction::primitive_desc pd)
      : loc_(n.loc), primitive_(pd), src_(pd.src_desc(), engine(), DNNL_MEMORY_NONE),
        dst_(pd.dst_desc(), engine(), DNNL_MEMORY_NONE) {}

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, "reduction", [&] {
      src_.set_data_handle(buffers[0]);
      dst_.set_data_handle(buffers[1]);
      primitive_.execute(stream(), {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}});
      stream().wait();
    });
  }

private:
  Location loc_;
  dnnl::reduction primitive_;
  dnnl::memory src_, dst_;
};

} // namespace

bool reductionCanCompute(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  if (x.dtype != DType::f32 || x.numElements() == 0 || x.rank() < 1 || x.rank() > DNNL_MAX_NDIMS)
    return false;
  // oneDNN refuses a reduction whose destination is its source (every axis reduced has size 1).
  for (int64_t a : n.getInts("axes"))
    if (x.shape[*normalizeAxis(a, x.rank())] > 1)
      return true;
  return false;
}

std::unique_ptr<Primitive> createReduction(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  Shape kept = x.shape;
  for (int64_t a : n.getInts("axes"))
    kept[*normalizeAxis(a, x.rank())] = 1;
  dnnl::algorithm alg = n.is(op::ReduceSum)   ? dnnl::algorithm::reduction_sum
                        : n.is(op::ReduceMax) ? dnnl::algorithm::reduction_max
                                              : dnnl::algorithm::reduction_mean;
  return createOrNull(n, [&] {
    dnnl::reduction::desc desc(alg, plainDesc(x.shape, DType::f32), plainDesc(kept, DType::f32),
                               0.f, 0.f);
    return std::make_unique<Reduction>(n, dnnl::reduction::primitive_desc(desc, engine()));
  });
}

} // namespace kiln::cpu::onednn
