#pragma once
// Helpers of the Vulkan tests: the lavapipe device they run on, and SPIR-V shaders written as
// assembly text and assembled with SPIRV-Tools, in the binding layout of
// backend/gpu/spirv/spirv_kernel.h.

#include "runtime/vulkan/vulkan_device.h"
#include "tests/test_environment.h"

#include <doctest/doctest.h>
#include <spirv-tools/libspirv.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

/// Mesa's lavapipe ICD, which main.cpp pins unless KILN_VULKAN_DEVICE or VK_ICD_FILENAMES is set.

/// Whether the tests can make a device. Lavapipe comes with mesa-vulkan-drivers, which
/// scripts/install-deps.sh installs: under CI=true its absence fails the test, elsewhere the
/// test is skipped with a message.
inline bool haveVulkan() {
  const char *icd = std::getenv("VK_ICD_FILENAMES");
  if (icd && std::string(icd) != kLavapipeIcd)
    return true; // another driver was asked for
  if (std::filesystem::exists(kLavapipeIcd))
    return true;
  const char *ci = std::getenv("CI");
  if (ci && std::string(ci) == "true")
    FAIL_CHECK("no lavapipe (" << kLavapipeIcd << "): run scripts/install-deps.sh");
  else
    MESSAGE("skipped: no lavapipe (" << kLavapipeIcd << "); install mesa-vulkan-drivers");
  return false;
}

/// The device the tests share.
inline std::shared_ptr<const vulkan::Device> testDevice() {
  static std::shared_ptr<const vulkan::Device> device = vulkan::Device::create();
  return device;
}

/// SPIR-V words of an assembly text for Vulkan 1.2; fails the test on an assembler error.
inline std::vector<uint32_t> assemble(const std::string &text) {
  spvtools::SpirvTools tools(SPV_ENV_VULKAN_1_2);
  std::string messages;
  tools.SetMessageConsumer(
      [&](spv_message_level_t, const char *, const spv_position_t &p, const char *m) {
        messages += std::to_string(p.line) + ": " + m + "\n";
      });
  std::vector<uint32_t> words;
  bool ok = tools.Assemble(text, &words);
  INFO(messages);
  REQUIRE(ok);
  REQUIRE(tools.Validate(words));
  return words;
}

/// Declarations every test shader starts with: one invocation per element, 64 a workgroup.
inline const std::string kShaderTypes = R"(
%void = OpTypeVoid
%fn = OpTypeFunction %void
%bool = OpTypeBool
%u32 = OpTypeInt 32 0
%i32 = OpTypeInt 32 1
%f32 = OpTypeFloat 32
%v3u = OpTypeVector %u32 3
%pin = OpTypePointer Input %v3u
%gid = OpVariable %pin Input
%farr = OpTypeRuntimeArray %f32
%fbuf = OpTypeStruct %farr
%pfbuf = OpTypePointer StorageBuffer %fbuf
%pf = OpTypePointer StorageBuffer %f32
%int0 = OpConstant %i32 0
%u0 = OpConstant %u32 0
%f0 = OpConstant %f32 0
%device = OpConstant %u32 1
%relaxed = OpConstant %u32 0
)";

/// Decorations of the array and block types of kShaderTypes.
inline const std::string kShaderDecorations = R"(
OpDecorate %gid BuiltIn GlobalInvocationId
OpDecorate %farr ArrayStride 4
OpMemberDecorate %fbuf 0 Offset 0
OpDecorate %fbuf Block
)";

/// 64-bit integer types and i64 buffers, for shaders with the Int64 capability.
inline const std::string kInt64Types = R"(
%u64 = OpTypeInt 64 0
%i64 = OpTypeInt 64 1
%larr = OpTypeRuntimeArray %i64
%lbuf = OpTypeStruct %larr
%plbuf = OpTypePointer StorageBuffer %lbuf
%pl = OpTypePointer StorageBuffer %i64
%l0 = OpConstant %i64 0
)";

/// Decorations of the i64 buffers of kInt64Types.
inline const std::string kInt64Decorations = R"(
OpDecorate %larr ArrayStride 8
OpMemberDecorate %lbuf 0 Offset 0
OpDecorate %lbuf Block
)";

/// out[i] = a[i] + b[i] over f32 buffers at bindings 0, 1 and 2, for i below out's length.
inline std::string addShader() {
  return R"(
OpCapability Shader
OpMemoryModel Logical GLSL450
OpEntryPoint GLCompute %main "main" %gid %a %b %c
OpExecutionMode %main LocalSize 64 1 1
OpDecorate %a DescriptorSet 0
OpDecorate %a Binding 0
OpDecorate %b DescriptorSet 0
OpDecorate %b Binding 1
OpDecorate %c DescriptorSet 0
OpDecorate %c Binding 2
)" + kShaderDecorations +
         kShaderTypes + R"(
%a = OpVariable %pfbuf StorageBuffer
%b = OpVariable %pfbuf StorageBuffer
%c = OpVariable %pfbuf StorageBuffer
%main = OpFunction %void None %fn
%entry = OpLabel
%g = OpLoad %v3u %gid
%i = OpCompositeExtract %u32 %g 0
%n = OpArrayLength %u32 %c 0
%inside = OpULessThan %bool %i %n
OpSelectionMerge %end None
OpBranchConditional %inside %body %end
%body = OpLabel
%pa = OpAccessChain %pf %a %int0 %i
%pb = OpAccessChain %pf %b %int0 %i
%pc = OpAccessChain %pf %c %int0 %i
%va = OpLoad %f32 %pa
%vb = OpLoad %f32 %pb
%s = OpFAdd %f32 %va %vb
OpStore %pc %s
OpBranch %end
%end = OpLabel
OpReturn
OpFunctionEnd
)";
}

/// An error slot at binding 1 (one int64, kTrapClear before the run) that receives the first
/// index i whose element of the i64 buffer at binding 0 is negative, by OpAtomicSMin.
inline std::string firstNegativeShader() {
  return R"(
OpCapability Shader
OpCapability Int64
OpCapability Int64Atomics
OpMemoryModel Logical GLSL450
OpEntryPoint GLCompute %main "main" %gid %values %slot
OpExecutionMode %main LocalSize 64 1 1
OpDecorate %values DescriptorSet 0
OpDecorate %values Binding 0
OpDecorate %slot DescriptorSet 0
OpDecorate %slot Binding 1
)" + kShaderDecorations +
         kInt64Decorations + kShaderTypes + kInt64Types + R"(
%values = OpVariable %plbuf StorageBuffer
%slot = OpVariable %plbuf StorageBuffer
%main = OpFunction %void None %fn
%entry = OpLabel
%g = OpLoad %v3u %gid
%i = OpCompositeExtract %u32 %g 0
%n = OpArrayLength %u32 %values 0
%inside = OpULessThan %bool %i %n
OpSelectionMerge %end None
OpBranchConditional %inside %body %end
%body = OpLabel
%pv = OpAccessChain %pl %values %int0 %i
%v = OpLoad %i64 %pv
%negative = OpSLessThan %bool %v %l0
OpSelectionMerge %done None
OpBranchConditional %negative %trap %done
%trap = OpLabel
%ps = OpAccessChain %pl %slot %int0 %u0
%iu = OpUConvert %u64 %i
%il = OpBitcast %i64 %iu
%old = OpAtomicSMin %i64 %ps %device %relaxed %il
OpBranch %done
%done = OpLabel
OpBranch %end
%end = OpLabel
OpReturn
OpFunctionEnd
)";
}

/// kiln's gather of rows of an f32[rows, width] table (binding 0) by i64 indices (binding 1)
/// into f32[indices, width] (binding 2), with the index trap's error slot at binding 3: an
/// index out of [0, rows) stores 0 and reports the first such position.
inline std::string gatherRowsShader(int rows, int width) {
  return R"(
OpCapability Shader
OpCapability Int64
OpCapability Int64Atomics
OpMemoryModel Logical GLSL450
OpEntryPoint GLCompute %main "main" %gid %table %ids %out %slot
OpExecutionMode %main LocalSize 64 1 1
OpDecorate %table DescriptorSet 0
OpDecorate %table Binding 0
OpDecorate %ids DescriptorSet 0
OpDecorate %ids Binding 1
OpDecorate %out DescriptorSet 0
OpDecorate %out Binding 2
OpDecorate %slot DescriptorSet 0
OpDecorate %slot Binding 3
)" + kShaderDecorations +
         kInt64Decorations + kShaderTypes + kInt64Types + "%width = OpConstant %u32 " +
         std::to_string(width) + "\n%rows = OpConstant %i64 " + std::to_string(rows) + R"(
%table = OpVariable %pfbuf StorageBuffer
%ids = OpVariable %plbuf StorageBuffer
%out = OpVariable %pfbuf StorageBuffer
%slot = OpVariable %plbuf StorageBuffer
%main = OpFunction %void None %fn
%entry = OpLabel
%g = OpLoad %v3u %gid
%i = OpCompositeExtract %u32 %g 0
%n = OpArrayLength %u32 %out 0
%inside = OpULessThan %bool %i %n
OpSelectionMerge %end None
OpBranchConditional %inside %body %end
%body = OpLabel
%r = OpUDiv %u32 %i %width
%c = OpUMod %u32 %i %width
%pid = OpAccessChain %pl %ids %int0 %r
%id = OpLoad %i64 %pid
%ge = OpSGreaterThanEqual %bool %id %l0
%lt = OpSLessThan %bool %id %rows
%ok = OpLogicalAnd %bool %ge %lt
%po = OpAccessChain %pf %out %int0 %i
OpSelectionMerge %done None
OpBranchConditional %ok %copy %trap
%copy = OpLabel
%idu = OpBitcast %u64 %id
%id32 = OpUConvert %u32 %idu
%row = OpIMul %u32 %id32 %width
%at = OpIAdd %u32 %row %c
%pt = OpAccessChain %pf %table %int0 %at
%v = OpLoad %f32 %pt
OpStore %po %v
OpBranch %done
%trap = OpLabel
OpStore %po %f0
%ps = OpAccessChain %pl %slot %int0 %u0
%ru = OpUConvert %u64 %r
%rl = OpBitcast %i64 %ru
%old = OpAtomicSMin %i64 %ps %device %relaxed %rl
OpBranch %done
%done = OpLabel
OpBranch %end
%end = OpLabel
OpReturn
OpFunctionEnd
)";
}

} // namespace kiln::test
