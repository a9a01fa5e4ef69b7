// ORC LLJIT for the host. The optimiser is given the host's TargetMachine: without it the loop
// vectoriser sees no vector registers. The module is compiled to an object file with that
// TargetMachine and the JIT links the object, so a cached object and a fresh one take the same
// path. Debian's LLVM has no exceptions, so every Error and Expected is checked here and
// turned into a kiln::Error.

#include "backend/cpu/jit.h"

#include "backend/cpu/compile_cache.h"
#include "backend/cpu/llvm_codegen.h"
#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <atomic>
#include <mutex>

namespace kiln::cpu {
namespace {

/// kiln's version as the cache sees it; bump the format number when the entry's meaning
/// changes. The build stamps retire entries whenever the code generator or this file change.
constexpr const char *kKilnVersion = "kiln 0.1, cpu cache format 1";

std::atomic<int64_t> codegen_runs{0};

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

const std::vector<bool> &noaliasOf(const JitProgram &p, size_t i) {
  static const std::vector<bool> all;
  return i < p.noalias.size() ? p.noalias[i] : all;
}

/// A module holding every kernel, optimised at O3 for the target.
std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, llvm::TargetMachine &tm,
                                          const JitProgram &program) {
  auto module = std::make_unique<llvm::Module>("kiln", ctx);
  module->setDataLayout(tm.createDataLayout());
  module->setTargetTriple(tm.getTargetTriple().str());
  for (size_t i = 0; i < program.kernels.size(); ++i) {
    kernel::assertValid(program.kernels[i]);
    emitKernel(*module, tm, program.kernels[i], symbolOf(i), noaliasOf(program, i));
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

/// Optimises the program and compiles it to an object file for the host.
std::vector<char> compileToObject(llvm::orc::JITTargetMachineBuilder &jtmb,
                                  const JitProgram &program) {
  ++codegen_runs;
  auto tm = take(jtmb.createTargetMachine(), "creating the target machine");
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = buildModule(ctx, *tm, program);
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw Error({}, "cpu backend: the host's target machine cannot emit object files");
  codegen.run(*module);
  return std::vector<char>(object.begin(), object.end());
}

/// Everything the machine code depends on, as text to hash.
std::string identityOf(const llvm::orc::JITTargetMachineBuilder &jtmb, const JitProgram &p) {
  std::string id =
      fmt::format("{}\njit built {}\ncodegen built {}\nLLVM {}\ntriple {}\ncpu {}\n"
                  "features {}\n",
                  kKilnVersion, __DATE__ " " __TIME__, codegenBuildStamp(), LLVM_VERSION_STRING,
                  jtmb.getTargetTriple().str(), jtmb.getCPU(), jtmb.getFeatures().getString());
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    id += fmt::format("kernel {} noalias ", i);
    for (bool b : noaliasOf(p, i))
      id += b ? '1' : '0';
    id += "\n" + kernel::print(p.kernels[i], /*all_constants=*/true) + "\n";
  }
  return id;
}

} // namespace

struct JitKernels::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

JitKernels::JitKernels() : impl_(std::make_unique<Impl>()) {}
JitKernels::~JitKernels() = default;

namespace {

/// Links an object file into a fresh JIT and looks up every kernel; the error says why not.
llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>>
linkObject(llvm::orc::JITTargetMachineBuilder jtmb, std::span<const char> object, size_t n,
           std::vector<KernelFn> &functions) {
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create();
  if (!jit)
    return jit.takeError();
  // Failures come back through the lookups below; the default reporter would print them.
  (*jit)->getExecutionSession().setErrorReporter(
      [](llvm::Error err) { llvm::consumeError(std::move(err)); });
  // Kernels call libm (tanhf, erff, ...): resolve such symbols in this process.
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!generator)
    return generator.takeError();
  (*jit)->getMainJITDylib().addGenerator(std::move(*generator));
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()),
                                                     "kiln-kernels");
  if (llvm::Error err = (*jit)->addObjectFile(std::move(buffer)))
    return err;
  functions.clear();
  for (size_t i = 0; i < n; ++i) {
    auto addr = (*jit)->lookup(symbolOf(i));
    if (!addr)
      return addr.takeError();
    functions.push_back(addr->toPtr<KernelFn>());
  }
  return std::move(*jit);
}

} // namespace

std::shared_ptr<const JitKernels> JitKernels::compile(const JitProgram &program, bool use_cache,
                                                      CodeSource *source) {
  llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
  size_t n = program.kernels.size();
  std::string key;
  if (use_cache) {
    key = cacheKey(identityOf(jtmb, program));
    if (auto hit = findInMemory(key)) {
      if (source)
        *source = CodeSource::MemoryCache;
      return hit;
    }
    if (std::optional<std::vector<char>> object = readCachedObject(key)) {
      std::shared_ptr<JitKernels> out(new JitKernels());
      auto jit = linkObject(jtmb, *object, n, out->functions_);
      if (jit) {
        out->impl_->jit = std::move(*jit);
        keepInMemory(key, out);
        if (source)
          *source = CodeSource::DiskCache;
        return out;
      }
      // An entry that passed the checks yet does not link is rebuilt and overwritten.
      llvm::consumeError(jit.takeError());
    }
  }
  std::vector<char> object = compileToObject(jtmb, program);
  std::shared_ptr<JitKernels> out(new JitKernels());
  out->impl_->jit = take(linkObject(jtmb, object, n, out->functions_), "linking the kernels");
  if (use_cache) {
    writeCachedObject(key, object);
    keepInMemory(key, out);
  }
  if (source)
    *source = CodeSource::Compiled;
  return out;
}

std::string programKey(const JitProgram &program) {
  return cacheKey(identityOf(hostBuilder(), program));
}

int64_t codegenRuns() { return codegen_runs.load(); }

std::string optimizedIR(std::span<const kernel::Kernel> kernels) {
  return optimizedIR(JitProgram{kernels, {}});
}

std::string optimizedIR(const JitProgram &program) {
  llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
  auto tm = take(jtmb.createTargetMachine(), "creating the target machine");
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = buildModule(ctx, *tm, program);
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, nullptr);
  return os.str();
}

} // namespace kiln::cpu
