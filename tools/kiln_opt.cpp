// kiln-opt: reads text IR, runs passes, prints the result; the pass-level test driver.

#include "backend/backend.h"
#include "backend/kernel/lower.h"
#include "ir/dot.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"
#include "tools/backend_flags.h"
#include "tools/emit_command.h"
#include "tools/expected_diagnostics.h"
#include "tools/tensor_summary.h"
#include "tools/tool_support.h"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <sstream>

namespace kiln {
namespace {

struct Options {
  std::string input = "-";
  std::string output = "-";
  std::vector<std::string> pipeline; // pass names in command-line order
  std::string pipeline_name;         // --pipeline, whose passes --precision changes
  std::string precision = "f32";     // --precision
  PassOptions pass_options;          // --NAME=VALUE for options the passes declare
  PassManagerOptions pm;
  bool split_input_file = false;
  bool verify_diagnostics = false;
  bool run = false;
  bool print_full = false; // --print-full: every element of each output, on one line
  std::string run_inputs;
  std::string run_outputs;
  uint64_t seed = 0;
  bool promote_f64 = false;
  bool seed_given = false;
  std::string backend = "reference";
  bool backend_given = false;
  bool cpu_kernels_given = false;
  CompileOptions compile; // --threads, --no-cache
  Locations locations = Locations::User;
  int64_t elide_constants = 0; // --elide-constants-larger-than; 0 prints every value
  std::string level = "graph"; // what to print: graph, kernels, spirv or memory
  std::string format = "text"; ///< --format: the graph as text, or a picture (dot, svg, png)
  DotOptions dot;              ///< --dot-depth
};

void printHelp() {
  std::cout << "usage: kiln-opt [options] [input-file]\n\n"
               "Reads kiln graph IR from input-file (default: stdin), runs the passes given by\n"
               "flags in command-line order, and prints the resulting IR.\n\n"
               "Passes:\n";
  for (const PassInfo &p : allPasses()) {
    std::cout << fmt::format("  --{:<24} {}\n", p.name, p.summary);
    for (const PassOption &opt : p.options)
      std::cout << fmt::format("      --{}=VALUE{:<{}} {}\n", opt.name, "",
                               std::max<int>(0, 14 - static_cast<int>(opt.name.size())), opt.help);
  }
  std::cout
      << "\nOptions:\n"
         "  --passes=a,b,c             run these passes, in order\n"
         "  --pipeline=infer|train     canonicalize, cse and the fusions, then (train) autodiff\n"
         "                             and the optimizer, then cse, dce, fuse-elementwise and\n"
         "                             (train) schedule-updates\n"
         "  --precision=f32|bf16       with --pipeline: bf16 adds mixed-precision after the\n"
         "                             fusions, as kiln train --precision bf16 does\n"
         "  --list-passes              list the passes and exit\n"
         "  -o FILE                    write the output to FILE (default: stdout)\n"
         "  --verify-each[=true|false] verify the graph after every pass (default: true)\n"
         "  --print-ir-after-all       print the IR to stderr after every pass\n"
         "  --print-ir-after=PASS      print the IR to stderr after PASS (repeatable)\n"
         "  --split-input-file         treat '// -----' lines as separators of independent inputs\n"
         "  --verify-diagnostics       check errors against '// expected-error {{...}}' comments,\n"
         "                             and with --remarks=missed remarks against expected-remark\n"
         "  --timing                   report the time spent in each pass (stderr)\n"
         "  --pass-statistics          report what each pass changed, and with --run what the\n"
         "                             backend compiled: kernels, fallbacks, memory (stderr)\n"
         "  --remarks=missed           report where a pass could not rewrite, and why (stderr)\n"
         "  --locations=user|full|none where loc(...) points: user (default) the model's line\n"
         "                             that called a node's module, and the module's scope\n"
         "                             (in \"decoder.layers.1.self_attn\"); full also the line\n"
         "                             inside the module; none prints no loc(...)\n"
         "  --no-locations             the same as --locations=none\n"
         "  --format=text|dot|svg|png  print the graph as text (default) or as a picture: dot\n"
         "                             (Graphviz's language), svg or png (drawn by Graphviz's\n"
         "                             dot), one box per module scope\n"
         "  --dot-depth=N              pictures: boxes for the first N levels of module scopes\n"
         "                             (decoder, layers.1, self_attn); deeper ones are drawn in\n"
         "                             their ancestor's box (default: all)\n"
         "  --elide-constants-larger-than=N\n"
         "                             print a constant of more than N values as its type and\n"
         "                             a hash, for reading: such text does not parse back\n"
         "                             (default 0: print every value)\n"
         "  --print-kernels            print the kernels the cpu backend runs instead of the "
         "graph:\n"
         "                             the kernel IR of each, and which nodes oneDNN computes or\n"
         "                             fall back to reference kernels (see --cpu-kernels)\n"
         "  --emit-spirv               print the SPIR-V assembly of each kernel instead of the\n"
         "                             graph (the cpu backend's kernels with JIT loops\n"
         "                             everywhere), each validated for Vulkan 1.2\n"
         "  --print-ptx                print the PTX (sm_90) of a kernel for every node, as\n"
         "                             kiln emit --target ptx --single-module writes it\n"
         "  --print-memory-plan        print the memory plan: each value's arena, offset, size\n"
         "                             and live range, then the arenas and the peak\n"
         "  --run                      run the result on a backend (--backend) and print each\n"
         "                             output as NumPy does: name, dtype and shape; min, max\n"
         "                             and mean (nan and inf counted); then the values, where\n"
         "                             a tensor of more than 1000 elements shows the first and\n"
         "                             last 3 items of each longer axis, with ... between\n"
         "  --print-full               with --run: print every element instead, an output a\n"
         "                             line, as nested lists in the shortest exact spelling\n"
         "  --inputs FILE              with --run: inputs by name from a safetensors file\n"
         "  --seed N                   with --run: seed of the random inputs: floats in [-1, 1),\n"
         "                             integers 0 or 1, a seed-role key any 32-bit words\n"
         "                             (default 0)\n"
         "  --outputs FILE             with --run: write the outputs to a safetensors file\n"
         "  --f64                      with --run: compute f32 graphs in f64 (reference only)\n"
         "  --backend NAME             with --run: where to run, one of " +
             backendNames() +
             "\n"
             "                             (default reference, the oracle pass tests compare on)\n"
             "  --threads N                with --run: threads for parallel loops (0, the "
             "default:\n"
             "                             every core this process may use)\n"
             "  --no-cache                 with --run: compile afresh, without the kernel cache\n"
             "  --cpu-kernels=MODE         with --run --backend cpu, --print-kernels or\n"
             "                             --print-memory-plan: auto\n"
             "                             (oneDNN where it measured faster, attention as GEMMs),\n"
             "                             jit or onednn (default auto)\n"
             "  --list-backends            list the backends\n"
             "  --list-ops                 list the ops of the op table\n"
             "  -h, --help                 show this help\n\n"
      << tools::kExitStatusHelp << "\n";
}

/// Whether some pass declares an option of this name.
bool isPassOption(std::string_view name) {
  for (const PassInfo &p : allPasses())
    for (const PassOption &opt : p.options)
      if (opt.name == name)
        return true;
  return false;
}

/// Parses arguments; returns nullopt after --help or a --list-... flag.
std::optional<Options> parseArgs(int argc, char **argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](size_t &i, const std::string &flag) -> std::string {
    if (i + 1 >= args.size())
      throw UsageError({}, fmt::format("option '{}' needs a value", flag));
    return args[++i];
  };
  bool have_input = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    auto eq = a.find('=');
    std::string flag = a.substr(0, eq), arg = eq == std::string::npos ? "" : a.substr(eq + 1);
    // An option's value, given as --flag=VALUE or as --flag VALUE.
    auto given = [&] { return eq == std::string::npos ? value(i, flag) : arg; };
    if (a == "-h" || a == "--help") {
      printHelp();
      return std::nullopt;
    } else if (a == "--list-ops") {
      for (const OpDef *op : allOps())
        std::cout << fmt::format("{:<28} {}{}\n", op->name, op->summary,
                                 op->differentiable == Differentiable::No ? " (no gradient)" : "");
      return std::nullopt;
    } else if (a == "--list-backends") {
      for (const Backend *b : allBackends())
        std::cout << fmt::format("{:<24} {}\n", b->name(), b->summary());
      return std::nullopt;
    } else if (a == "--list-passes") {
      for (const PassInfo &p : allPasses())
        std::cout << fmt::format("{:<24} {}\n", p.name, p.summary);
      return std::nullopt;
    } else if (flag == "--pipeline") {
      if (!o.pipeline_name.empty())
        throw UsageError({}, "--pipeline is given twice");
      arg = given();
      pipelinePasses(arg); // checks the name
      o.pipeline_name = arg;
      o.pipeline.push_back("--pipeline");
    } else if (flag == "--precision") {
      o.precision = given();
    } else if (flag == "--passes") {
      arg = given();
      for (size_t s = 0; s <= arg.size();) {
        size_t c = std::min(arg.find(',', s), arg.size());
        if (c > s)
          o.pipeline.push_back(arg.substr(s, c - s));
        s = c + 1;
      }
    } else if (a == "-o") {
      o.output = value(i, a);
    } else if (flag == "--verify-each") {
      if (!arg.empty() && arg != "true" && arg != "false")
        throw UsageError({}, fmt::format("--verify-each takes true or false, found '{}'", arg));
      o.pm.verify_each = arg != "false";
    } else if (a == "--print-ir-after-all") {
      o.pm.print_after_all = true;
    } else if (flag == "--print-ir-after") {
      arg = given();
      if (!lookupPass(arg))
        throw UsageError({}, fmt::format("--print-ir-after: unknown pass '{}'; known passes: {}",
                                         arg, passNames()));
      o.pm.print_after.insert(arg);
    } else if (a == "--split-input-file") {
      o.split_input_file = true;
    } else if (a == "--verify-diagnostics") {
      o.verify_diagnostics = true;
    } else if (a == "--timing") {
      o.pm.timing = true;
    } else if (a == "--pass-statistics") {
      o.pm.statistics = true;
    } else if (flag == "--remarks") {
      arg = given();
      if (arg != "missed")
        throw UsageError({}, fmt::format("--remarks takes 'missed', found '{}'", arg));
      o.pm.remarks_missed = true;
    } else if (flag == "--format") {
      arg = given();
      if (arg != "text" && arg != "dot" && arg != "svg" && arg != "png")
        throw UsageError({}, fmt::format("--format takes text, dot, svg or png, found '{}'", arg));
      o.format = arg;
    } else if (flag == "--dot-depth") {
      arg = given();
      auto res = std::from_chars(arg.data(), arg.data() + arg.size(), o.dot.depth);
      if (res.ec != std::errc() || res.ptr != arg.data() + arg.size() || o.dot.depth < 0)
        throw UsageError({}, fmt::format("--dot-depth takes a number of levels, found '{}'", arg));
    } else if (a == "--no-locations") {
      o.locations = Locations::None;
    } else if (flag == "--locations") {
      arg = given();
      std::optional<Locations> detail = locationsNamed(arg);
      if (!detail)
        throw UsageError({}, fmt::format("--locations takes user, full or none, found '{}'", arg));
      o.locations = *detail;
    } else if (flag == "--elide-constants-larger-than") {
      std::string n = given();
      auto res = std::from_chars(n.data(), n.data() + n.size(), o.elide_constants);
      if (res.ec != std::errc() || res.ptr != n.data() + n.size() || o.elide_constants < 0)
        throw UsageError({}, fmt::format("--elide-constants-larger-than takes a number of "
                                         "values (0: elide none), found '{}'",
                                         n));
    } else if (a == "--print-kernels" || a == "--print-memory-plan" || a == "--emit-spirv" ||
               a == "--print-ptx") {
      std::string level = a == "--print-kernels" ? "kernels"
                          : a == "--emit-spirv"  ? "spirv"
                          : a == "--print-ptx"   ? "ptx"
                                                 : "memory";
      if (o.level != "graph" && o.level != level)
        throw UsageError({}, "--print-kernels, --print-memory-plan, --emit-spirv and --print-ptx "
                             "exclude each other");
      o.level = level;
    } else if (a == "--run") {
      o.run = true;
    } else if (a == "--print-full") {
      o.print_full = true;
    } else if (flag == "--inputs") {
      o.run_inputs = given();
    } else if (flag == "--outputs") {
      o.run_outputs = given();
    } else if (flag == "--seed") {
      std::string s = given();
      auto res = std::from_chars(s.data(), s.data() + s.size(), o.seed);
      int64_t negative = 0;
      auto as_signed = std::from_chars(s.data(), s.data() + s.size(), negative);
      if (as_signed.ec == std::errc() && as_signed.ptr == s.data() + s.size() && negative < 0)
        throw Error({}, fmt::format("--seed must be an integer in [0, 2^64), found {}", s));
      if (res.ec == std::errc::invalid_argument || res.ptr != s.data() + s.size())
        throw UsageError({}, fmt::format("--seed takes an integer, found '{}'", s));
      if (res.ec != std::errc())
        throw Error({}, fmt::format("--seed must be an integer in [0, 2^64), found {}", s));
      o.seed_given = true;
    } else if (a == "--f64") {
      o.promote_f64 = true;
    } else if (flag == "--backend") {
      o.backend = given();
      getBackend(o.backend);
      o.backend_given = true;
    } else if (flag == "--threads") {
      std::string t = given();
      auto res = std::from_chars(t.data(), t.data() + t.size(), o.compile.threads);
      if (res.ec == std::errc::invalid_argument || res.ptr != t.data() + t.size())
        throw UsageError({}, fmt::format("--threads takes an integer, found '{}'", t));
      if (res.ec != std::errc() || o.compile.threads < 0 || o.compile.threads > 4096)
        throw Error({}, fmt::format("--threads must be in [0, 4096], found {}", t));
      o.backend_given = true;
    } else if (a == "--no-cache") {
      o.compile.use_cache = false;
      o.backend_given = true;
    } else if (flag == "--cpu-kernels") {
      o.compile.cpu_kernels = parseCpuKernels(given());
      o.cpu_kernels_given = true;
    } else if (flag.size() > 2 && flag.rfind("--", 0) == 0 && eq != std::string::npos &&
               isPassOption(flag.substr(2))) {
      o.pass_options[flag.substr(2)] = arg;
    } else if (a.size() > 2 && a.rfind("--", 0) == 0 && eq == std::string::npos &&
               lookupPass(a.substr(2))) {
      o.pipeline.push_back(a.substr(2));
    } else if (a != "-" && a.rfind("-", 0) == 0) {
      throw UsageError({},
                       fmt::format("unknown option '{}' (see --help; passes: {})", a, passNames()));
    } else {
      if (have_input)
        throw UsageError({}, fmt::format("more than one input file: '{}' and '{}'", o.input, a));
      o.input = a;
      have_input = true;
    }
  }
  if (o.precision != "f32" && o.pipeline_name.empty())
    throw UsageError({},
                     "--precision applies to --pipeline (elsewhere, add --mixed-precision where "
                     "it belongs)");
  // The pipeline's passes stand where --pipeline stood.
  if (auto at = std::find(o.pipeline.begin(), o.pipeline.end(), "--pipeline");
      at != o.pipeline.end()) {
    std::vector<std::string> passes = pipelinePasses(o.pipeline_name, o.precision);
    at = o.pipeline.erase(at);
    o.pipeline.insert(at, passes.begin(), passes.end());
  }
  for (const std::string &p : o.pipeline)
    if (!lookupPass(p))
      throw Error({}, fmt::format("unknown pass '{}'; known passes: {}", p, passNames()));
  if (!o.run && (!o.run_inputs.empty() || !o.run_outputs.empty() || o.seed_given || o.promote_f64 ||
                 o.backend_given))
    throw UsageError({}, "--inputs, --outputs, --seed, --f64, --backend, --threads and --no-cache "
                         "need --run");
  if (o.print_full && !o.run)
    throw UsageError({}, "--print-full changes what --run prints; it needs --run");
  if (o.print_full && !o.run_outputs.empty())
    throw UsageError({}, "--print-full changes what --run prints; with --outputs it prints "
                         "nothing");
  if (o.cpu_kernels_given && !o.run && o.level == "graph")
    throw UsageError({}, "--cpu-kernels needs --run, --print-kernels or --print-memory-plan");
  if (o.cpu_kernels_given && o.run && o.backend != "cpu")
    throw UsageError({}, fmt::format("--cpu-kernels is for --backend cpu, not '{}'", o.backend));
  if (o.run && o.level != "graph")
    throw UsageError({},
                     "--run prints outputs; it excludes --print-kernels, --print-memory-plan and "
                     "--emit-spirv");
  if (o.promote_f64 && o.backend != "reference")
    throw UsageError({},
                     fmt::format("--f64 runs on the reference backend only, not '{}'", o.backend));
  // An option no pass of the pipeline reads is a mistake, not a no-op.
  for (const auto &[name, value] : o.pass_options) {
    bool used = false;
    for (const std::string &p : o.pipeline)
      for (const PassOption &opt : lookupPass(p)->options)
        used |= opt.name == name;
    if (!used) {
      std::vector<std::string> owners;
      for (const PassInfo &p : allPasses())
        for (const PassOption &opt : p.options)
          if (opt.name == name)
            owners.emplace_back(p.name);
      throw UsageError({}, fmt::format("--{}=... is an option of the {} pass, which is not run "
                                       "(add --{} or a --pipeline that runs it)",
                                       name, fmt::join(owners, " and "), owners.front()));
    }
  }
  // The passes check their options when they are made: once here, before any input is read.
  for (const std::string &p : o.pipeline)
    lookupPass(p)->create(o.pass_options);
  return o;
}

/// One chunk of the input file and the line it starts on.
struct Chunk {
  std::string text;
  int first_line = 1;
};

/// Whether a line is a split marker: "// -----" with only spaces around it.
bool isSeparator(std::string_view line) {
  size_t first = line.find_first_not_of(" \t\r");
  if (first == std::string_view::npos)
    return false;
  line = line.substr(first);
  if (line.substr(0, 8) != "// -----")
    return false;
  return line.substr(8).find_first_not_of(" \t\r") == std::string_view::npos;
}

std::vector<Chunk> splitInput(const std::string &text, bool split) {
  std::vector<Chunk> chunks{{"", 1}};
  if (!split) {
    chunks[0].text = text;
    return chunks;
  }
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (isSeparator(line)) {
      chunks.push_back({"", lineno + 1});
      continue;
    }
    chunks.back().text += line + "\n";
  }
  return chunks;
}

/// Runs parse, passes and (optionally) the interpreter on one chunk; returns its output text.
/// Remarks go to `remarks`.
std::string processChunk(const Options &o, const Chunk &c, std::vector<Remark> &remarks) {
  auto g = parseGraph(c.text, o.input == "-" ? "<stdin>" : o.input, c.first_line);
  PassManager pm(o.pm);
  for (const std::string &name : o.pipeline)
    pm.addPass(lookupPass(name)->create(o.pass_options));
  try {
    pm.run(*g, std::cerr);
  } catch (...) {
    remarks = pm.remarks();
    throw;
  }
  remarks = pm.remarks();
  pm.report(std::cerr);
  if (o.level == "kernels")
    return tools::kernelsText(*g, o.compile.cpu_kernels);
  if (o.level == "spirv")
    return tools::spirvText(*g);
  if (o.level == "memory")
    return tools::memoryPlanText(*g, o.compile.cpu_kernels);
  if (o.level == "ptx")
    return tools::ptxText(*g);
  if (!o.run && o.format != "text")
    return tools::renderDot(printDot(*g, o.dot), o.format);
  if (!o.run)
    return printGraph(*g, PrintOptions{o.locations, o.elide_constants});
  std::vector<HostBuffer> inputs = o.run_inputs.empty()
                                       ? tools::randomInputs(*g, o.seed)
                                       : tools::inputsFromSafetensors(*g, o.run_inputs);
  CompileOptions compile = o.compile;
  compile.promote_f64 = o.promote_f64;
  std::unique_ptr<Executable> program = getBackend(o.backend).compile(*g, compile);
  if (o.pm.statistics) {
    // What the backend made of the graph: kernels, fallbacks to reference kernels, memory.
    std::cerr << fmt::format("{} backend\n", o.backend);
    for (const auto &[name, value] : program->statistics())
      std::cerr << fmt::format("  ({}) {}\n", value, name);
  }
  std::vector<HostBuffer> outputs = program->run(inputs);
  std::vector<std::string> names;
  for (const auto &out : g->outputs())
    names.push_back(out.name);
  if (!o.run_outputs.empty()) {
    tools::writeBuffers(o.run_outputs, names, outputs);
    return "";
  }
  std::string text;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (o.print_full) {
      text += tools::tensorLine(names[i], outputs[i]);
    } else {
      // A blank line between summaries, which take several lines each.
      text += (i ? "\n" : "") + tools::tensorSummary(names[i], outputs[i]);
    }
  }
  return text;
}

/// Checks one chunk's diagnostics against its expectations; returns whether they agree.
bool verifyChunk(const Options &o, const Chunk &c, std::string &output) {
  std::string file = o.input == "-" ? "<stdin>" : o.input;
  std::vector<tools::ExpectedDiagnostic> expected, expected_remarks;
  tools::ExpectedDiagnostics directives =
      tools::parseExpectedDiagnostics(c.text, c.first_line, file);
  if (!directives.malformed.empty()) {
    // Directives that cannot be read fail their chunk, each named; other chunks are still checked.
    for (const Error &e : directives.malformed)
      std::cerr << e.what() << "\n";
    return false;
  }
  for (tools::ExpectedDiagnostic &x : directives.directives)
    (x.kind == "remark" ? expected_remarks : expected).push_back(std::move(x));
  bool ok = true;
  std::vector<Remark> remarks;
  auto checkRemarks = [&] {
    for (const Remark &r : remarks) {
      bool matched = false;
      for (tools::ExpectedDiagnostic &x : expected_remarks)
        if (!x.seen && r.loc.file == file && r.loc.line == x.line &&
            r.message.find(x.text) != std::string::npos) {
          x.seen = matched = true;
          break;
        }
      if (!matched) {
        std::cerr << fmt::format("{}: remark: {}\n{}: error: unexpected remark\n", r.loc.str(),
                                 r.message, r.loc.str());
        ok = false;
      }
    }
    for (const tools::ExpectedDiagnostic &x : expected_remarks)
      if (!x.seen) {
        std::cerr << fmt::format("{}:{}: error: expected remark \"{}\" was not produced\n", file,
                                 x.line, x.text);
        ok = false;
      }
  };
  try {
    output += processChunk(o, c, remarks);
    checkRemarks();
  } catch (const Error &e) {
    checkRemarks();
    bool matched = false;
    for (tools::ExpectedDiagnostic &x : expected)
      if (!x.seen && e.location().file == file && e.location().line == x.line &&
          e.message().find(x.text) != std::string::npos) {
        x.seen = matched = true;
        break;
      }
    if (!matched) {
      std::cerr << e.what() << "\n"
                << fmt::format("{}: error: unexpected error\n", e.location().str());
      ok = false;
    }
  }
  for (const tools::ExpectedDiagnostic &x : expected)
    if (!x.seen) {
      std::cerr << fmt::format("{}:{}: error: expected error \"{}\" was not produced\n", file,
                               x.line, x.text);
      ok = false;
    }
  return ok;
}

int runMain(int argc, char **argv) {
  std::optional<Options> opts = parseArgs(argc, argv);
  if (!opts)
    return 0;
  const Options &o = *opts;
  std::string text = tools::readTextFile(o.input);
  std::vector<Chunk> chunks = splitInput(text, o.split_input_file);
  if (!o.run_outputs.empty() && chunks.size() > 1)
    throw UsageError({}, "--outputs writes one file: it cannot take the outputs of several "
                         "--split-input-file chunks");
  std::string output;
  bool ok = true;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i)
      output += "// -----\n";
    if (o.verify_diagnostics) {
      ok &= verifyChunk(o, chunks[i], output);
      continue;
    }
    std::vector<Remark> remarks;
    auto printRemarks = [&] {
      for (const Remark &r : remarks)
        std::cerr << fmt::format("{}: remark: {}\n", r.loc.str(), r.message);
    };
    try {
      output += processChunk(o, chunks[i], remarks);
      printRemarks();
    } catch (const Error &e) {
      printRemarks();
      if (e.location().known())
        std::cerr << e.what() << "\n";
      else
        std::cerr << fmt::format("{}: error: {}\n", o.input == "-" ? "<stdin>" : o.input,
                                 e.message());
      ok = false;
    }
  }
  // A failed run leaves the output file alone (it may be the input, as in -o x.kir x.kir).
  if (!ok && o.output != "-")
    return 1;
  tools::writeTextFile(o.output, output);
  return ok ? 0 : 1;
}

} // namespace
} // namespace kiln

int main(int argc, char **argv) {
  return kiln::tools::runTool("kiln-opt", kiln::runMain, argc, argv);
}
