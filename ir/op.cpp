#include "ir/op.h"

#include "ir/ops/ops.h"

#include <algorithm>
#include <map>

namespace kiln {

const AttrSpec *OpDef::attrSpec(std::string_view attr) const {
  for (const AttrSpec &s : attrs)
    if (s.name == attr)
      return &s;
  return nullptr;
}

namespace {

struct OpTable {
  std::vector<OpDef> defs;
  std::map<std::string_view, const OpDef *> by_name;
  std::vector<const OpDef *> sorted;

  OpTable() {
    addCreationOps(defs);
    addElementwiseOps(defs);
    addReductionOps(defs);
    addShapeOps(defs);
    addIndexingOps(defs);
    addLinalgOps(defs);
    addNNOps(defs);
    addAttentionOps(defs);
    addCollectiveOps(defs);
    for (const OpDef &d : defs) {
      KILN_ASSERT(d.infer && d.reference, "every op declares inference and a reference kernel");
      bool fresh = by_name.emplace(d.name, &d).second;
      KILN_ASSERT(fresh, "op declared twice");
      sorted.push_back(&d);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const OpDef *a, const OpDef *b) { return a->name < b->name; });
  }
};

const OpTable &table() {
  static const OpTable t;
  return t;
}

} // namespace

const OpDef *lookupOp(std::string_view name) {
  const auto &m = table().by_name;
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}

const std::vector<const OpDef *> &allOps() { return table().sorted; }

int64_t InferContext::getInt(std::string_view name) const {
  return std::get<int64_t>(attrs.at(std::string(name)));
}
double InferContext::getFloat(std::string_view name) const {
  return std::get<double>(attrs.at(std::string(name)));
}
bool InferContext::getBool(std::string_view name) const {
  return std::get<bool>(attrs.at(std::string(name)));
}
const IntList &InferContext::getInts(std::string_view name) const {
  return std::get<IntList>(attrs.at(std::string(name)));
}
DType InferContext::getDType(std::string_view name) const {
  return std::get<DType>(attrs.at(std::string(name)));
}

int64_t InferContext::axis(int64_t a, int64_t rank) const {
  auto n = normalizeAxis(a, rank);
  if (!n)
    error("axis {} is out of range for rank {}", a, rank);
  return *n;
}

} // namespace kiln
