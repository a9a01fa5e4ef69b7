#include "runtime/data/ding.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <fstream>
#include <unordered_set>

namespace kiln::data {
namespace {

/// `text` split at every occurrence of `sep`.
std::vector<std::string_view> splitAt(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t at; (at = text.find(sep, start)) != std::string_view::npos; start = at + sep.size())
    parts.push_back(text.substr(start, at - start));
  parts.push_back(text.substr(start));
  return parts;
}

/// The closing character of an annotation that starts with `c`, or 0.
char closerOf(char c) {
  switch (c) {
  case '{':
    return '}';
  case '[':
    return ']';
  case '<':
    return '>';
  case '/':
    return '/';
  default:
    return 0;
  }
}

/// A-Z, Ä, Ö, Ü or a quote.
bool startsWell(std::string_view s) {
  if (s.empty())
    return false;
  if ((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '"')
    return true;
  for (std::string_view p : {"Ä", "Ö", "Ü", "„"})
    if (s.starts_with(p))
      return true;
  return false;
}

bool endsWell(std::string_view s) {
  return !s.empty() && (s.back() == '.' || s.back() == '!' || s.back() == '?');
}

bool hasForbidden(std::string_view s) {
  for (std::string_view f : {"(", "~", "…", "..."})
    if (s.find(f) != std::string_view::npos)
      return true;
  return false;
}

} // namespace

std::string cleanDingPart(std::string_view part) {
  part = part.substr(0, part.find(';'));
  std::string kept;
  for (size_t i = 0; i < part.size(); ++i) {
    char close = closerOf(part[i]);
    size_t end = close ? part.find(close, i + 1) : std::string_view::npos;
    if (end == std::string_view::npos) {
      kept += part[i];
      continue;
    }
    while (!kept.empty() && isBlank(kept.back()))
      kept.pop_back();
    i = end;
  }
  std::string out;
  for (char c : kept) {
    if (isBlank(c)) {
      if (!out.empty() && out.back() != ' ')
        out += ' ';
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

std::vector<SentencePair> dingPairs(std::istream &lines) {
  std::vector<SentencePair> pairs;
  std::unordered_set<std::string> seen_english;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("#"))
      continue;
    size_t at = line.find(" :: ");
    if (at == std::string::npos)
      continue;
    std::vector<std::string_view> german = splitAt(std::string_view(line).substr(0, at), " | ");
    std::vector<std::string_view> english = splitAt(std::string_view(line).substr(at + 4), " | ");
    if (german.size() != english.size())
      continue;
    for (size_t i = 0; i < german.size(); ++i) {
      std::string de = cleanDingPart(german[i]), en = cleanDingPart(english[i]);
      if (hasForbidden(de) || hasForbidden(en) || !startsWell(de) || !startsWell(en) ||
          !endsWell(de) || !endsWell(en) || wordCount(en) < 3)
        continue;
      if (seen_english.insert(en).second)
        pairs.push_back({std::move(de), std::move(en)});
    }
  }
  return pairs;
}

std::vector<SentencePair> readDing(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw Error({path},
                fmt::format("cannot read Ding's dictionary (Debian's trans-de-en installs it "
                            "at {}; scripts/install-deps.sh installs the package)",
                            kDingPath));
  return dingPairs(in);
}

} // namespace kiln::data
