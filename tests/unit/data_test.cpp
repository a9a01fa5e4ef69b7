// The data path: Ding's sentence-pair rule on a hand-written sample, the MD5 split, TSV files
// and their errors, and the SentencePiece tokenizer's round trip and refusals.

#include "runtime/data/batching.h"
#include "runtime/data/ding.h"
#include "runtime/data/split.h"
#include "runtime/data/tokenizer.h"
#include "runtime/data/tsv.h"
#include "test_util.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace kiln;
using namespace kiln::data;

TEST_CASE("ding: a part keeps its first variant without annotations, whitespace collapsed") {
  CHECK(cleanDingPart("Das Haus {n} ist klein.; Das Haus ist winzig.") == "Das Haus ist klein.");
  CHECK(cleanDingPart("He is  [Br.] at  home <Am.> now.") == "He is at home now.");
  CHECK(cleanDingPart("to go /sth./ away") == "to go away");
  CHECK(cleanDingPart("  open {  brace") == "open { brace");
  CHECK(cleanDingPart("a/b/c/d") == "ac/d");
}

TEST_CASE("ding: lines become pairs by the rule") {
  // Each line's fate is written next to it; the expected pairs follow from the rule by hand.
  std::istringstream lines(
      "# Version :: devel\n"                                            // a comment
      "Haus {n} | Das Haus ist klein. :: house | The house is small.\n" // part 2 kept
      "Er kam. | Sie ging. :: He came.\n"                               // counts differ
      "kein Trenner hier\n"                                             // no ' :: '
      "Ich bin müde. :: I am tired (very).\n"                           // '('
      "Er wartet... :: He is waiting...\n"                              // '...'
      "klein geschrieben. :: Starts in lower case.\n"                   // German starts low
      "Das geht. :: It works\n"                                         // no final punctuation
      "Geh! :: Go away!\n"                                              // 2 English words
      "Öl ist teuer [econ.]. :: Oil is expensive.\n"                    // Ö, annotation
      "„Komm her!“, rief er. :: \"Come here!\" he shouted.\n"           // quotes start
      "Das Haus ist winzig. :: The house is small.\n");                 // English seen before
  std::vector<SentencePair> want = {{"Das Haus ist klein.", "The house is small."},
                                    {"Öl ist teuer.", "Oil is expensive."},
                                    {"„Komm her!“, rief er.", "\"Come here!\" he shouted."}};
  CHECK(dingPairs(lines) == want);
}

TEST_CASE("ding: a missing dictionary is one error naming the path and the package") {
  try {
    readDing("/nonexistent/de-en");
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(e.location().file == "/nonexistent/de-en");
    CHECK(std::string(e.what()).find("trans-de-en") != std::string::npos);
  }
}

TEST_CASE("split: MD5 mod 10 decides, as Python's hashlib computes it") {
  // int.from_bytes(hashlib.md5(s.encode()).digest(), "big") % 10
  CHECK(md5Mod10("The house is small.") == 4);
  CHECK(md5Mod10("I like it.") == 3);
  CHECK(md5Mod10("") == 6);
  CHECK(md5Mod10("Über alles.") == 1);
  CHECK(md5Mod10("We lost the game.") == 0);
  CHECK(md5Hex("") == "d41d8cd98f00b204e9800998ecf8427e"); // RFC 1321's test suite
  CHECK(splitOf("We lost the game.") == Split::Test);
  CHECK(splitOf("She plays football.") == Split::Valid);
  CHECK(splitOf("The house is small.") == Split::Train);
}

TEST_CASE("split: every pair lands in one split, long training pairs are left out") {
  std::vector<SentencePair> de_en = {
      {"Wir haben verloren.", "We lost the game."},
      {"Sie spielt Fußball.", "She plays football."},
      {"Das Haus ist klein.", "The house is small."},
      {"Ein langer Satz.", "One two three four five six seven eight nine ten eleven twelve "
                           "thirteen fourteen fifteen sixteen."},
      {"Mir gefällt es.", "I like it."}};
  REQUIRE(splitOf(de_en[3].target) == Split::Train);
  Corpus c = splitCorpus(de_en, {});
  CHECK(c.test == std::vector<SentencePair>{{"We lost the game.", "Wir haben verloren."}});
  CHECK(c.valid == std::vector<SentencePair>{{"She plays football.", "Sie spielt Fußball."}});
  CHECK(c.train == std::vector<SentencePair>{{"The house is small.", "Das Haus ist klein."},
                                             {"I like it.", "Mir gefällt es."}});
  Corpus reversed = splitCorpus(de_en, {.reverse = true, .max_train_words = 16});
  CHECK(reversed.train.size() == 3);
  CHECK(reversed.train[0] == de_en[2]);
  CHECK(reversed.test[0] == de_en[0]);
}

TEST_CASE("tsv: pairs read back; a bad line is an error at its line number") {
  std::vector<SentencePair> pairs = {{"a b", "c d"}, {"e", "f g"}};
  std::istringstream good(tsvText(pairs) + "\n");
  CHECK(tsvPairs(good, "good.tsv") == pairs);
  // The blanks around each side are dropped, so that tsvText writes back what was read: a side
  // ending in '\r' would otherwise lose it when read again (found by fuzz_tsv).
  std::istringstream blanks(" a b \r\t\rc d\r\r\ne\tf g\r\n");
  CHECK(tsvPairs(blanks, "blanks.tsv") == pairs);
  auto error = [](const std::string &text) {
    std::istringstream in(text);
    try {
      tsvPairs(in, "bad.tsv");
    } catch (const Error &e) {
      return fmt::format("{}: {}", e.location().str(), e.message());
    }
    return std::string("no error");
  };
  CHECK(error("a\tb\nno tab here\n") == "bad.tsv:2: expected one tab between source and target, "
                                        "found 0");
  CHECK(error("a\tb\tc\n") == "bad.tsv:1: expected one tab between source and target, found 2");
  CHECK(error("x\ty\n\n\ty\n") == "bad.tsv:3: the source is empty");
  CHECK(error("x\t\n") == "bad.tsv:1: the target is empty");
  CHECK(error("x\ty\n   \t z\n") == "bad.tsv:2: the source is empty");
}

TEST_CASE("tokenizer: trains with kiln's special ids, round-trips, refuses bad ids and files") {
  std::vector<std::string> text;
  for (int i = 0; i < 40; ++i) {
    text.push_back(fmt::format("Das Haus Nummer {} ist klein und alt.", i));
    text.push_back(fmt::format("The house number {} is small and old.", i));
  }
  Tokenizer t = Tokenizer::train(text, {.vocab = 40});
  CHECK(t.vocabSize() == 40);
  std::vector<int64_t> ids = t.encode("The house is old.");
  REQUIRE(!ids.empty());
  for (int64_t id : ids)
    CHECK((id > Tokenizer::kUnk && id < 40));
  CHECK(t.decode(ids) == "The house is old.");
  std::vector<int64_t> framed = {Tokenizer::kBos};
  framed.insert(framed.end(), ids.begin(), ids.end());
  framed.push_back(Tokenizer::kEos);
  framed.push_back(Tokenizer::kPad);
  CHECK(t.decode(framed) == "The house is old.");
  std::vector<int64_t> unseen = t.encode("Qxz"); // letters the text never had
  CHECK(std::find(unseen.begin(), unseen.end(), Tokenizer::kUnk) != unseen.end());
  std::vector<int64_t> bad = {5, 40};
  CHECK_THROWS_WITH_AS(t.decode(bad), doctest::Contains("token id 40 is outside"), Error);

  auto dir = std::filesystem::temp_directory_path() / "kiln_tokenizer_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "t.model").string();
  t.save(path);
  CHECK(Tokenizer::load(path).encode("The house is old.") == ids);
  CHECK(Tokenizer::fromBase64(t.base64(), "ckpt").bytes() == t.bytes());
  CHECK_THROWS_WITH_AS(Tokenizer::fromBase64("abc", "ckpt"), doctest::Contains("not base64"),
                       Error);
  std::ofstream(dir / "junk.model") << "not a model";
  CHECK_THROWS_WITH_AS(Tokenizer::load((dir / "junk.model").string()),
                       doctest::Contains("not a SentencePiece model"), Error);
  CHECK_THROWS_AS(Tokenizer::load((dir / "missing.model").string()), Error);
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.string()), doctest::Contains("it is a directory"),
                       Error);
  // A second piece "e" (ModelProto field 1, a SentencePiece whose field 1 is its text),
  // appended as protobuf appends a repeated field: SentencePiece's own reason is kept.
  std::string twice = t.bytes() + std::string("\x0a\x03\x0a\x01"
                                              "e");
  CHECK_THROWS_WITH_AS(Tokenizer::fromBytes(twice, "twice.model"),
                       doctest::Contains("already defined"), Error);
  CHECK_THROWS_WITH_AS(
      Tokenizer::train(text, {.vocab = 100000}),
      doctest::Contains(
          "cannot train a tokenizer of 100000 pieces on this text: it allows at most"),
      Error);
  CHECK_THROWS_WITH_AS(Tokenizer::train(text, {.vocab = 10}),
                       doctest::Contains("distinct characters, so it needs at least"), Error);
  std::filesystem::remove_all(dir);
}

namespace {

/// Where the precompiled character map lies in a model trained by Tokenizer::train: the
/// normalizer spec writes its rule's name, then the map as field 2 (tag 0x12, a varint length).
struct MapBytes {
  size_t offset = 0, size = 0;
};
MapBytes charsmapBytes(const std::string &model) {
  size_t at = model.find("nmt_nfkc");
  REQUIRE(at != std::string::npos);
  at += 8;
  REQUIRE(static_cast<uint8_t>(model[at]) == 0x12);
  MapBytes map;
  for (int shift = 0;; shift += 7) {
    auto byte = static_cast<uint8_t>(model[++at]);
    map.size |= size_t{byte & 0x7Fu} << shift;
    if (!(byte & 0x80))
      break;
  }
  map.offset = at + 1;
  REQUIRE(map.offset + map.size <= model.size());
  return map;
}

void putLittleEndian32(std::string &bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    bytes[at + i] = static_cast<char>(v >> (8 * i));
}

} // namespace

TEST_CASE("tokenizer: a model whose character map would make SentencePiece read out of bounds "
          "is refused") {
  std::vector<std::string> text;
  for (int i = 0; i < 20; ++i)
    text.push_back(fmt::format("Das Haus Nummer {} ist klein.", i));
  std::string model = Tokenizer::train(text, {.vocab = 30}).bytes();
  auto [map, map_size] = charsmapBytes(model);
  uint32_t trie_bytes = 0;
  for (int i = 0; i < 4; ++i)
    trie_bytes |= uint32_t{static_cast<uint8_t>(model[map + i])} << (8 * i);
  REQUIRE(trie_bytes % 4 == 0);
  CHECK_NOTHROW(Tokenizer::fromBytes(model, "good.model"));

  // A root whose children lie past the trie: darts-clone's offset is bits 10 and up.
  std::string far = model;
  putLittleEndian32(far, map + 4, (trie_bytes / 4 + 256) << 10);
  CHECK_THROWS_WITH_AS(
      Tokenizer::fromBytes(far, "far.model"),
      doctest::Contains("far.model: error: not a SentencePiece model (the normalizer's "
                        "character map is corrupt: a trie state past the end of "
                        "its"),
      Error);
  // A trie longer than the map that holds it.
  std::string long_trie = model;
  putLittleEndian32(long_trie, map, static_cast<uint32_t>(map_size - 3));
  CHECK_THROWS_WITH_AS(Tokenizer::fromBytes(long_trie, "long.model"),
                       doctest::Contains("character map is corrupt: a trie of"), Error);
  // Every leaf's replacement past the strings: a leaf unit holds its value in bits 0 to 30.
  std::string past = model;
  int leaves = 0;
  for (uint32_t i = 0; i < trie_bytes / 4; ++i) {
    size_t at = map + 4 + 4 * i;
    uint32_t unit = 0;
    for (int b = 0; b < 4; ++b)
      unit |= uint32_t{static_cast<uint8_t>(past[at + b])} << (8 * b);
    if (unit >> 31) { // a leaf unit: its label has the top bit set
      putLittleEndian32(past, at, (1u << 31) | ((1u << 31) - 1));
      ++leaves;
    }
  }
  REQUIRE(leaves > 0);
  CHECK_THROWS_WITH_AS(Tokenizer::fromBytes(past, "past.model"),
                       doctest::Contains("character map is corrupt: a replacement at byte"), Error);
}

namespace {

/// Pairs whose ids say where they came from: pair i has source [4 + i % 7 repeated i % 13 + 1
/// times] and target [100 + i] repeated i % 9 + 1 times.
std::vector<EncodedPair> numberedPairs(int n) {
  std::vector<EncodedPair> pairs;
  for (int i = 0; i < n; ++i)
    pairs.push_back(
        {std::vector<int64_t>(i % 13 + 1, 4 + i % 7), std::vector<int64_t>(i % 9 + 1, 100 + i)});
  return pairs;
}

} // namespace

TEST_CASE("batching: buckets, shapes, EOS and PAD; every pair once an epoch, fill-ups aside") {
  std::vector<EncodedPair> pairs = numberedPairs(200);
  pairs.push_back({std::vector<int64_t>(40, 5), {7}}); // longer than max_length: left out
  BatchingOptions options{.batch_tokens = 64, .length_step = 4, .max_length = 20};
  BatchSchedule schedule(pairs, options, 3);
  CHECK(schedule.dropped() == 1);
  CHECK(schedule.pairs() == 200);
  int64_t in_buckets = 0;
  for (const auto &[shape, count] : schedule.buckets()) {
    CHECK(shape.src_len % 4 == 0);
    CHECK(shape.tgt_len == shape.src_len);
    CHECK(shape.batch == 64 / shape.src_len);
    in_buckets += count;
  }
  CHECK(in_buckets == 200);
  auto epoch = [&](int64_t e) {
    std::map<int64_t, int> seen; // pair number -> rows
    std::vector<int64_t> firsts;
    for (int64_t s = 1; s <= schedule.batchesPerEpoch(); ++s) {
      int64_t step = e * schedule.batchesPerEpoch() + s;
      Batch b = schedule.batchAt(step);
      BatchShape shape = schedule.shapeAt(step);
      REQUIRE(b.src.type().shape == Shape{shape.batch, shape.src_len});
      REQUIRE(b.tgt.type().shape == Shape{shape.batch, shape.tgt_len});
      auto tgt = b.tgt.as<int64_t>();
      auto src = b.src.as<int64_t>();
      for (int64_t r = 0; r < shape.batch; ++r) {
        int64_t id = tgt[r * shape.tgt_len];
        int64_t i = id - 100, len = i % 9 + 1, slen = i % 13 + 1;
        for (int64_t c = 0; c < shape.tgt_len; ++c)
          CHECK(tgt[r * shape.tgt_len + c] == (c < len ? id : c == len ? 2 : 0));
        for (int64_t c = 0; c < shape.src_len; ++c)
          CHECK(src[r * shape.src_len + c] == (c < slen ? 4 + i % 7 : c == slen ? 2 : 0));
        ++seen[i];
      }
      firsts.push_back(tgt[0]);
    }
    CHECK(seen.size() == 200);
    return firsts;
  };
  std::vector<int64_t> first = epoch(0), second = epoch(1);
  CHECK(first != second); // a fresh order every epoch
  BatchSchedule again(pairs, options, 3);
  CHECK(again.batchAt(schedule.batchesPerEpoch() + 2).tgt.as<int64_t>()[0] == second[1]);
  BatchSchedule other(pairs, options, 4);
  std::vector<int64_t> other_first;
  for (int64_t s = 1; s <= other.batchesPerEpoch(); ++s)
    other_first.push_back(other.batchAt(s).tgt.as<int64_t>()[0]);
  CHECK(other_first != first);
  BatchSchedule fixed(pairs, options, 3, false);
  CHECK(fixed.batchAt(1).tgt.as<int64_t>()[0] ==
        fixed.batchAt(fixed.batchesPerEpoch() + 1).tgt.as<int64_t>()[0]);
}
