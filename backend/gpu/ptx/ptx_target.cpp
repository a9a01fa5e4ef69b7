// LLVM's NVPTX target: modules of kernels optimised at O2 for an sm_* architecture and printed
// as PTX text by the target machine's assembly printer.

#include "backend/gpu/ptx/ptx.h"

#include "backend/gpu/ptx/ptx_codegen.h"
#include "backend/kernel/flatten_parallel.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>

namespace kiln::gpu {
namespace {

constexpr const char *kTriple = "nvptx64-nvidia-cuda";

/// The most dynamic shared memory a block may have (opting in above 48 KiB).
int64_t sharedLimit(const std::string &arch) { return arch == "sm_80" ? 166912 : 232448; }

std::unique_ptr<llvm::TargetMachine> targetMachine(const std::string &arch) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(kTriple, error);
  if (!target)
    throw Error({}, fmt::format("PTX: LLVM has no NVPTX target: {}", error));
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(kTriple, arch, "", llvm::TargetOptions(), std::nullopt,
                                  std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

/// Optimises a module, keeps its IR text and returns its PTX.
std::string compile(llvm::Module &module, llvm::TargetMachine &tm, std::string &ir) {
  std::string problems;
  llvm::raw_string_ostream problem_stream(problems);
  bool broken = llvm::verifyModule(module, &problem_stream);
  KILN_ASSERT(!broken, ("the PTX code generator made invalid LLVM IR: " + problems).c_str());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(module, mam);
  ir.clear();
  llvm::raw_string_ostream ir_stream(ir);
  module.print(ir_stream, nullptr);
  llvm::SmallString<0> ptx;
  llvm::raw_svector_ostream out(ptx);
  llvm::legacy::PassManager pm;
  bool failed = tm.addPassesToEmitFile(pm, out, nullptr, llvm::CodeGenFileType::AssemblyFile);
  KILN_ASSERT(!failed, "LLVM's NVPTX target cannot print PTX");
  pm.run(module);
  return std::string(ptx.str());
}

std::unique_ptr<llvm::Module> newModule(llvm::LLVMContext &ctx, const std::string &name,
                                        const llvm::TargetMachine &tm) {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  m->setTargetTriple(kTriple);
  m->setDataLayout(tm.createDataLayout());
  return m;
}

} // namespace

const std::vector<std::string> &ptxArchitectures() {
  static const std::vector<std::string> archs = {"sm_90", "sm_80"};
  return archs;
}

PtxModule emitPtx(const std::vector<kernel::Kernel> &given, const PtxOptions &options) {
  // A thread per iteration of the whole nest of independent loops (kernel/flatten_parallel.h).
  std::vector<kernel::Kernel> kernels;
  for (const kernel::Kernel &k : given)
    kernels.push_back(kernel::flattenParallelLoops(k));
  const std::vector<std::string> &archs = ptxArchitectures();
  if (std::find(archs.begin(), archs.end(), options.arch) == archs.end())
    throw Error({}, fmt::format("PTX: unknown architecture '{}'; known: {}", options.arch,
                                fmt::join(archs, ", ")));
  PtxModule out;
  std::set<std::string> names;
  for (const kernel::Kernel &k : kernels) {
    if (!names.insert(k.name).second)
      throw Error({}, fmt::format("PTX: two kernels are named {}", k.name));
    PtxKernel pk{.name = k.name, .launch = ptxLaunch(k, options)};
    if (pk.launch.shared_bytes > sharedLimit(options.arch))
      throw Error({}, fmt::format("PTX: kernel {} needs {} bytes of shared memory; a block on {} "
                                  "has at most {}",
                                  k.name, pk.launch.shared_bytes, options.arch,
                                  sharedLimit(options.arch)));
    out.kernels.push_back(std::move(pk));
  }
  std::unique_ptr<llvm::TargetMachine> tm = targetMachine(options.arch);
  llvm::LLVMContext ctx;
  if (options.separate) {
    for (size_t i = 0; i < kernels.size(); ++i) {
      std::unique_ptr<llvm::Module> m = newModule(ctx, kernels[i].name, *tm);
      emitPtxKernel(*m, kernels[i], out.kernels[i].launch);
      out.kernels[i].ptx = compile(*m, *tm, out.kernels[i].llvm_ir);
    }
    return out;
  }
  std::unique_ptr<llvm::Module> m = newModule(ctx, "kiln", *tm);
  for (size_t i = 0; i < kernels.size(); ++i)
    emitPtxKernel(*m, kernels[i], out.kernels[i].launch);
  out.ptx = compile(*m, *tm, out.llvm_ir);
  return out;
}

} // namespace kiln::gpu
