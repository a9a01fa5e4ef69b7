// What makeTrainStep reports of fusion: a decoder-only block written with the DSL's modules
// has its layer norms, its causal attention and its cross-entropy fused, and nothing is
// reported where nothing was fused (a model without those patterns, or no fusion passes).

#include "test_util.h"

#include <kiln/kiln.h>

using namespace kiln;

namespace {

/// One pre-norm block of causal self-attention between tied embeddings, with the mean
/// cross-entropy of next tokens: two layer norms, one causal attention, one cross-entropy.
std::unique_ptr<Graph> decoderBlockLoss() {
  ModelBuilder mb("block");
  TensorType windows{DType::i64, {2, 4}};
  Tensor ids = mb.input("input", windows), target = mb.input("target", windows);
  nn::Embedding embed(mb, "embed", 7, 8, /*scale=*/false);
  nn::PositionEmbedding pos(mb, "pos", 4, 8);
  nn::LayerNorm norm1(mb, "norm1", 8), norm2(mb, "norm2", 8);
  nn::MultiHeadAttention attn(mb, "attn", 8, 2, 0.0);
  Tensor x = pos(embed(ids));
  Tensor h = norm1(x);
  x = x + attn(h, h, causalMask(mb, 4));
  Tensor logp = nn::logSoftmax(embed.attend(norm2(x)));
  mb.output("loss", reduceMean(neg(gather(logp, target, 2, 2)), {0, 1}));
  return mb.finish();
}

OptimizerOptions adam() {
  OptimizerOptions o;
  o.kind = OptimizerKind::Adam;
  return o;
}

} // namespace

TEST_CASE("makeTrainStep reports the layer norms, causal attention and cross-entropy it fused") {
  std::unique_ptr<Graph> g = decoderBlockLoss();
  CHECK(countFusedOps(*g) == FusionStatistics{}); // the DSL wrote primitives only
  FusionStatistics fused = makeTrainStep(*g, adam());
  CHECK(fused.layer_norm == 2);
  CHECK(fused.attention == 1);
  CHECK(fused.causal == 1);
  CHECK(fused.cross_entropy == 1);
  CHECK(fused.softmax == 0); // the attention's softmax is inside the attention
  // The step keeps the fused forward ops; their backward ops are not counted as fusions.
  CHECK(countFusedOps(*g) == fused);
  CHECK(fused.str() == "attention 1 (causal 1), layer_norm 2, softmax 0, softmax_cross_entropy 1");
}

TEST_CASE("makeTrainStep reports nothing fused without the fusion passes or the patterns") {
  std::unique_ptr<Graph> g = decoderBlockLoss();
  CHECK(makeTrainStep(*g, adam(), "canonicalize,cse") == FusionStatistics{});

  ModelBuilder mb("mlp");
  Tensor x = mb.input("x", TensorType{DType::f32, {4, 2}});
  nn::Linear lin(mb, "lin", 2, 1);
  Tensor y = lin(x);
  mb.output("loss", reduceMean(y * y, {0, 1}));
  std::unique_ptr<Graph> mlp = mb.finish();
  CHECK(makeTrainStep(*mlp, adam()) == FusionStatistics{});
}

TEST_CASE("a padding mask alone fuses an attention that is not causal") {
  ModelBuilder mb("padded");
  Tensor ids = mb.input("input", TensorType{DType::i64, {2, 4}});
  nn::Embedding embed(mb, "embed", 7, 8);
  nn::MultiHeadAttention attn(mb, "attn", 8, 2, 0.0);
  Tensor x = embed(ids);
  Tensor y = attn(x, x, paddingMask(ids, 0));
  mb.output("loss", reduceMean(y * y, {0, 1, 2}));
  std::unique_ptr<Graph> g = mb.finish();
  FusionStatistics fused = makeTrainStep(*g, adam());
  CHECK(fused.attention == 1);
  CHECK(fused.causal == 0);
}
