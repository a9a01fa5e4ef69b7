// Data parallelism without MPI: two ranks as two threads of this process, joined by a
// communicator that sums their buffers in rank order. The train steps of the ranks (the
// data-parallel pass on their shares of each batch) must reach the weights of one process on
// the whole batches, also when the ranks hold different numbers of rows and tokens, and when a
// rank's share is empty; and the split of a batch and the ranks' dropout keys.

#include "train_util.h"

#include "backend/backend.h"
#include "compiler/programs.h"
#include "runtime/batch_share.h"
#include "runtime/random_key.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

using namespace kiln;

namespace {

/// What the ranks of a ThreadGroup share: each all_reduce waits for every rank's buffer.
class ThreadGroup {
public:
  explicit ThreadGroup(int size) : parts_(size) {}

  /// Adds rank's f32 or f64 buffer to the sum and returns once every rank has, the sum in it.
  void allReduce(int rank, void *data, int64_t count, DType dtype) {
    std::unique_lock lock(mutex_);
    int64_t round = round_;
    parts_[rank] = {data, count};
    if (++arrived_ == static_cast<int>(parts_.size())) {
      for (int64_t i = 0; i < count; ++i) {
        double sum = 0; // rank order, the same on every rank
        for (const Part &p : parts_)
          sum += load(p.data, i, dtype);
        sums_.push_back(sum);
      }
      for (const Part &p : parts_)
        for (int64_t i = 0; i < count; ++i)
          store(p.data, i, dtype, sums_[i]);
      sums_.clear();
      arrived_ = 0;
      ++round_;
      done_.notify_all();
      return;
    }
    done_.wait(lock, [&] { return round_ != round; });
  }

private:
  struct Part {
    void *data = nullptr;
    int64_t count = 0;
  };
  static double load(void *data, int64_t i, DType dtype) {
    return dtype == DType::f32 ? static_cast<float *>(data)[i] : static_cast<double *>(data)[i];
  }
  static void store(void *data, int64_t i, DType dtype, double v) {
    if (dtype == DType::f32)
      static_cast<float *>(data)[i] = static_cast<float>(v);
    else
      static_cast<double *>(data)[i] = v;
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<Part> parts_;
  std::vector<double> sums_;
  int arrived_ = 0;
  int64_t round_ = 0;
};

class Done final : public PendingReduce {
public:
  void wait() override {}
  bool test() override { return true; }
};

/// One rank of a ThreadGroup.
class ThreadRank final : public Communicator {
public:
  ThreadRank(ThreadGroup &group, int rank, int size) : group_(group), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<PendingReduce> startAllReduceSum(void *data, int64_t count,
                                                   DType dtype) override {
    group_.allReduce(rank_, data, count, dtype);
    return std::make_unique<Done>();
  }
  void abort(int) override { FAIL("a rank aborted"); }
  const char *transport() const override { return "threads"; }

private:
  ThreadGroup &group_;
  int rank_, size_;
};

/// The weights after `steps` steps of the copy task on batches of `rows`, run by `ranks`
/// ranks (1: one process, no data-parallel pass); one state per rank.
std::vector<TrainerState> trainRanks(int ranks, int64_t rows, int64_t steps,
                                     std::optional<double> clip = std::nullopt) {
  TransformerConfig cfg = test::smallTransformer();
  // SGD: Adam would turn gradients that are rounding noise (attention key biases') into steps
  // of +-lr whose sign the order of summation decides.
  OptimizerOptions opt;
  opt.kind = OptimizerKind::Sgd;
  opt.lr = 0.1;
  opt.d_model = cfg.d_model;
  opt.clip_norm = clip;
  SyntheticTask task = test::copyTask(cfg, rows);
  ThreadGroup group(ranks);
  std::vector<TrainerState> states(ranks);
  auto rank = [&](int r) {
    GraphOptions shape{.batch = shareRows(rows, r, ranks), .src_len = 6, .tgt_len = 6};
    BuiltModel m = buildTrainStep(cfg, shape, opt, "default",
                                  ranks > 1 ? std::optional<int64_t>(4096) : std::nullopt);
    ThreadRank comm(group, r, ranks);
    CompileOptions options;
    options.threads = 1;
    options.communicator = &comm;
    std::unique_ptr<Executable> exe = getBackend("cpu").compile(*m.graph, options);
    Trainer trainer(*exe, task, 3);
    trainer.joinGroup(r, ranks);
    states[r] = test::freshState(m, trainer, 11);
    test::train(trainer, states[r], steps);
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back(rank, r);
  for (std::thread &t : threads)
    t.join();
  return states;
}

/// The largest difference between two states' tensors.
double largestDifference(const TrainerState &a, const TrainerState &b) {
  double worst = 0;
  for (const auto &[name, t] : a.tensors) {
    const HostBuffer &u = b.tensors.at(name);
    REQUIRE(u.numElements() == t.numElements());
    for (int64_t i = 0; i < t.numElements(); ++i)
      worst = std::max(worst, std::abs(t.getDouble(i) - u.getDouble(i)));
  }
  return worst;
}

bool sameBits(const TrainerState &a, const TrainerState &b) {
  for (const auto &[name, t] : a.tensors) {
    const HostBuffer &u = b.tensors.at(name);
    if (t.byteSize() != u.byteSize() || std::memcmp(t.data(), u.data(), t.byteSize()) != 0)
      return false;
  }
  return true;
}

} // namespace

TEST_CASE("batchShare: contiguous rows per rank, a PAD row for an empty share") {
  Batch b{HostBuffer(TensorType{DType::i64, {3, 2}}), HostBuffer(TensorType{DType::i64, {3, 2}})};
  for (int64_t i = 0; i < 6; ++i) {
    b.src.setDouble(i, static_cast<double>(10 + i));
    b.tgt.setDouble(i, static_cast<double>(20 + i));
  }
  Batch first = batchShare(b, 0, 2, 0), second = batchShare(b, 1, 2, 0);
  CHECK(first.tgt.type().shape == Shape{1, 2});
  CHECK(second.tgt.type().shape == Shape{2, 2});
  CHECK(first.tgt.getDouble(1) == 21);
  CHECK(second.src.getDouble(0) == 12);
  CHECK(second.tgt.getDouble(3) == 25);
  CHECK(shareRows(3, 0, 2) + shareRows(3, 1, 2) == 3);
  Batch empty = batchShare(b, 0, 4, 0); // rows 0 * 3 / 4 to 1 * 3 / 4: none
  CHECK(empty.tgt.type().shape == Shape{1, 2});
  CHECK(empty.tgt.getDouble(0) == 0);
  CHECK(shareRows(3, 0, 4) == 1);
}

TEST_CASE("dropoutKey: rank 0 draws the single process's masks, other ranks their own") {
  CHECK(dropoutKey(5, 3, 0) == dropoutKey(5, 3));
  CHECK(dropoutKey(5, 3, 1) != dropoutKey(5, 3));
  CHECK(dropoutKey(5, 3, 1) != dropoutKey(5, 3, 2));
}

TEST_CASE("data-parallel: two ranks reach one process's weights, bit-identical to each other") {
  // 5 rows: ranks of 2 and 3 rows with different numbers of target tokens, where a mean of the
  // ranks' mean gradients would be wrong.
  std::vector<TrainerState> one = trainRanks(1, 5, 4);
  std::vector<TrainerState> two = trainRanks(2, 5, 4);
  CHECK(sameBits(two[0], two[1]));
  // f32 sums in another order: rounding-level differences (4e-7 in kiln train's 5 steps).
  CHECK(largestDifference(one[0], two[0]) < 1e-5);
  // The same with global-norm clipping, which must see the group's mean gradients.
  std::vector<TrainerState> clipped_one = trainRanks(1, 5, 3, 0.05);
  std::vector<TrainerState> clipped_two = trainRanks(2, 5, 3, 0.05);
  CHECK(sameBits(clipped_two[0], clipped_two[1]));
  CHECK(largestDifference(clipped_one[0], clipped_two[0]) < 1e-5);
  CHECK(largestDifference(clipped_one[0], one[0]) > 1e-4); // the clipping changed the run
}

TEST_CASE("data-parallel: a rank whose share of a batch is empty adds nothing") {
  // One row over two ranks: rank 0 gets a row of PAD, rank 1 the row.
  std::vector<TrainerState> one = trainRanks(1, 1, 3);
  std::vector<TrainerState> two = trainRanks(2, 1, 3);
  CHECK(sameBits(two[0], two[1]));
  CHECK(largestDifference(one[0], two[0]) < 1e-5);
}
