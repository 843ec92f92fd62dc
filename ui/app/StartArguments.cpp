#include "StartArguments.h"

std::vector<std::string> protectSessionArgument(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "--session" || args[i] == "-session") && i + 1 < args.size()) {
      out.push_back("--session=" + args[i + 1]);
      ++i;
    } else {
      out.push_back(args[i]);
    }
  }
  return out;
}
