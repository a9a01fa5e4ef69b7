#pragma once
// The example sentences of Ding's German-English dictionary (Debian's trans-de-en) as sentence
// pairs, by a fixed rule so that results compare with other systems trained on the same data:
//
// - skip lines that start with '#' or have no " :: "; split at the first " :: " into German and
//   English, each side at " | " into aligned parts, and skip the line if the counts differ;
// - of each part, take the first ';'-separated variant, remove the annotations {...}, [...],
//   <...> and /.../ with the whitespace before them, and collapse whitespace;
// - keep a pair only if neither side contains '(', '~', '…' or "...", both start with A-Z, Ä,
//   Ö, Ü or a quote ('"' or '„') and end in '.', '!' or '?', and the English has 3 words or more;
// - keep the first German for each English sentence.
//
// The dictionary is GPL: it is read where the package installs it, never copied into kiln.

#include "runtime/data/sentence_pairs.h"

#include <istream>
#include <string>
#include <vector>

namespace kiln::data {

/// Where trans-de-en installs the dictionary.
inline constexpr const char *kDingPath = "/usr/share/trans/de-en";

/// The pairs of the dictionary's lines by the rule above, in file order; source German, target
/// English.
std::vector<SentencePair> dingPairs(std::istream &lines);

/// The pairs of the dictionary file at `path`; an Error names the path if it cannot be read
/// (and says which package installs it).
std::vector<SentencePair> readDing(const std::string &path = kDingPath);

/// A part of a line cleaned by the rule: its first ';'-variant, annotations removed, whitespace
/// collapsed and trimmed.
std::string cleanDingPart(std::string_view part);

} // namespace kiln::data
