// attnscope: the desktop application.
//   attnscope [MODEL_DIR] [--text TEXT] [--device auto|cpu|cuda[:N]]
// With a model folder and --text it loads the model and runs at once.
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>

#include "MainWindow.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("AttnScope");
  QApplication::setApplicationName("AttnScope");
  QCommandLineParser parser;
  parser.setApplicationDescription("Look inside transformer models: every layer's and head's attention.");
  parser.addHelpOption();
  parser.addPositionalArgument("model", "Hugging Face model folder to open");
  QCommandLineOption text("text", "Input text to run at once", "text");
  parser.addOption(text);
  parser.process(app);

  attnscope::MainWindow window;
  window.show();
  QString model = parser.positionalArguments().value(0);
  if (model.isEmpty()) model = QSettings().value("model/lastDir").toString();
  if (parser.isSet(text)) window.setInputText(parser.value(text));
  if (!model.isEmpty()) {
    window.openModel(model);
    if (parser.isSet(text)) window.runNow();
  }
  return app.exec();
}
