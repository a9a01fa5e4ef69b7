// The CPU backend's compile cache: a second compile of a program runs neither LLVM's optimiser
// nor its code generator (from memory, then from disk), damaged entries are rebuilt, other
// programs get other keys, and use_cache=false neither reads nor writes. Each test keeps the
// cache in a folder of its own.

#include "backend/cpu/compile_cache.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/jit.h"
#include "backend/kernel/lower.h"
#include "ir/parser.h"
#include "runtime/cache_directory.h"
#include "test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

using namespace kiln;
using namespace kiln::test;
namespace fs = std::filesystem;

namespace {

/// Points XDG_CACHE_HOME at a fresh folder and empties the memory cache; undoes both after.
class TempCache {
public:
  TempCache() {
    std::string dir = (fs::temp_directory_path() / "kiln-cache-test-XXXXXX").string();
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    dir_ = dir;
    if (const char *old = std::getenv("XDG_CACHE_HOME"))
      old_ = old;
    ::setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
    cpu::clearMemoryCache();
  }
  ~TempCache() {
    if (old_)
      ::setenv("XDG_CACHE_HOME", old_->c_str(), 1);
    else
      ::unsetenv("XDG_CACHE_HOME");
    std::error_code ec;
    fs::remove_all(dir_, ec);
    cpu::clearMemoryCache();
  }
  TempCache(const TempCache &) = delete;
  TempCache &operator=(const TempCache &) = delete;

  /// The entry files in the cache folder.
  std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir_ / "kiln", ec))
      if (e.path().extension() == ".kobj")
        out.push_back(e.path());
    return out;
  }

private:
  fs::path dir_;
  std::optional<std::string> old_;
};

std::unique_ptr<Graph> program(std::string_view op) {
  return parseGraph(fmt::format(R"(graph @cached {{
  input data %x: f32[3,70]
  input data %y: f32[3,70]
  %0 = {}(%x, %y) : f32[3,70]
  %1 = exp(%0) : f32[3,70]
  %2 = reduce_sum(%1) {{axes = [-1], keepdims = false}} : f32[3]
  output "z" = %2
}})",
                                op),
                    "cached.kir");
}

/// Compiles and runs the program; requires the reference's numbers.
std::unique_ptr<Executable> compileAndCheck(const Graph &g, CompileOptions options = {}) {
  auto exe = cpuBackend().compile(g, options);
  std::vector<Literal> inputs = randomLiterals(g, 9);
  std::vector<Literal> want = reference::run(g, inputs);
  std::vector<HostBuffer> args;
  for (const Literal &l : inputs)
    args.push_back(toBuffer(l));
  std::vector<HostBuffer> got = exe->run(args);
  REQUIRE(got.size() == 1);
  Literal have = toLiteral(got[0]);
  for (int64_t i = 0; i < have.size(); ++i)
    CHECK(have.data[i] == doctest::Approx(want[0].data[i]).epsilon(1e-5));
  return exe;
}

std::vector<char> readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const fs::path &p, const std::vector<char> &bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace

TEST_CASE("compile cache: a second compile takes the machine code from memory, then disk") {
  TempCache cache;
  auto g = program("mul");
  int64_t runs = cpu::codegenRuns();
  auto first = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(stat(*first, "program from memory cache") == 0);
  CHECK(stat(*first, "program from disk cache") == 0);
  REQUIRE(cache.entries().size() == 1);

  auto second = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(stat(*second, "program from memory cache") == 1);

  cpu::clearMemoryCache();
  auto third = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(stat(*third, "program from disk cache") == 1);
}

TEST_CASE("compile cache: a damaged or stale entry is ignored, rebuilt and rewritten") {
  TempCache cache;
  auto g = program("add");
  compileAndCheck(*g);
  REQUIRE(cache.entries().size() == 1);
  fs::path entry = cache.entries()[0];
  std::string key = entry.stem().string();
  const std::vector<char> good = readFile(entry);
  REQUIRE(good.size() > 100);

  auto flip = [](std::vector<char> b) {
    b[b.size() / 2] ^= 0x40;
    return b;
  };
  auto truncate = [](std::vector<char> b) {
    b.resize(b.size() - 17);
    return b;
  };
  auto magic = [](std::vector<char> b) {
    b[0] = 'X';
    return b;
  };
  auto other_key = [](std::vector<char> b) {
    b[8] = b[8] == 'a' ? 'b' : 'a';
    return b;
  };
  std::vector<std::pair<const char *, std::vector<char>>> damaged = {
      {"a flipped byte", flip(good)}, {"a truncated file", truncate(good)},
      {"a bad magic", magic(good)},   {"another key", other_key(good)},
      {"an empty file", {}},
  };
  for (const auto &[what, bytes] : damaged) {
    INFO(what);
    writeFile(entry, bytes);
    cpu::clearMemoryCache();
    int64_t runs = cpu::codegenRuns();
    auto rebuilt = compileAndCheck(*g);
    CHECK(cpu::codegenRuns() == runs + 1);
    CHECK(stat(*rebuilt, "program from disk cache") == 0);
    CHECK(readFile(entry) == good); // rewritten whole
  }

  // An entry whose checks pass but whose object does not link is rebuilt too.
  const char garbage[] = "not an object file";
  REQUIRE(cpu::writeCachedObject(key, std::span(garbage, sizeof(garbage))));
  REQUIRE(cpu::readCachedObject(key).has_value());
  cpu::clearMemoryCache();
  int64_t runs = cpu::codegenRuns();
  compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(readFile(entry) == good);

  cpu::clearMemoryCache();
  auto again = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(stat(*again, "program from disk cache") == 1);
}

TEST_CASE("compile cache: different programs get different keys") {
  TempCache cache;
  auto mul = program("mul"), add = program("add");
  compileAndCheck(*mul);
  compileAndCheck(*add);
  CHECK(cache.entries().size() == 2);

  std::vector<kernel::Kernel> a, b;
  for (const auto &n : mul->nodes())
    a.push_back(*kernel::lowerNode(*n));
  for (const auto &n : add->nodes())
    b.push_back(*kernel::lowerNode(*n));
  std::string ka = cpu::programKey({a, {}}), kb = cpu::programKey({b, {}});
  CHECK(ka.size() == 64);
  CHECK(ka != kb);
  CHECK(ka == cpu::programKey({a, {}}));
  // Whether a parameter may alias changes the machine code, so it is part of the key.
  std::vector<std::vector<bool>> aliasing(a.size());
  aliasing[0] = {true, false, false};
  CHECK(cpu::programKey({a, aliasing}) != ka);
}

TEST_CASE("compile cache: use_cache=false neither reads nor writes the caches") {
  TempCache cache;
  auto g = program("sub");
  int64_t runs = cpu::codegenRuns();
  auto first = compileAndCheck(*g, {.use_cache = false});
  auto second = compileAndCheck(*g, {.use_cache = false});
  CHECK(cpu::codegenRuns() == runs + 2);
  CHECK(cache.entries().empty());
  compileAndCheck(*g);
  CHECK(cache.entries().size() == 1);
  auto third = compileAndCheck(*g, {.use_cache = false});
  CHECK(cpu::codegenRuns() == runs + 4);
  CHECK(stat(*third, "program from memory cache") == 0);
}

TEST_CASE("compile cache: the folder follows XDG_CACHE_HOME, else HOME") {
  TempCache cache;
  std::string xdg = std::getenv("XDG_CACHE_HOME");
  CHECK(cacheDirectory() == (fs::path(xdg) / "kiln").string());
  ::setenv("XDG_CACHE_HOME", "relative/path", 1); // the XDG spec ignores relative paths
  if (const char *home = std::getenv("HOME"); home && home[0] == '/')
    CHECK(cacheDirectory() == (fs::path(home) / ".cache" / "kiln").string());
  ::setenv("XDG_CACHE_HOME", xdg.c_str(), 1);
}

TEST_CASE("compile cache: constant tables that differ only past what the printer shows") {
  // The printed kernel IR elides long constant tables; the cache key and kernel sharing must
  // still see every value, or one program would run the other's machine code.
  TempCache cache;
  auto table = [](int last) {
    std::string values;
    for (int i = 0; i < 20; ++i)
      values += fmt::format("{}{}", i ? ", " : "", i == 19 ? last : i);
    return parseGraph(fmt::format(R"(graph @table {{
  input data %x: f32[20]
  %0 = constant() {{shape = [20], value = [{}]}} : f32[20]
  %1 = add(%x, %0) : f32[20]
  output "y" = %1
}})",
                                  values),
                      "table.kir");
  };
  auto a = table(19), b = table(100);
  compileAndCheck(*a);
  compileAndCheck(*b);
  CHECK(cache.entries().size() == 2);
}

TEST_CASE("compile cache: a large program compiles in parts, cached part by part") {
  TempCache cache;
  // A chain of 150 nodes with distinct constants: 150 distinct kernels, more than one part.
  std::string text = "graph @long {\n  input data %x: f32[3,70]\n";
  std::string last = "%x";
  for (int i = 0; i < 150; ++i) {
    text += fmt::format("  %c{} = constant() {{value = [{}.5]}} : f32[]\n", i, i);
    text += fmt::format("  %v{} = add({}, %c{}) : f32[3,70]\n", i, last, i);
    last = fmt::format("%v{}", i);
  }
  text += fmt::format("  %s = reduce_sum({}) {{axes = [-1]}} : f32[3]\n  output \"z\" = %s\n}}\n",
                      last);
  std::unique_ptr<Graph> g = parseGraph(text, "long.kir");
  int64_t runs = cpu::codegenRuns();
  compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  std::vector<fs::path> parts = cache.entries();
  MESSAGE(parts.size() << " parts in the cache");
  REQUIRE(parts.size() >= 2);

  cpu::clearMemoryCache();
  auto again = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 1);
  CHECK(stat(*again, "program from disk cache") == 1);

  // One damaged part: the program is compiled again and every part rewritten.
  std::vector<char> good = readFile(parts[0]);
  writeFile(parts[0], {'X'});
  cpu::clearMemoryCache();
  auto rebuilt = compileAndCheck(*g);
  CHECK(cpu::codegenRuns() == runs + 2);
  CHECK(stat(*rebuilt, "program from disk cache") == 0);
  CHECK(readFile(parts[0]) == good);
  CHECK(cache.entries().size() == parts.size());
}
