#pragma once
// Source locations and user-facing errors.
//
// A user mistake (malformed IR, a bad shape in the DSL, a corrupt file) is reported by throwing
// kiln::Error, which carries a location and prints as "file:line:col: error: message". A bug in
// kiln itself is a KILN_ASSERT, which is never caught.

#include <cstdio>
#include <cstdlib>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kiln {

/// Where something came from: a DSL call site or a position in a text IR file.
struct Location {
  std::string file;
  int line = 0;
  int col = 0;
  /// A position in the text IR being read. The printer leaves such locations out: the text is
  /// itself that position, and printing it would make every round trip grow.
  bool in_ir_text = false;
  /// The module a node was built in, by its dotted name ("decoder.layers.1.self_attn"); "" for
  /// a node built outside modules.
  std::string scope;
  /// Where the model's code called that module (the outermost one, when modules call modules),
  /// as MLIR's call-site locations record it; an unknown location (no file) outside modules.
  std::string caller_file;
  int caller_line = 0;
  int caller_col = 0;

  bool known() const { return !file.empty(); }
  /// The caller as a location of its own.
  Location caller() const { return Location{caller_file, caller_line, caller_col}; }
  /// "file:line:col", "file:line" without a column, "file" without a line, or "<unknown>".
  std::string str() const;
  /// The location of a C++ call site.
  static Location fromSource(const std::source_location &loc);
  bool operator==(const Location &) const = default;
};

/// A user error with a location; what() gives "file:line:col: error: message".
class Error : public std::runtime_error {
public:
  Error(Location loc, std::string message);
  /// The location the error points at.
  const Location &location() const { return loc_; }
  /// The message without location and severity.
  const std::string &message() const { return message_; }

private:
  Location loc_;
  std::string message_;
};

/// An error in how a tool was invoked rather than in its input: an unknown flag or option, a
/// value of the wrong form.
class UsageError : public Error {
public:
  using Error::Error;
};

/// User bytes (a token, a name, a string, a file name) made safe to embed in a message:
/// printable ASCII and well-formed UTF-8 characters from U+00A0 up stay as they are; a backslash,
/// the `quote` character (when not 0) and every other byte are escaped (\\, \', \0, \t, \n, \r,
/// \xNN), so the message is valid UTF-8 and no NUL cuts it short.
std::string escapeBytes(std::string_view bytes, char quote = 0);
/// The length of the character that `bytes` starts with: 2 to 4 for a well-formed UTF-8
/// character from U+00A0 up, else 1 (0 when empty). escapeBytes keeps such characters whole.
size_t characterLength(std::string_view bytes);
/// `bytes` escaped and enclosed in `quote`, as a message quotes input: 'f33', "a\0b".
std::string quoteBytes(std::string_view bytes, char quote = '\'');

[[noreturn]] void assertionFailed(const char *expr, const char *file, int line, const char *msg);

} // namespace kiln

/// An internal invariant of kiln; failing it is a kiln bug, never a user error.
#define KILN_ASSERT(cond, msg)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::kiln::assertionFailed(#cond, __FILE__, __LINE__, msg);                                     \
  } while (false)
