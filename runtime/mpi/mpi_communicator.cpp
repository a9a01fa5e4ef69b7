// MPI_COMM_WORLD behind the Communicator interface: non-blocking sums (MPI_Iallreduce) that a
// backend starts as soon as a bucket of gradients is complete, and MPI_Abort for a rank that
// fails, so that the others do not wait forever in a collective.

#include "runtime/mpi/mpi_communicator.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <mpi.h>

namespace kiln {
namespace {

/// The error text of an MPI return code.
std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

void check(int code, const char *what) {
  if (code != MPI_SUCCESS)
    throw Error({}, fmt::format("MPI: {} failed: {}", what, mpiError(code)));
}

MPI_Datatype mpiType(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return MPI_FLOAT;
  case DType::f64:
    return MPI_DOUBLE;
  case DType::i32:
    return MPI_INT32_T;
  case DType::i64:
    return MPI_INT64_T;
  case DType::bf16:
  case DType::boolean:
    break;
  }
  throw Error({}, fmt::format("MPI: all_reduce of {} is not supported (f32, f64, i32, i64 are)",
                              dtypeName(dtype)));
}

class MpiReduce final : public PendingReduce {
public:
  explicit MpiReduce(MPI_Request request) : request_(request) {}
  ~MpiReduce() override {
    if (request_ != MPI_REQUEST_NULL)
      MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override { check(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait"); }
  bool test() override {
    int done = 0;
    check(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }

private:
  MPI_Request request_;
};

class MpiWorld final : public Communicator {
public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
      // OpenMP workers run between the calls, but only the main thread calls MPI.
      if (provided < MPI_THREAD_FUNNELED)
        throw Error({}, "MPI: this MPI library cannot run beside other threads "
                        "(MPI_THREAD_FUNNELED); kiln's kernels run on OpenMP threads");
    }
    // Errors come back as codes, which become kiln Errors, instead of ending the process.
    check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiWorld() override {
    if (owns_)
      MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<PendingReduce> startAllReduceSum(void *data, int64_t count,
                                                   DType dtype) override {
    if (count > INT32_MAX)
      throw Error({}, fmt::format("MPI: an all_reduce of {} elements is over MPI's int count; "
                                  "use smaller buckets",
                                  count));
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpiType(dtype), MPI_SUM,
                         MPI_COMM_WORLD, &request),
          "MPI_Iallreduce");
    return std::make_unique<MpiReduce>(request);
  }
  void abort(int status) override { MPI_Abort(MPI_COMM_WORLD, status); }
  const char *transport() const override { return "MPI"; }

private:
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
};

} // namespace

std::unique_ptr<Communicator> mpiWorldCommunicator() { return std::make_unique<MpiWorld>(); }

} // namespace kiln
