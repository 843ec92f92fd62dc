// attnscope: the desktop application.
//   attnscope [MODEL_DIR] [--text TEXT | --input IMAGE_OR_AUDIO] [--variant SPEC] [--overlay]
//             [--compare "SPEC;SPEC;SPEC"] [--generate N] [--overview [--frame METRIC]] [--metrics] [--lines]
//             [--scale linear|log|power] [--sweep FRACTIONS] [--tab NAME]
//   attnscope --session FILE.attnscope
// With a model folder and an input it loads the model and runs at once.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QSettings>
#include <memory>

#include "CompareTab.h"
#include "MainWindow.h"
#include "OverviewTab.h"
#include "PruneTab.h"
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
  QCommandLineOption sweep("sweep", "Run the pruning sweep over these fractions (e.g. 0,0.1,0.2,0.5)", "fractions");
  parser.addOption(sweep);
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
    const int i = window.controls()->scaleBox()->findText(parser.value(scale));
    if (i >= 0) window.controls()->scaleBox()->setCurrentIndex(i);
  }
  if (parser.isSet(frame)) {
    const int i = window.tab<attnscope::OverviewTab>()->frameBox()->findData(parser.value(frame));
    if (i >= 0) window.tab<attnscope::OverviewTab>()->frameBox()->setCurrentIndex(i);
  }
  QString model = parser.positionalArguments().value(0);
  if (model.isEmpty()) model = QSettings().value("model/lastDir").toString();
  if (model.isEmpty() || !QDir(model).exists("config.json")) {
    // First run: the locally trained demo with an example input, so a newcomer sees attention at once.
    const QString demo = QString(ATTNSCOPE_DEMO_MODEL);
    if (QDir(demo).exists("config.json")) {
      model = demo;
      if (!parser.isSet(text)) window.input()->setText(ATTNSCOPE_DEMO_TEXT);
      window.runNow();
    }
  }
  if (parser.isSet(text)) window.input()->setText(parser.value(text));
  if (parser.isSet(input)) window.input()->setFile(parser.value(input));
  if (parser.isSet(variant)) window.input()->setVariant(parser.value(variant));
  // The tab to show once the model has run: --tab NAME, or the older --overview/--lines/--metrics/--overlay.
  QString showTab = parser.value(tab);
  if (parser.isSet(overview)) showTab = "overview";
  if (parser.isSet(lines)) showTab = "lines";
  if (parser.isSet(metrics)) showTab = "metrics";
  if (parser.isSet(overlay)) showTab = "overlay";
  if (!showTab.isEmpty())
    QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, showTab] { window.showTab(showTab); });
  if (!model.isEmpty()) {
    window.openModel(model);
    if (parser.isSet(compare)) {
      const QStringList specs = parser.value(compare).split(';', Qt::SkipEmptyParts);
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, specs, once] {
        QObject::disconnect(*once);
        window.tab<attnscope::CompareTab>()->view()->setSpecs(specs);
        window.showTab("compare");
        window.compareNow(specs);
      });
    } else if (parser.isSet(sweep)) {
      const QString fractions = parser.value(sweep);
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, fractions, once] {
        QObject::disconnect(*once);
        auto* tab = window.tab<attnscope::PruneTab>();
        tab->ratiosEdit()->setText(fractions);
        window.showTab("prune");
        attnscope::PruneSweepOptions options;
        if (tab->options(options, nullptr)) window.sweepNow(options);
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
