#include "runtime/eval/bleu.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>

namespace kiln::eval {
namespace {

constexpr int kMaxOrder = 4;

/// Replaces every occurrence of `from` in s.
void replaceAll(std::string &s, std::string_view from, std::string_view to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
}

std::vector<std::string> words(const std::string &s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

using NGrams = std::map<std::vector<std::string>, int64_t>;

NGrams ngrams(const std::vector<std::string> &tokens, int n) {
  NGrams out;
  for (size_t i = 0; i + n <= tokens.size(); ++i)
    ++out[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                   tokens.begin() + static_cast<std::ptrdiff_t>(i) + n)];
  return out;
}

} // namespace

std::string tokenize13a(std::string_view text) {
  std::string line(text);
  replaceAll(line, "<skipped>", "");
  replaceAll(line, "-\n", "");
  replaceAll(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    replaceAll(line, "&quot;", "\"");
    replaceAll(line, "&amp;", "&");
    replaceAll(line, "&lt;", "<");
    replaceAll(line, "&gt;", ">");
  }
  line = " " + line + " ";
  // mteval-v13a's rules, in its order; they read bytes, as it reads characters of ASCII.
  static const std::regex symbols(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex period_after(R"(([^0-9])([\.,]))");
  static const std::regex period_before(R"(([\.,])([^0-9]))");
  static const std::regex dash(R"(([0-9])(-))");
  line = std::regex_replace(line, symbols, " $1 ");
  line = std::regex_replace(line, period_after, "$1 $2 ");
  line = std::regex_replace(line, period_before, " $1 $2");
  line = std::regex_replace(line, dash, "$1 $2 ");
  std::vector<std::string> w = words(line);
  return fmt::format("{}", fmt::join(w, " "));
}

Bleu corpusBleu(const std::vector<std::string> &hypotheses,
                const std::vector<std::string> &references) {
  if (hypotheses.size() != references.size())
    throw Error({}, fmt::format("BLEU needs one reference a hypothesis: {} hypotheses, {} "
                                "references",
                                hypotheses.size(), references.size()));
  std::vector<int64_t> correct(kMaxOrder, 0), total(kMaxOrder, 0);
  Bleu b;
  for (size_t s = 0; s < hypotheses.size(); ++s) {
    std::vector<std::string> hyp = words(tokenize13a(hypotheses[s]));
    std::vector<std::string> ref = words(tokenize13a(references[s]));
    b.hyp_len += static_cast<int64_t>(hyp.size());
    b.ref_len += static_cast<int64_t>(ref.size());
    for (int n = 1; n <= kMaxOrder; ++n) {
      NGrams h = ngrams(hyp, n), r = ngrams(ref, n);
      for (const auto &[gram, count] : h) {
        auto it = r.find(gram);
        correct[n - 1] += it == r.end() ? 0 : std::min(count, it->second);
      }
      total[n - 1] += std::max<int64_t>(0, static_cast<int64_t>(hyp.size()) - n + 1);
    }
  }
  b.precisions.assign(kMaxOrder, 0);
  double smooth = 1;
  for (int n = 0; n < kMaxOrder; ++n) {
    if (total[n] == 0)
      break;
    if (correct[n] == 0) {
      smooth *= 2;
      b.precisions[n] = 100.0 / (smooth * static_cast<double>(total[n]));
    } else {
      b.precisions[n] = 100.0 * static_cast<double>(correct[n]) / static_cast<double>(total[n]);
    }
  }
  if (b.hyp_len < b.ref_len)
    b.brevity_penalty =
        b.hyp_len > 0
            ? std::exp(1.0 - static_cast<double>(b.ref_len) / static_cast<double>(b.hyp_len))
            : 0.0;
  double log_sum = 0;
  for (double p : b.precisions)
    log_sum += p > 0 ? std::log(p) : -9999999999.0; // sacreBLEU's log of 0
  b.score = b.brevity_penalty * std::exp(log_sum / kMaxOrder);
  return b;
}

std::string Bleu::str() const {
  double ratio = ref_len > 0 ? static_cast<double>(hyp_len) / static_cast<double>(ref_len) : 0;
  return fmt::format("BLEU = {:.2f} {:.1f}/{:.1f}/{:.1f}/{:.1f} (BP = {:.3f} ratio = {:.3f} "
                     "hyp_len = {} ref_len = {})",
                     score, precisions[0], precisions[1], precisions[2], precisions[3],
                     brevity_penalty, ratio, hyp_len, ref_len);
}

} // namespace kiln::eval
