#include "runtime/data/split.h"

#include "ir/diagnostics.h"

#include <openssl/evp.h>

#include <array>
#include <vector>

namespace kiln::data {

namespace {

std::vector<unsigned char> md5(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  KILN_ASSERT(EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_md5(), nullptr) == 1,
              "OpenSSL's MD5 failed");
  return {digest.begin(), digest.begin() + size};
}

} // namespace

int md5Mod10(std::string_view text) {
  // Horner's rule over the big-endian bytes, reduced as it goes.
  int r = 0;
  for (unsigned char byte : md5(text))
    r = (r * 256 + byte) % 10;
  return r;
}

std::string md5Hex(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : md5(text)) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 15];
  }
  return hex;
}

Split splitOf(std::string_view english) {
  switch (md5Mod10(english)) {
  case 0:
    return Split::Test;
  case 1:
    return Split::Valid;
  default:
    return Split::Train;
  }
}

Corpus splitCorpus(const std::vector<SentencePair> &german_english, const SplitOptions &options) {
  Corpus corpus;
  for (const SentencePair &p : german_english) {
    const std::string &english = p.target;
    SentencePair directed = options.reverse ? p : SentencePair{p.target, p.source};
    switch (splitOf(english)) {
    case Split::Test:
      corpus.test.push_back(std::move(directed));
      break;
    case Split::Valid:
      corpus.valid.push_back(std::move(directed));
      break;
    case Split::Train:
      if (wordCount(english) <= options.max_train_words)
        corpus.train.push_back(std::move(directed));
      break;
    }
  }
  return corpus;
}

} // namespace kiln::data
