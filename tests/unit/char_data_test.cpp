// Character-level text data: the UTF-8 character tokenizer and the random windows a language
// model trains on, with next-character targets.

#include "test_util.h"

#include "runtime/data/char_tokenizer.h"
#include "runtime/data/text_windows.h"

#include <set>

using namespace kiln;
using namespace kiln::data;

TEST_CASE("utf8Characters splits multi-byte characters and refuses invalid UTF-8") {
  CHECK(utf8Characters("aä€😀") == std::vector<std::string>{"a", "ä", "€", "😀"});
  CHECK(utf8Characters("").empty());
  CHECK_THROWS_WITH_AS(utf8Characters("ab\xC3"), doctest::Contains("invalid UTF-8 at byte 2"),
                       Error);
  CHECK_THROWS_WITH_AS(utf8Characters("a\x80"), doctest::Contains("invalid UTF-8 at byte 1"),
                       Error);
  CHECK_THROWS_WITH_AS(utf8Characters("\xC3(x"), doctest::Contains("invalid UTF-8 at byte 0"),
                       Error);
  // The edges of table 3-7: an overlong '/', a surrogate, a code point past U+10FFFF, and the
  // first and last sequences that are allowed beside them.
  for (const char *bad : {"\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF0\x8F\xBF\xBF"})
    CHECK_THROWS_WITH_AS(utf8Characters(bad), doctest::Contains("invalid UTF-8 at byte 0"), Error);
  for (const char *good : {"\xE0\xA0\x80", "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF", "\xF0\x90\x80\x80"})
    CHECK(utf8Characters(good).size() == 1);
}

TEST_CASE("CharTokenizer: one id per distinct character, in code point order, round trips") {
  std::string text = "Die Tür ist zu.\nDas Öl!";
  CharTokenizer t = CharTokenizer::fromText(text);
  std::set<std::string> distinct;
  for (const std::string &c : utf8Characters(text))
    distinct.insert(c);
  CHECK(t.size() == static_cast<int64_t>(distinct.size()));
  // "\n" (U+000A) first, "ü" (U+00FC) after "Ö" (U+00D6), both after the ASCII letters.
  CHECK(t.characters().front() == "\n");
  CHECK(t.characters().back() == "ü");
  CHECK(t.characters()[t.size() - 2] == "Ö");
  std::vector<int64_t> ids = t.encode(text);
  CHECK(ids.size() == utf8Characters(text).size());
  CHECK(t.decode(ids) == text);
  CHECK(t.encode("zu") == std::vector<int64_t>{t.encode("z")[0], t.encode("u")[0]});
}

TEST_CASE("CharTokenizer names what it cannot encode or decode") {
  CharTokenizer t = CharTokenizer::fromText("abc");
  CHECK_THROWS_WITH_AS(t.encode("abä"),
                       doctest::Contains("character 'ä' at byte 2 is not in the vocabulary of 3"),
                       Error);
  std::vector<int64_t> bad = {0, 3};
  CHECK_THROWS_WITH_AS(t.decode(bad), doctest::Contains("id 3 is outside the vocabulary of 3"),
                       Error);
  CHECK_THROWS_AS(CharTokenizer::fromText(""), Error);
}

TEST_CASE("WindowSampler: windows of the stream, targets one id on, reproducible by seed") {
  std::vector<int64_t> ids(50);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<int64_t>(i * 7 % 50); // a permutation: a value names its position
  std::vector<int64_t> where(50);
  for (size_t i = 0; i < ids.size(); ++i)
    where[ids[i]] = static_cast<int64_t>(i);
  WindowSampler a(ids, 8, 3), b(ids, 8, 3), other(ids, 8, 4);
  std::set<int64_t> starts;
  bool differs = false;
  for (int round = 0; round < 20; ++round) {
    WindowBatch x = a.next(4), y = b.next(4), z = other.next(4);
    REQUIRE(x.input.type() == TensorType{DType::i64, {4, 8}});
    REQUIRE(x.target.type() == TensorType{DType::i64, {4, 8}});
    CHECK(x.input.bytes().size() == y.input.bytes().size());
    CHECK(std::equal(x.input.as<int64_t>().begin(), x.input.as<int64_t>().end(),
                     y.input.as<int64_t>().begin()));
    differs |= !std::equal(x.input.as<int64_t>().begin(), x.input.as<int64_t>().end(),
                           z.input.as<int64_t>().begin());
    for (int64_t r = 0; r < 4; ++r) {
      int64_t start = where[x.input.as<int64_t>()[r * 8]];
      starts.insert(start);
      CHECK(start + 8 < 50); // room for the last target
      for (int64_t t = 0; t < 8; ++t) {
        CHECK(x.input.as<int64_t>()[r * 8 + t] == ids[start + t]);
        CHECK(x.target.as<int64_t>()[r * 8 + t] == ids[start + t + 1]);
      }
    }
  }
  CHECK(starts.size() > 10); // 80 draws of 42 starts land in many places
  CHECK(differs);            // another seed, other windows
}

TEST_CASE("WindowSampler refuses a stream too short for a window and its next id") {
  CHECK_THROWS_WITH_AS(WindowSampler(std::vector<int64_t>(8, 0), 8, 1),
                       doctest::Contains("a text of 8 tokens is too short for windows of 8"),
                       Error);
  CHECK_THROWS_AS(WindowSampler(std::vector<int64_t>(8, 0), 0, 1), Error);
  WindowSampler ok(std::vector<int64_t>(9, 0), 8, 1);
  CHECK_THROWS_AS(ok.next(0), Error);
}
