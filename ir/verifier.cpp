#include "ir/verifier.h"

#include "ir/fusion_group.h"
#include "ir/philox.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

/// A role is held by one data input of the type its drivers feed.
void verifyRole(const GraphInput &in, std::set<InputRole> &seen) {
  std::string_view role = inputRoleName(in.role);
  if (!seen.insert(in.role).second)
    throw Error(in.loc, fmt::format("input '%{}' has role {}, which another input has already",
                                    in.name, role));
  if (in.kind != InputKind::Data)
    throw Error(in.loc, fmt::format("input '%{}' has role {}, but only data inputs have roles",
                                    in.name, role));
  const TensorType &t = in.value->type;
  bool tokens = in.role == InputRole::Source || in.role == InputRole::Target;
  if (tokens && !(isInteger(t.dtype) && t.rank() == 2))
    throw Error(in.loc, fmt::format("input '%{}' has role {}: token ids are i64 or i32 of rank 2, "
                                    "found {}",
                                    in.name, role, t.str()));
  TensorType want = in.role == InputRole::Seed ? philoxKeyType() : TensorType{DType::i64, {}};
  if (!tokens && t != want)
    throw Error(in.loc, fmt::format("input '%{}' has role {}: it is {}, found {}", in.name, role,
                                    want.str(), t.str()));
}

/// Each value lists its readers once per operand slot; a pass that edits operands directly
/// breaks this, which is a kiln bug.
void verifyUseLists(const Graph &g) {
  std::unordered_map<const Value *, size_t> slots;
  for (const auto &n : g.nodes())
    for (const Value *v : n->operands)
      ++slots[v];
  auto check = [&](const Value *v) {
    KILN_ASSERT(v->users.size() == slots[v], "a value's use list disagrees with the operands");
    for (const Node *user : v->users)
      KILN_ASSERT(std::find(user->operands.begin(), user->operands.end(), v) !=
                      user->operands.end(),
                  "a value's use list names a node that does not read it");
  };
  for (const auto &in : g.inputs())
    check(in.value.get());
  for (const auto &n : g.nodes())
    for (const auto &r : n->results)
      check(r.get());
}

} // namespace

void verifyGraph(const Graph &g) {
  std::unordered_set<const Value *> defined;
  std::unordered_set<std::string> names;
  std::set<InputRole> roles;
  for (const auto &in : g.inputs()) {
    if (!names.insert(in.name).second)
      throw Error(in.loc, fmt::format("input '%{}' is declared twice", in.name));
    defined.insert(in.value.get());
    if (in.role != InputRole::None)
      verifyRole(in, roles);
  }
  for (const auto &n : g.nodes()) {
    for (size_t i = 0; i < n->operands.size(); ++i)
      if (!defined.count(n->operands[i]))
        throw Error(n->loc,
                    fmt::format("{}: operand {} is used before it is defined", n->name(), i));
    for (const auto &[name, value] : n->attrs) {
      const AttrSpec *spec = n->op->attrSpec(name);
      if (!spec || attrKind(value) != spec->kind)
        throw Error(n->loc,
                    fmt::format("{}: attribute '{}' is not declared as {}", n->name(), name,
                                spec ? attrKindName(spec->kind) : "an attribute of the op"));
    }
    for (const AttrSpec &spec : n->op->attrs)
      if (!n->attrs.count(std::string(spec.name)))
        throw Error(n->loc, fmt::format("{}: attribute '{}' is missing", n->name(), spec.name));
    std::vector<TensorType> operand_types;
    for (const Value *v : n->operands)
      operand_types.push_back(v->type);
    std::vector<TensorType> inferred = inferTypes(*n->op, operand_types, n->attrs, n->loc);
    if (inferred.size() != n->results.size())
      throw Error(n->loc, fmt::format("{}: expected {} results, found {}", n->name(),
                                      inferred.size(), n->results.size()));
    for (size_t i = 0; i < inferred.size(); ++i) {
      if (inferred[i] != n->results[i]->type)
        throw Error(n->loc,
                    fmt::format("{}: result {} has type {}, but the operands give {}", n->name(), i,
                                n->results[i]->type.str(), inferred[i].str()));
      defined.insert(n->results[i].get());
    }
  }
  verifyUseLists(g);
  verifyFusionGroups(g);
  names.clear();
  std::set<std::string> updated;
  for (const auto &o : g.outputs()) {
    if (!names.insert(o.name).second)
      throw Error(o.loc, fmt::format("output \"{}\" is declared twice", o.name));
    if (!defined.count(o.value))
      throw Error(o.loc,
                  fmt::format("output \"{}\" refers to a value that is not defined", o.name));
    if (o.updates.empty())
      continue;
    // The next value of a parameter or state input, which the memory planner writes over it in
    // place: the input must exist, carry values between calls, be updated once, and agree in type.
    const GraphInput *in = g.findInput(o.updates);
    if (!in)
      throw Error(o.loc, fmt::format("output \"{}\" updates '%{}', which is not an input", o.name,
                                     o.updates));
    if (in->kind == InputKind::Data)
      throw Error(o.loc, fmt::format("output \"{}\" updates the data input '%{}'; only param and "
                                     "state inputs are updated",
                                     o.name, o.updates));
    if (!updated.insert(o.updates).second)
      throw Error(o.loc, fmt::format("output \"{}\" updates '%{}', which another output updates "
                                     "already",
                                     o.name, o.updates));
    if (in->value->type != o.value->type)
      throw Error(o.loc,
                  fmt::format("output \"{}\" updates the {} input '%{}' of type {}, but is {}",
                              o.name, inputKindName(in->kind), in->name, in->value->type.str(),
                              o.value->type.str()));
  }
}

} // namespace kiln
