// Fuzzes the text IR parser: any bytes either parse into a verified graph, which prints and
// parses back to the same text, or are refused with kiln::Error.

#include "ir/parser.h"
#include "ir/printer.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  std::string printed;
  try {
    printed = kiln::printGraph(*kiln::parseGraph(text, "fuzz.kir"));
  } catch (const kiln::Error &) {
    return 0; // malformed IR, reported as it should be
  }
  // Text is the contract: what the printer writes, the parser reads back unchanged.
  std::string again;
  try {
    again = kiln::printGraph(*kiln::parseGraph(printed, "printed.kir"));
  } catch (const kiln::Error &e) {
    std::fprintf(stderr, "the printed graph does not parse: %s\n%s", e.what(), printed.c_str());
    std::abort();
  }
  if (again != printed) {
    std::fprintf(stderr, "printing does not round-trip:\n%s\n-- printed again --\n%s",
                 printed.c_str(), again.c_str());
    std::abort();
  }
  return 0;
}
