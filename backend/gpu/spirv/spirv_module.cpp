// The SPIR-V module text builder: deduplicated types and constants, numbered ids.

#include "backend/gpu/spirv/spirv_module.h"

#include <fmt/format.h>

namespace kiln::spirv {

std::string Module::id() { return fmt::format("%{}", next_++); }

void Module::name(const std::string &id, const std::string &name) {
  names_.push_back(fmt::format("OpName {} \"{}\"", id, name));
}

std::string Module::type(const std::string &name, const std::string &decl) {
  std::string ref = "%" + name;
  if (types_.insert(name).second)
    globals_.push_back(fmt::format("{} = {}", ref, decl));
  return ref;
}

std::string Module::constant(const std::string &op, const std::string &type,
                             const std::string &operands) {
  std::string key = fmt::format("{} {} {}", op, type, operands);
  auto it = constants_.find(key);
  if (it != constants_.end())
    return it->second;
  std::string ref = id();
  constants_.emplace(key, ref);
  globals_.push_back(operands.empty() ? fmt::format("{} = {} {}", ref, op, type)
                                      : fmt::format("{} = {} {} {}", ref, op, type, operands));
  return ref;
}

std::string Module::global(const std::string &ptr_type, const std::string &storage,
                           const std::string &init) {
  std::string ref = id();
  globals_.push_back(init.empty()
                         ? fmt::format("{} = OpVariable {} {}", ref, ptr_type, storage)
                         : fmt::format("{} = OpVariable {} {} {}", ref, ptr_type, storage, init));
  interface_.push_back(ref);
  return ref;
}

std::string Module::glsl() {
  glsl_ = true;
  return "%glsl";
}

std::string Module::text() const {
  std::string out;
  auto add = [&](const std::string &l) {
    out += l;
    out += '\n';
  };
  add("; SPIR-V");
  for (const std::string &c : capabilities_)
    add("OpCapability " + c);
  if (glsl_)
    add("%glsl = OpExtInstImport \"GLSL.std.450\"");
  add("OpMemoryModel Logical GLSL450");
  std::string entry = "OpEntryPoint GLCompute %main \"main\"";
  for (const std::string &v : interface_)
    entry += " " + v;
  add(entry);
  for (const std::string &m : modes_)
    add("OpExecutionMode %main " + m);
  for (const std::string &n : names_)
    add(n);
  for (const std::string &d : decorations_)
    add(d);
  for (const std::string &g : globals_)
    add(g);
  add("%main = OpFunction %void None %fn_void");
  add("%entry = OpLabel");
  for (const std::string &l : locals_)
    add(l);
  for (const std::string &l : body_)
    add(l);
  add("OpReturn");
  add("OpFunctionEnd");
  return out;
}

} // namespace kiln::spirv
