#include "ir/graph.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

const Attribute &Node::attr(std::string_view name) const {
  auto it = attrs.find(std::string(name));
  KILN_ASSERT(it != attrs.end(), "attribute missing; checkAttributes fills every declared one");
  return it->second;
}

Value *Graph::addInput(std::string name, InputKind kind, TensorType type, Location loc,
                       InputRole role) {
  size_t position = inputs_.size();
  bool fresh = input_index_.try_emplace(name, position).second;
  KILN_ASSERT(fresh, "duplicate graph input name");
  auto v = std::make_unique<Value>();
  v->type = std::move(type);
  v->index = static_cast<int>(position);
  Value *raw = v.get();
  inputs_.push_back(GraphInput{std::move(name), kind, std::move(v), std::move(loc), role});
  return raw;
}

int Graph::eraseInputs(const std::function<bool(const GraphInput &)> &erase) {
  size_t before = inputs_.size();
  std::erase_if(inputs_, [&](const GraphInput &in) {
    if (!erase(in))
      return false;
    KILN_ASSERT(numUses(in.value.get()) == 0, "an erased input has no uses");
    return true;
  });
  if (inputs_.size() == before)
    return 0;
  input_index_.clear();
  for (size_t i = 0; i < inputs_.size(); ++i) {
    inputs_[i].value->index = static_cast<int>(i);
    input_index_.try_emplace(inputs_[i].name, i);
  }
  return static_cast<int>(before - inputs_.size());
}

void Graph::addOutput(std::string name, Value *v, Location loc, std::string updates) {
  size_t position = outputs_.size();
  output_index_.try_emplace(name, position);
  output_uses_[v].push_back(position);
  outputs_.push_back(GraphOutput{std::move(name), v, std::move(loc), std::move(updates)});
}

void Graph::setOutputValue(size_t i, Value *v) {
  GraphOutput &out = outputs_.at(i);
  if (out.value == v)
    return;
  auto it = output_uses_.find(out.value);
  KILN_ASSERT(it != output_uses_.end(), "output use index lacks an output");
  std::erase(it->second, i);
  if (it->second.empty())
    output_uses_.erase(it);
  output_uses_[v].push_back(i);
  out.value = v;
}

int Graph::eraseOutputs(const std::function<bool(const GraphOutput &)> &erase) {
  size_t before = outputs_.size();
  std::erase_if(outputs_, erase);
  if (outputs_.size() != before)
    indexOutputs();
  return static_cast<int>(before - outputs_.size());
}

void Graph::indexOutputs() {
  output_index_.clear();
  output_uses_.clear();
  for (size_t i = 0; i < outputs_.size(); ++i) {
    output_index_.try_emplace(outputs_[i].name, i);
    output_uses_[outputs_[i].value].push_back(i);
  }
}

std::optional<size_t> Graph::updatedInput(const GraphOutput &output) const {
  if (output.updates.empty())
    return std::nullopt;
  return inputIndex(output.updates);
}

namespace {
std::string withArticle(std::string_view noun) {
  bool vowel = !noun.empty() && std::string_view("aeiou").find(noun[0]) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}
} // namespace

AttrMap checkAttributes(const OpDef &op, AttrMap attrs, const Location &loc) {
  for (auto &[name, value] : attrs) {
    const AttrSpec *spec = op.attrSpec(name);
    if (!spec)
      throw Error(loc, fmt::format("{}: unknown attribute {}", op.name, quoteBytes(name)));
    auto coerced = coerceAttr(value, spec->kind);
    if (!coerced) {
      AttrKind have = attrKind(value);
      bool too_large = (have == AttrKind::Int && spec->kind == AttrKind::Float) ||
                       (have == AttrKind::Ints && spec->kind == AttrKind::Floats);
      // A string attribute holds any bytes: quoted for the message, not as the printer does.
      std::string shown =
          have == AttrKind::String ? quoteBytes(std::get<std::string>(value), '"') : attrStr(value);
      throw Error(loc, fmt::format("{}: attribute {} expects {}, found {} ({}){}", op.name,
                                   quoteBytes(name), withArticle(attrKindName(spec->kind)),
                                   withArticle(attrKindName(have)), shown,
                                   too_large ? ", beyond the 2^53 up to which a float holds "
                                               "every integer"
                                             : ""));
    }
    value = std::move(*coerced);
  }
  for (const AttrSpec &spec : op.attrs) {
    if (attrs.count(std::string(spec.name)))
      continue;
    if (!spec.default_value)
      throw Error(loc, fmt::format("{}: missing required attribute '{}' ({})", op.name, spec.name,
                                   attrKindName(spec.kind)));
    attrs.emplace(std::string(spec.name), *spec.default_value);
  }
  return attrs;
}

std::vector<TensorType> inferTypes(const OpDef &op, const std::vector<TensorType> &operands,
                                   const AttrMap &attrs, const Location &loc) {
  int n = static_cast<int>(operands.size());
  if (n < op.min_operands || (op.max_operands >= 0 && n > op.max_operands)) {
    std::string expected = op.max_operands < 0 ? fmt::format("at least {}", op.min_operands)
                           : op.min_operands == op.max_operands
                               ? fmt::format("{}", op.min_operands)
                               : fmt::format("{} to {}", op.min_operands, op.max_operands);
    throw Error(loc, fmt::format("{}: expected {} operand{}, found {}", op.name, expected,
                                 expected.ends_with(" 1") || expected == "1" ? "" : "s", n));
  }
  InferContext ctx{op.name, operands, attrs, loc};
  std::vector<TensorType> results = op.infer(ctx);
  KILN_ASSERT(static_cast<int>(results.size()) == op.num_results,
              "inference gave a wrong result count");
  // Dimensions that are each in range can still multiply past any tensor (a matmul of
  // [2^30,1] by [1,2^30]); stop that here, before anything counts the elements.
  for (size_t i = 0; i < results.size(); ++i)
    if (!validShape(results[i].shape))
      throw Error(loc, fmt::format("{}: result {} would be {}, which is not a valid type: more "
                                   "than 2^48 elements or a negative dimension",
                                   op.name, i, results[i].str()));
  return results;
}

Node *Graph::addNode(const OpDef &op, std::vector<Value *> operands, AttrMap attrs, Location loc) {
  attrs = checkAttributes(op, std::move(attrs), loc);
  std::vector<TensorType> types;
  for (Value *v : operands)
    types.push_back(v->type);
  std::vector<TensorType> results = inferTypes(op, types, attrs, loc);
  return addNodeUnchecked(op, std::move(operands), std::move(attrs), std::move(results),
                          std::move(loc));
}

Node *Graph::addNodeUnchecked(const OpDef &op, std::vector<Value *> operands, AttrMap attrs,
                              std::vector<TensorType> result_types, Location loc) {
  auto node = std::make_unique<Node>();
  node->op = &op;
  node->operands = std::move(operands);
  node->attrs = std::move(attrs);
  node->loc = std::move(loc);
  for (Value *v : node->operands)
    v->users.push_back(node.get());
  for (size_t i = 0; i < result_types.size(); ++i) {
    auto v = std::make_unique<Value>();
    v->type = std::move(result_types[i]);
    v->def = node.get();
    v->index = static_cast<int>(i);
    node->results.push_back(std::move(v));
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

std::optional<size_t> Graph::inputIndex(std::string_view name) const {
  auto it = input_index_.find(name);
  if (it == input_index_.end())
    return std::nullopt;
  return it->second;
}

const GraphInput *Graph::findInput(std::string_view name) const {
  std::optional<size_t> i = inputIndex(name);
  return i ? &inputs_[*i] : nullptr;
}

const GraphInput *Graph::findInput(InputRole role) const {
  for (const auto &in : inputs_)
    if (in.role == role)
      return &in;
  return nullptr;
}

const GraphOutput *Graph::findOutput(std::string_view name) const {
  auto it = output_index_.find(name);
  return it == output_index_.end() ? nullptr : &outputs_[it->second];
}

void Graph::replaceAllUsesWith(Value *from, Value *to) {
  if (from == to)
    return;
  // Each user appears once per slot that reads `from`; rewrite the slots of each user once
  // (a concat of k copies of `from` would otherwise cost k^2).
  std::vector<Node *> users = std::move(from->users);
  from->users.clear();
  std::unordered_set<const Node *> done;
  for (Node *user : users) {
    if (!done.insert(user).second)
      continue;
    for (Value *&v : user->operands)
      if (v == from) {
        v = to;
        to->users.push_back(user);
      }
  }
  auto it = output_uses_.find(from);
  if (it == output_uses_.end())
    return;
  std::vector<size_t> slots = std::move(it->second);
  output_uses_.erase(it);
  std::vector<size_t> &to_slots = output_uses_[to];
  for (size_t i : slots) {
    outputs_[i].value = to;
    to_slots.push_back(i);
  }
}

namespace {

void removeUse(Value *v, const Node *user) {
  auto it = std::find(v->users.begin(), v->users.end(), user);
  KILN_ASSERT(it != v->users.end(), "use list lacks a user");
  v->users.erase(it);
}

} // namespace

void Graph::setOperand(Node &node, size_t i, Value *v) {
  if (node.operands.at(i) == v)
    return;
  removeUse(node.operands[i], &node);
  node.operands[i] = v;
  v->users.push_back(&node);
}

int Graph::numUses(const Value *v) const {
  auto it = output_uses_.find(v);
  size_t outputs = it == output_uses_.end() ? 0 : it->second.size();
  return static_cast<int>(v->users.size() + outputs);
}

int Graph::eraseNodes(const std::function<bool(const Node &)> &erase) {
  // The predicate is asked once per node: removing uses changes what a use-reading one says.
  std::unordered_set<const Node *> doomed;
  for (const auto &n : nodes_)
    if (erase(*n))
      doomed.insert(n.get());
  if (doomed.empty())
    return 0;
  // Each read value's use list is filtered once, however many doomed nodes read it: removing
  // users one at a time would cost a scan of the list each.
  std::unordered_set<Value *> read;
  for (const Node *n : doomed)
    read.insert(n->operands.begin(), n->operands.end());
  for (Value *v : read)
    std::erase_if(v->users, [&](const Node *user) { return doomed.count(user) > 0; });
  size_t before = nodes_.size();
  std::erase_if(nodes_, [&](const std::unique_ptr<Node> &n) {
    if (!doomed.count(n.get()))
      return false;
    for (const auto &r : n->results)
      KILN_ASSERT(r->users.empty() && !output_uses_.count(r.get()),
                  "erasing a node whose result is still read");
    return true;
  });
  return static_cast<int>(before - nodes_.size());
}

namespace {

/// The nodes that the outputs and the given roots depend on.
std::unordered_set<const Node *> liveNodes(const Graph &g,
                                           const std::unordered_set<const Node *> &roots) {
  std::unordered_set<const Node *> live;
  std::vector<const Node *> work;
  auto mark = [&](const Node *n) {
    if (n && live.insert(n).second)
      work.push_back(n);
  };
  for (const auto &out : g.outputs())
    mark(out.value->def);
  for (const Node *n : roots)
    mark(n);
  while (!work.empty()) {
    const Node *n = work.back();
    work.pop_back();
    for (const Value *v : n->operands)
      mark(v->def);
  }
  return live;
}

} // namespace

int Graph::removeDeadNodes(const std::unordered_set<const Node *> &keep) {
  std::unordered_set<const Node *> live = liveNodes(*this, keep);
  return eraseNodes([&](const Node &n) { return !live.count(&n); });
}

std::unordered_set<const Node *> Graph::deadNodes() const {
  std::unordered_set<const Node *> live = liveNodes(*this, {}), dead;
  for (const auto &n : nodes_)
    if (!live.count(n.get()))
      dead.insert(n.get());
  return dead;
}

void Graph::sortTopologically() {
  std::unordered_map<const Node *, size_t> position;
  for (size_t i = 0; i < nodes_.size(); ++i)
    position[nodes_[i].get()] = i;
  enum State : char { Unvisited, Visiting, Done };
  std::vector<State> state(nodes_.size(), Unvisited);
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(nodes_.size());
  // Iterative post-order DFS: operands first, then the node, visiting roots in current order.
  for (size_t root = 0; root < nodes_.size(); ++root) {
    if (state[root] != Unvisited)
      continue;
    std::vector<std::pair<size_t, size_t>> stack{{root, 0}};
    state[root] = Visiting;
    while (!stack.empty()) {
      auto &[idx, next] = stack.back();
      Node *n = nodes_[idx].get();
      if (next < n->operands.size()) {
        Value *v = n->operands[next++];
        if (!v->def)
          continue;
        auto it = position.find(v->def);
        KILN_ASSERT(it != position.end(), "operand defined by a node outside the graph");
        size_t d = it->second;
        KILN_ASSERT(state[d] != Visiting, "cycle in graph");
        if (state[d] == Unvisited) {
          state[d] = Visiting;
          stack.push_back({d, 0});
        }
        continue;
      }
      state[idx] = Done;
      sorted.push_back(std::move(nodes_[idx]));
      stack.pop_back();
    }
  }
  nodes_ = std::move(sorted);
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>(name_);
  std::unordered_map<const Value *, Value *> map;
  for (const auto &in : inputs_)
    map[in.value.get()] = g->addInput(in.name, in.kind, in.value->type, in.loc, in.role);
  for (const auto &n : nodes_) {
    std::vector<Value *> ops;
    for (const Value *v : n->operands)
      ops.push_back(map.at(v));
    std::vector<TensorType> types;
    for (const auto &r : n->results)
      types.push_back(r->type);
    Node *c = g->addNodeUnchecked(*n->op, std::move(ops), n->attrs, std::move(types), n->loc);
    c->group = n->group;
    for (size_t i = 0; i < n->results.size(); ++i)
      map[n->results[i].get()] = c->result(static_cast<int>(i));
  }
  for (const auto &out : outputs_)
    g->addOutput(out.name, map.at(out.value), out.loc, out.updates);
  return g;
}

} // namespace kiln
