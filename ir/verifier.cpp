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
    throw Error(in.loc, fmt::format("input {} has role {}, which another input has already",
                                    quoteBytes("%" + in.name), role));
  if (in.kind != InputKind::Data)
    throw Error(in.loc, fmt::format("input {} has role {}, but only data inputs have roles",
                                    quoteBytes("%" + in.name), role));
  const TensorType &t = in.value->type;
  bool tokens = in.role == InputRole::Source || in.role == InputRole::Target;
  if (tokens && !(isInteger(t.dtype) && t.rank() == 2))
    throw Error(in.loc, fmt::format("input {} has role {}: token ids are i64 or i32 of rank 2, "
                                    "found {}",
                                    quoteBytes("%" + in.name), role, t.str()));
  TensorType want = in.role == InputRole::Seed ? philoxKeyType() : TensorType{DType::i64, {}};
  if (!tokens && t != want)
    throw Error(in.loc, fmt::format("input {} has role {}: it is {}, found {}",
                                    quoteBytes("%" + in.name), role, want.str(), t.str()));
}

/// Each value lists its readers once per operand slot; a pass that edits operands directly
/// breaks this, which is a kiln bug. Counts per (value, reader) pair keep it linear however many
/// slots of one node read a value.
void verifyUseLists(const Graph &g) {
  struct PairHash {
    size_t operator()(const std::pair<const Value *, const Node *> &p) const {
      return std::hash<const void *>{}(p.first) * 31 + std::hash<const void *>{}(p.second);
    }
  };
  std::unordered_map<std::pair<const Value *, const Node *>, int64_t, PairHash> slots;
  for (const auto &n : g.nodes())
    for (const Value *v : n->operands)
      ++slots[{v, n.get()}];
  auto check = [&](const Value *v) {
    for (const Node *user : v->users) {
      auto it = slots.find({v, user});
      KILN_ASSERT(it != slots.end(), "a value's use list names a node that does not read it");
      KILN_ASSERT(--it->second >= 0, "a value's use list names a reader too often");
    }
  };
  for (const auto &in : g.inputs())
    check(in.value.get());
  for (const auto &n : g.nodes())
    for (const auto &r : n->results)
      check(r.get());
  for (const auto &[slot, left] : slots)
    KILN_ASSERT(left == 0, "a value's use list lacks a reader");
}

} // namespace

void verifyGraph(const Graph &g) {
  std::unordered_set<const Value *> defined;
  std::unordered_set<std::string> names;
  std::set<InputRole> roles;
  for (const auto &in : g.inputs()) {
    if (!names.insert(in.name).second)
      throw Error(in.loc, fmt::format("input {} is declared twice", quoteBytes("%" + in.name)));
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
                    fmt::format("{}: attribute {} is not declared as {}", n->name(),
                                quoteBytes(name),
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
    std::string name = quoteBytes(o.name, '"');
    if (!names.insert(o.name).second)
      throw Error(o.loc, fmt::format("output {} is declared twice", name));
    if (!defined.count(o.value))
      throw Error(o.loc, fmt::format("output {} refers to a value that is not defined", name));
    if (o.updates.empty())
      continue;
    // The next value of a parameter or state input, which the memory planner writes over it in
    // place: the input must exist, carry values between calls, be updated once, and agree in type.
    std::string target = quoteBytes("%" + o.updates);
    const GraphInput *in = g.findInput(o.updates);
    if (!in)
      throw Error(o.loc, fmt::format("output {} updates {}, which is not an input", name, target));
    if (in->kind == InputKind::Data)
      throw Error(o.loc, fmt::format("output {} updates the data input {}; only param and state "
                                     "inputs are updated",
                                     name, target));
    if (!updated.insert(o.updates).second)
      throw Error(o.loc, fmt::format("output {} updates {}, which another output updates already",
                                     name, target));
    if (in->value->type != o.value->type)
      throw Error(o.loc, fmt::format("output {} updates the {} input {} of type {}, but is {}",
                                     name, inputKindName(in->kind), target, in->value->type.str(),
                                     o.value->type.str()));
  }
}

} // namespace kiln
