// attnscope-cli: batch access to the engine. One file per command in cli/ (cli/CliCommand.h); this file holds the table
// of commands, the usage text made from it, and the conversion of errors at the edge: bad input goes to stderr with
// exit code 2, a bug with exit code 3; --help on every command.
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"
#include "cli/CliCommand.h"

using namespace attnscope;
using namespace attnscope::cli;

namespace {

/// Every command, in the order the usage text lists them.
const CliCommand* const kCommands[] = {
    &kInfoCommand,    &kRunCommand,       &kGenerateCommand,  &kCompareCommand, &kOverlayCommand,
    &kFigureCommand,  &kHeadCommand,      &kLensCommand,      &kAttributeCommand, &kFlowGraphCommand,
    &kDeletionCommand, &kPruneSweepCommand, &kConvertLlama2cCommand,
};

std::string usage() {
  std::ostringstream os;
  os << "usage: attnscope-cli <command> [options]\n\ncommands:\n";
  for (const CliCommand* c : kCommands) {
    const std::string name = c->name;
    os << "  " << name << (name.size() < 10 ? std::string(10 - name.size(), ' ') : std::string("  ")) << c->summary
       << "\n";
  }
  os << "\nRun 'attnscope-cli <command> --help' for the options of a command.\n";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    for (const CliCommand* c : kCommands) {
      if (cmd != c->name) continue;
      if (wantsHelp(argc, argv)) {
        std::cout << c->help;
        if (c->moreHelp) c->moreHelp(std::cout);
        return 0;
      }
      return c->run(parseArgs(argc, argv, 2, c->valueOptions, c->flagOptions));
    }
    std::cerr << "attnscope-cli: unknown command '" << cmd << "'\n\n" << usage();
    return 2;
  } catch (const AttnScopeError& e) {
    std::cerr << "attnscope-cli " << cmd << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    if (isAllocationFailure(e)) {
      std::cerr << "attnscope-cli " << cmd
                << ": error: out of memory: the machine could not give what this command "
                << "needed (use a shorter input, fewer layers or heads, or --store qk)\n";
      return 2;
    }
    // Not a problem with the input: a bug. One line, no stack trace, and how to report it.
    std::string what = e.what();
    const size_t newline = what.find('\n');
    if (newline != std::string::npos) what = what.substr(0, newline);
    std::cerr << "attnscope-cli " << cmd << ": internal error (a bug in AttnScope " << ATTNSCOPE_VERSION
              << "; please report it with the command line): " << what << "\n";
    return 3;
  }
}
