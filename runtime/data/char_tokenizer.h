#pragma once
// Character-level tokenization: each UTF-8 character (code point) of a text is one id. The
// vocabulary is the distinct characters of the text it is built from, ordered by code point, so
// the same text always gives the same ids.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::data {

/// The UTF-8 characters of a text, each as its bytes; an Error names the byte offset of an
/// invalid or truncated sequence.
std::vector<std::string> utf8Characters(std::string_view text);

/// Text to character ids and back.
class CharTokenizer {
public:
  /// The tokenizer of every distinct character of `text`; an Error for invalid UTF-8 or an
  /// empty text.
  static CharTokenizer fromText(std::string_view text);

  /// The number of characters in the vocabulary.
  int64_t size() const { return static_cast<int64_t>(chars_.size()); }
  /// The characters by id.
  const std::vector<std::string> &characters() const { return chars_; }

  /// The id of each character of `text`; a character outside the vocabulary is an Error that
  /// names it and its byte offset.
  std::vector<int64_t> encode(std::string_view text) const;
  /// The text of ids; an id outside the vocabulary is an Error.
  std::string decode(std::span<const int64_t> ids) const;

private:
  std::vector<std::string> chars_;
};

} // namespace kiln::data
