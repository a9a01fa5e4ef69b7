// Bundles with host steps: a program whose compiler leaves a kernel out keeps that node on the
// host; written as a bundle and read back (graph.kir included), it runs on lavapipe and gives
// the reference interpreter's outputs. A bundle whose host step names a node the graph lacks is
// an Error.

#include "vulkan_test_util.h"

#include "backend/gpu/program/bundle.h"
#include "backend/gpu/program/program_builder.h"
#include "backend/gpu/spirv/spirv_kernel.h"
#include "backend/reference/reference_backend.h"
#include "ir/parser.h"
#include "runtime/vulkan/vulkan_program.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace kiln;

namespace {

const char *kGraph = R"(graph @g {
  input data %x: f32[4]
  %0 = exp(%x) : f32[4]
  %1 = add(%0, %x) : f32[4]
  output "y" = %1
}
)";

/// SPIR-V for every kernel but exp's, which stays on the host.
gpu::ProgramTarget withoutExp() {
  gpu::ProgramTarget t{.plan =
                           PlanOptions{.max_buffer_bytes = int64_t{128} << 20, .alignment = 256}};
  t.compile = [](const kernel::Kernel &k) -> std::optional<gpu::ProgramKernel> {
    if (k.name.rfind("exp", 0) == 0)
      return std::nullopt;
    spirv::SpirvKernel s = spirv::compileSpirv(k);
    return gpu::ProgramKernel{.spirv = std::move(s.binary), .workgroups = s.workgroups};
  };
  return t;
}

} // namespace

TEST_CASE("a bundle with a host step runs on vulkan as the reference does") {
  if (!test::haveVulkan())
    return;
  std::unique_ptr<Graph> g = parseGraph(kGraph, "g.kir");
  gpu::BuiltProgram built = gpu::buildProgram(*g, withoutExp());
  REQUIRE(built.host.size() == 1);
  std::string dir = (std::filesystem::temp_directory_path() / "kiln_bundle_host_test").string();
  std::filesystem::remove_all(dir);
  gpu::writeBundle(dir, {.program = built.program, .graph = built.graph, .host = built.host});
  CHECK(std::filesystem::exists(dir + "/graph.kir"));

  gpu::Bundle b = gpu::readBundle(dir);
  REQUIRE(b.graph);
  REQUIRE(b.host.size() == 1);
  gpu::ProgramExecutable exe(b.program, vulkan::makeVulkanProgram(*b.program, test::testDevice()),
                             gpu::graphHostSteps(b.graph, b.host));
  std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.0f};
  HostBuffer in(TensorType{DType::f32, {4}}, std::as_bytes(std::span(x)));
  std::vector<HostBuffer> got = exe.run(std::span(&in, 1));
  std::vector<HostBuffer> want = referenceBackend().compile(*g, {})->run(std::span(&in, 1));
  REQUIRE(got.size() == 1);
  const float *a = reinterpret_cast<const float *>(got[0].data());
  const float *e = reinterpret_cast<const float *>(want[0].data());
  for (int i = 0; i < 4; ++i)
    CHECK(a[i] == doctest::Approx(e[i]).epsilon(1e-6));
  for (const auto &[name, value] : exe.statistics())
    if (name == "fallback exp")
      CHECK(value == 1);

  // A host step of a node the graph does not have.
  std::ifstream in_json(dir + "/bundle.json");
  std::string text((std::istreambuf_iterator<char>(in_json)), {});
  size_t at = text.find("\"nodes\": [");
  REQUIRE(at != std::string::npos);
  text.insert(at + 10, "99, ");
  std::ofstream(dir + "/bundle.json") << text;
  CHECK_THROWS_WITH_AS(
      [&] {
        gpu::Bundle bad = gpu::readBundle(dir);
        gpu::graphHostSteps(bad.graph, bad.host);
      }(),
      doctest::Contains("names node 99"), Error);
  std::filesystem::remove_all(dir);
}
