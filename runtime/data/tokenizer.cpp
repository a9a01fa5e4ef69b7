#include "runtime/data/tokenizer.h"

#include "ir/diagnostics.h"
#include "runtime/atomic_file.h"
#include "runtime/data/charsmap_check.h"

#include <cerrno>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <system_error>

#include <exception>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unordered_map>

namespace kiln::data {
namespace {

/// Feeds SentencePiece's trainer from memory.
class Sentences final : public sentencepiece::SentenceIterator {
public:
  explicit Sentences(const std::vector<std::string> &s) : s_(s) {}
  bool done() const override { return i_ >= s_.size(); }
  void Next() override { ++i_; }
  const std::string &value() const override { return s_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

private:
  const std::vector<std::string> &s_;
  size_t i_ = 0;
};

/// SentencePiece's reason for refusing to train, in kiln's terms (its messages name its own
/// flags and source lines).
std::string trainingProblem(std::string_view message) {
  std::cmatch m;
  std::string text(message);
  if (std::regex_search(text.c_str(), m,
                        std::regex(R"(smaller than required_chars\. (\d+) vs (\d+))")))
    return fmt::format("it has {} distinct characters, so it needs at least that many pieces",
                       m[2].str());
  if (std::regex_search(text.c_str(), m, std::regex(R"(value <= (\d+))")))
    return fmt::format("it allows at most {} pieces (a smaller --vocab)", m[1].str());
  return text;
}

} // namespace

Tokenizer::Tokenizer(std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor,
                     std::string bytes)
    : processor_(std::move(processor)), bytes_(std::move(bytes)) {}

Tokenizer Tokenizer::train(const std::vector<std::string> &sentences,
                           const TokenizerOptions &options) {
  if (sentences.empty())
    throw Error({}, "cannot train a tokenizer on no sentences");
  if (options.vocab < 8)
    throw Error({}, fmt::format("a tokenizer needs at least 8 pieces, {} asked", options.vocab));
  std::unordered_map<std::string, std::string> args = {
      {"model_type", "unigram"},
      {"vocab_size", std::to_string(options.vocab)},
      {"pad_id", std::to_string(kPad)},
      {"bos_id", std::to_string(kBos)},
      {"eos_id", std::to_string(kEos)},
      {"unk_id", std::to_string(kUnk)},
      {"character_coverage", "1.0"},
      {"num_threads", "1"}, // one thread: the same text always gives the same model
      {"minloglevel", "2"},
  };
  Sentences it(sentences);
  std::string bytes;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &bytes);
  if (!status.ok())
    throw Error({}, fmt::format("cannot train a tokenizer of {} pieces on this text: {}",
                                options.vocab, trainingProblem(status.message())));
  return fromBytes(std::move(bytes), "<trained tokenizer>");
}

Tokenizer Tokenizer::fromBytes(std::string bytes, const std::string &name) {
  // SentencePiece trusts the character maps a model carries: they are checked before it loads
  // them (runtime/data/charsmap_check.h).
  if (std::string problem = charsmapProblem(bytes); !problem.empty())
    throw Error({name}, fmt::format("not a SentencePiece model ({})", problem));
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  // SentencePiece refuses some malformed models by status and others by throwing (an empty
  // piece makes its trie builder throw): both are a bad file, not a kiln bug.
  std::string problem = "it does not parse as one";
  try {
    auto status = processor->LoadFromSerializedProto(bytes);
    if (status.ok())
      problem.clear();
    else if (std::string_view m = status.message(); !m.empty() && !m.starts_with("./src/"))
      problem = m; // e.g. "e is already defined."; "./src/..." names SentencePiece's own check
  } catch (const std::exception &e) {
    if (*e.what())
      problem = e.what();
  }
  if (!problem.empty())
    throw Error({name}, fmt::format("not a SentencePiece model ({})", problem));
  if (processor->pad_id() != kPad || processor->bos_id() != kBos || processor->eos_id() != kEos ||
      processor->unk_id() != kUnk)
    throw Error({name}, fmt::format("the tokenizer's special ids are PAD {}, BOS {}, EOS {}, UNK "
                                    "{}; kiln needs 0, 1, 2 and 3",
                                    processor->pad_id(), processor->bos_id(), processor->eos_id(),
                                    processor->unk_id()));
  return Tokenizer(std::move(processor), std::move(bytes));
}

Tokenizer Tokenizer::load(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error({path}, "cannot open the tokenizer: it is a directory, not a model file from "
                        "kiln tokenizer train");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error({path},
                "cannot open the tokenizer: " +
                    (errno ? std::generic_category().message(errno) : "it cannot be opened"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return fromBytes(std::move(bytes).str(), path);
}

Tokenizer Tokenizer::fromBase64(std::string_view text, const std::string &name) {
  std::string bytes(text.size() / 4 * 3, '\0');
  int n = text.size() % 4 == 0
              ? EVP_DecodeBlock(reinterpret_cast<unsigned char *>(bytes.data()),
                                reinterpret_cast<const unsigned char *>(text.data()),
                                static_cast<int>(text.size()))
              : -1;
  if (n < 0)
    throw Error({name}, "the stored tokenizer is not base64 text");
  // EVP_DecodeBlock keeps the bytes that the padding '=' stands for.
  size_t padding =
      text.empty() ? 0 : (text.back() == '=') + (text.size() > 1 && text[text.size() - 2] == '=');
  bytes.resize(static_cast<size_t>(n) - padding);
  return fromBytes(std::move(bytes), name);
}

std::string Tokenizer::base64() const {
  std::string text((bytes_.size() + 2) / 3 * 4 + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(text.data()),
                          reinterpret_cast<const unsigned char *>(bytes_.data()),
                          static_cast<int>(bytes_.size()));
  text.resize(static_cast<size_t>(n));
  return text;
}

void Tokenizer::save(const std::string &path) const { writeFileAtomically(path, bytes_); }

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  auto status = processor_->Encode(text, &ids);
  KILN_ASSERT(status.ok(), "SentencePiece failed to encode text");
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::decode(std::span<const int64_t> ids) const {
  std::vector<int> kept;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocabSize())
      throw Error({}, fmt::format("token id {} is outside the tokenizer's vocabulary [0, {})", id,
                                  vocabSize()));
    if (id != kPad && id != kBos && id != kEos)
      kept.push_back(static_cast<int>(id));
  }
  std::string text;
  auto status = processor_->Decode(kept, &text);
  KILN_ASSERT(status.ok(), "SentencePiece failed to decode ids in its vocabulary");
  return text;
}

std::vector<std::string> Tokenizer::pieces(std::string_view text) const {
  std::vector<std::string> out;
  auto status = processor_->Encode(text, &out);
  KILN_ASSERT(status.ok(), "SentencePiece failed to encode text");
  return out;
}

int64_t Tokenizer::vocabSize() const { return processor_->GetPieceSize(); }

} // namespace kiln::data
