#include "runtime/data/char_tokenizer.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::data {

namespace {

/// The length of the UTF-8 sequence that starts with byte c, or 0 for a byte that cannot start
/// one.
size_t sequenceLength(unsigned char c) {
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return 2;
  if (c >= 0xE0 && c <= 0xEF)
    return 3;
  if (c >= 0xF0 && c <= 0xF4)
    return 4;
  return 0;
}

/// Whether `second` may follow `first` in a sequence: the ranges of the Unicode Standard's
/// table 3-7, which leave out overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF)
/// and code points past U+10FFFF (F4 90..BF).
bool validSecondByte(unsigned char first, unsigned char second) {
  unsigned char lo = 0x80, hi = 0xBF;
  if (first == 0xE0)
    lo = 0xA0;
  else if (first == 0xED)
    hi = 0x9F;
  else if (first == 0xF0)
    lo = 0x90;
  else if (first == 0xF4)
    hi = 0x8F;
  return second >= lo && second <= hi;
}

} // namespace

std::vector<std::string> utf8Characters(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t n = sequenceLength(static_cast<unsigned char>(text[i]));
    bool valid = n > 0 && i + n <= text.size();
    if (valid && n > 1)
      valid = validSecondByte(static_cast<unsigned char>(text[i]),
                              static_cast<unsigned char>(text[i + 1]));
    for (size_t j = 1; valid && j < n; ++j)
      valid = (static_cast<unsigned char>(text[i + j]) & 0xC0) == 0x80;
    if (!valid)
      throw Error({}, fmt::format("invalid UTF-8 at byte {} (0x{:02x})", i,
                                  static_cast<unsigned char>(text[i])));
    out.emplace_back(text.substr(i, n));
    i += n;
  }
  return out;
}

CharTokenizer CharTokenizer::fromText(std::string_view text) {
  std::vector<std::string> chars = utf8Characters(text);
  if (chars.empty())
    throw Error({}, "a character tokenizer needs a text with at least one character");
  // UTF-8's byte order is code point order.
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  CharTokenizer t;
  t.chars_ = std::move(chars);
  return t;
}

std::vector<int64_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  size_t offset = 0;
  for (const std::string &c : utf8Characters(text)) {
    auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
    if (it == chars_.end() || *it != c)
      throw Error({}, fmt::format("character '{}' at byte {} is not in the vocabulary of {} "
                                  "characters",
                                  c == "\n" ? "\\n" : c, offset, chars_.size()));
    ids.push_back(it - chars_.begin());
    offset += c.size();
  }
  return ids;
}

std::string CharTokenizer::decode(std::span<const int64_t> ids) const {
  std::string text;
  for (int64_t id : ids) {
    if (id < 0 || id >= size())
      throw Error({}, fmt::format("character id {} is outside the vocabulary of {}", id, size()));
    text += chars_[id];
  }
  return text;
}

} // namespace kiln::data
