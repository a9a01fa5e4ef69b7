#include "runtime/data/tsv.h"

#include "ir/diagnostics.h"

#include <cerrno>
#include <fmt/format.h>
#include <system_error>

#include <algorithm>
#include <fstream>
#include <string_view>

namespace kiln::data {
namespace {

/// The text without the blanks around it.
std::string trimmed(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && isBlank(text[begin]))
    ++begin;
  while (end > begin && isBlank(text[end - 1]))
    --end;
  return std::string(text.substr(begin, end - begin));
}

} // namespace

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
    // Without the blanks around them, sides read back as tsvText writes them (a side that
    // ended in '\r' would lose it to the CRLF rule above).
    std::string_view text = line;
    SentencePair p{trimmed(text.substr(0, tab)), trimmed(text.substr(tab + 1))};
    bool no_source = p.source.empty();
    if (no_source || p.target.empty())
      throw Error(at, fmt::format("the {} is empty", no_source ? "source" : "target"));
    pairs.push_back(std::move(p));
  }
  if (lines.bad())
    throw Error({name}, "reading failed");
  return pairs;
}

std::vector<SentencePair> readTsv(const std::string &path) {
  errno = 0;
  std::ifstream in(path);
  if (!in)
    throw Error({path},
                "cannot open the data file: " +
                    (errno ? std::generic_category().message(errno) : "it cannot be opened"));
  return tsvPairs(in, path);
}

std::string tsvText(const std::vector<SentencePair> &pairs) {
  std::string out;
  for (const SentencePair &p : pairs)
    out += fmt::format("{}\t{}\n", p.source, p.target);
  return out;
}

} // namespace kiln::data
