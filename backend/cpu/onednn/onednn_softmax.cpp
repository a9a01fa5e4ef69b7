// softmax and softmax_grad as oneDNN's softmax primitives, over the op's axis of the tensor as
// it is stored (row-major). softmax_grad(y, g) = y * (g - sum(g * y)) is oneDNN's backward
// softmax with y as its dst and g as its diff_dst.

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

namespace kiln::cpu::onednn {
namespace {

class Softmax final : public Primitive {
public:
  Softmax(const Node &n, const dnnl::memory::desc &desc, int axis) : loc_(n.loc) {
    dnnl::softmax_forward::primitive_desc fwd({dnnl::prop_kind::forward_training, desc, axis},
                                              engine());
    if (n.is(op::Softmax)) {
      forward_ = dnnl::softmax_forward(fwd);
    } else {
      dnnl::softmax_backward::primitive_desc bwd({desc, desc, axis}, engine(), fwd);
      backward_ = dnnl::softmax_backward(bwd);
    }
    for (dnnl::memory *m : {&a_, &b_, &out_})
      *m = dnnl::memory(desc, engine(), DNNL_MEMORY_NONE);
  }

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, forward_ ? "softmax" : "softmax_grad", [&] {
      a_.set_data_handle(buffers[0]);
      if (forward_) {
        out_.set_data_handle(buffers[1]);
        forward_.execute(stream(), {{DNNL_ARG_SRC, a_}, {DNNL_ARG_DST, out_}});
      } else {
        b_.set_data_handle(buffers[1]);
        out_.set_data_handle(buffers[2]);
        backward_.execute(stream(),
                          {{DNNL_ARG_DST, a_}, {DNNL_ARG_DIFF_DST, b_}, {DNNL_ARG_DIFF_SRC, out_}});
      }
      stream().wait();
    });
  }

private:
  Location loc_;
  dnnl::softmax_forward forward_;
  dnnl::softmax_backward backward_;
  dnnl::memory a_, b_, out_;
};

} // namespace

bool softmaxCanCompute(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  return (x.dtype == DType::f32 || x.dtype == DType::bf16) && x.numElements() > 0 &&
         x.rank() <= DNNL_MAX_NDIMS;
}

std::unique_ptr<Primitive> createSoftmax(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  int axis = static_cast<int>(*normalizeAxis(n.getInt("axis"), x.rank()));
  return createOrNull(
      n, [&] { return std::make_unique<Softmax>(n, plainDesc(x.shape, x.dtype), axis); });
}

} // namespace kiln::cpu::onednn
