// The expected-error and expected-remark comments of --verify-diagnostics, read as MLIR reads
// them; a directive that cannot be read is an error, never a check silently skipped.

#include "tools/expected_diagnostics.h"

#include "ir/diagnostics.h"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <optional>

namespace kiln::tools {
namespace {

/// The kinds of diagnostic kiln reports, and so the kinds a directive may expect.
constexpr std::string_view kKinds[] = {"error", "remark"};

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view skipSpaces(std::string_view s) {
  while (!s.empty() && isSpace(s.front()))
    s.remove_prefix(1);
  return s;
}

/// `rest` less a leading "@WHERE" and the spaces after it.
std::string_view skipOffset(std::string_view rest) {
  if (rest.empty() || rest[0] != '@')
    return rest;
  size_t end = rest.find_first_of(" \t{");
  return end == std::string_view::npos ? std::string_view() : skipSpaces(rest.substr(end));
}

/// The line `@where` names from line `lineno`, or nothing when `where` is not an offset.
std::optional<int> offsetLine(std::string_view where, int lineno) {
  if (where == "above")
    return lineno - 1;
  if (where == "below")
    return lineno + 1;
  if (where.size() < 2 || (where[0] != '+' && where[0] != '-'))
    return std::nullopt;
  int offset = 0;
  auto res = std::from_chars(where.data() + 1, where.data() + where.size(), offset);
  if (res.ec != std::errc() || res.ptr != where.data() + where.size() || offset >= 1000000)
    return std::nullopt;
  return where[0] == '+' ? lineno + offset : lineno - offset;
}

/// One line's directive, if it has one. `comment` is the text after its "//", which starts at
/// column `comment_col` (1-based).
std::optional<ExpectedDiagnostic> parseLine(std::string_view comment, size_t comment_col,
                                            int lineno, const std::string &file) {
  const std::string_view marker = "expected-";
  size_t at = 0;
  for (;; ++at) {
    at = comment.find(marker, at);
    if (at == std::string_view::npos)
      return std::nullopt;
    if (at == 0 || !isWordChar(comment[at - 1]))
      break;
  }
  Location loc{file, lineno, static_cast<int>(comment_col + at)};
  std::string_view rest = comment.substr(at + marker.size());
  size_t kind_end = 0;
  while (kind_end < rest.size() && isWordChar(rest[kind_end]))
    ++kind_end;
  std::string kind(rest.substr(0, kind_end));
  std::string directive = "expected-" + kind;
  rest = skipSpaces(rest.substr(kind_end));
  bool known = std::find(std::begin(kKinds), std::end(kKinds), kind) != std::end(kKinds);
  // An unknown kind is a directive when it stands first in its comment or reads like one;
  // elsewhere the word is prose ("the expected-output file").
  bool first = skipSpaces(comment.substr(0, at)).empty();
  if (!known && !first && !skipOffset(rest).starts_with("{{"))
    return std::nullopt;
  if (!known)
    throw Error(loc, fmt::format("unknown diagnostic kind '{}': --verify-diagnostics checks "
                                 "expected-error and expected-remark",
                                 directive));
  int target = lineno;
  if (!rest.empty() && rest[0] == '@') {
    // The offset runs to a space or a brace, or to the end (npos - 1 is still "to the end").
    std::string_view where = rest.substr(1, rest.find_first_of(" \t{") - 1);
    std::optional<int> line = offsetLine(where, lineno);
    if (!line)
      throw Error(loc, fmt::format("malformed {} offset '@{}': expected @+N, @-N, @above or @below",
                                   directive, where));
    target = *line;
    rest = skipOffset(rest);
  }
  if (!rest.starts_with("{{"))
    throw Error(loc, fmt::format("{}: expected '{{{{' to open the expected message", directive));
  size_t close = rest.rfind("}}");
  if (close == std::string_view::npos)
    throw Error(loc, fmt::format("{}: expected '}}}}' to close the expected message", directive));
  return ExpectedDiagnostic{kind, target, std::string(rest.substr(2, close - 2))};
}

} // namespace

ExpectedDiagnostics parseExpectedDiagnostics(std::string_view text, int first_line,
                                             const std::string &file) {
  ExpectedDiagnostics out;
  int lineno = first_line;
  for (size_t start = 0; start <= text.size(); ++lineno) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t comment = line.find("//");
    if (comment == std::string_view::npos)
      continue;
    try {
      if (auto expected = parseLine(line.substr(comment + 2), comment + 3, lineno, file))
        out.directives.push_back(std::move(*expected));
    } catch (const Error &e) {
      out.malformed.push_back(e);
    }
  }
  return out;
}

} // namespace kiln::tools
