#pragma once
// The expected-error and expected-remark comments that kiln-opt --verify-diagnostics checks.

#include "ir/diagnostics.h"

#include <string>
#include <string_view>
#include <vector>

namespace kiln::tools {

/// One "// expected-KIND[ ][@WHERE] {{text}}" comment: a diagnostic the input must produce.
struct ExpectedDiagnostic {
  std::string kind; ///< "error" or "remark"
  int line;         ///< the line the diagnostic must name
  std::string text; ///< a part of its message
  bool seen = false;
};

/// The directives of a text, and an error for each directive that could not be read.
struct ExpectedDiagnostics {
  std::vector<ExpectedDiagnostic> directives; ///< the directives read, in line order
  std::vector<Error> malformed;               ///< one error at each malformed directive
};

/// Reads the expected diagnostics of `text`, whose first line is line `first_line` of `file`.
/// The syntax is MLIR's: `expected-error {{text}}` names its own line, and `@+N`, `@-N`,
/// `@above` and `@below` (with or without a space before them) another. Every directive that
/// is malformed (an unknown kind, a bad offset, no `{{` or no `}}`) gives an error at its line
/// and column in `malformed`.
ExpectedDiagnostics parseExpectedDiagnostics(std::string_view text, int first_line,
                                             const std::string &file);

} // namespace kiln::tools
