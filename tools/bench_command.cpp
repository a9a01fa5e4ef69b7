#include "tools/bench_command.h"

#include "compiler/programs.h"
#include "ir/builder.h"
#include "ir/op_handles.h"
#include "runtime/decode/cached_decoder.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"
#include "runtime/trainer.h"
#include "tools/tool_support.h"
#include "tools/train_command.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>

namespace kiln::tools {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The sizes each preset is benchmarked at unless flags say otherwise (the peers' rows).
GraphOptions defaultShape(const std::string &config) {
  if (config == "small")
    return {.batch = 32, .src_len = 32, .tgt_len = 32};
  if (config == "base")
    return {.batch = 8, .src_len = 32, .tgt_len = 32};
  return {.batch = 16, .src_len = 16, .tgt_len = 16};
}

/// The model's floating-point operations in a graph: 2 per multiply-add of every matmul and
/// attention (forward: scores and the weighted sum; backward: the four products of its
/// gradients, without the scores it recomputes). Elementwise work is left out, as is usual.
double modelFlops(const Graph &g) {
  double flops = 0;
  for (const auto &n : g.nodes()) {
    if (n->is(op::Matmul)) {
      const Shape &a = n->operands[0]->type.shape;
      int64_t k = n->getBool("transpose_a") ? a[a.size() - 2] : a.back();
      flops += 2.0 * static_cast<double>(n->result()->type.numElements()) * k;
    } else if (n->is(op::Attention) || n->is(op::AttentionGrad)) {
      const Shape &q = n->operands[0]->type.shape, &k = n->operands[1]->type.shape,
                  &v = n->operands[2]->type.shape;
      double scores = static_cast<double>(numElements(q)) / q.back() * k[k.size() - 2];
      double per_score = n->is(op::Attention) ? q.back() + v.back() : 2.0 * (q.back() + v.back());
      flops += 2.0 * scores * per_score;
    }
  }
  return flops;
}

/// The peak resident memory of this process so far, in MiB.
double peakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// The resident memory of this process now, in MiB.
double currentRssMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// oneDNN's GEMM rate on 1024^3 in a dtype (f32 or bf16) through the cpu backend on the same
/// threads, GFLOP/s (median of 5 runs after one warm-up): the yardstick for the model's rate.
double gemmRate(const CompileOptions &base, DType dtype) {
  constexpr int64_t n = 1024;
  Graph g;
  Builder b(g);
  TensorType t{dtype, {n, n}};
  Value *x = g.addInput("a", InputKind::Data, t);
  Value *y = g.addInput("b", InputKind::Data, t);
  g.addOutput("c", b.create(op::Matmul, {x, y}));
  CompileOptions o = base;
  o.cpu_kernels = CpuKernels::OneDnn;
  o.profile = false;
  auto exe = getBackend("cpu").compile(g, o);
  // The rate does not depend on the values: zeros, in either dtype.
  std::vector<HostBuffer> in = {HostBuffer(t), HostBuffer(t)};
  std::vector<double> times;
  for (int i = 0; i < 6; ++i) {
    auto start = Clock::now();
    exe->run(in);
    if (i > 0)
      times.push_back(secondsSince(start));
  }
  return 2.0 * n * n * n / median(times) / 1e9;
}

/// The program under test and how one step of it runs.
struct Workload {
  BuiltModel model;
  int64_t target_tokens = 0; ///< per step: batch x target length
};

Workload buildWorkload(const BenchFlags &f, const TransformerConfig &cfg,
                       const GraphOptions &shape) {
  Workload w;
  if (f.mode == "train") {
    OptimizerOptions opt;
    opt.d_model = cfg.d_model;
    w.model = buildTrainStep(cfg, shape, opt, withPrecision("default", f.precision));
  } else {
    GraphOptions forward = shape;
    forward.dropout = 0;
    w.model = buildLoss(cfg, forward, withPrecision("default", f.precision));
  }
  w.target_tokens = shape.batch * shape.tgt_len;
  return w;
}

/// Compiles three times: without the caches (cold), then twice with them, after the first
/// executable is gone, so the last compile reads what the second wrote to disk (cached).
/// Returns the last executable.
std::unique_ptr<Executable> compileTimed(const Backend &backend, const Graph &g, CompileOptions o,
                                         double &cold, double &cached) {
  CompileOptions no_cache = o;
  no_cache.use_cache = false;
  auto start = Clock::now();
  backend.compile(g, no_cache).reset();
  cold = secondsSince(start);
  backend.compile(g, o).reset();
  start = Clock::now();
  auto exe = backend.compile(g, o);
  cached = secondsSince(start);
  return exe;
}

void printProfile(const Executable &exe, int64_t runs, std::string_view what = "runs") {
  std::vector<KernelTime> kinds = exe.profile();
  double total = 0;
  for (const KernelTime &k : kinds)
    total += k.seconds;
  if (kinds.empty() || total <= 0)
    return;
  std::cout << fmt::format("profile over {} {} (per run: ms, share, calls):\n", runs, what);
  double shown = 0;
  for (size_t i = 0; i < kinds.size() && (i < 25 || shown < 0.95 * total); ++i) {
    const KernelTime &k = kinds[i];
    shown += k.seconds;
    std::cout << fmt::format("  {:>8.3f} ms {:>5.1f}% {:>5}  {}\n", 1e3 * k.seconds / runs,
                             100 * k.seconds / total, k.calls / runs, k.kernel);
  }
  std::cout << fmt::format("  {:>8.3f} ms in all {} kinds of kernel\n", 1e3 * total / runs,
                           kinds.size());
}

/// Seconds of each of `steps` runs after `warmup` untimed ones.
std::vector<double> timeRuns(const std::function<void()> &run, int64_t warmup, int64_t steps) {
  for (int64_t i = 0; i < warmup; ++i)
    run();
  std::vector<double> times;
  for (int64_t i = 0; i < steps; ++i) {
    auto start = Clock::now();
    run();
    times.push_back(secondsSince(start));
  }
  return times;
}

/// The bench of decoding: the encoder once and `tgt_len` decode steps with the KV cache, by
/// greedy search or a beam, on random sources; EOS never ends a row, so every run does the same
/// work. Tokens/s counts sentences times positions.
int runDecodeBench(const BenchFlags &f) {
  TransformerConfig cfg = f.model.resolve();
  GraphOptions shape = defaultShape(f.model.config);
  shape.batch = f.batch.value_or(shape.batch);
  shape.src_len = f.src_len.value_or(32);
  shape.tgt_len = f.tgt_len.value_or(32);
  int64_t width = f.mode == "beam" ? f.width : 1;
  std::string passes = withPrecision("default", f.precision);
  BuiltModel encoder = buildEncoder(cfg, {.batch = shape.batch, .src_len = shape.src_len}, passes);
  BuiltModel step = buildDecodeStep(
      cfg, {.batch = shape.batch * width, .src_len = shape.src_len, .tgt_len = shape.tgt_len},
      passes);
  std::vector<ParamSpec> params = buildTransformer(cfg, Stage::Forward, {}).params;
  int64_t count = 0;
  for (const ParamSpec &p : params)
    count += p.type.numElements();
  double flops =
      modelFlops(*encoder.graph) + static_cast<double>(shape.tgt_len) * modelFlops(*step.graph);
  CompileOptions options = f.backend.options();
  options.profile = f.profile;
  const Backend &backend = f.backend.get();
  std::string search = f.mode == "beam" ? fmt::format("beam {}", width) : "greedy";
  std::cout << fmt::format("kiln bench: {} {} decoding with a KV cache, batch {}, source {}, {} "
                           "positions, {}, backend {} (cpu kernels {}), {} parameters, {:.3f} "
                           "GFLOP per run\n",
                           cfg.name, search, shape.batch, shape.src_len, shape.tgt_len, f.precision,
                           backend.name(), cpuKernelsName(options.cpu_kernels), count, flops / 1e9)
            << std::flush;
  double cold = 0, cached = 0, step_cold = 0, step_cached = 0;
  std::unique_ptr<Executable> enc = compileTimed(backend, *encoder.graph, options, cold, cached);
  std::unique_ptr<Executable> dec =
      compileTimed(backend, *step.graph, options, step_cold, step_cached);
  cold += step_cold;
  cached += step_cached;
  std::cout << fmt::format("compile: {:.2f} s cold, {:.3f} s cached (encoder and decode step)\n",
                           cold, cached);

  Bindings weights = initialParameters(params, 0);
  decode::CachedDecoder decoder(*enc, *dec, weights);
  HostBuffer src(TensorType{DType::i64, {shape.batch, shape.src_len}});
  std::span<int64_t> s = src.as<int64_t>();
  for (size_t i = 0; i < s.size(); ++i)
    s[i] = 4 + static_cast<int64_t>((i * 7919) % static_cast<size_t>(cfg.vocab - 4));
  // No EOS: every row decodes every position.
  decode::DecodeTokens tokens{cfg.tokens.pad, cfg.tokens.bos, -1};
  auto runOnce = [&] {
    if (f.mode == "beam")
      decode::beamSearch(decoder, src, shape.tgt_len, {.width = width, .nbest = 1}, tokens);
    else
      decode::greedyDecode(decoder, src, shape.tgt_len, tokens);
  };
  std::vector<double> times = timeRuns(runOnce, f.warmup, f.steps);
  double best = *std::min_element(times.begin(), times.end()), med = median(times);
  double tokens_per_s = static_cast<double>(shape.batch * shape.tgt_len) / med;
  double gflops = flops / med / 1e9;
  std::cout << fmt::format("run: {:.2f} ms min, {:.2f} ms median over {} runs ({} warm-up); "
                           "{:.3f} ms a position\n",
                           1e3 * best, 1e3 * med, f.steps, f.warmup,
                           1e3 * med / static_cast<double>(shape.tgt_len));
  std::cout << fmt::format("throughput: {:.0f} tokens/s (sentences x positions), {:.1f} GFLOP/s\n",
                           tokens_per_s, gflops);
  double peak = peakRssMiB();
  std::cout << fmt::format("memory: {:.0f} MiB peak RSS (compiles included)\n", peak);
  if (f.profile) {
    printProfile(*dec, (f.warmup + f.steps) * shape.tgt_len, "decode steps");
    printProfile(*enc, f.warmup + f.steps, "encoder runs");
  }
  int64_t threads = 1;
  for (const auto &[name, value] : dec->statistics())
    if (name == "threads")
      threads = value;
  std::cout << fmt::format(
      "{{\"tool\": \"kiln\", \"config\": \"{}\", \"mode\": \"{}\", \"batch\": {}, \"width\": {}, "
      "\"src_len\": {}, \"tgt_len\": {}, \"precision\": \"{}\", \"threads\": {}, \"backend\": "
      "\"{}\", \"cpu_kernels\": \"{}\", \"params\": {}, \"steps\": {}, \"warmup\": {}, "
      "\"ms_min\": {:.4f}, \"ms_median\": {:.4f}, \"tokens_per_s\": {:.1f}, \"gflops\": {:.2f}, "
      "\"peak_rss_mib\": {:.1f}, \"compile_cold_s\": {:.3f}, \"compile_cached_s\": {:.4f}}}\n",
      cfg.name, f.mode, shape.batch, width, shape.src_len, shape.tgt_len, f.precision, threads,
      backend.name(), cpuKernelsName(options.cpu_kernels), count, f.steps, f.warmup, 1e3 * best,
      1e3 * med, tokens_per_s, gflops, peak, cold, cached);
  return 0;
}

} // namespace

void BenchFlags::add(CLI::App &app) {
  model.add(app);
  backend.add(app, "cpu");
  app.add_option("--mode", mode,
                 "train (forward, backward and Adam as one step), forward, or decoding with the "
                 "KV cache: greedy or beam (the encoder and --tgt-len decode steps a run)")
      ->check(CLI::IsMember({"train", "forward", "greedy", "beam"}))
      ->capture_default_str();
  app.add_option("--width", width, "beam: the beam's width")
      ->check(between(1, 256))
      ->capture_default_str();
  app.add_option("--batch", batch, "sentences per batch (tiny 16, small 32, base 8)")
      ->check(positive());
  app.add_option("--src-len", src_len,
                 "source length (tiny 16, small and base 32; 32 when decoding)")
      ->check(positive());
  app.add_option("--tgt-len", tgt_len,
                 "target length (tiny 16, small and base 32; 32 positions when decoding)")
      ->check(positive());
  app.add_option("--steps", steps, "timed steps")->check(between(1, 100000))->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")
      ->check(between(0, 100000))
      ->capture_default_str();
  app.add_option("--dropout", dropout, "dropout rate of the training step")
      ->check(between(0.0, 0.99))
      ->capture_default_str();
  addPrecisionFlag(app, precision);
  app.add_flag("--profile", profile, "time every kernel and print where the time goes");
  app.add_flag("--no-gemm", no_gemm,
               "skip measuring oneDNN's GEMM rate (in the --precision) for comparison");
}

int runBench(const BenchFlags &f) {
  if (f.backend.backend != "cpu" && (f.profile || f.backend.cpu_kernels != "auto"))
    throw Error({},
                fmt::format("{} is for --backend cpu", f.profile ? "--profile" : "--cpu-kernels"));
  if (f.width != BenchFlags().width && f.mode != "beam")
    throw Error({}, "--width is for --mode beam");
  if (f.mode == "greedy" || f.mode == "beam") {
    if (f.dropout != BenchFlags().dropout)
      throw Error({}, "--dropout is for --mode train: decoding runs without it");
    return runDecodeBench(f);
  }
  TransformerConfig cfg = f.model.resolve();
  GraphOptions shape = defaultShape(f.model.config);
  shape.batch = f.batch.value_or(shape.batch);
  shape.src_len = f.src_len.value_or(shape.src_len);
  shape.tgt_len = f.tgt_len.value_or(shape.tgt_len);
  shape.dropout = f.dropout;
  // The steps run on copy-task batches: refuse sizes the task cannot fill before compiling.
  SyntheticTask task = syntheticTask(cfg, "copy", shape);
  Batch batch = task.batchAt(1);
  Workload w = buildWorkload(f, cfg, shape);
  int64_t params = 0;
  for (const ParamSpec &p : w.model.params)
    params += p.type.numElements();
  double flops = modelFlops(*w.model.graph);
  CompileOptions options = f.backend.options();
  options.profile = f.profile;
  const Backend &backend = f.backend.get();
  std::cout << fmt::format("kiln bench: {} {}, batch {}, source {}, target {}, {}, backend {} "
                           "(cpu kernels {}), {} parameters, {:.3f} GFLOP per step\n",
                           cfg.name, f.mode, shape.batch, shape.src_len, shape.tgt_len, f.precision,
                           backend.name(), cpuKernelsName(options.cpu_kernels), params, flops / 1e9)
            << std::flush;

  double cold = 0, cached = 0;
  std::unique_ptr<Executable> exe = compileTimed(backend, *w.model.graph, options, cold, cached);
  int64_t threads = 1;
  for (const auto &[name, value] : exe->statistics())
    if (name == "threads")
      threads = value;
  std::cout << fmt::format("compile: {:.2f} s cold, {:.3f} s cached\n", cold, cached);

  TrainerState state;
  state.tensors = initialParameters(w.model.params, 0);
  Trainer trainer(*exe, task, 0);
  trainer.initState(state);
  auto runOnce = [&] {
    if (f.mode == "train") {
      trainer.step(state);
      return;
    }
    Bindings b = state.tensors;
    b["src"] = batch.src;
    b["tgt"] = batch.tgt;
    exe->run(b);
  };
  std::vector<double> times = timeRuns(runOnce, f.warmup, f.steps);
  double best = *std::min_element(times.begin(), times.end()), med = median(times);
  double tokens_per_s = static_cast<double>(w.target_tokens) / med;
  double gflops = flops / med / 1e9;
  std::cout << fmt::format("step: {:.2f} ms min, {:.2f} ms median over {} steps ({} warm-up)\n",
                           1e3 * best, 1e3 * med, f.steps, f.warmup);
  std::cout << fmt::format("throughput: {:.0f} target tokens/s, {:.1f} GFLOP/s\n", tokens_per_s,
                           gflops);
  DType gemm_dtype = f.precision == "bf16" ? DType::bf16 : DType::f32;
  double gemm = !f.no_gemm ? gemmRate(options, gemm_dtype) : 0;
  if (!f.no_gemm)
    std::cout << fmt::format("oneDNN {} GEMM 1024^3 on {} threads: {:.1f} GFLOP/s; the step "
                             "reaches {:.0f}% of it\n",
                             dtypeName(gemm_dtype), threads, gemm, 100 * gflops / gemm);
  double peak = peakRssMiB(), now = currentRssMiB();
  std::cout << fmt::format("memory: {:.0f} MiB peak RSS (compiles included), {:.0f} MiB now\n",
                           peak, now);
  if (f.profile)
    printProfile(*exe, f.warmup + f.steps);
  std::string gemm_json = !f.no_gemm ? fmt::format("{:.2f}", gemm) : "null";
  std::cout << fmt::format(
      "{{\"tool\": \"kiln\", \"config\": \"{}\", \"mode\": \"{}\", \"batch\": {}, \"src_len\": "
      "{}, \"tgt_len\": {}, \"precision\": \"{}\", \"threads\": {}, \"backend\": \"{}\", "
      "\"cpu_kernels\": \"{}\", \"params\": {}, \"steps\": {}, \"warmup\": {}, \"dropout\": {}, "
      "\"ms_min\": {:.4f}, \"ms_median\": {:.4f}, \"tokens_per_s\": {:.1f}, \"gflops\": {:.2f}, "
      "\"gemm_gflops\": {}, \"peak_rss_mib\": {:.1f}, \"compile_cold_s\": {:.3f}, "
      "\"compile_cached_s\": {:.4f}}}\n",
      cfg.name, f.mode, shape.batch, shape.src_len, shape.tgt_len, f.precision, threads,
      backend.name(), cpuKernelsName(options.cpu_kernels), params, f.steps, f.warmup,
      f.mode == "train" ? f.dropout : 0.0, 1e3 * best, 1e3 * med, tokens_per_s, gflops, gemm_json,
      peak, cold, cached);
  return 0;
}

} // namespace kiln::tools
