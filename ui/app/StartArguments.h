#pragma once
// Command-line arguments of the desktop application: prepared before QApplication sees them, parsed into options,
// and applied to a window.
#include <QCommandLineParser>
#include <QString>
#include <string>
#include <vector>

namespace attnscope {
class MainWindow;
}

/// Qt's own X11 session option swallows "--session FILE" (and "-session FILE") before our parser runs, so the
/// documented form was silently ignored; joined as "--session=FILE" it reaches our option. Other arguments are
/// returned unchanged, in order.
std::vector<std::string> protectSessionArgument(const std::vector<std::string>& args);

/// Adds every option of `attnscope` (model folder, --text, --input, --variant, --compare, --generate, --sweep,
/// --tab, --frame, --scale, --session, …) to \p parser.
void addStartOptions(QCommandLineParser& parser);

/// Applies the parsed options to \p window: opens the session or the model (the demo model \p demoModel with
/// \p demoText on a first start without one) and queues the run, comparison, generation or sweep and the tab.
void applyStartOptions(attnscope::MainWindow& window, const QCommandLineParser& parser, const QString& demoModel,
                       const QString& demoText);
