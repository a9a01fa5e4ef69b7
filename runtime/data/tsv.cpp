#include "runtime/data/tsv.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace kiln::data {

std::vector<SentencePair> tsvPairs(std::istream &lines, const std::string &name) {
  std::vector<SentencePair> pairs;
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    Location at{name, number};
    int64_t tabs = std::count(line.begin(), line.end(), '\t');
    if (tabs != 1)
      throw Error(at, fmt::format("expected one tab between source and target, found {}", tabs));
    size_t tab = line.find('\t');
    SentencePair p{line.substr(0, tab), line.substr(tab + 1)};
    bool no_source = wordCount(p.source) == 0;
    if (no_source || wordCount(p.target) == 0)
      throw Error(at, fmt::format("the {} is empty", no_source ? "source" : "target"));
    pairs.push_back(std::move(p));
  }
  if (lines.bad())
    throw Error({name}, "reading failed");
  return pairs;
}

std::vector<SentencePair> readTsv(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw Error({path}, "cannot open the data file");
  return tsvPairs(in, path);
}

std::string tsvText(const std::vector<SentencePair> &pairs) {
  std::string out;
  for (const SentencePair &p : pairs)
    out += fmt::format("{}\t{}\n", p.source, p.target);
  return out;
}

} // namespace kiln::data
