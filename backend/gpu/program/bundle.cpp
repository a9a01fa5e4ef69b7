// Writing and reading bundles: bundle.json, the kernels' files and the host steps' graph.

#include "backend/gpu/program/bundle.h"

#include "ir/parser.h"
#include "ir/printer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::gpu {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw Error({}, fmt::format("bundle: cannot read {}", p.string()));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const fs::path &p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw Error({}, fmt::format("bundle: cannot write {}", p.string()));
}

const char *kindName(ProgramBuffer::Kind k) {
  switch (k) {
  case ProgramBuffer::Kind::Input:
    return "input";
  case ProgramBuffer::Kind::Arena:
    return "arena";
  case ProgramBuffer::Kind::Output:
    return "output";
  case ProgramBuffer::Kind::Traps:
    return "traps";
  }
  return "";
}

json typeJson(const TensorType &t) {
  return {{"dtype", std::string(dtypeName(t.dtype))}, {"shape", t.shape}};
}
json sliceJson(const Slice &s) { return {s.buffer, s.offset, s.bytes, s.written}; }
json refJson(const ValueRef &r) { return {r.node, r.index}; }

/// Reads bundle.json's parts, checking each: every failure names the file and the part.
class Reader {
public:
  Reader(std::string file, const json &root) : file_(std::move(file)), root_(root) {}

  [[noreturn]] void fail(const std::string &what) const {
    throw Error({}, fmt::format("bundle {}: {}", file_, what));
  }

  const json &at(const json &j, const char *key) const {
    if (!j.is_object() || !j.contains(key))
      fail(fmt::format("missing \"{}\"", key));
    return j.at(key);
  }
  int64_t integer(const json &j, const char *key) const {
    const json &v = at(j, key);
    if (!v.is_number_integer())
      fail(fmt::format("\"{}\" is not an integer", key));
    return v.get<int64_t>();
  }
  std::string text(const json &j, const char *key) const {
    const json &v = at(j, key);
    if (!v.is_string())
      fail(fmt::format("\"{}\" is not a string", key));
    return v.get<std::string>();
  }
  const json &array(const json &j, const char *key) const {
    const json &v = at(j, key);
    if (!v.is_array())
      fail(fmt::format("\"{}\" is not a list", key));
    return v;
  }
  TensorType type(const json &j) const {
    std::optional<DType> d = parseDType(text(j, "dtype"));
    if (!d)
      fail(fmt::format("unknown dtype \"{}\"", text(j, "dtype")));
    const json &shape = array(j, "shape");
    TensorType t{*d, {}};
    for (const json &n : shape) {
      if (!n.is_number_integer() || n.get<int64_t>() < 0)
        fail("a shape holds a negative or non-integer dimension");
      t.shape.push_back(n.get<int64_t>());
    }
    return t;
  }
  Slice slice(const json &j, const GpuProgram &p) const {
    if (!j.is_array() || j.size() != 4 || !j[0].is_number_integer() || !j[1].is_number_integer() ||
        !j[2].is_number_integer() || !j[3].is_boolean())
      fail("a slice is not [buffer, offset, bytes, written]");
    Slice s{j[0].get<int>(), j[1].get<int64_t>(), j[2].get<int64_t>(), j[3].get<bool>()};
    if (s.buffer < 0 || static_cast<size_t>(s.buffer) >= p.buffers.size())
      fail(fmt::format("a slice names buffer {}; there are {}", s.buffer, p.buffers.size()));
    if (s.offset < 0 || s.bytes < 0 || s.offset + s.bytes > p.buffers[s.buffer].bytes)
      fail(fmt::format("a slice [{}, {}) lies outside buffer {} of {} bytes", s.offset,
                       s.offset + s.bytes, s.buffer, p.buffers[s.buffer].bytes));
    return s;
  }
  ValueRef ref(const json &j) const {
    if (!j.is_array() || j.size() != 2 || !j[0].is_number_integer() || !j[1].is_number_integer())
      fail("a value is not [node, index]");
    return ValueRef{j[0].get<int>(), j[1].get<int>()};
  }

private:
  std::string file_;
  const json &root_;
};

} // namespace

void writeBundle(const std::string &dir, const Bundle &b) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "kernels", ec);
  if (ec)
    throw Error({}, fmt::format("-o {}: cannot make the folder: {}", dir, ec.message()));
  const GpuProgram &p = *b.program;
  json js = {{"format", "kiln-bundle"},
             {"version", kBundleVersion},
             {"inputs", json::array()},
             {"outputs", json::array()}};
  for (const auto &[k, v] : b.about)
    js["about"][k] = v;
  for (const Signature::Input &in : p.signature.inputs) {
    json j = typeJson(in.type);
    j["name"] = in.name;
    j["kind"] = std::string(inputKindName(in.kind));
    j["role"] = static_cast<int>(in.role);
    js["inputs"].push_back(j);
  }
  for (const Signature::Output &out : p.signature.outputs) {
    json j = typeJson(out.type);
    j["name"] = out.name;
    if (out.updates)
      j["updates"] = *out.updates;
    js["outputs"].push_back(j);
  }
  js["buffers"] = json::array();
  for (const ProgramBuffer &buf : p.buffers)
    js["buffers"].push_back(
        {{"kind", kindName(buf.kind)}, {"index", buf.index}, {"bytes", buf.bytes}});
  js["alignment"] = p.alignment;
  js["max_buffer_bytes"] = p.max_buffer_bytes;
  js["peak_bytes"] = p.peak_bytes;
  js["num_kernels"] = p.num_kernels;
  js["fallbacks"] = json::object();
  for (const auto &[op, n] : p.fallbacks)
    js["fallbacks"][op] = n;
  js["kernels"] = json::array();
  for (const ProgramKernel &k : p.kernels) {
    json j = {{"name", k.name}, {"bindings", k.bindings}, {"uses_f64", k.uses_f64}};
    if (!k.spirv.empty()) {
      j["spirv"] = "kernels/" + k.name + ".spv";
      j["workgroups"] = k.workgroups;
      j["loop_iterations"] = k.loop_iterations;
      writeFile(fs::path(dir) / j["spirv"].get<std::string>(),
                std::string_view(reinterpret_cast<const char *>(k.spirv.data()),
                                 k.spirv.size() * sizeof(uint32_t)));
    }
    if (!k.ptx.empty()) {
      j["ptx"] = "kernels/" + k.name + ".ptx";
      j["launch"] = {{"grid", k.grid}, {"block", k.block}, {"shared_bytes", k.shared_bytes}};
      writeFile(fs::path(dir) / j["ptx"].get<std::string>(), k.ptx);
    }
    js["kernels"].push_back(j);
  }
  js["steps"] = json::array();
  for (const ProgramStep &s : p.steps) {
    if (const auto *d = std::get_if<DispatchStep>(&s)) {
      json j = {{"kernel", d->kernel}, {"bindings", json::array()}, {"traps", json::array()}};
      for (const Slice &sl : d->bindings)
        j["bindings"].push_back(sliceJson(sl));
      for (const ProgramTrap &t : d->traps)
        j["traps"].push_back({{"message", t.message},
                              {"binding", t.binding},
                              {"dtype", std::string(dtypeName(t.dtype))}});
      j["loc"] = {d->loc.file, d->loc.line, d->loc.col};
      js["steps"].push_back({{"dispatch", j}});
      continue;
    }
    const HostStep &h = std::get<HostStep>(s);
    const HostNodes &hn = b.host.at(h.id);
    json j = {{"id", h.id}, {"what", h.what}, {"nodes", hn.nodes}};
    for (size_t i = 0; i < h.inputs.size(); ++i)
      j["inputs"].push_back({{"slice", sliceJson(h.inputs[i])},
                             {"type", typeJson(h.input_types[i])},
                             {"value", refJson(hn.inputs[i])}});
    for (size_t i = 0; i < h.stored.size(); ++i)
      j["stored"].push_back({{"slice", sliceJson(h.stored[i])},
                             {"type", typeJson(h.stored_types[i])},
                             {"value", refJson(hn.stored[i])}});
    js["steps"].push_back({{"host", j}});
  }
  js["results"] = json::array();
  for (const ProgramOutput &o : p.outputs)
    js["results"].push_back(o.input ? json{{"input", *o.input}}
                                    : json{{"slice", sliceJson(*o.slice)}});
  if (!b.host.empty())
    writeFile(fs::path(dir) / "graph.kir", printGraph(*b.graph));
  writeFile(fs::path(dir) / "bundle.json", js.dump(1) + "\n");
}

Bundle readBundle(const std::string &dir) {
  fs::path root(dir);
  std::string file = (root / "bundle.json").string();
  if (!fs::is_directory(root))
    throw Error({}, fmt::format("bundle {}: not a folder", dir));
  json js;
  try {
    js = json::parse(readFile(file));
  } catch (const json::exception &e) {
    throw Error({}, fmt::format("bundle {}: not JSON: {}", file, e.what()));
  }
  Reader r(file, js);
  if (!js.is_object() || !js.contains("format") || js["format"] != "kiln-bundle")
    r.fail("not a kiln bundle (no \"format\": \"kiln-bundle\")");
  if (r.integer(js, "version") != kBundleVersion)
    r.fail(fmt::format("format version {}; this kiln-run reads version {}",
                       r.integer(js, "version"), kBundleVersion));
  Bundle b{.program = std::make_shared<GpuProgram>()};
  GpuProgram &p = *b.program;
  if (js.contains("about") && js["about"].is_object())
    for (const auto &[k, v] : js["about"].items())
      if (v.is_string())
        b.about[k] = v.get<std::string>();
  for (const json &j : r.array(js, "inputs")) {
    Signature::Input in{.name = r.text(j, "name"), .type = r.type(j)};
    std::string kind = r.text(j, "kind");
    for (InputKind k : {InputKind::Data, InputKind::Parameter, InputKind::State})
      if (inputKindName(k) == kind)
        in.kind = k;
    in.role = static_cast<InputRole>(std::clamp<int64_t>(r.integer(j, "role"), 0, 4));
    p.signature.inputs.push_back(std::move(in));
  }
  for (const json &j : r.array(js, "outputs")) {
    Signature::Output out{.name = r.text(j, "name"), .type = r.type(j)};
    if (j.contains("updates")) {
      int64_t u = r.integer(j, "updates");
      if (u < 0 || static_cast<size_t>(u) >= p.signature.inputs.size())
        r.fail(fmt::format("output \"{}\" updates input {}, which is none", out.name, u));
      out.updates = static_cast<size_t>(u);
    }
    p.signature.outputs.push_back(std::move(out));
  }
  for (const json &j : r.array(js, "buffers")) {
    ProgramBuffer buf{.index = static_cast<int>(r.integer(j, "index")),
                      .bytes = r.integer(j, "bytes")};
    std::string kind = r.text(j, "kind");
    bool known = false;
    for (ProgramBuffer::Kind k : {ProgramBuffer::Kind::Input, ProgramBuffer::Kind::Arena,
                                  ProgramBuffer::Kind::Output, ProgramBuffer::Kind::Traps})
      if (kind == kindName(k)) {
        buf.kind = k;
        known = true;
      }
    if (!known || buf.bytes < 0 || buf.bytes > (int64_t{1} << 40))
      r.fail(fmt::format("a buffer of kind \"{}\" and {} bytes", kind, buf.bytes));
    p.buffers.push_back(buf);
  }
  for (size_t i = 0; i < p.signature.inputs.size(); ++i) {
    if (i >= p.buffers.size() || p.buffers[i].kind != ProgramBuffer::Kind::Input ||
        p.buffers[i].index != static_cast<int>(i) ||
        p.buffers[i].bytes != byteSize(p.signature.inputs[i].type))
      r.fail(fmt::format("buffer {} is not input \"{}\"'s", i, p.signature.inputs[i].name));
  }
  p.alignment = r.integer(js, "alignment");
  p.max_buffer_bytes = r.integer(js, "max_buffer_bytes");
  p.peak_bytes = r.integer(js, "peak_bytes");
  p.num_kernels = r.integer(js, "num_kernels");
  if (js.contains("fallbacks") && js["fallbacks"].is_object())
    for (const auto &[op, n] : js["fallbacks"].items())
      p.fallbacks.emplace_back(op, n.is_number_integer() ? n.get<int64_t>() : 0);
  for (const json &j : r.array(js, "kernels")) {
    ProgramKernel k{.name = r.text(j, "name"),
                    .bindings = static_cast<int>(r.integer(j, "bindings"))};
    k.uses_f64 = j.value("uses_f64", false);
    if (j.contains("spirv")) {
      std::string bytes = readFile(root / r.text(j, "spirv"));
      if (bytes.empty() || bytes.size() % 4 != 0)
        r.fail(fmt::format("kernel {}'s SPIR-V is not a whole number of words", k.name));
      k.spirv.resize(bytes.size() / 4);
      std::memcpy(k.spirv.data(), bytes.data(), bytes.size());
      k.workgroups = r.integer(j, "workgroups");
      k.loop_iterations = r.integer(j, "loop_iterations");
    }
    if (j.contains("ptx")) {
      k.ptx = readFile(root / r.text(j, "ptx"));
      const json &l = r.at(j, "launch");
      k.grid = r.integer(l, "grid");
      k.block = r.integer(l, "block");
      k.shared_bytes = r.integer(l, "shared_bytes");
    }
    p.kernels.push_back(std::move(k));
  }
  bool has_host = false;
  for (const json &s : r.array(js, "steps")) {
    if (s.contains("dispatch")) {
      const json &j = s["dispatch"];
      DispatchStep d{.kernel = static_cast<int>(r.integer(j, "kernel"))};
      if (d.kernel < 0 || static_cast<size_t>(d.kernel) >= p.kernels.size())
        r.fail(fmt::format("a step launches kernel {}; there are {}", d.kernel, p.kernels.size()));
      for (const json &sl : r.array(j, "bindings"))
        d.bindings.push_back(r.slice(sl, p));
      if (static_cast<int>(d.bindings.size()) != p.kernels[d.kernel].bindings)
        r.fail(fmt::format("a launch of {} binds {} buffers; the kernel takes {}",
                           p.kernels[d.kernel].name, d.bindings.size(),
                           p.kernels[d.kernel].bindings));
      for (const json &t : r.array(j, "traps")) {
        ProgramTrap trap{.message = r.text(t, "message"),
                         .binding = static_cast<int>(r.integer(t, "binding"))};
        std::optional<DType> dt = parseDType(r.text(t, "dtype"));
        if (!dt || trap.binding < 0 || static_cast<size_t>(trap.binding) >= d.bindings.size())
          r.fail("a trap with an unknown dtype or binding");
        trap.dtype = *dt;
        d.traps.push_back(std::move(trap));
      }
      if (j.contains("loc") && j["loc"].is_array() && j["loc"].size() == 3) {
        d.loc.file = j["loc"][0].get<std::string>();
        d.loc.line = j["loc"][1].get<int>();
        d.loc.col = j["loc"][2].get<int>();
      }
      p.steps.emplace_back(std::move(d));
      continue;
    }
    if (!s.contains("host"))
      r.fail("a step is neither a dispatch nor a host step");
    const json &j = s["host"];
    HostStep h{.id = static_cast<int>(b.host.size()), .what = r.text(j, "what")};
    HostNodes hn;
    for (const json &n : r.array(j, "nodes"))
      hn.nodes.push_back(n.get<int>());
    if (hn.nodes.empty())
      r.fail("a host step without nodes");
    if (j.contains("inputs"))
      for (const json &in : r.array(j, "inputs")) {
        h.inputs.push_back(r.slice(r.at(in, "slice"), p));
        h.input_types.push_back(r.type(r.at(in, "type")));
        hn.inputs.push_back(r.ref(r.at(in, "value")));
      }
    if (j.contains("stored"))
      for (const json &st : r.array(j, "stored")) {
        h.stored.push_back(r.slice(r.at(st, "slice"), p));
        h.stored_types.push_back(r.type(r.at(st, "type")));
        hn.stored.push_back(r.ref(r.at(st, "value")));
      }
    b.host.push_back(std::move(hn));
    p.steps.emplace_back(std::move(h));
    has_host = true;
  }
  const json &results = r.array(js, "results");
  if (results.size() != p.signature.outputs.size())
    r.fail(fmt::format("{} results for {} outputs", results.size(), p.signature.outputs.size()));
  for (const json &j : results) {
    if (j.contains("input")) {
      int64_t i = r.integer(j, "input");
      if (i < 0 || static_cast<size_t>(i) >= p.signature.inputs.size())
        r.fail("a result is an input that does not exist");
      p.outputs.push_back(ProgramOutput{.input = static_cast<size_t>(i)});
    } else {
      p.outputs.push_back(ProgramOutput{.slice = r.slice(r.at(j, "slice"), p)});
    }
  }
  for (size_t k = 0; k < p.outputs.size(); ++k)
    if (p.outputs[k].slice && p.outputs[k].slice->bytes != byteSize(p.signature.outputs[k].type))
      r.fail(fmt::format("output \"{}\"'s slice is not its size", p.signature.outputs[k].name));
  if (has_host) {
    std::string kir = (root / "graph.kir").string();
    b.graph = parseGraph(readFile(kir), kir);
  }
  return b;
}

} // namespace kiln::gpu
