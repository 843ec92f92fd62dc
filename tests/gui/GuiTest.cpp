// Qt Test suite for the first window (offscreen): the heatmap shows the capture's
// values, the run happens on the worker thread with progress, errors surface as
// a dialog instead of a crash, and cancel/shutdown leave no thread running.
#include <QMessageBox>
#include <QSignalSpy>
#include <QTimer>
#include <QtTest>
#include <QTemporaryDir>

#include "CompareView.h"
#include "MainWindow.h"

using namespace attnscope;

namespace {
QString shared() {
  const QByteArray env = qgetenv("ATTNSCOPE_SHARED");
  return env.isEmpty() ? QString(ATTNSCOPE_SHARED_DEFAULT) : QString::fromLocal8Bit(env);
}

/// Closes the next modal dialog (an error box) and remembers its text.
QString closeNextDialog() {
  static QString text;
  text.clear();
  QTimer::singleShot(200, [] {
    for (QWidget* w : QApplication::topLevelWidgets())
      if (auto* box = qobject_cast<QMessageBox*>(w)) {
        text = box->text();
        box->accept();
      }
  });
  return text;
}
}  // namespace

class GuiTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    QVERIFY2(QDir(shared() + "/golden").exists(), qPrintable("shared material missing at " + shared()));
    QCoreApplication::setOrganizationName("AttnScopeTest");
  }

  void heatmapShowsCaptureValues() {
    AttentionMatrix a;
    a.stack = "self";
    a.heads = 2;
    a.q = 3;
    a.k = 4;
    a.headIndex = {0, 1};
    for (int i = 0; i < 2 * 3 * 4; ++i) a.data.push_back(static_cast<float>(i) / 24.0f);
    HeatmapView view;
    view.setAttention(a, 1, {"a", "b", "c"}, {"w", "x", "y", "z"}, "t");
    QCOMPARE(view.queries(), 3);
    QCOMPARE(view.keys(), 4);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) QCOMPARE(view.valueAt(i, j), static_cast<double>(a.at(1, i, j)));
    QVERIFY(view.cellText(2, 1).startsWith("c [2] → x [1]: "));
  }

  void runOnWorkerShowsEveryHead() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("The cat sat on the mat.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    w.runNow();  // queued until the model is loaded
    QVERIFY(idle.wait(30000));
    if (!w.capture()) QVERIFY(idle.wait(30000));
    QVERIFY(w.capture());
    QCOMPARE(w.summary().layers, 2);
    QCOMPARE(w.summary().heads, 6);
    QCOMPARE(w.layerBox()->maximum(), 1);
    QCOMPARE(w.headBox()->maximum(), 5);
    w.layerBox()->setValue(1);
    w.headBox()->setValue(4);
    const AttentionMatrix* a = w.capture()->find("self", 1);
    QVERIFY(a);
    QCOMPARE(w.heatmap()->queries(), a->q);
    for (int i = 0; i < a->q; ++i)
      for (int j = 0; j < a->k; ++j) QCOMPARE(w.heatmap()->valueAt(i, j), static_cast<double>(a->at(4, i, j)));
    QCOMPARE(w.capture()->queryLabels.front(), std::string("<s>"));
    // Token lines: the line weights are the capture's; clicking a query token selects it.
    TokenLineView* lines = w.tokenLines();
    lines->resize(600, 400);
    for (int i = 0; i < a->q; ++i)
      for (int j = 0; j < a->k; ++j) QCOMPARE(lines->weight(0, i, j), a->at(4, i, j));
    QTest::mouseClick(lines, Qt::LeftButton, {}, lines->queryPoint(2));
    QCOMPARE(lines->selectedQuery(), 2);
    // The overview holds every head of every layer; a click opens that head in the head view.
    OverviewView* o = w.overview();
    o->resize(800, 400);
    QCOMPARE(o->rows(), 2);
    QCOMPARE(o->columns(), 6);
    QTest::mouseClick(o, Qt::LeftButton, {}, o->tileRect(0, 3).center());
    QCOMPARE(w.layerBox()->value(), 0);
    QCOMPARE(w.headBox()->value(), 3);
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.heatmap()));
    // Aggregates: the mean over heads equals the capture's mean, computed on the worker thread.
    QSignalSpy shown(&w, &MainWindow::aggregateShown);
    w.layerBox()->setValue(1);
    w.tabs()->setCurrentWidget(w.aggregatePage());
    QVERIFY(shown.wait(30000));
    const AttentionMatrix* l1 = w.capture()->find("self", 1);
    for (int i = 0; i < l1->q; ++i)
      for (int j = 0; j < l1->k; ++j) {
        double mean = 0;
        for (int h = 0; h < l1->heads; ++h) mean += l1->at(h, i, j);
        QVERIFY(std::abs(w.aggregateView()->valueAt(i, j) - mean / l1->heads) < 1e-6);
      }
    // Head metrics: the sink mass of (layer 1, head 2) is the mean weight on position 0.
    QSignalSpy metrics(&w, &MainWindow::metricsShown);
    w.metricKind()->setCurrentIndex(2);
    w.tabs()->setCurrentWidget(w.metricsPage());
    QVERIFY(metrics.wait(30000));
    double sink = 0;
    for (int i = 0; i < l1->q; ++i) sink += l1->at(2, i, 0);
    QVERIFY(std::abs(w.metricsView()->valueAt(1, 2) - sink / l1->q) < 1e-5);
    QCOMPARE(w.metricsView()->queries(), 2);
    QCOMPARE(w.metricsView()->keys(), 6);
    w.metricKind()->setCurrentIndex(3);  // importance by autograd (the LM head is the objective)
    QVERIFY(metrics.wait(30000));
    double norm = 0;
    for (int h = 0; h < 6; ++h) norm += std::pow(w.metricsView()->valueAt(0, h), 2);
    QVERIFY(std::abs(norm - 1.0) < 1e-3);  // L2-normalised per layer
    w.tabs()->setCurrentWidget(w.aggregatePage());
    // Rollout rows are distributions too.
    w.aggregateKind()->setCurrentIndex(2);
    QVERIFY(shown.wait(30000));
    for (int i = 0; i < l1->q; ++i) {
      double sum = 0;
      for (int j = 0; j < l1->k; ++j) sum += w.aggregateView()->valueAt(i, j);
      QVERIFY(std::abs(sum - 1.0) < 1e-4);
    }
    w.shutdown();
    QVERIFY(!w.isThreadRunning());
  }

  /// Loads \p dir and runs the current input; returns when the run is over.
  static void loadAndRun(MainWindow& w, const QString& dir) {
    QSignalSpy idle(&w, &MainWindow::idle);
    w.openModel(dir);
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
  }

  void imageModelRunsAndDrawsTheOverlay() {
    MainWindow w;
    const QString dir = shared() + "/golden/vit-tiny-random";
    w.setInputFile(dir + "/input.png");
    loadAndRun(w, dir);
    QVERIFY(w.capture());
    QCOMPARE(w.capture()->queryLabels.front(), std::string("[CLS]"));
    QCOMPARE(w.capture()->keyLabels.at(5), std::string("(1,0)"));
    QCOMPARE(w.heatmap()->keys(), 17);
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(w.overlayPage())));
    QSignalSpy shown(&w, &MainWindow::overlayShown);
    w.tabs()->setCurrentWidget(w.overlayPage());  // the overlay is drawn on the worker thread
    QVERIFY(shown.wait(30000));
    QVERIFY(!w.overlayView()->pixmap().isNull());
    QVERIFY(w.overlayView()->pixmap().width() >= 200);  // fitted to the view
    w.shutdown();
  }

  void audioModelsShowStacksAndTime() {
    MainWindow w;
    const QString wh = shared() + "/golden/whisper-tiny-random";
    w.setInputFile(wh + "/jfk_2s.wav");
    loadAndRun(w, wh);
    QVERIFY(w.capture());
    QCOMPARE(static_cast<int>(w.capture()->stacks.size()), 3);
    QVERIFY(w.stackBox()->isVisibleTo(&w));
    w.stackBox()->setCurrentText("cross");
    QCOMPARE(w.heatmap()->keys(), 100);  // encoder frames
    QCOMPARE(w.heatmap()->queries(), 1);  // the decoder start token
    QCOMPARE(w.capture()->stackKeyLabels.at(2).at(1), std::string("0.02s"));
    w.shutdown();
  }

  void variantRunsThroughTheWholeModel() {
    MainWindow w;
    w.setInputText("Once upon a time, there was a little girl named Lily.");
    w.setVariant("window:w=2");
    loadAndRun(w, shared() + "/models/stories260K");
    QVERIFY(w.capture());
    QCOMPARE(w.capture()->variant, std::string("window:w=2"));
    w.layerBox()->setValue(3);
    const int last = w.heatmap()->queries() - 1;
    int nonZero = 0;
    for (int j = 0; j < w.heatmap()->keys(); ++j) nonZero += w.heatmap()->valueAt(last, j) > 0 ? 1 : 0;
    QCOMPARE(nonZero, 2);  // the last two keys only
    // A bad spec is an error dialog, not a crash.
    closeNextDialog();
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setVariant("window:w=-1");
    w.runNow();
    QVERIFY(idle.wait(30000));
    QVERIFY(!w.isBusy());
    QCOMPARE(w.capture()->variant, std::string("window:w=2"));  // the previous result stays
    w.shutdown();
  }

  void compareViewSharesOneScaleAndShowsTheDifference() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("Once upon a time, there was a little girl named Lily.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2", "linear"});
    QVERIFY(idle.wait(60000));
    CompareView* c = w.compareView();
    QVERIFY(c->result());
    QCOMPARE(static_cast<int>(c->result()->panels.size()), 3);
    QCOMPARE(c->table()->rowCount(), 3);
    QCOMPARE(c->table()->item(1, 0)->text(), QString("window:w=2"));
    w.layerBox()->setValue(2);
    w.headBox()->setValue(5);
    const AttentionMatrix* full = c->result()->panels[0].capture.find("self", 2);
    const AttentionMatrix* win = c->result()->panels[1].capture.find("self", 2);
    QVERIFY(full && win);
    // Every panel shows its own head 5 of layer 2; the difference map is window − full, cell by cell.
    for (int i = 0; i < full->q; ++i)
      for (int j = 0; j < full->k; ++j) {
        QCOMPARE(c->panel(0)->valueAt(i, j), static_cast<double>(full->at(5, i, j)));
        QCOMPARE(c->panel(1)->valueAt(i, j), static_cast<double>(win->at(5, i, j)));
        QCOMPARE(c->difference()->valueAt(i, j), static_cast<double>(win->at(5, i, j) - full->at(5, i, j)));
      }
    // One colour scale for all panels.
    auto range = [](HeatmapView* h) { return static_cast<QCPColorMap*>(h->plot()->plottable(0))->dataRange(); };
    QCOMPARE(range(c->panel(0)).upper, range(c->panel(1)).upper);
    QCOMPARE(range(c->panel(0)).upper, range(c->panel(2)).upper);
    // The JS grid is layers × heads and names the chosen variant.
    QCOMPARE(c->jsGrid()->queries(), 5);
    QCOMPARE(c->jsGrid()->keys(), 8);
    c->differenceOf()->setCurrentIndex(1);
    QCOMPARE(c->jsGrid()->valueAt(2, 5), static_cast<double>(c->result()->panels[2].jsGrid[2 * 8 + 5]));
    // Export of the compare panels: a one-page PDF, an SVG document and a PNG at the chosen DPI.
    QTemporaryDir dir;
    w.tabs()->setCurrentWidget(c);
    QVERIFY(w.exportFigure(dir.filePath("cmp.pdf")));
    QFile pdf(dir.filePath("cmp.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.readAll().startsWith("%PDF-"));
    QVERIFY(w.exportFigure(dir.filePath("cmp.svg")));
    QFile svg(dir.filePath("cmp.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    QVERIFY(svg.readAll().contains("<svg"));
    QVERIFY(w.exportFigure(dir.filePath("cmp.png"), 72));
    const QImage png(dir.filePath("cmp.png"));
    QCOMPARE(png.width(), 3 * 560);  // three panels of 560 points at 72 dpi
    QCOMPARE(png.height(), 520);
    w.shutdown();
  }

  void badModelFolderShowsDialogNotCrash() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    closeNextDialog();
    w.openModel(shared() + "/golden/tokenizers");  // no config.json
    QVERIFY(idle.wait(30000));
    QVERIFY(!w.isBusy());
    QVERIFY(!w.capture());
  }

  void cancelLeavesNoThreadRunning() {
    auto* w = new MainWindow;
    QSignalSpy idle(w, &MainWindow::idle);
    w->setInputText(QString("Once upon a time ").repeated(80));
    w->openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w->runNow();
    w->cancelRun();
    QVERIFY(idle.wait(30000));
    QVERIFY(!w->isBusy());
    w->shutdown();
    QVERIFY(!w->isThreadRunning());
    delete w;
  }
};

QTEST_MAIN(GuiTest)
#include "GuiTest.moc"
