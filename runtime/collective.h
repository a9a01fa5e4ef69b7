#pragma once
// The communicator that executes the all_reduce op: a group of processes (ranks) that sum
// buffers together. The IR and the backends know only this interface; the runtime supplies
// the single-process group here and an MPI group in runtime/mpi (built when MPI is found).

#include "ir/types.h"

#include <cstdint>
#include <memory>
#include <span>

namespace kiln {

/// A sum over the ranks that was started and may still be in flight.
class PendingReduce {
public:
  virtual ~PendingReduce() = default;
  /// Returns once the buffer holds the sum over every rank. Throws Error when the group failed.
  virtual void wait() = 0;
  /// Lets the transport move the sum on without blocking; true once it is complete.
  virtual bool test() = 0;
};

/// A group of processes that take part in every collective in the same order.
class Communicator {
public:
  virtual ~Communicator() = default;
  /// This process's index in the group, 0 to size() - 1.
  virtual int rank() const = 0;
  /// The number of processes in the group.
  virtual int size() const = 0;
  /// Starts replacing `count` elements of `dtype` at `data` by their sum over the ranks; the
  /// buffer must stay untouched until the returned reduction's wait() returns.
  virtual std::unique_ptr<PendingReduce> startAllReduceSum(void *data, int64_t count,
                                                           DType dtype) = 0;
  /// Replaces the elements by their sum over the ranks, blocking until it is done.
  void allReduceSum(void *data, int64_t count, DType dtype);
  /// Sums one number over the ranks (token counts, the loss of a step).
  double allReduceSum(double value);
  /// Ends every process of the group with this status (an error on one rank must not leave
  /// the others waiting in a collective). Returns only for a group of one.
  virtual void abort(int status) = 0;
  /// The name of the transport, for messages: "single process", "MPI".
  virtual const char *transport() const = 0;
};

/// The group of this process alone: sums are the values themselves.
std::unique_ptr<Communicator> singleProcessCommunicator();

} // namespace kiln
