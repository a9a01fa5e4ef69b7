#pragma once
// The version of the graph IR's text form (.kir files).

namespace kiln {

/// The version of the text form: printGraph writes it as the first line, "kiln.format 1", and
/// parseGraph reads it and refuses a larger one. A text without that line (a test or a file
/// written by hand) is read as format 1, the form such texts were written in.
inline constexpr int kTextFormat = 1;

} // namespace kiln
