#pragma once
// Hash maps keyed by name: the indexes that keep lookups of inputs, outputs and values by name
// O(1) as graphs grow, in Graph and in the parser.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kiln {

/// Name hashes and name comparisons made by the name indexes on this thread. Tests read it to
/// check that building and parsing a graph of N inputs and nodes takes O(N) of them.
inline thread_local uint64_t name_probes = 0;

/// Hashes a name, counting in name_probes; a string_view finds a std::string key.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const {
    ++name_probes;
    return std::hash<std::string_view>{}(name);
  }
};

/// Compares two names, counting in name_probes.
struct NameEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    ++name_probes;
    return a == b;
  }
};

/// A hash map from names to T.
template <typename T> using NameMap = std::unordered_map<std::string, T, NameHash, NameEqual>;

} // namespace kiln
