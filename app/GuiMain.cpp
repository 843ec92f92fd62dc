// attnscope: the desktop application.
//   attnscope [MODEL_DIR] [--text TEXT | --input IMAGE_OR_AUDIO] [--variant SPEC] [--overlay]
//             [--compare "SPEC;SPEC;SPEC"] [--generate N] [--overview [--frame METRIC]] [--metrics] [--lines]
//             [--scale linear|log|power]
//   attnscope --session FILE.attnscope
// With a model folder and an input it loads the model and runs at once.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QSettings>
#include <memory>

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
  parser.setApplicationDescription("Look inside transformer models: every layer's and head's attention.");
  parser.addHelpOption();
  parser.addPositionalArgument("model", "Hugging Face model folder to open");
  QCommandLineOption text("text", "Input text to run at once", "text");
  parser.addOption(text);
  QCommandLineOption input("input", "Image or audio file to run at once (image/audio models)", "file");
  parser.addOption(input);
  QCommandLineOption variant("variant", "Attention variant spec, e.g. window:w=8", "spec");
  parser.addOption(variant);
  QCommandLineOption compare("compare", "Compare full with these variant specs, separated by ';'", "specs");
  parser.addOption(compare);
  QCommandLineOption overlay("overlay", "Show the input-overlay tab (image/audio models)");
  parser.addOption(overlay);
  QCommandLineOption overview("overview", "Show the overview of every head after the run");
  parser.addOption(overview);
  QCommandLineOption metrics("metrics", "Show the head-metrics tab after the run");
  parser.addOption(metrics);
  QCommandLineOption lines("lines", "Show the token-lines tab after the run");
  parser.addOption(lines);
  QCommandLineOption session("session", "Open a saved session (.attnscope)", "file");
  parser.addOption(session);
  QCommandLineOption generate("generate", "Generate N tokens after the text (causal LMs, Whisper)", "N");
  parser.addOption(generate);
  QCommandLineOption frame("frame", "Overview frames coloured by entropy, distance, sink or importance", "metric");
  parser.addOption(frame);
  QCommandLineOption tab("tab", "Tab to show after the run: head, overview, lines, aggregates, metrics, overlay, compare",
                         "name");
  parser.addOption(tab);
  QCommandLineOption scale("scale", "Colour scale of the head view: linear, log or power", "scale");
  parser.addOption(scale);
  parser.process(app);

  attnscope::MainWindow window;
  window.show();
  if (parser.isSet(session)) {
    window.openSession(parser.value(session));
    return app.exec();
  }
  if (parser.isSet(scale)) {
    const int i = window.scaleBox()->findText(parser.value(scale));
    if (i >= 0) window.scaleBox()->setCurrentIndex(i);
  }
  if (parser.isSet(frame)) {
    const int i = window.overviewFrameBox()->findData(parser.value(frame));
    if (i >= 0) window.overviewFrameBox()->setCurrentIndex(i);
  }
  QString model = parser.positionalArguments().value(0);
  if (model.isEmpty()) model = QSettings().value("model/lastDir").toString();
  if (model.isEmpty() || !QDir(model).exists("config.json")) {
    // First run: the locally trained demo with an example input, so a newcomer sees attention at once.
    const QString demo = QString(ATTNSCOPE_DEMO_MODEL);
    if (QDir(demo).exists("config.json")) {
      model = demo;
      if (!parser.isSet(text)) window.setInputText(ATTNSCOPE_DEMO_TEXT);
      window.runNow();
    }
  }
  if (parser.isSet(text)) window.setInputText(parser.value(text));
  if (parser.isSet(input)) window.setInputFile(parser.value(input));
  if (parser.isSet(variant)) window.setVariant(parser.value(variant));
  if (parser.isSet(overview))
    QObject::connect(&window, &attnscope::MainWindow::idle, &window,
                     [&window] { window.tabs()->setCurrentWidget(window.overviewPage()); });
  if (parser.isSet(lines))
    QObject::connect(&window, &attnscope::MainWindow::idle, &window,
                     [&window] { window.tabs()->setCurrentWidget(window.linesPage()); });
  if (parser.isSet(metrics))
    QObject::connect(&window, &attnscope::MainWindow::idle, &window,
                     [&window] { window.tabs()->setCurrentWidget(window.metricsPage()); });
  if (parser.isSet(tab)) {
    const QString name = parser.value(tab);
    QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, name] {
      QWidget* page = name == "overview"     ? window.overviewPage()
                      : name == "lines"      ? window.linesPage()
                      : name == "aggregates" ? window.aggregatePage()
                      : name == "metrics"    ? window.metricsPage()
                      : name == "overlay"    ? window.overlayPage()
                      : name == "compare"    ? static_cast<QWidget*>(window.compareView())
                                             : static_cast<QWidget*>(window.heatmap());
      const int i = window.tabs()->indexOf(page);
      if (i >= 0 && window.tabs()->isTabEnabled(i)) window.tabs()->setCurrentIndex(i);
    });
  }
  if (parser.isSet(overlay))
    QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window] {
      const int i = window.tabs()->indexOf(window.overlayPage());
      if (window.tabs()->isTabEnabled(i)) window.tabs()->setCurrentIndex(i);
    });
  if (!model.isEmpty()) {
    window.openModel(model);
    if (parser.isSet(compare)) {
      const QStringList specs = parser.value(compare).split(';', Qt::SkipEmptyParts);
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, specs, once] {
        QObject::disconnect(*once);
        window.compareView()->setSpecs(specs);
        window.tabs()->setCurrentWidget(window.compareView());
        window.compareNow(specs);
      });
    } else if (parser.isSet(generate)) {
      const int n = parser.value(generate).toInt();
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, n, once] {
        QObject::disconnect(*once);
        window.generateNow(n);
      });
    } else if (parser.isSet(text) || parser.isSet(input)) {
      window.runNow();
    }
  }
  return app.exec();
}
