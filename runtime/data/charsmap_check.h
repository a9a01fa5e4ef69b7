#pragma once
// A structural check of the character maps in a serialized SentencePiece model, before
// SentencePiece loads it. A model's normalizer (and denormalizer) may carry a precompiled
// character map: a darts-clone double-array trie over UTF-8 bytes whose leaves point into a
// blob of NUL-terminated replacement strings. SentencePiece trusts that map: a corrupt one
// loads without complaint and then makes every encode or decode read outside it. Debian's
// SentencePiece ships neither the model's protobuf header nor a check of its own, so kiln reads
// the protobuf wire format for the two maps and walks every state of each trie the way
// SentencePiece's prefix search would, proving each read in bounds.

#include <string>
#include <string_view>

namespace kiln::data {

/// What is wrong with the character maps of a serialized SentencePiece model ("the normalizer's
/// character map is corrupt: a trie state past the end of its 512 units"), or an empty string
/// when every read SentencePiece makes through them stays in bounds. Bytes that are not
/// protobuf wire format give "it does not parse as one".
std::string charsmapProblem(std::string_view model);

} // namespace kiln::data
