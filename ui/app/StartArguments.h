#pragma once
// Command-line arguments of the desktop application, prepared before QApplication sees them.

#include <string>
#include <vector>

/// Qt's own X11 session option swallows "--session FILE" (and "-session FILE") before our parser runs, so the
/// documented form was silently ignored; joined as "--session=FILE" it reaches our option. Other arguments are
/// returned unchanged, in order.
std::vector<std::string> protectSessionArgument(const std::vector<std::string>& args);
