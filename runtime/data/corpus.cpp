#include "runtime/data/corpus.h"

#include "runtime/data/ding.h"
#include "runtime/data/tsv.h"

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
  if (spec.data == kDingCorpus)
    return splitCorpus(readDing(), spec.split);
  Corpus corpus;
  corpus.train = directed(readTsv(spec.data), spec.split.reverse);
  if (!spec.valid.empty())
    corpus.valid = directed(readTsv(spec.valid), spec.split.reverse);
  return corpus;
}

} // namespace kiln::data
