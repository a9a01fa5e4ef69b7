#pragma once
// The group of processes of `kiln train --data-parallel`: MPI's world when kiln was built with
// MPI (mpirun -np N kiln train ... --data-parallel), and how a failing rank ends the job.

#include "runtime/collective.h"

#include <functional>
#include <memory>

namespace kiln::tools {

/// Whether this kiln was built with MPI.
bool haveMpi();

/// Joins the group that mpirun started. Throws Error when kiln was built without MPI.
std::unique_ptr<Communicator> joinDataParallelGroup();

/// Runs `body` as one rank of `group`. Ranks other than 0 print nothing on stdout. An error on
/// any rank is printed with the rank's number and ends every process of the group (a rank must
/// not leave the others waiting in an all_reduce); with one process it propagates as usual.
int runAsRank(Communicator &group, const std::function<int()> &body);

} // namespace kiln::tools
