#include "runtime/data/charsmap_check.h"

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

namespace kiln::data {
namespace {

// ---- protobuf wire format ----------------------------------------------------------------------

/// One field of a protobuf message: its number, wire type and, for a length-delimited field,
/// its bytes.
struct Field {
  uint64_t number = 0;
  int wire_type = 0;
  std::string_view bytes;
};

/// Reads the fields of a protobuf message one at a time; a truncated or malformed field ends
/// the reading with `failed()` set.
class WireReader {
public:
  explicit WireReader(std::string_view message) : rest_(message) {}

  /// The next field, or nullopt at the end of the message or at malformed bytes.
  std::optional<Field> next() {
    uint64_t tag = 0;
    if (rest_.empty() || !varint(tag))
      return std::nullopt;
    Field f{tag >> 3, static_cast<int>(tag & 7), {}};
    if (f.number == 0 || !skipPayload(f, 0)) {
      failed_ = true;
      return std::nullopt;
    }
    return f;
  }
  /// Whether the reading stopped at malformed bytes rather than at the end.
  bool failed() const { return failed_ || !rest_.empty(); }

private:
  bool varint(uint64_t &v) {
    v = 0;
    for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
      auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      v |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0)
        return true;
    }
    failed_ = true;
    return false;
  }
  bool take(uint64_t n, std::string_view *bytes = nullptr) {
    if (n > rest_.size())
      return false;
    if (bytes)
      *bytes = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  // Steps over a field's payload; a group's fields are stepped over up to its end tag, as
  // deep as protobuf's own limit of 100 nested messages.
  bool skipPayload(Field &f, int depth) {
    uint64_t v = 0;
    switch (f.wire_type) {
    case 0:
      return varint(v);
    case 1:
      return take(8);
    case 2:
      return varint(v) && take(v, &f.bytes);
    case 5:
      return take(4);
    case 3:
      while (depth < 100) {
        uint64_t tag = 0;
        if (rest_.empty() || !varint(tag))
          return false;
        Field inner{tag >> 3, static_cast<int>(tag & 7), {}};
        if (inner.wire_type == 4)
          return inner.number == f.number;
        if (inner.number == 0 || !skipPayload(inner, depth + 1))
          return false;
      }
      return false;
    default:
      return false;
    }
  }

  std::string_view rest_;
  bool failed_ = false;
};

// ModelProto's fields that hold a NormalizerSpec, and NormalizerSpec's precompiled_charsmap
// (sentencepiece_model.proto).
constexpr uint64_t kNormalizerSpec = 3, kDenormalizerSpec = 5, kPrecompiledCharsmap = 2;

// ---- darts-clone double-array units
// --------------------------------------------------------------

uint32_t littleEndian32(const char *p) {
  auto b = [&](int i) { return uint32_t{static_cast<uint8_t>(p[i])}; };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}
bool hasLeaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t leafValue(uint32_t unit) { return unit & ((1u << 31) - 1); }
uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
uint64_t offset(uint32_t unit) { return uint64_t{unit >> 10} << ((unit & (1u << 9)) >> 6); }

/// The problem of one precompiled character map, laid out as SentencePiece's
/// DecodePrecompiledCharsMap reads it: a little-endian u32 byte count of the trie, the trie's
/// units, then the replacement strings. Every trie state that a prefix search can reach is
/// visited, and each of the 256 units a next byte may select must lie inside the trie.
std::string charsmapBlobProblem(std::string_view blob, std::string_view what) {
  if (blob.size() <= 4)
    return fmt::format("{}: {} bytes, too short for its header", what, blob.size());
  uint64_t trie_bytes = littleEndian32(blob.data());
  if (trie_bytes > blob.size() - 4)
    return fmt::format("{}: a trie of {} bytes in {} bytes", what, trie_bytes, blob.size() - 4);
  uint64_t units = trie_bytes / 4;
  uint64_t strings = blob.size() - 4 - trie_bytes;
  if (units == 0)
    return fmt::format("{}: an empty trie", what);
  auto unit = [&](uint64_t i) { return littleEndian32(blob.data() + 4 + 4 * i); };

  uint64_t root = offset(unit(0));
  std::vector<uint64_t> pending = {root};
  std::unordered_set<uint64_t> seen = {root};
  while (!pending.empty()) {
    uint64_t state = pending.back();
    pending.pop_back();
    if ((state | 0xFF) >= units)
      return fmt::format("{}: a trie state past the end of its {} units", what, units);
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint64_t at = state ^ byte;
      uint32_t u = unit(at);
      if (label(u) != byte)
        continue;
      uint64_t child = at ^ offset(u);
      if (hasLeaf(u)) {
        if (child >= units)
          return fmt::format("{}: a trie leaf past the end of its {} units", what, units);
        if (leafValue(unit(child)) >= strings)
          return fmt::format("{}: a replacement at byte {} of {} bytes of strings", what,
                             leafValue(unit(child)), strings);
      }
      if (seen.insert(child).second)
        pending.push_back(child);
    }
  }
  return "";
}

} // namespace

std::string charsmapProblem(std::string_view model) {
  // Protobuf merges repeated occurrences of a message field, and the last occurrence of a bytes
  // field wins: so does this.
  std::optional<std::string_view> maps[2];
  WireReader fields(model);
  while (std::optional<Field> f = fields.next()) {
    if (f->wire_type != 2 || (f->number != kNormalizerSpec && f->number != kDenormalizerSpec))
      continue;
    WireReader spec(f->bytes);
    while (std::optional<Field> g = spec.next())
      if (g->number == kPrecompiledCharsmap && g->wire_type == 2)
        maps[f->number == kDenormalizerSpec] = g->bytes;
    if (spec.failed())
      return "it does not parse as one";
  }
  if (fields.failed())
    return "it does not parse as one";
  const char *names[2] = {"the normalizer's character map is corrupt",
                          "the denormalizer's character map is corrupt"};
  for (int i = 0; i < 2; ++i) {
    // An empty map means no map: SentencePiece then normalizes nothing.
    if (!maps[i] || maps[i]->empty())
      continue;
    if (std::string problem = charsmapBlobProblem(*maps[i], names[i]); !problem.empty())
      return problem;
  }
  return "";
}

} // namespace kiln::data
