// attnscope: the desktop application.
//   attnscope [MODEL_DIR] [--text TEXT | --input IMAGE_OR_AUDIO] [--variant SPEC] [--overlay]
//             [--compare "SPEC;SPEC;SPEC"] [--generate N] [--overview [--frame METRIC]] [--metrics] [--lines]
//             [--scale linear|log|power] [--words] [--sweep FRACTIONS] [--tab NAME]
//   attnscope --session FILE.attnscope
// With a model folder and an input it loads the model and runs at once.
#include <QApplication>
#include <QCommandLineParser>

#include "MainWindow.h"
#include "StartArguments.h"

int main(int argc, char** argv) {
  // "--session FILE" must reach our parser (Qt's own session option would take it).
  std::vector<std::string> args = protectSessionArgument(std::vector<std::string>(argv, argv + argc));
  std::vector<char*> argvFixed;
  for (auto& a : args) argvFixed.push_back(a.data());
  argvFixed.push_back(nullptr);
  int argcFixed = static_cast<int>(args.size());
  QApplication app(argcFixed, argvFixed.data());
  QApplication::setOrganizationName("AttnScope");
  QApplication::setApplicationName("AttnScope");
  QCommandLineParser parser;
  parser.addHelpOption();
  addStartOptions(parser);
  parser.process(app);

  attnscope::MainWindow window;
  window.show();
  applyStartOptions(window, parser, QString(ATTNSCOPE_DEMO_MODEL), QString(ATTNSCOPE_DEMO_TEXT));
  return app.exec();
}
