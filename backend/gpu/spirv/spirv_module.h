#pragma once
// A SPIR-V module under construction as assembly text: capabilities, the entry point's
// interface, decorations, one deduplicated section of types, constants and global variables, and
// the body of the one function. Ids are `%` plus a name for types (`%f32`, `%ptr_Function_i64`)
// and `%` plus a number for everything else, handed out in order, so the text is deterministic.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kiln::spirv {

/// Collects the sections of a SPIR-V module and prints them in the order SPIR-V requires.
class Module {
public:
  /// A fresh result id.
  std::string id();
  /// Declares a capability (once).
  void capability(const std::string &name) { capabilities_.insert(name); }
  /// Adds an OpDecorate / OpMemberDecorate line.
  void decorate(std::string line) { decorations_.push_back(std::move(line)); }
  /// Names an id in the debug section (OpName).
  void name(const std::string &id, const std::string &name);
  /// Whether a capability has been declared.
  bool hasCapability(const std::string &name) const { return capabilities_.count(name) > 0; }
  /// Adds an OpExecutionMode line for %main.
  void executionMode(std::string mode) { modes_.push_back(std::move(mode)); }
  /// The id `%name` of a type declared by `decl` (e.g. "OpTypeFloat 32"), declared once.
  std::string type(const std::string &name, const std::string &decl);
  /// The id of a constant `op type operands` (OpConstant, OpConstantComposite, ...), once per text.
  std::string constant(const std::string &op, const std::string &type, const std::string &operands);
  /// Declares a global variable of the given pointer type and storage class; it joins the
  /// entry point's interface. `init` is an optional initializer id.
  std::string global(const std::string &ptr_type, const std::string &storage,
                     const std::string &init = "");
  /// The id of the GLSL.std.450 instruction set.
  std::string glsl();
  /// Appends a line to the function body.
  void line(std::string text) { body_.push_back(std::move(text)); }
  /// Appends a Function-storage variable declaration to the function's first block.
  void local(std::string text) { locals_.push_back(std::move(text)); }
  /// The complete module text, with `main` of type void() as the GLCompute entry point.
  std::string text() const;

private:
  int next_ = 1;
  bool glsl_ = false;
  std::set<std::string> capabilities_;
  std::vector<std::string> names_, decorations_, modes_, globals_, interface_, body_, locals_;
  std::set<std::string> types_;
  std::map<std::string, std::string> constants_;
};

} // namespace kiln::spirv
