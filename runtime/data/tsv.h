#pragma once
// Users' own parallel text: one `source<TAB>target` pair a line, UTF-8. Empty lines are skipped;
// a line without exactly one tab, or with a side of nothing but whitespace, is an Error at its
// line number. The whitespace around each side is dropped.

#include "runtime/data/sentence_pairs.h"

#include <istream>
#include <string>
#include <vector>

namespace kiln::data {

/// The pairs of a TSV stream; `name` is the file name errors point at.
std::vector<SentencePair> tsvPairs(std::istream &lines, const std::string &name);

/// The pairs of the TSV file at `path`.
std::vector<SentencePair> readTsv(const std::string &path);

/// Writes pairs as TSV lines (for `kiln data`): the inverse of tsvPairs.
std::string tsvText(const std::vector<SentencePair> &pairs);

} // namespace kiln::data
