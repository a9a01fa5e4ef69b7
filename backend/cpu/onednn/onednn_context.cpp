#include "backend/cpu/onednn/onednn_context.h"

#include "backend/cpu/onednn/onednn.h"

#include <omp.h>

namespace kiln::cpu::onednn {

const dnnl::engine &engine() {
  static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

ScopedThreads::ScopedThreads(int threads) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(threads);
}

ScopedThreads::~ScopedThreads() { omp_set_num_threads(previous_); }

} // namespace kiln::cpu::onednn
