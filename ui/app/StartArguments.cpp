#include "StartArguments.h"

#include <QDir>
#include <QSettings>
#include <memory>

#include "CompareTab.h"
#include "MainWindow.h"
#include "OverviewTab.h"
#include "PruneTab.h"

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

void addStartOptions(QCommandLineParser& parser) {
  parser.setApplicationDescription("Look inside transformer models: every layer's and head's attention.");
  parser.addPositionalArgument("model", "Hugging Face model folder to open");
  parser.addOption(QCommandLineOption("text", "Input text to run at once", "text"));
  parser.addOption(QCommandLineOption("input", "Image or audio file to run at once (image/audio models)", "file"));
  parser.addOption(QCommandLineOption("variant", "Attention variant spec, e.g. window:w=8", "spec"));
  parser.addOption(QCommandLineOption("store", "How runs keep attention: auto, probs, or qk (queries and keys; long "
                                               "inputs' heads computed on demand)", "kind"));
  parser.addOption(QCommandLineOption("compare", "Compare full with these variant specs, separated by ';'", "specs"));
  parser.addOption(QCommandLineOption("overlay", "Show the input-overlay tab (image/audio models)"));
  parser.addOption(QCommandLineOption("overview", "Show the overview of every head after the run"));
  parser.addOption(QCommandLineOption("metrics", "Show the head-metrics tab after the run"));
  parser.addOption(QCommandLineOption("lines", "Show the token-lines tab after the run"));
  parser.addOption(QCommandLineOption("session", "Open a saved session (.attnscope)", "file"));
  parser.addOption(QCommandLineOption("generate", "Generate N tokens after the text (causal LMs, Whisper)", "N"));
  parser.addOption(QCommandLineOption("frame", "Overview frames coloured by entropy, distance, sink or importance", "metric"));
  parser.addOption(QCommandLineOption("tab", "Tab to show after the run: head, overview, lines, aggregates, metrics, lens, overlay, compare, prune",
                                      "name"));
  parser.addOption(QCommandLineOption("sweep", "Run the pruning sweep over these fractions (e.g. 0,0.1,0.2,0.5)", "fractions"));
  parser.addOption(QCommandLineOption("scale", "Colour scale of the head view: linear, log or power", "scale"));
  parser.addOption(QCommandLineOption("words", "Text views merge sub-word pieces into words"));
}

void applyStartOptions(attnscope::MainWindow& window, const QCommandLineParser& parser, const QString& demoModel,
                       const QString& demoText) {
  auto isSet = [&](const char* name) { return parser.isSet(name); };
  auto value = [&](const char* name) { return parser.value(name); };
  if (isSet("session")) {
    window.openSession(value("session"));
    return;
  }
  if (isSet("words")) window.viewState()->setWords(true);
  if (isSet("scale")) {
    const int i = window.controls()->scaleBox()->findText(value("scale"));
    if (i >= 0) window.controls()->scaleBox()->setCurrentIndex(i);
  }
  if (isSet("frame")) {
    const int i = window.tab<attnscope::OverviewTab>()->frameBox()->findData(value("frame"));
    if (i >= 0) window.tab<attnscope::OverviewTab>()->frameBox()->setCurrentIndex(i);
  }
  QString model = parser.positionalArguments().value(0);
  if (model.isEmpty()) model = QSettings().value("model/lastDir").toString();
  if (model.isEmpty() || !QDir(model).exists("config.json")) {
    // First run: the locally trained demo with an example input, so a newcomer sees attention at once.
    const QString demo = demoModel;
    if (!demo.isEmpty() && QDir(demo).exists("config.json")) {
      model = demo;
      if (!isSet("text")) window.input()->setText(demoText);
      window.runNow();
    }
  }
  if (isSet("text")) window.input()->setText(value("text"));
  if (isSet("input")) window.input()->setFile(value("input"));
  if (isSet("variant")) window.input()->setVariant(value("variant"));
  if (isSet("store")) window.input()->setStore(value("store"));
  // The tab to show once the model has run: --tab NAME, or the older --overview/--lines/--metrics/--overlay.
  QString showTab = value("tab");
  if (isSet("overview")) showTab = "overview";
  if (isSet("lines")) showTab = "lines";
  if (isSet("metrics")) showTab = "metrics";
  if (isSet("overlay")) showTab = "overlay";
  if (!showTab.isEmpty())
    QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, showTab] { window.showTab(showTab); });
  if (!model.isEmpty()) {
    window.openModel(model);
    if (isSet("compare")) {
      const QStringList specs = value("compare").split(';', Qt::SkipEmptyParts);
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, specs, once] {
        QObject::disconnect(*once);
        window.tab<attnscope::CompareTab>()->view()->setSpecs(specs);
        window.showTab("compare");
        window.compareNow(specs);
      });
    } else if (isSet("sweep")) {
      const QString fractions = value("sweep");
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, fractions, once] {
        QObject::disconnect(*once);
        auto* tab = window.tab<attnscope::PruneTab>();
        tab->ratiosEdit()->setText(fractions);
        window.showTab("prune");
        attnscope::PruneSweepOptions options;
        if (tab->options(options, nullptr)) window.sweepNow(options);
      });
    } else if (isSet("generate")) {
      const int n = value("generate").toInt();
      auto once = std::make_shared<QMetaObject::Connection>();
      *once = QObject::connect(&window, &attnscope::MainWindow::idle, &window, [&window, n, once] {
        QObject::disconnect(*once);
        window.generateNow(n);
      });
    } else if (isSet("text") || isSet("input")) {
      window.runNow();
    }
  }
}
