#pragma once
// The communicator of the processes that mpirun started: MPI_COMM_WORLD. Its own library,
// kiln_mpi, built only where CMake finds MPI; nothing else of kiln includes MPI.

#include "runtime/collective.h"

#include <memory>

namespace kiln {

/// Initialises MPI (once per process) and returns the world group; MPI is finalised when the
/// communicator is destroyed. Throws Error when MPI cannot start.
std::unique_ptr<Communicator> mpiWorldCommunicator();

} // namespace kiln
