// data-parallel: turns a graph's gradients into those of the whole data-parallel group, between
// autodiff and the optimizer. Every rank runs the same step on its own share of the batch; the
// loss is a mean over the rank's non-PAD target tokens, loss_r = S_r / n_r, so its gradient is
// g_r = dS_r / n_r. The group's gradient is that of sum_r S_r / sum_r n_r, which is
// sum_r (n_r g_r) / sum_r n_r; the mean of the g_r would weigh a rank's tokens by 1 / n_r. So
// each rank scales its gradients by n_r, the sums and the token count are all-reduced, and the
// gradients are divided once. A rank without tokens contributes zeros (its loss is 0 / 0).
//
// The gradients are packed into buckets of about bucket-bytes (flattened and concatenated in
// the order the backward pass completes them), one all_reduce each, placed right after the
// bucket's last gradient so that a backend may run it while the backward pass goes on. The
// token count, the loss and "correct" (when the graph has it) travel in one small all_reduce;
// the loss and correct outputs become the group's, and output "dp.tokens" holds the group's
// token count. Global-norm clipping, run by the optimizer afterwards, sees the group's mean
// gradients (the sum divided by the group's count, as one process would have them). The count is
// found where the loss is computed: softmax_cross_entropy's targets other than ignore_index, or the
// divisor of loss = sum / count when no parameter reaches it.
//
// Every rank runs the same graph, so the graph cannot tell ranks apart: dropout's stream is
// offset by rank where the driver binds the seed input (dropoutKey in runtime/random_key.h).

#include "ir/builder.h"
#include "ir/op_handles.h"
#include "passes/match.h"
#include "passes/pass.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

constexpr int64_t kDefaultBucketBytes = int64_t{4} << 20;

/// Whether any parameter input reaches the value.
bool readsParameter(const Graph &g, const Value *v) {
  return match::inputBehind(
             g, v, [](const GraphInput &in) { return in.kind == InputKind::Parameter; }) != nullptr;
}

/// The number of tokens the loss is a mean over, as a scalar of the loss's dtype.
Value *tokenCount(Graph &g, Builder &b, const GraphOutput &loss) {
  const Node *def = loss.value->def;
  DType dtype = loss.value->type.dtype;
  if (def && def->is(op::SoftmaxCrossEntropy)) {
    Value *tgt = def->operands[1];
    Value *ignore = b.splat(static_cast<double>(def->getInt("ignore_index")), tgt->type.dtype);
    Value *counted = b.create(op::Cast, {b.create(op::Ne, {tgt, ignore})}, {{"dtype", dtype}});
    IntList axes;
    for (int64_t d = 0; d < tgt->type.rank(); ++d)
      axes.push_back(d);
    return b.create(op::ReduceSum, {counted}, {{"axes", axes}, {"keepdims", false}});
  }
  if (def && def->is(op::Div) && def->operands[1]->type.rank() == 0 &&
      !readsParameter(g, def->operands[1]))
    return def->operands[1];
  throw Error(loss.loc, "data-parallel: the loss must be softmax_cross_entropy or a sum divided "
                        "by a token count that no parameter reaches, to weigh each rank by its "
                        "tokens");
}

/// A scalar as a vector of one element.
Value *asVector(Builder &b, Value *v) {
  return b.create(op::Reshape, {v}, {{"shape", IntList{1}}});
}

/// Element i of a vector, as a scalar.
Value *element(Builder &b, Value *v, int64_t i) {
  Value *one = b.create(op::Slice, {v}, {{"start", IntList{i}}, {"limit", IntList{i + 1}}});
  return b.create(op::Reshape, {one}, {{"shape", IntList{}}});
}

struct Gradient {
  size_t output; ///< index of the grad.P output
  int64_t done;  ///< position of its defining node; -1 for a graph input
};

/// The bucket-bytes option when it is a whole number of at least 1; 0 otherwise.
int64_t bucketBytes(const PassOptions &options) {
  auto it = options.find("bucket-bytes");
  if (it == options.end())
    return kDefaultBucketBytes;
  const std::string &text = it->second;
  bool digits = !text.empty() && text.size() < 19 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? std::stoll(text) : 0;
}

class DataParallelPass : public Pass {
public:
  /// `option`: the bucket-bytes option as written, reported when bucket_bytes is below 1.
  DataParallelPass(int64_t bucket_bytes, std::string option)
      : bucket_bytes_(bucket_bytes), option_(std::move(option)) {}
  std::string_view name() const override { return "data-parallel"; }

  bool run(Graph &g, PassContext &ctx) override {
    // Reported here rather than by the factory: an Error thrown from the factory, which
    // kiln-opt calls while it parses its flags, was not unwound in the lld-linked tools.
    if (bucket_bytes_ < 1)
      throw Error({}, fmt::format("data-parallel: --bucket-bytes must be a whole number of at "
                                  "least 1, found '{}'",
                                  option_));
    const GraphOutput *loss = g.findOutput("loss");
    if (!loss)
      throw Error({}, "data-parallel: the graph has no output \"loss\"");
    if (g.findOutput("dp.tokens"))
      throw Error(loss->loc, "data-parallel: the graph has run through data-parallel already");
    std::unordered_map<const Node *, int64_t> position;
    for (size_t i = 0; i < g.nodes().size(); ++i)
      position[g.nodes()[i].get()] = static_cast<int64_t>(i);
    auto doneAt = [&](const Value *v) {
      auto it = v->def ? position.find(v->def) : position.end();
      return it == position.end() ? int64_t{-1} : it->second;
    };
    std::vector<Gradient> grads;
    for (size_t i = 0; i < g.outputs().size(); ++i)
      if (g.outputs()[i].name.rfind("grad.", 0) == 0)
        grads.push_back({i, doneAt(g.outputs()[i].value)});
    if (grads.empty())
      throw Error(loss->loc, "data-parallel: no grad.<param> outputs: run autodiff first");
    std::stable_sort(grads.begin(), grads.end(),
                     [](const Gradient &a, const Gradient &b) { return a.done < b.done; });

    // New nodes go after the node at their anchor; nodes created after `mark` get `anchor`.
    std::unordered_map<const Node *, int64_t> anchor_of;
    size_t mark = g.nodes().size();
    auto anchorNew = [&](int64_t anchor) {
      for (; mark < g.nodes().size(); ++mark)
        anchor_of[g.nodes()[mark].get()] = anchor;
    };

    Builder b(g, loss->loc);
    Value *local_loss = loss->value;
    Value *tokens = tokenCount(g, b, *loss);
    DType dtype = tokens->type.dtype;
    Value *has_tokens = b.create(op::Gt, {tokens, b.splat(0, dtype)});
    auto weighed = [&](Value *v) {
      Value *n = v->type.dtype == dtype ? tokens
                                        : b.create(op::Cast, {tokens}, {{"dtype", v->type.dtype}});
      Value *zero = b.splat(0, v->type.dtype);
      return b.create(op::Select, {has_tokens, b.create(op::Mul, {v, n}), zero});
    };
    // The small reduction: the token count, the summed loss and the correct tokens.
    std::vector<Value *> stats = {asVector(b, tokens), asVector(b, weighed(local_loss))};
    const GraphOutput *correct = g.findOutput("correct");
    bool with_correct = correct && correct->value->type == TensorType{dtype, {}};
    if (with_correct)
      stats.push_back(asVector(b, correct->value));
    Value *summed = b.create(op::AllReduce, {b.create(op::Concat, stats, {{"axis", int64_t{0}}})});
    int64_t stats_at = std::max(doneAt(local_loss), doneAt(tokens));
    if (with_correct)
      stats_at = std::max(stats_at, doneAt(correct->value));
    anchorNew(stats_at);
    Value *group_tokens = element(b, summed, 0);
    Value *divisor = b.create(op::Max, {group_tokens, b.splat(1, dtype)});
    Value *group_loss = b.create(op::Div, {element(b, summed, 1), divisor});
    Value *group_correct = with_correct ? element(b, summed, 2) : nullptr;
    anchorNew(-2);

    int64_t buckets = 0;
    for (size_t first = 0; first < grads.size();) {
      // One bucket: gradients of one dtype in completion order, up to bucket_bytes_.
      DType bucket_dtype = g.outputs()[grads[first].output].value->type.dtype;
      size_t last = first;
      int64_t bytes = 0;
      while (last < grads.size()) {
        const TensorType &t = g.outputs()[grads[last].output].value->type;
        if (t.dtype != bucket_dtype ||
            (last > first && bytes + t.numElements() * dtypeSize(t.dtype) > bucket_bytes_))
          break;
        bytes += t.numElements() * dtypeSize(t.dtype);
        ++last;
      }
      std::vector<Value *> parts;
      for (size_t i = first; i < last; ++i) {
        Value *v = g.outputs()[grads[i].output].value;
        bool flat = v->type.rank() == 1;
        parts.push_back(
            flat ? v : b.create(op::Reshape, {v}, {{"shape", IntList{v->type.numElements()}}}));
      }
      Value *packed =
          parts.size() == 1 ? parts[0] : b.create(op::Concat, parts, {{"axis", int64_t{0}}});
      Value *reduced = b.create(op::AllReduce, {weighed(packed)});
      anchorNew(std::max(grads[last - 1].done, int64_t{0}));
      Value *div = divisor->type.dtype == bucket_dtype
                       ? divisor
                       : b.create(op::Cast, {divisor}, {{"dtype", bucket_dtype}});
      int64_t offset = 0;
      for (size_t i = first; i < last; ++i) {
        size_t out = grads[i].output;
        const TensorType t = g.outputs()[out].value->type;
        Value *piece =
            b.create(op::Slice, {reduced},
                     {{"start", IntList{offset}}, {"limit", IntList{offset + t.numElements()}}});
        offset += t.numElements();
        Value *shaped = t.rank() == 1
                            ? piece
                            : b.create(op::Reshape, {piece},
                                       {{"shape", IntList(t.shape.begin(), t.shape.end())}});
        g.setOutputValue(out, b.create(op::Div, {shaped, div}));
      }
      anchorNew(-2);
      ++buckets;
      first = last;
    }
    for (size_t i = 0; i < g.outputs().size(); ++i) {
      if (g.outputs()[i].name == "loss")
        g.setOutputValue(i, group_loss);
      else if (with_correct && g.outputs()[i].name == "correct")
        g.setOutputValue(i, group_correct);
    }
    g.addOutput("dp.tokens", group_tokens, loss->loc);
    placeNodes(g, anchor_of);
    ctx.count("gradients reduced", static_cast<int64_t>(grads.size()));
    ctx.count("buckets", buckets);
    return true;
  }

private:
  /// Puts each new node right after the original node at its anchor (-1: first; -2: last),
  /// in creation order.
  static void placeNodes(Graph &g, const std::unordered_map<const Node *, int64_t> &anchor_of) {
    std::vector<std::unique_ptr<Node>> old = std::move(g.nodes());
    std::map<int64_t, std::vector<std::unique_ptr<Node>>> after;
    std::vector<std::unique_ptr<Node>> kept;
    for (auto &n : old) {
      auto it = anchor_of.find(n.get());
      if (it == anchor_of.end())
        kept.push_back(std::move(n));
      else
        after[it->second].push_back(std::move(n));
    }
    std::vector<std::unique_ptr<Node>> &nodes = g.nodes();
    nodes.clear();
    auto flush = [&](int64_t anchor) {
      if (auto it = after.find(anchor); it != after.end())
        for (auto &n : it->second)
          nodes.push_back(std::move(n));
    };
    flush(-1);
    for (size_t i = 0; i < kept.size(); ++i) {
      nodes.push_back(std::move(kept[i]));
      flush(static_cast<int64_t>(i));
    }
    flush(-2);
    g.sortTopologically();
  }

  int64_t bucket_bytes_;
  std::string option_;
};

} // namespace

std::unique_ptr<Pass> createDataParallelPass(int64_t bucket_bytes) {
  return std::make_unique<DataParallelPass>(bucket_bytes, std::to_string(bucket_bytes));
}

std::unique_ptr<Pass> createDataParallelPass(const PassOptions &options) {
  return std::make_unique<DataParallelPass>(bucketBytes(options),
                                            optionOr(options, "bucket-bytes", ""));
}

} // namespace kiln
