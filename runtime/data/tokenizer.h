#pragma once
// Subword tokenization through SentencePiece: a joint unigram model of source and target text,
// with kiln's special ids (PAD 0, BOS 1, EOS 2, UNK 3). A tokenizer is its serialized model;
// those bytes are what files and checkpoints store.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace kiln::data {

/// How a tokenizer is trained.
struct TokenizerOptions {
  int64_t vocab = 8000; ///< pieces, the four special ids included
};

/// A trained SentencePiece model: text to ids and back.
class Tokenizer {
public:
  /// kiln's special ids, which every tokenizer it loads has.
  static constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3;

  /// Trains a unigram model on `sentences` (every side of the training pairs); an Error says
  /// why SentencePiece refused (a vocabulary too large for the text, ...).
  static Tokenizer train(const std::vector<std::string> &sentences,
                         const TokenizerOptions &options);
  /// The tokenizer of serialized model bytes; `name` is what errors point at. Refuses a model
  /// whose special ids are not kiln's.
  static Tokenizer fromBytes(std::string bytes, const std::string &name);
  /// The tokenizer saved at `path`.
  static Tokenizer load(const std::string &path);

  /// The tokenizer of text that base64() gave (a checkpoint's metadata holds it so).
  static Tokenizer fromBase64(std::string_view text, const std::string &name);

  /// Writes the model to `path` atomically.
  void save(const std::string &path) const;

  /// The ids of a sentence's pieces (no BOS or EOS).
  std::vector<int64_t> encode(std::string_view text) const;
  /// The text of ids; PAD, BOS and EOS are dropped. An id outside the vocabulary is an Error.
  std::string decode(std::span<const int64_t> ids) const;
  /// The pieces of a sentence, as text ("▁Das", "▁Haus", ".").
  std::vector<std::string> pieces(std::string_view text) const;

  /// The number of ids, the special ones included: the model's vocabulary size.
  int64_t vocabSize() const;
  /// The serialized model.
  const std::string &bytes() const { return bytes_; }
  /// The serialized model as base64 text.
  std::string base64() const;

private:
  Tokenizer(std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor,
            std::string bytes);

  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;
  std::string bytes_;
};

} // namespace kiln::data
