// The data-parallel group of kiln train: MPI's world, or an Error where kiln lacks MPI; errors
// on one rank end the whole job.

#include "tools/data_parallel.h"

#include "ir/diagnostics.h"

#ifdef KILN_HAVE_MPI
#include "runtime/mpi/mpi_communicator.h"
#endif

#include <fmt/format.h>

#include <iostream>

namespace kiln::tools {

bool haveMpi() {
#ifdef KILN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> joinDataParallelGroup() {
#ifdef KILN_HAVE_MPI
  return mpiWorldCommunicator();
#else
  throw Error({},
              "--data-parallel needs MPI, and this kiln was built without it: install Open "
              "MPI (libopenmpi-dev, openmpi-bin; scripts/install-deps.sh does) and build again");
#endif
}

int runAsRank(Communicator &group, const std::function<int()> &body) {
  if (group.size() == 1)
    return body();
  std::streambuf *out = std::cout.rdbuf();
  if (group.rank() != 0)
    std::cout.rdbuf(nullptr); // only rank 0 reports progress
  try {
    int status = body();
    std::cout.rdbuf(out);
    return status;
  } catch (const std::exception &e) {
    std::cout.rdbuf(out);
    std::cerr << fmt::format("kiln: error: rank {} of {}: {}\nkiln: ending every rank of the "
                             "data-parallel job\n",
                             group.rank(), group.size(), e.what())
              << std::flush;
    group.abort(1);
    throw;
  }
}

} // namespace kiln::tools
