// ORC LLJIT for the host. The optimiser is given the host's TargetMachine: without it the loop
// vectoriser sees no vector registers. The module is compiled to an object file with that
// TargetMachine and the JIT links the object, so a cached object and a fresh one take the same
// path. A large program is cut into parts of consecutive kernels, each a module of its own in
// an LLVMContext of its own, compiled on the host's cores at once and cached part by part; the
// JIT links every part. Debian's LLVM has no exceptions, so every Error and Expected is checked
// here and turned into a kiln::Error.

#include "backend/cpu/jit.h"

#include "backend/cpu/compile_cache.h"
#include "backend/cpu/llvm_codegen.h"
#include "ir/diagnostics.h"
#include "kiln/version.h"

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

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace kiln::cpu {
namespace {

/// kiln's version as the cache sees it; bump the format number when the entry's meaning
/// changes. The build stamps retire entries whenever the code generator or this file change.
constexpr const char *kKilnVersion = "kiln " KILN_VERSION_STRING ", cpu cache format 2";

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

/// Kernels [begin, end) of a program, compiled as one module.
struct Part {
  size_t begin = 0, end = 0;
};

/// The parts a program of n kernels is compiled in: one up to 96 kernels, else one per 64 or
/// so, at most 16. The cut depends on the program alone, not on the machine, so that a cached
/// part serves every host of the same kind.
std::vector<Part> partsOf(size_t n) {
  size_t count = n <= 96 ? 1 : std::min<size_t>(16, n / 64);
  std::vector<Part> parts;
  for (size_t p = 0; p < count; ++p)
    parts.push_back({p * n / count, (p + 1) * n / count});
  return parts;
}

/// A module holding the part's kernels, optimised at O3 for the target.
std::unique_ptr<llvm::Module> buildModule(llvm::LLVMContext &ctx, llvm::TargetMachine &tm,
                                          const JitProgram &program, Part part) {
  auto module = std::make_unique<llvm::Module>("kiln", ctx);
  module->setDataLayout(tm.createDataLayout());
  module->setTargetTriple(tm.getTargetTriple().str());
  for (size_t i = part.begin; i < part.end; ++i) {
    kernel::assertValid(program.kernels[i]);
    emitKernel(*module, tm, program.kernels[i], symbolOf(i), noaliasOf(program, i),
               program.inline_math);
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

/// Optimises a part of the program and compiles it to an object file for the host.
std::vector<char> compileToObject(llvm::orc::JITTargetMachineBuilder jtmb,
                                  const JitProgram &program, Part part) {
  auto tm = take(jtmb.createTargetMachine(), "creating the target machine");
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = buildModule(ctx, *tm, program, part);
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
  if (p.inline_math)
    id += "inline math\n";
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

/// Links object files into a fresh JIT and looks up every kernel; the error says why not.
llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>>
linkObjects(llvm::orc::JITTargetMachineBuilder jtmb, const std::vector<std::vector<char>> &objects,
            size_t n, std::vector<KernelFn> &functions) {
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
  for (const std::vector<char> &object : objects) {
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
        llvm::StringRef(object.data(), object.size()), "kiln-kernels");
    if (llvm::Error err = (*jit)->addObjectFile(std::move(buffer)))
      return err;
  }
  functions.clear();
  for (size_t i = 0; i < n; ++i) {
    auto addr = (*jit)->lookup(symbolOf(i));
    if (!addr)
      return addr.takeError();
    functions.push_back(addr->toPtr<KernelFn>());
  }
  return std::move(*jit);
}

/// Compiles the parts on up to as many threads as the host has cores.
std::vector<std::vector<char>> compileParts(const llvm::orc::JITTargetMachineBuilder &jtmb,
                                            const JitProgram &program,
                                            const std::vector<Part> &parts) {
  ++codegen_runs;
  std::vector<std::vector<char>> objects(parts.size());
  std::vector<std::exception_ptr> errors(parts.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t p; (p = next++) < parts.size();) {
      try {
        objects[p] = compileToObject(jtmb, program, parts[p]);
      } catch (...) {
        errors[p] = std::current_exception();
      }
    }
  };
  size_t threads =
      std::min<size_t>(parts.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
  for (const std::exception_ptr &e : errors)
    if (e)
      std::rethrow_exception(e);
  return objects;
}

/// The disk-cache key of each part: the program's key when it is one part, else a key of the
/// program's key and the part's number.
std::vector<std::string> partKeys(const std::string &key, size_t parts) {
  if (parts == 1)
    return {key};
  std::vector<std::string> keys;
  for (size_t p = 0; p < parts; ++p)
    keys.push_back(cacheKey(fmt::format("{} part {} of {}", key, p + 1, parts)));
  return keys;
}

} // namespace

std::shared_ptr<const JitKernels> JitKernels::compile(const JitProgram &program, bool use_cache,
                                                      CodeSource *source) {
  llvm::orc::JITTargetMachineBuilder jtmb = hostBuilder();
  size_t n = program.kernels.size();
  std::vector<Part> parts = partsOf(n);
  std::string key;
  std::vector<std::string> keys;
  if (use_cache) {
    key = cacheKey(identityOf(jtmb, program));
    keys = partKeys(key, parts.size());
    if (auto hit = findInMemory(key)) {
      if (source)
        *source = CodeSource::MemoryCache;
      return hit;
    }
    std::vector<std::vector<char>> objects;
    for (const std::string &k : keys) {
      std::optional<std::vector<char>> object = readCachedObject(k);
      if (!object)
        break;
      objects.push_back(std::move(*object));
    }
    if (objects.size() == keys.size()) {
      std::shared_ptr<JitKernels> out(new JitKernels());
      auto jit = linkObjects(jtmb, objects, n, out->functions_);
      if (jit) {
        out->impl_->jit = std::move(*jit);
        keepInMemory(key, out);
        if (source)
          *source = CodeSource::DiskCache;
        return out;
      }
      // Entries that passed the checks yet do not link are rebuilt and overwritten.
      llvm::consumeError(jit.takeError());
    }
  }
  std::vector<std::vector<char>> objects = compileParts(jtmb, program, parts);
  std::shared_ptr<JitKernels> out(new JitKernels());
  out->impl_->jit = take(linkObjects(jtmb, objects, n, out->functions_), "linking the kernels");
  if (use_cache) {
    for (size_t p = 0; p < parts.size(); ++p)
      writeCachedObject(keys[p], objects[p]);
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
  std::unique_ptr<llvm::Module> module =
      buildModule(ctx, *tm, program, Part{0, program.kernels.size()});
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, nullptr);
  return os.str();
}

} // namespace kiln::cpu
