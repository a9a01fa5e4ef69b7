// Fuzzes the pass pipelines on parsed graphs: whatever parses and is small enough to run goes
// through --pipeline=infer and --pipeline=train, as kiln-opt runs them, and then through the
// reference backend on seeded random inputs (kiln-opt --run). Every pass verifies its result;
// a pass may refuse a graph with kiln::Error (autodiff without a loss), never crash on it.

#include "backend/backend.h"
#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/tool_support.h"

#include <sstream>

namespace {

/// The most nodes of a graph the pipelines run on: passes may be quadratic in it, and a
/// timeout should mean a hang.
constexpr size_t kMaxNodes = 200;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace kiln;
  std::unique_ptr<Graph> parsed;
  try {
    parsed = parseGraph(std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.kir");
  } catch (const Error &) {
    return 0;
  }
  if (parsed->nodes().size() > kMaxNodes || !fuzz::smallEnoughToRun(*parsed))
    return 0;
  for (const std::string &pipeline : pipelineNames()) {
    std::unique_ptr<Graph> g = parsed->clone();
    try {
      PassManager pm;
      for (const std::string &p : pipelinePasses(pipeline))
        pm.addPass(lookupPass(p)->create({}));
      std::ostringstream dump;
      pm.run(*g, dump);
      if (!fuzz::smallEnoughToRun(*g))
        continue;
      std::vector<HostBuffer> inputs = tools::randomInputs(*g, 0);
      getBackend("reference").compile(*g, {.threads = 1, .use_cache = false})->run(inputs);
    } catch (const Error &) {
      // refused, with a message
    }
  }
  return 0;
}
