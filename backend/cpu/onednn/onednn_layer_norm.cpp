// layer_norm and layer_norm_grad as oneDNN's layer normalization primitives. The normalized
// axes (axis.. to the end) are folded into one, so x is [rows, m] and the weight and bias are
// oneDNN's scale and shift of m elements. The backward primitive reads each row's mean and
// variance, which kiln's layer_norm_grad recomputes from x: a forward primitive in training
// mode gives them first, into buffers of the primitive's own; the normalized rows it writes too
// go to dx, which the backward primitive then writes over without reading.

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

#include <unordered_map>
#include <vector>

namespace kiln::cpu::onednn {
namespace {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using flags = dnnl::normalization_flags;

/// x as [rows, m], m the number of normalized elements.
struct Rows {
  int64_t rows = 0, m = 1;
  explicit Rows(const Node &n) {
    const TensorType &x = n.operands[0]->type;
    int64_t axis = *normalizeAxis(n.getInt("axis"), x.rank());
    for (int64_t d = axis; d < x.rank(); ++d)
      m *= x.shape[d];
    rows = x.numElements() / m;
  }
  dnnl::memory::desc data() const { return {dims{rows, m}, dt::f32, tag::ab}; }
  dnnl::memory::desc stats() const { return {dims{rows}, dt::f32, tag::a}; }
  dnnl::memory::desc params() const { return {dims{m}, dt::f32, tag::a}; }
};

dnnl::memory unbound(const dnnl::memory::desc &d) {
  return dnnl::memory(d, engine(), DNNL_MEMORY_NONE);
}

dnnl::layer_normalization_forward::primitive_desc forwardDesc(dnnl::prop_kind prop, const Rows &r,
                                                              float eps, flags f) {
  dnnl::layer_normalization_forward::desc desc(prop, r.data(), r.stats(), eps, f);
  return {desc, engine()};
}

/// layer_norm(x, [weight, [bias]]).
class LayerNorm final : public Primitive {
public:
  LayerNorm(const Node &n, const Rows &r)
      : loc_(n.loc), scale_(n.operands.size() > 1), shift_(n.operands.size() > 2) {
    flags f = flags::none;
    if (scale_)
      f |= flags::use_scale;
    if (shift_)
      f |= flags::use_shift;
    auto pd = forwardDesc(dnnl::prop_kind::forward_inference, r,
                          static_cast<float>(n.getFloat("eps")), f);
    primitive_ = dnnl::layer_normalization_forward(pd);
    src_ = unbound(r.data()), dst_ = unbound(r.data());
    scale_mem_ = unbound(r.params()), shift_mem_ = unbound(r.params());
  }

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, "layer_norm", [&] {
      src_.set_data_handle(buffers[0]);
      dst_.set_data_handle(buffers.back());
      std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
      if (scale_) {
        scale_mem_.set_data_handle(buffers[1]);
        args[DNNL_ARG_SCALE] = scale_mem_;
      }
      if (shift_) {
        shift_mem_.set_data_handle(buffers[2]);
        args[DNNL_ARG_SHIFT] = shift_mem_;
      }
      primitive_.execute(stream(), args);
      stream().wait();
    });
  }

private:
  Location loc_;
  bool scale_, shift_;
  dnnl::layer_normalization_forward primitive_;
  dnnl::memory src_, dst_, scale_mem_, shift_mem_;
};

/// layer_norm_grad(x, [weight,] g) -> dx, dweight, dbias. Without a weight the scale is 1.
class LayerNormGrad final : public Primitive {
public:
  LayerNormGrad(const Node &n, const Rows &r)
      : loc_(n.loc), weighted_(n.operands.size() == 3), mean_(r.rows), var_(r.rows),
        ones_(weighted_ ? 0 : r.m, 1.0f) {
    float eps = static_cast<float>(n.getFloat("eps"));
    flags f = flags::use_scale | flags::use_shift;
    auto fwd = forwardDesc(dnnl::prop_kind::forward_training, r, eps, f);
    forward_ = dnnl::layer_normalization_forward(fwd);
    dnnl::layer_normalization_backward::desc desc(dnnl::prop_kind::backward, r.data(), r.data(),
                                                  r.stats(), eps, f);
    backward_ = dnnl::layer_normalization_backward({desc, engine(), fwd});
    x_ = unbound(r.data()), g_ = unbound(r.data()), dx_ = unbound(r.data());
    scale_ = unbound(r.params()), dscale_ = unbound(r.params()), dshift_ = unbound(r.params());
    zero_shift_.assign(static_cast<size_t>(r.m), 0.0f);
    shift_ = dnnl::memory(r.params(), engine(), zero_shift_.data());
    mean_mem_ = dnnl::memory(r.stats(), engine(), mean_.data());
    var_mem_ = dnnl::memory(r.stats(), engine(), var_.data());
    if (!weighted_)
      scale_.set_data_handle(ones_.data());
  }

  void run(std::span<void *const> buffers) const override {
    guarded(loc_, "layer_norm_grad", [&] {
      size_t in = weighted_ ? 3 : 2;
      x_.set_data_handle(buffers[0]);
      if (weighted_)
        scale_.set_data_handle(buffers[1]);
      g_.set_data_handle(buffers[in - 1]);
      dx_.set_data_handle(buffers[in]);
      dscale_.set_data_handle(buffers[in + 1]);
      dshift_.set_data_handle(buffers[in + 2]);
      forward_.execute(stream(), {{DNNL_ARG_SRC, x_},
                                  {DNNL_ARG_DST, dx_},
                                  {DNNL_ARG_SCALE, scale_},
                                  {DNNL_ARG_SHIFT, shift_},
                                  {DNNL_ARG_MEAN, mean_mem_},
                                  {DNNL_ARG_VARIANCE, var_mem_}});
      backward_.execute(stream(), {{DNNL_ARG_SRC, x_},
                                   {DNNL_ARG_DIFF_DST, g_},
                                   {DNNL_ARG_SCALE, scale_},
                                   {DNNL_ARG_SHIFT, shift_},
                                   {DNNL_ARG_MEAN, mean_mem_},
                                   {DNNL_ARG_VARIANCE, var_mem_},
                                   {DNNL_ARG_DIFF_SRC, dx_},
                                   {DNNL_ARG_DIFF_SCALE, dscale_},
                                   {DNNL_ARG_DIFF_SHIFT, dshift_}});
      stream().wait();
    });
  }

private:
  Location loc_;
  bool weighted_;
  mutable std::vector<float> mean_, var_;
  std::vector<float> ones_, zero_shift_;
  dnnl::layer_normalization_forward forward_;
  dnnl::layer_normalization_backward backward_;
  dnnl::memory x_, g_, dx_, scale_, shift_, dscale_, dshift_, mean_mem_, var_mem_;
};

} // namespace

bool layerNormCanCompute(const Node &n) {
  return n.operands[0]->type.dtype == DType::f32 && n.operands[0]->type.numElements() > 0;
}

std::unique_ptr<Primitive> createLayerNorm(const Node &n) {
  return createOrNull(n, [&]() -> std::unique_ptr<Primitive> {
    if (n.is(op::LayerNorm))
      return std::make_unique<LayerNorm>(n, Rows(n));
    return std::make_unique<LayerNormGrad>(n, Rows(n));
  });
}

} // namespace kiln::cpu::onednn
