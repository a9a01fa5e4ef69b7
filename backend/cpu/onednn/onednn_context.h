#pragma once
// The one oneDNN engine (the CPU) and a stream per calling thread, and the boundary where
// dnnl::error becomes kiln's Error. Only backend/cpu/onednn includes oneDNN's headers.

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <string_view>

namespace kiln::cpu::onednn {

/// The CPU engine, created on first use.
const dnnl::engine &engine();
/// An in-order stream on the engine for the calling thread.
dnnl::stream &stream();

/// Runs `f`, turning a dnnl::error into kiln's Error at `loc`, naming what failed.
template <typename F> auto guarded(const Location &loc, std::string_view what, F &&f) {
  try {
    return f();
  } catch (const dnnl::error &e) {
    throw Error(loc, fmt::format("oneDNN {} failed: {} (status {})", what, e.what(),
                                 static_cast<int>(e.status)));
  }
}

} // namespace kiln::cpu::onednn
