#include "runtime/safetensors.h"

#include "runtime/atomic_file.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace kiln {
namespace {

using json = nlohmann::json;

/// Bytes of the little-endian header length that opens every file.
constexpr uint64_t kLengthBytes = 8;
/// The header key that holds free-form string metadata instead of a tensor.
constexpr const char *kMetadataKey = "__metadata__";

/// Errors point at the file as a whole: line 0 means "no line".
[[noreturn]] void fail(const std::string &source, std::string message) {
  Location loc;
  loc.file = source;
  throw Error(std::move(loc), std::move(message));
}

std::string errnoMessage(int err) { return std::generic_category().message(err); }

/// The safetensors spelling of each dtype kiln supports.
struct DTypeSpelling {
  DType dtype;
  std::string_view name;
};
constexpr DTypeSpelling kDTypeSpellings[] = {
    {DType::f32, "F32"}, {DType::f64, "F64"}, {DType::bf16, "BF16"},
    {DType::i32, "I32"}, {DType::i64, "I64"}, {DType::boolean, "BOOL"},
};

std::string_view safetensorsName(DType dtype) {
  for (const DTypeSpelling &s : kDTypeSpellings)
    if (s.dtype == dtype)
      return s.name;
  KILN_ASSERT(false, "dtype without a safetensors spelling");
  return {};
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeSpelling &s : kDTypeSpellings)
    if (s.name == name)
      return s.dtype;
  return std::nullopt;
}

/// Bytes of a tensor with a non-negative shape; nullopt when the count overflows 64 bits.
std::optional<uint64_t> byteSize(DType dtype, const Shape &shape) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end())
    return 0;
  uint64_t size = static_cast<uint64_t>(dtypeSize(dtype));
  for (int64_t dim : shape)
    if (__builtin_mul_overflow(size, static_cast<uint64_t>(dim), &size))
      return std::nullopt;
  return size;
}

/// A JSON value in an error message: scalars as written (cut when long), containers by kind.
std::string describe(const json &value) {
  if (value.is_object())
    return "an object";
  if (value.is_array())
    return fmt::format("an array of {} entries", value.size());
  // ASCII escapes keep the message valid UTF-8 wherever it is cut.
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > 40)
    text = text.substr(0, 37) + "...";
  return text;
}

/// A non-negative JSON integer that fits int64_t; nullopt for anything else.
std::optional<uint64_t> asIndex(const json &value) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (value.is_number_unsigned() && value.get<uint64_t>() <= kMax)
    return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0)
    return static_cast<uint64_t>(value.get<int64_t>());
  return std::nullopt;
}

/// One tensor entry of the header, checked against the size of the data buffer.
struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// The checked contents of a header.
struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

const json &member(const json &entry, const std::string &name, const char *key,
                   const std::string &source) {
  auto it = entry.find(key);
  if (it == entry.end())
    fail(source, fmt::format("tensor '{}': missing \"{}\"", name, key));
  return *it;
}

Entry parseEntry(const std::string &name, const json &value, uint64_t dataSize,
                 const std::string &source) {
  if (!value.is_object())
    fail(source, fmt::format("tensor '{}': expected an object with \"dtype\", \"shape\" and "
                             "\"data_offsets\", found {}",
                             name, describe(value)));
  Entry entry;
  entry.name = name;

  const json &dtype = member(value, name, "dtype", source);
  if (!dtype.is_string())
    fail(source,
         fmt::format("tensor '{}': \"dtype\" must be a string, found {}", name, describe(dtype)));
  std::optional<DType> parsed = dtypeFromName(dtype.get_ref<const std::string &>());
  if (!parsed)
    fail(source, fmt::format("unsupported dtype '{}' for tensor '{}' (supported: F32, F64, BF16, "
                             "I32, I64, BOOL)",
                             dtype.get_ref<const std::string &>(), name));
  entry.dtype = *parsed;

  const json &shape = member(value, name, "shape", source);
  if (!shape.is_array())
    fail(source, fmt::format("tensor '{}': \"shape\" must be an array of non-negative integers, "
                             "found {}",
                             name, describe(shape)));
  for (size_t i = 0; i < shape.size(); ++i) {
    std::optional<uint64_t> dim = asIndex(shape[i]);
    if (!dim)
      fail(source, fmt::format("tensor '{}': shape entry {} must be a non-negative integer, "
                               "found {}",
                               name, i, describe(shape[i])));
    entry.shape.push_back(static_cast<int64_t>(*dim));
  }

  const json &offsets = member(value, name, "data_offsets", source);
  if (!offsets.is_array() || offsets.size() != 2)
    fail(source, fmt::format("tensor '{}': \"data_offsets\" must be [begin, end], found {}", name,
                             describe(offsets)));
  for (size_t i = 0; i < 2; ++i)
    if (!asIndex(offsets[i]))
      fail(source, fmt::format("tensor '{}': data_offsets entry {} must be a non-negative "
                               "integer, found {}",
                               name, i, describe(offsets[i])));
  entry.begin = *asIndex(offsets[0]);
  entry.end = *asIndex(offsets[1]);
  if (entry.begin > entry.end)
    fail(source, fmt::format("tensor '{}': data_offsets [{},{}] begin after they end", name,
                             entry.begin, entry.end));
  if (entry.end > dataSize)
    fail(source, fmt::format("tensor '{}': data_offsets [{},{}] reach beyond the {}-byte data "
                             "buffer",
                             name, entry.begin, entry.end, dataSize));

  std::string type = TensorType{entry.dtype, entry.shape}.str();
  std::optional<uint64_t> expected = byteSize(entry.dtype, entry.shape);
  if (!expected)
    fail(source, fmt::format("tensor '{}': {} has too many elements", name, type));
  if (*expected != entry.end - entry.begin)
    fail(source,
         fmt::format("tensor '{}': {} needs {} bytes but data_offsets [{},{}] hold {}", name, type,
                     *expected, entry.begin, entry.end, entry.end - entry.begin));
  return entry;
}

std::map<std::string, std::string> parseMetadata(const json &value, const std::string &source) {
  if (!value.is_object())
    fail(source, fmt::format("\"{}\" must be an object of strings, found {}", kMetadataKey,
                             describe(value)));
  std::map<std::string, std::string> metadata;
  for (const auto &[key, item] : value.items()) {
    if (!item.is_string())
      fail(source, fmt::format("\"{}\" entry '{}' must be a string, found {}", kMetadataKey, key,
                               describe(item)));
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

/// Every byte of the data buffer must belong to exactly one tensor: no overlaps, no holes.
void checkLayout(const std::vector<Entry> &entries, uint64_t dataSize, const std::string &source) {
  std::vector<const Entry *> sorted;
  for (const Entry &entry : entries)
    if (entry.begin != entry.end) // An empty tensor owns no bytes, wherever it points.
      sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const Entry *a, const Entry *b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t covered = 0;
  const Entry *previous = nullptr;
  for (const Entry *entry : sorted) {
    if (entry->begin < covered)
      fail(source, fmt::format("tensors '{}' and '{}' overlap: data_offsets [{},{}] and [{},{}]",
                               previous->name, entry->name, previous->begin, previous->end,
                               entry->begin, entry->end));
    if (entry->begin > covered)
      fail(source, fmt::format("bytes [{},{}) of the data buffer belong to no tensor (the next "
                               "tensor, '{}', starts at {})",
                               covered, entry->begin, entry->name, entry->begin));
    covered = entry->end;
    previous = entry;
  }
  if (covered != dataSize)
    fail(source, fmt::format("the last {} bytes of the {}-byte data buffer belong to no tensor",
                             dataSize - covered, dataSize));
}

/// Parses and checks the JSON header of a file whose data buffer holds `dataSize` bytes.
Header parseHeader(std::string_view text, uint64_t dataSize, const std::string &source) {
  try {
    json root;
    try {
      root = json::parse(text.begin(), text.end());
    } catch (const json::parse_error &e) {
      fail(source, fmt::format("header is not valid JSON: {}", e.what()));
    }
    if (!root.is_object())
      fail(source, fmt::format("header must be a JSON object, found {}", describe(root)));
    Header header;
    for (const auto &[key, value] : root.items()) {
      if (key == kMetadataKey)
        header.metadata = parseMetadata(value, source);
      else
        header.entries.push_back(parseEntry(key, value, dataSize, source));
    }
    checkLayout(header.entries, dataSize, source);
    return header;
  } catch (const json::exception &e) {
    // Every access above is checked first; this only keeps a nlohmann error from escaping.
    fail(source, fmt::format("malformed header: {}", e.what()));
  }
}

/// The header length of a file of `fileSize` bytes, checked against that size; `prefix` holds
/// the file's first min(8, fileSize) bytes.
uint64_t headerLength(std::span<const std::byte> prefix, uint64_t fileSize,
                      const std::string &source) {
  if (fileSize < kLengthBytes || prefix.size() < kLengthBytes)
    fail(source, fmt::format("not a safetensors file: it is {} bytes long, too short for the "
                             "8-byte header length",
                             fileSize));
  uint64_t length = 0;
  for (uint64_t i = 0; i < kLengthBytes; ++i)
    length |= static_cast<uint64_t>(prefix[i]) << (8 * i);
  if (length > fileSize - kLengthBytes)
    fail(source, fmt::format("not a safetensors file: its header length {} (the first 8 bytes) "
                             "exceeds the {} bytes that follow it",
                             length, fileSize - kLengthBytes));
  return length;
}

std::string_view asText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
}

/// A regular file open for reading; it closes itself.
class InputFile {
public:
  explicit InputFile(const std::string &path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      fail(path, fmt::format("cannot open '{}': {}", path, errnoMessage(errno)));
    struct stat info {};
    std::string problem;
    if (::fstat(fd_, &info) != 0)
      problem = errnoMessage(errno);
    else if (S_ISDIR(info.st_mode))
      problem = "it is a directory";
    else if (!S_ISREG(info.st_mode))
      problem = "it is not a regular file";
    if (!problem.empty()) {
      ::close(fd_);
      fail(path, fmt::format("cannot read '{}': {}", path, problem));
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  InputFile(const InputFile &) = delete;
  InputFile &operator=(const InputFile &) = delete;
  ~InputFile() { ::close(fd_); }

  uint64_t size() const { return size_; }

  /// Reads `count` bytes at `offset`; fails when the file ends first.
  std::vector<std::byte> read(uint64_t offset, uint64_t count) const {
    std::vector<std::byte> bytes;
    try {
      bytes.resize(count);
    } catch (const std::bad_alloc &) {
      fail(path_, fmt::format("cannot read '{}': {} bytes do not fit in memory", path_, count));
    }
    uint64_t done = 0;
    while (done < count) {
      ssize_t n =
          ::pread(fd_, bytes.data() + done, count - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        fail(path_, fmt::format("cannot read '{}': {}", path_, errnoMessage(errno)));
      if (n == 0)
        fail(path_, fmt::format("cannot read '{}': it ended after {} bytes while being read", path_,
                                offset + done));
      done += static_cast<uint64_t>(n);
    }
    return bytes;
  }

private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::vector<std::byte> serialize(const TensorMap &tensors,
                                 const std::map<std::string, std::string> &metadata,
                                 const std::string &source) {
  json header = json::object();
  if (!metadata.empty())
    header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto &[name, tensor] : tensors) {
    if (name == kMetadataKey)
      fail(source, fmt::format("a tensor cannot be named '{}'", kMetadataKey));
    std::string type = TensorType{tensor.dtype, tensor.shape}.str();
    if (std::any_of(tensor.shape.begin(), tensor.shape.end(), [](int64_t d) { return d < 0; }))
      fail(source, fmt::format("tensor '{}': {} has a negative dimension", name, type));
    std::optional<uint64_t> size = byteSize(tensor.dtype, tensor.shape);
    if (!size)
      fail(source, fmt::format("tensor '{}': {} has too many elements", name, type));
    if (*size != tensor.bytes.size())
      fail(source, fmt::format("tensor '{}': {} needs {} bytes but holds {}", name, type, *size,
                               tensor.bytes.size()));
    json entry = json::object();
    entry["dtype"] = safetensorsName(tensor.dtype);
    entry["shape"] = tensor.shape;
    entry["data_offsets"] = json::array({offset, offset + *size});
    header[name] = std::move(entry);
    offset += *size;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception &e) {
    fail(source, fmt::format("cannot encode the header (tensor names and metadata must be "
                             "UTF-8): {}",
                             e.what()));
  }
  // The reference implementation pads the header with spaces to keep the data 8-byte aligned.
  text.append((kLengthBytes - text.size() % kLengthBytes) % kLengthBytes, ' ');

  std::vector<std::byte> file;
  file.reserve(kLengthBytes + text.size() + offset);
  for (uint64_t i = 0; i < kLengthBytes; ++i)
    file.push_back(static_cast<std::byte>((text.size() >> (8 * i)) & 0xff));
  for (char c : text)
    file.push_back(static_cast<std::byte>(c));
  for (const auto &[name, tensor] : tensors)
    file.insert(file.end(), tensor.bytes.begin(), tensor.bytes.end());
  return file;
}

} // namespace

TensorMap parseSafetensors(std::span<const std::byte> file, const std::string &source) {
  uint64_t length = headerLength(file, file.size(), source);
  std::span<const std::byte> data = file.subspan(kLengthBytes + length);
  Header header = parseHeader(asText(file.subspan(kLengthBytes, length)), data.size(), source);
  TensorMap tensors;
  for (Entry &entry : header.entries) {
    std::span<const std::byte> bytes = data.subspan(entry.begin, entry.end - entry.begin);
    tensors[entry.name] =
        TensorData{entry.dtype, std::move(entry.shape), {bytes.begin(), bytes.end()}};
  }
  return tensors;
}

TensorMap readSafetensors(const std::string &path) {
  InputFile file(path);
  return parseSafetensors(file.read(0, file.size()), path);
}

std::vector<std::byte> serializeSafetensors(const TensorMap &tensors,
                                            const std::map<std::string, std::string> &metadata) {
  return serialize(tensors, metadata, /*source=*/"");
}

void writeSafetensors(const std::string &path, const TensorMap &tensors,
                      const std::map<std::string, std::string> &metadata) {
  writeFileAtomically(path, serialize(tensors, metadata, path));
}

std::map<std::string, std::string> readSafetensorsMetadata(const std::string &path) {
  // Only the header is read: a checkpoint's metadata should not cost its gigabytes.
  InputFile file(path);
  uint64_t length =
      headerLength(file.read(0, std::min(file.size(), kLengthBytes)), file.size(), path);
  std::vector<std::byte> text = file.read(kLengthBytes, length);
  return parseHeader(asText(text), file.size() - kLengthBytes - length, path).metadata;
}

} // namespace kiln
