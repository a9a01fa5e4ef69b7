#include "runtime/data/corpus.h"

#include "runtime/data/ding.h"
#include "runtime/data/tsv.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <utility>

namespace kiln::data {
namespace {

std::vector<SentencePair> directed(std::vector<SentencePair> pairs, bool reverse) {
  if (reverse)
    for (SentencePair &p : pairs)
      std::swap(p.source, p.target);
  return pairs;
}

} // namespace

Corpus loadCorpus(const CorpusSpec &spec) {
  if (spec.data == kDingCorpus) {
    if (!spec.valid.empty())
      throw Error({spec.valid}, fmt::format("--valid is for a TSV --data: {} has a validation "
                                            "split of its own",
                                            kDingCorpus));
    return splitCorpus(readDing(), spec.split);
  }
  auto read = [&](const std::string &path) {
    std::vector<SentencePair> pairs = directed(readTsv(path), spec.split.reverse);
    if (pairs.empty())
      throw Error({path}, "the file holds no sentence pairs");
    return pairs;
  };
  Corpus corpus;
  corpus.train = read(spec.data);
  if (!spec.valid.empty())
    corpus.valid = read(spec.valid);
  return corpus;
}

} // namespace kiln::data
