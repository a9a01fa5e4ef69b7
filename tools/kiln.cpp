// kiln: the driver. Subcommands grow with the compiler; see `kiln --help`.

#include "backend/cpu/host_info.h"
#include "ir/diagnostics.h"

#include <iostream>
#include <string>

namespace {

void printHelp() {
  std::cout << "usage: kiln <command> [options]\n\n"
               "Commands:\n"
               "  version     print kiln's version and the LLVM and oneDNN it runs on\n"
               "  help        show this help\n\n"
               "Pass-level work on text IR is done with kiln-opt (see kiln-opt --help).\n";
}

} // namespace

int main(int argc, char **argv) {
  std::string cmd = argc > 1 ? argv[1] : "help";
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    printHelp();
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::cout << "kiln 0.1\n" << kiln::cpu::hostInfo() << "\n";
    return 0;
  }
  std::cerr << "kiln: error: unknown command '" << cmd << "' (see kiln --help)\n";
  return 1;
}
