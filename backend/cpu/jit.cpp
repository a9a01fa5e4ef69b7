// ORC LLJIT for the host. The optimiser is given the host's TargetMachine: without it the loop
// vectoriser sees no vector registers. Debian's LLVM has no exceptions, so every Error and
// Expected is checked here and turned into a kiln::Error.

#include "backend/cpu/jit.h"

#include "backend/cpu/llvm_codegen.h"
#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <mutex>

namespace kiln::cpu {
namespace {

[[noreturn]] void fail(std::string_view what, llvm::Error err) {
  throw Error({}, fmt::format("cpu backend: {}: {}", what, llvm::toString(std::move(err))));
}

template <typename T> T take(llvm::Expected<T> e, std::string_view what) {
  if (!e)
    fail(what, e.takeError());
  return std::move(*e);
}

void initialize() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

llvm::orc::JITTargetMachineBuilder hostBuilder() {
  initialize();
  auto jtmb = take(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return jtmb;
}

std::string symbolOf(size_t i) { return fmt::format("kiln_kernel_{}", i); }

/// A module holding every kernel, optimised at O3 for the target.
std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, llvm::TargetMachine &tm,
                                          std::span<const kernel::Kernel> kernels) {
  auto module = std::make_unique<llvm::Module>("kiln", ctx);
  module->setDataLayout(tm.createDataLayout());
  module->setTargetTriple(tm.getTargetTriple().str());
  for (size_t i = 0; i < kernels.size(); ++i) {
    kernel::assertValid(kernels[i]);
    emitKernel(*module, tm, kernels[i], symbolOf(i));
  }
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*module, &os))
    assertionFailed("verifyModule", __FILE__, __LINE__, os.str().c_str());

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::PassBuilder pb(&tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(*module, mam);
  return module;
}

} // namespace

struct JitKernels::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

JitKernels::JitKernels() : impl_(std::make_unique<Impl>()) {}
JitKernels::~JitKernels() = default;

std::unique_ptr<JitKernels> JitKernels::compile(std::span<const kernel::Kernel> kernels) {
  llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
  auto tm = take(jtmb.createTargetMachine(), "creating the target machine");
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module = buildModule(*ctx, *tm, kernels);

  std::unique_ptr<JitKernels> out(new JitKernels());
  out->impl_->jit =
      take(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(), "creating the JIT");
  llvm::orc::LLJIT &jit = *out->impl_->jit;
  // Kernels call libm (tanhf, erff, ...): resolve such symbols in this process.
  jit.getMainJITDylib().addGenerator(
      take(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
               jit.getDataLayout().getGlobalPrefix()),
           "opening this process's symbols"));
  if (llvm::Error err =
          jit.addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx))))
    fail("adding the kernels", std::move(err));
  for (size_t i = 0; i < kernels.size(); ++i) {
    auto addr = take(jit.lookup(symbolOf(i)), "looking up a kernel");
    out->functions_.push_back(addr.toPtr<KernelFn>());
  }
  return out;
}

std::string optimizedIR(std::span<const kernel::Kernel> kernels) {
  llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
  auto tm = take(jtmb.createTargetMachine(), "creating the target machine");
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = buildModule(ctx, *tm, kernels);
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, nullptr);
  return os.str();
}

} // namespace kiln::cpu
