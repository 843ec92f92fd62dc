#pragma once
// One attnscope-cli command: its name, its help, the options it takes and the function that runs it. CliMain.cpp
// holds the table of them (as git's builtin/ commands are listed in git.c); each lives in its own file here.

#include <iosfwd>
#include <string>
#include <vector>

#include "CliOptions.h"

namespace attnscope::cli {

struct CliCommand {
  const char* name;                        ///< as typed: attnscope-cli NAME
  const char* summary;                     ///< its line in the usage text
  const char* help;                        ///< what NAME --help prints
  std::vector<std::string> valueOptions;   ///< --key VALUE
  std::vector<std::string> flagOptions;    ///< --flag
  int (*run)(const Args&);                 ///< the exit code; AttnScopeError for bad input
  void (*moreHelp)(std::ostream&) = nullptr;  ///< lines printed after the help (e.g. the registered variants)
};

extern const CliCommand kInfoCommand;
extern const CliCommand kRunCommand;
extern const CliCommand kGenerateCommand;
extern const CliCommand kCompareCommand;
extern const CliCommand kOverlayCommand;
extern const CliCommand kFigureCommand;
extern const CliCommand kHeadCommand;
extern const CliCommand kLensCommand;
extern const CliCommand kAttributeCommand;
extern const CliCommand kFlowGraphCommand;
extern const CliCommand kDeletionCommand;
extern const CliCommand kPruneSweepCommand;
extern const CliCommand kConvertLlama2cCommand;

}  // namespace attnscope::cli
