// Unit tests of the safetensors reader and writer.

#include "runtime/safetensors.h"

#include "ir/diagnostics.h"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using kiln::DType;
using kiln::TensorData;
using kiln::TensorMap;

namespace {

static_assert(std::endian::native == std::endian::little, "the tests build little-endian bytes");

constexpr const char *kSource = "test.safetensors";

std::vector<std::byte> toBytes(std::string_view text) {
  std::vector<std::byte> bytes;
  for (char c : text)
    bytes.push_back(static_cast<std::byte>(c));
  return bytes;
}

template <typename T> std::vector<std::byte> bytesOf(std::initializer_list<T> values) {
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.begin(), bytes.size());
  return bytes;
}

std::vector<std::byte> patternBytes(size_t count, unsigned seed) {
  std::vector<std::byte> bytes(count);
  for (size_t i = 0; i < count; ++i)
    bytes[i] = static_cast<std::byte>((i * 37 + seed * 11 + 5) & 0xff);
  return bytes;
}

uint64_t lengthField(const std::vector<std::byte> &file) {
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= static_cast<uint64_t>(file[i]) << (8 * i);
  return length;
}

/// A file built by hand: the given length field, then `header`, then `data`.
std::vector<std::byte> rawFile(uint64_t length, std::string_view header,
                               const std::vector<std::byte> &data = {}) {
  std::vector<std::byte> file;
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xff));
  std::vector<std::byte> text = toBytes(header);
  file.insert(file.end(), text.begin(), text.end());
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

/// A file built by hand whose length field is the header's true length.
std::vector<std::byte> handFile(std::string_view header, const std::vector<std::byte> &data = {}) {
  return rawFile(header.size(), header, data);
}

/// The message of the kiln::Error that parsing throws, checking that it points at the file.
std::string parseError(const std::vector<std::byte> &file) {
  try {
    kiln::parseSafetensors(file, kSource);
  } catch (const kiln::Error &e) {
    CHECK(e.location().file == kSource);
    return e.message();
  }
  return "<no error>";
}

/// The message of the kiln::Error that parsing one tensor entry (with `data`) throws.
std::string entryError(std::string_view entry, const std::vector<std::byte> &data) {
  return parseError(handFile(std::string(R"({"x":)") + std::string(entry) + "}", data));
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

void checkSame(const TensorMap &actual, const TensorMap &expected) {
  REQUIRE(actual.size() == expected.size());
  for (const auto &[name, tensor] : expected) {
    CAPTURE(name);
    REQUIRE(actual.count(name) == 1);
    const TensorData &got = actual.at(name);
    CHECK(got.dtype == tensor.dtype);
    CHECK(got.shape == tensor.shape);
    CHECK(got.bytes == tensor.bytes);
  }
}

/// A fresh folder under the system's temporary folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("kiln_safetensors_test_" + std::to_string(::getpid()) +
                                        "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string &name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(path))
      names.push_back(entry.path().filename().string());
    return names;
  }
};

void writeRaw(const std::string &path, const std::vector<std::byte> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

/// One tensor of every dtype, plus a scalar and empty tensors.
TensorMap everyDType() {
  TensorMap tensors;
  tensors["f32"] = {DType::f32, {2, 3}, patternBytes(24, 1)};
  tensors["f64"] = {DType::f64, {2}, patternBytes(16, 2)};
  tensors["bf16"] = {DType::bf16, {3}, patternBytes(6, 3)};
  tensors["i32"] = {DType::i32, {2, 2}, patternBytes(16, 4)};
  tensors["i64"] = {DType::i64, {1}, patternBytes(8, 5)};
  tensors["bool"] = {DType::boolean, {5}, bytesOf<uint8_t>({1, 0, 0, 1, 1})};
  tensors["scalar"] = {DType::f32, {}, bytesOf<float>({3.25f})};
  tensors["empty"] = {DType::i64, {0, 3}, {}};
  tensors["empty_bf16"] = {DType::bf16, {4, 0}, {}};
  return tensors;
}

} // namespace

TEST_CASE("safetensors: every dtype, a scalar and empty tensors round-trip") {
  TensorMap tensors = everyDType();
  std::vector<std::byte> file = kiln::serializeSafetensors(tensors);
  checkSame(kiln::parseSafetensors(file, kSource), tensors);

  TempDir dir;
  std::string path = dir.file("model.safetensors");
  kiln::writeSafetensors(path, tensors);
  checkSame(kiln::readSafetensors(path), tensors);
  CHECK(kiln::readSafetensorsMetadata(path).empty());
}

TEST_CASE("safetensors: no tensors at all") {
  std::vector<std::byte> file = kiln::serializeSafetensors({});
  CHECK(kiln::parseSafetensors(file, kSource).empty());
}

TEST_CASE("safetensors: tensors are laid out contiguously in name order") {
  TensorMap tensors;
  tensors["b"] = {DType::i32, {1}, bytesOf<int32_t>({2})};
  tensors["a"] = {DType::i32, {2}, bytesOf<int32_t>({0, 1})};
  std::vector<std::byte> file = kiln::serializeSafetensors(tensors);
  std::vector<std::byte> data(file.end() - 12, file.end());
  CHECK(data == bytesOf<int32_t>({0, 1, 2}));
  CHECK(file.size() == 8 + lengthField(file) + 12);
}

TEST_CASE("safetensors: metadata round-trips") {
  TensorMap tensors;
  tensors["w"] = {DType::f32, {2}, bytesOf<float>({1.0f, -1.0f})};
  std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "quotes \" and \\ and \xc3\xbc"}, {"empty", ""}};
  std::vector<std::byte> file = kiln::serializeSafetensors(tensors, metadata);
  checkSame(kiln::parseSafetensors(file, kSource), tensors);

  TempDir dir;
  std::string path = dir.file("m.safetensors");
  kiln::writeSafetensors(path, tensors, metadata);
  CHECK(kiln::readSafetensorsMetadata(path) == metadata);
  checkSame(kiln::readSafetensors(path), tensors);
}

TEST_CASE("safetensors: the header is padded with spaces to a multiple of 8 bytes") {
  for (std::string name : {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"}) {
    CAPTURE(name);
    TensorMap tensors;
    tensors[name] = {DType::bf16, {3}, patternBytes(6, 9)};
    std::vector<std::byte> file = kiln::serializeSafetensors(tensors);
    uint64_t length = lengthField(file);
    CHECK(length % 8 == 0);
    CHECK(file.size() == 8 + length + 6);
    CHECK(file[8] == std::byte{'{'});
    // Only spaces follow the closing brace.
    std::string header(reinterpret_cast<const char *>(file.data()) + 8, length);
    size_t close = header.rfind('}');
    REQUIRE(close != std::string::npos);
    CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);
    CHECK(header.size() - close - 1 < 8);
  }
}

TEST_CASE("safetensors: a file built by hand parses to its values") {
  // Keys out of order, data in a different order, metadata, padding: all as another writer may.
  std::string header = R"({"b":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                       R"("__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]},)"
                       R"("c":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]},)"
                       R"("d":{"dtype":"BF16","shape":[0],"data_offsets":[19,19]}}    )";
  std::vector<std::byte> data = bytesOf<int64_t>({-7});
  for (std::byte b : bytesOf<float>({1.5f, -2.0f}))
    data.push_back(b);
  for (std::byte b : bytesOf<uint8_t>({1, 0, 1}))
    data.push_back(b);
  std::vector<std::byte> file = handFile(header, data);

  TensorMap tensors = kiln::parseSafetensors(file, kSource);
  REQUIRE(tensors.size() == 4);
  CHECK(tensors["a"].dtype == DType::f32);
  CHECK(tensors["a"].shape == kiln::Shape{2, 1});
  float a[2];
  REQUIRE(tensors["a"].bytes.size() == sizeof(a));
  std::memcpy(a, tensors["a"].bytes.data(), sizeof(a));
  CHECK(a[0] == 1.5f);
  CHECK(a[1] == -2.0f);
  CHECK(tensors["b"].dtype == DType::i64);
  CHECK(tensors["b"].shape.empty());
  int64_t b = 0;
  REQUIRE(tensors["b"].bytes.size() == sizeof(b));
  std::memcpy(&b, tensors["b"].bytes.data(), sizeof(b));
  CHECK(b == -7);
  CHECK(tensors["c"].dtype == DType::boolean);
  CHECK(tensors["c"].bytes == bytesOf<uint8_t>({1, 0, 1}));
  CHECK(tensors["d"].dtype == DType::bf16);
  CHECK(tensors["d"].shape == kiln::Shape{0});
  CHECK(tensors["d"].bytes.empty());

  TempDir dir;
  std::string path = dir.file("hand.safetensors");
  writeRaw(path, file);
  checkSame(kiln::readSafetensors(path), tensors);
  CHECK(kiln::readSafetensorsMetadata(path) ==
        std::map<std::string, std::string>{{"format", "pt"}});
}

TEST_CASE("safetensors: a file shorter than the length field") {
  for (size_t size : {0, 1, 7}) {
    CAPTURE(size);
    std::string message = parseError(std::vector<std::byte>(size, std::byte{0}));
    CHECK(contains(message, "is " + std::to_string(size) + " bytes long"));
    CHECK(contains(message, "8-byte header length"));
  }
}

TEST_CASE("safetensors: truncated files") {
  TensorMap tensors = everyDType();
  std::vector<std::byte> file = kiln::serializeSafetensors(tensors);
  uint64_t headerEnd = 8 + lengthField(file);
  for (size_t size = 0; size < file.size(); ++size) {
    CAPTURE(size);
    std::string message = parseError(std::vector<std::byte>(file.begin(), file.begin() + size));
    if (size < 8)
      CHECK(contains(message, "too short"));
    else if (size < headerEnd)
      CHECK(contains(message, "exceeds"));
    else
      CHECK(contains(message, "beyond the " + std::to_string(size - headerEnd) + "-byte data"));
  }
}

TEST_CASE("safetensors: a header length larger than the file") {
  CHECK(contains(parseError(rawFile(1000, "{}      ")),
                 "not a safetensors file: its header length 1000 (the first 8 bytes) exceeds the "
                 "8 bytes"));
  CHECK(contains(parseError(rawFile(UINT64_MAX, "{}")), "exceeds the 2 bytes"));
  CHECK_THROWS_WITH_AS(kiln::parseSafetensors(rawFile(9, "{}"), kSource),
                       doctest::Contains("test.safetensors: error: not a safetensors file: its "
                                         "header length 9 (the first 8 bytes)"),
                       kiln::Error);
}

TEST_CASE("safetensors: a header that is not JSON or not an object") {
  std::string message = parseError(handFile(R"({"x":{"dtype":)"));
  CHECK(contains(message, "header is not valid JSON"));
  CHECK(contains(message, "parse error")); // nlohmann's own explanation
  CHECK(contains(parseError(handFile("")), "not valid JSON"));
  CHECK(contains(parseError(handFile("{\"\xff\":1}")), "not valid JSON")); // not UTF-8
  CHECK(contains(parseError(handFile("[1,2]")), "must be a JSON object, found an array"));
  CHECK(contains(parseError(handFile("42")), "must be a JSON object, found 42"));
}

TEST_CASE("safetensors: entries missing a field or with a wrong JSON type") {
  std::vector<std::byte> data(8);
  CHECK(contains(entryError(R"({"shape":[2],"data_offsets":[0,8]})", data),
                 "tensor 'x': missing \"dtype\""));
  CHECK(contains(entryError(R"({"dtype":"F32","data_offsets":[0,8]})", data),
                 "tensor 'x': missing \"shape\""));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2]})", data),
                 "tensor 'x': missing \"data_offsets\""));
  CHECK(contains(entryError(R"(17)", data), "tensor 'x': expected an object"));
  CHECK(contains(entryError(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})", data),
                 "\"dtype\" must be a string, found 4"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})", data),
                 "\"shape\" must be an array of non-negative integers, found \"2\""));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2],"data_offsets":{"a":0}})", data),
                 "\"data_offsets\" must be [begin, end], found an object"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})", data),
                 "found an array of 3 entries"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2],"data_offsets":[0,"8"]})", data),
                 "data_offsets entry 1 must be a non-negative integer, found \"8\""));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,8]})", data),
                 "data_offsets entry 0 must be a non-negative integer, found -1"));
}

TEST_CASE("safetensors: bad shape entries") {
  std::vector<std::byte> data(8);
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]})", data),
                 "tensor 'x': shape entry 1 must be a non-negative integer, found -1"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", data),
                 "shape entry 0 must be a non-negative integer, found 2.5"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})", data),
                 "shape entry 0 must be a non-negative integer"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[null],"data_offsets":[0,8]})", data),
                 "found null"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[18446744073709551615],)"
                            R"("data_offsets":[0,8]})",
                            data),
                 "shape entry 0 must be a non-negative integer"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[4611686018427387904,4],)"
                            R"("data_offsets":[0,8]})",
                            data),
                 "has too many elements"));
}

TEST_CASE("safetensors: unsupported dtypes") {
  std::vector<std::byte> data(4);
  for (std::string dtype : {"F16", "U8", "I8", "f32", "F8_E4M3", ""}) {
    CAPTURE(dtype);
    CHECK(contains(
        entryError(R"({"dtype":")" + dtype + R"(","shape":[2],"data_offsets":[0,4]})", data),
        "unsupported dtype '" + dtype + "' for tensor 'x'"));
  }
}

TEST_CASE("safetensors: byte size differs from shape and dtype") {
  std::string message =
      entryError(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", std::vector<std::byte>(8));
  CHECK(contains(message, "tensor 'x'"));
  CHECK(contains(message, "f32[3] needs 12 bytes"));
  CHECK(contains(message, "[0,8] hold 8"));
  CHECK(contains(
      entryError(R"({"dtype":"I64","shape":[],"data_offsets":[0,4]})", std::vector<std::byte>(4)),
      "i64[] needs 8 bytes"));
}

TEST_CASE("safetensors: data offsets outside the data buffer") {
  CHECK(contains(
      entryError(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", std::vector<std::byte>(4)),
      "tensor 'x': data_offsets [0,8] reach beyond the 4-byte data buffer"));
  CHECK(contains(
      entryError(R"({"dtype":"F32","shape":[0],"data_offsets":[9,9]})", std::vector<std::byte>(8)),
      "reach beyond the 8-byte data buffer"));
  CHECK(contains(
      entryError(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})", std::vector<std::byte>(8)),
      "tensor 'x': data_offsets [8,4] begin after they end"));
  CHECK(contains(entryError(R"({"dtype":"F32","shape":[1],)"
                            R"("data_offsets":[18446744073709551612,0]})",
                            std::vector<std::byte>(8)),
                 "data_offsets entry 0 must be a non-negative integer"));
}

TEST_CASE("safetensors: overlaps and holes in the data buffer") {
  std::string overlap = R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]}})";
  CHECK(contains(parseError(handFile(overlap, std::vector<std::byte>(12))),
                 "tensors 'a' and 'b' overlap: data_offsets [0,8] and [4,12]"));
  std::string same = R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CHECK(contains(parseError(handFile(same, std::vector<std::byte>(4))), "overlap"));
  std::string hole = R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}})";
  CHECK(contains(parseError(handFile(hole, std::vector<std::byte>(12))),
                 "bytes [4,8) of the data buffer belong to no tensor"));
  std::string tail = R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  CHECK(contains(parseError(handFile(tail, std::vector<std::byte>(6))),
                 "the last 2 bytes of the 6-byte data buffer belong to no tensor"));
  CHECK(contains(parseError(handFile("{}", std::vector<std::byte>(1))), "belong to no tensor"));
  // An empty tensor owns no bytes, so it overlaps nothing.
  std::string empty = R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
                      R"("e":{"dtype":"I32","shape":[0],"data_offsets":[4,4]}})";
  CHECK(kiln::parseSafetensors(handFile(empty, std::vector<std::byte>(8)), kSource).size() == 2);
}

TEST_CASE("safetensors: malformed metadata") {
  CHECK(contains(parseError(handFile(R"({"__metadata__":[1]})")),
                 "\"__metadata__\" must be an object of strings, found an array"));
  CHECK(contains(parseError(handFile(R"({"__metadata__":{"step":3}})")),
                 "\"__metadata__\" entry 'step' must be a string, found 3"));
}

TEST_CASE("safetensors: any damage gives kiln::Error or a valid result, nothing else") {
  TensorMap tensors = everyDType();
  std::vector<std::byte> file = kiln::serializeSafetensors(tensors, {{"k", "v"}});
  auto parseOrError = [](const std::vector<std::byte> &bytes) {
    try {
      kiln::parseSafetensors(bytes, kSource);
    } catch (const kiln::Error &) {
    }
  };
  const unsigned char replacements[] = {0x00, 0xff, 0x80, '{', '}', '[', '"', '-', '9', ' ', ','};
  for (size_t i = 0; i < file.size(); ++i) {
    for (unsigned char r : replacements) {
      std::vector<std::byte> damaged = file;
      damaged[i] = static_cast<std::byte>(r);
      CHECK_NOTHROW(parseOrError(damaged));
    }
  }
}

TEST_CASE("safetensors: reading a missing file or a folder") {
  TempDir dir;
  std::string missing = dir.file("missing.safetensors");
  CHECK_THROWS_WITH_AS(kiln::readSafetensors(missing),
                       doctest::Contains(("cannot open '" + missing + "': No such file").c_str()),
                       kiln::Error);
  CHECK_THROWS_WITH_AS(kiln::readSafetensorsMetadata(missing), doctest::Contains("cannot open"),
                       kiln::Error);
  CHECK_THROWS_WITH_AS(kiln::readSafetensors(dir.path.string()),
                       doctest::Contains("is a directory"), kiln::Error);
}

TEST_CASE("safetensors: reading malformed files reports the path") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  writeRaw(path, rawFile(100, "{}"));
  try {
    kiln::readSafetensorsMetadata(path);
    FAIL("no error");
  } catch (const kiln::Error &e) {
    CHECK(e.location().file == path);
    CHECK(contains(e.message(), "header length 100 (the first 8 bytes) exceeds"));
  }
  writeRaw(path, toBytes("abc"));
  CHECK_THROWS_WITH_AS(kiln::readSafetensors(path), doctest::Contains("too short"), kiln::Error);
  // The metadata reader checks the whole header, tensors included.
  writeRaw(path, handFile(R"({"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})",
                          std::vector<std::byte>(2)));
  CHECK_THROWS_WITH_AS(kiln::readSafetensorsMetadata(path),
                       doctest::Contains("unsupported dtype 'F16' for tensor 'x'"), kiln::Error);
}

TEST_CASE("safetensors: the writer rejects tensors that do not match their type") {
  TensorMap wrongSize;
  wrongSize["w"] = {DType::f32, {2, 2}, patternBytes(12, 0)};
  CHECK_THROWS_WITH_AS(kiln::serializeSafetensors(wrongSize),
                       doctest::Contains("tensor 'w': f32[2,2] needs 16 bytes but holds 12"),
                       kiln::Error);
  TensorMap negative;
  negative["w"] = {DType::f32, {-1}, {}};
  CHECK_THROWS_WITH_AS(kiln::serializeSafetensors(negative),
                       doctest::Contains("negative dimension"), kiln::Error);
  TensorMap reserved;
  reserved["__metadata__"] = {DType::f32, {}, patternBytes(4, 0)};
  CHECK_THROWS_WITH_AS(kiln::serializeSafetensors(reserved),
                       doctest::Contains("cannot be named '__metadata__'"), kiln::Error);
  TensorMap badName;
  badName["\xff"] = {DType::f32, {}, patternBytes(4, 0)};
  CHECK_THROWS_WITH_AS(kiln::serializeSafetensors(badName), doctest::Contains("UTF-8"),
                       kiln::Error);

  TempDir dir;
  std::string path = dir.file("w.safetensors");
  CHECK_THROWS_AS(kiln::writeSafetensors(path, wrongSize), kiln::Error);
  CHECK(dir.entries().empty());
}

TEST_CASE("safetensors: writing into a missing folder fails and leaves nothing behind") {
  TempDir dir;
  fs::path folder = dir.path / "no" / "such";
  std::string path = (folder / "model.safetensors").string();
  try {
    kiln::writeSafetensors(path, everyDType());
    FAIL("no error");
  } catch (const kiln::Error &e) {
    CHECK(e.location().file == path);
    CHECK(contains(e.message(), "cannot write '" + path + "'"));
    CHECK(contains(e.message(), "No such file or directory"));
  }
  CHECK(!fs::exists(dir.path / "no"));
  CHECK(dir.entries().empty());
}

TEST_CASE("safetensors: overwriting a file replaces it whole") {
  TempDir dir;
  std::string path = dir.file("model.safetensors");
  TensorMap big = everyDType();
  big["large"] = {DType::f64, {1000}, patternBytes(8000, 7)};
  kiln::writeSafetensors(path, big, {{"step", "1"}});
  checkSame(kiln::readSafetensors(path), big);

  TensorMap small;
  small["w"] = {DType::i32, {1}, bytesOf<int32_t>({42})};
  kiln::writeSafetensors(path, small);
  checkSame(kiln::readSafetensors(path), small);
  CHECK(kiln::readSafetensorsMetadata(path).empty());
  CHECK(fs::file_size(path) == kiln::serializeSafetensors(small).size());
  // No temporary file is left next to it.
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}
