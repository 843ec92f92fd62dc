// Qt Test suite for the first window (offscreen): the heatmap shows the capture's
// values, the run happens on the worker thread with progress, errors surface as
// a dialog instead of a crash, and cancel/shutdown leave no thread running.
#include <QMessageBox>
#include <QSignalSpy>
#include <QTimer>
#include <QtTest>
#include <QTemporaryDir>
#include <QJsonDocument>
#include <QJsonObject>
#include <random>

#include "CompareView.h"
#include "HubCacheDialog.h"
#include "MainWindow.h"
#include "StartArguments.h"
#include <QCommandLineParser>
#include <QTextDocument>
#include <QTreeWidget>

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

/// Pages of a PDF: its "/Type /Page" objects (not "/Type /Pages").
int pdfPages(const QByteArray& doc) {
  return doc.count("/Type /Page\n") + doc.count("/Type /Page\r") + doc.count("/Type /Page ");
}
}  // namespace

class GuiTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    QVERIFY2(QDir(shared() + "/golden").exists(), qPrintable("shared material missing at " + shared()));
    QCoreApplication::setOrganizationName("AttnScopeTest");
  }

  void sessionArgumentSurvivesQt() {
    using V = std::vector<std::string>;
    QCOMPARE(protectSessionArgument(V{"attnscope", "--session", "my.attnscope", "--tab", "overview"}),
             (V{"attnscope", "--session=my.attnscope", "--tab", "overview"}));
    QCOMPARE(protectSessionArgument(V{"attnscope", "--session=a.attnscope"}), (V{"attnscope", "--session=a.attnscope"}));
    // What Qt does with the fixed arguments: our parser sees the file.
    V fixed = protectSessionArgument(V{"attnscope", "--session", "my.attnscope"});
    QCommandLineParser parser;
    QCommandLineOption session("session", "session", "file");
    parser.addOption(session);
    QStringList list;
    for (const auto& a : fixed) list << QString::fromStdString(a);
    QVERIFY(parser.parse(list));
    QCOMPARE(parser.value(session), QString("my.attnscope"));
  }

  void bosTokenShowsAsTextInTooltipAndStatus() {
    HeatmapView view;
    std::vector<float> values = {1.0f, 0.0f, 0.25f, 0.75f};
    view.setMatrix(values, 2, 2, {"<s>", "Once"}, {"<s>", "Once"}, "t", 0, 1);
    const QString tip = view.tooltipHtml(1, 0);
    QVERIFY2(tip.contains("&lt;s&gt;"), qPrintable(tip));
    QTextDocument doc;
    doc.setHtml(tip);
    QVERIFY2(doc.toPlainText().contains("Once [1] → <s> [0]: 0.2500"), qPrintable(doc.toPlainText()));
    auto* status = view.findChild<QLabel*>("cellStatus");
    QVERIFY(status);
    QCOMPARE(status->textFormat(), Qt::PlainText);
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

  void hubCacheDialogListsSnapshotsAndOpensOne() {
    // A cache laid out as huggingface_hub writes it: blobs, a snapshot linking to them, refs/main.
    QTemporaryDir tmp;
    const QString commit = "0123456789abcdef0123456789abcdef01234567";
    const QString repo = tmp.path() + "/hub/models--acme--tiny-mistral";
    QVERIFY(QDir().mkpath(repo + "/blobs") && QDir().mkpath(repo + "/snapshots/" + commit) &&
            QDir().mkpath(repo + "/refs"));
    for (const QFileInfo& f : QDir(shared() + "/golden/mistral-tiny-random").entryInfoList(QDir::Files)) {
      QVERIFY(QFile::copy(f.absoluteFilePath(), repo + "/blobs/" + f.fileName()));
      QVERIFY(QFile::link("../../blobs/" + f.fileName(), repo + "/snapshots/" + commit + "/" + f.fileName()));
    }
    QFile ref(repo + "/refs/main");
    QVERIFY(ref.open(QIODevice::WriteOnly));
    ref.write(commit.toUtf8());
    ref.close();
    const QByteArray oldCache = qgetenv("HF_HUB_CACHE"), oldHome = qgetenv("HOME"), oldHfHome = qgetenv("HF_HOME");
    qputenv("HF_HUB_CACHE", (tmp.path() + "/hub").toUtf8());
    qputenv("HOME", (tmp.path() + "/nohome").toUtf8());
    qunsetenv("HF_HOME");
    HubCacheDialog dialog;
    QCOMPARE(dialog.rowCount(), 1);
    auto* tree = dialog.findChild<QTreeWidget*>();
    QVERIFY(tree);
    QTreeWidgetItem* item = tree->topLevelItem(0);
    QCOMPARE(item->text(0), QString("acme/tiny-mistral"));
    QCOMPARE(item->text(1), QString("main"));
    QCOMPARE(item->text(2), QString("mistral"));
    QCOMPARE(item->text(4), QString("yes"));
    tree->setCurrentItem(item);
    QMetaObject::invokeMethod(&dialog, "accept");
    QCOMPARE(dialog.chosenFolder(), repo + "/snapshots/" + commit);
    qputenv("HF_HUB_CACHE", oldCache);
    qputenv("HOME", oldHome);
    if (!oldHfHome.isEmpty()) qputenv("HF_HOME", oldHfHome);

    // The chosen snapshot opens like any folder; the compute dtype reopens it in bfloat16.
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setComputeDtype("auto");
    w.openModel(dialog.chosenFolder());
    QVERIFY(idle.wait(30000));
    QCOMPARE(QString::fromStdString(w.summary().family), QString("mistral"));
    QCOMPARE(QString::fromStdString(w.summary().computeDtype), QString("F32"));
    w.setComputeDtype("bfloat16");
    QVERIFY(idle.wait(30000));
    QCOMPARE(QString::fromStdString(w.summary().computeDtype), QString("BF16"));
    w.setComputeDtype("auto");
    QVERIFY(idle.wait(30000));
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
    // Export on this tab writes the overlay at its full size (72 dpi: one pixel per point).
    QTemporaryDir out;
    QVERIFY(w.exportFigure(out.filePath("overlay.png"), 72));
    const QImage png(out.filePath("overlay.png"));
    QVERIFY(!w.overlayImage().isNull());
    QCOMPARE(png.size(), w.overlayImage().size());
    QVERIFY(w.exportFigure(out.filePath("overlay.pdf")));
    QFile pdf(out.filePath("overlay.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.readAll().startsWith("%PDF-"));
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
    // The input panel previews the audio (waveform over spectrogram), drawn on the worker thread.
    QSignalSpy preview(&w, &MainWindow::previewShown);
    w.setInputFile(wh + "/jfk_2s.wav");
    QVERIFY(preview.wait(30000));
    const QImage pic = w.inputPreview()->pixmap().toImage();
    QCOMPARE(pic.width(), 160);
    QCOMPARE(pic.height(), 36);
    QVERIFY(pic.pixelColor(80, 6) != pic.pixelColor(80, 30));  // waveform band above a spectrogram band
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
    // At print resolution the text keeps the room the layout gave it: nothing is cut at the figure's edges (a
    // label drawn larger than laid out runs off the page), and the axis titles are drawn inside it.
    QVERIFY(w.exportFigure(dir.filePath("cmp150.png"), 150));
    const QImage hi = QImage(dir.filePath("cmp150.png")).convertToFormat(QImage::Format_RGB32);
    QCOMPARE(hi.width(), 3 * 560 * 150 / 72);
    auto inked = [&](int x, int y) { return qGray(hi.pixel(x, y)) < 200; };
    int edge = 0;
    for (int x = 0; x < hi.width(); ++x) edge += inked(x, 0) + inked(x, 1) + inked(x, hi.height() - 1) + inked(x, hi.height() - 2);
    for (int y = 0; y < hi.height(); ++y) edge += inked(0, y) + inked(1, y) + inked(hi.width() - 1, y) + inked(hi.width() - 2, y);
    QCOMPARE(edge, 0);
    int leftMargin = 0;  // the rotated "query" title left of the first panel's token labels
    for (int y = hi.height() / 3; y < 2 * hi.height() / 3; ++y)
      for (int x = 2; x < 40; ++x) leftMargin += inked(x, y);
    QVERIFY(leftMargin > 20);
    w.shutdown();
  }

  void headViewScalesPinsAndDrawsLongHeadsAtScreenResolution() {
    AttentionMatrix a;
    a.heads = 1;
    a.q = a.k = 3;
    a.headIndex = {0};
    a.data = {0.5f, 0.3f, 0.2f, 0.01f, 0.001f, 0.989f, 1e-6f, 0.25f, 0.75f};
    HeatmapView view;
    view.resize(600, 500);
    view.setAttention(a, 0, {"a", "b", "c"}, {"x", "y", "z"}, "t");
    // Auto range: 0 .. the largest weight.
    QCOMPARE(view.range().first, 0.0);
    QCOMPARE(view.range().second, static_cast<double>(0.989f));
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) QVERIFY(std::abs(view.drawnValue(i, j) - a.at(0, i, j)) < 1e-7);
    auto colourRange = [&] { return static_cast<QCPColorMap*>(view.plot()->plottable(0))->dataRange(); };
    // Log scale: the map holds log10(value), clamped four decades below the top; the tooltip stays exact.
    view.setScale(HeatmapView::Scale::Log);
    QVERIFY(std::abs(colourRange().upper - std::log10(0.989)) < 1e-6);
    QVERIFY(std::abs(colourRange().lower - std::log10(0.989e-4)) < 1e-6);
    QVERIFY(std::abs(view.drawnValue(0, 2) - 0.2) < 1e-6);
    QVERIFY(std::abs(view.drawnValue(2, 0) - 0.989e-4) < 1e-9);  // 1e-6 is clamped to the floor
    QCOMPARE(view.valueAt(2, 0), static_cast<double>(1e-6f));
    // Power scale: value^gamma.
    view.setScale(HeatmapView::Scale::Power, 0.5);
    QVERIFY(std::abs(colourRange().upper - std::sqrt(0.989)) < 1e-6);
    QVERIFY(std::abs(view.drawnValue(1, 0) - 0.01) < 1e-6);
    // Fixed range.
    view.setScale(HeatmapView::Scale::Linear);
    view.setRange(0.0, 0.5);
    QCOMPARE(colourRange().upper, 0.5);
    QVERIFY(!view.autoRange());
    view.setAutoRange();
    QCOMPARE(view.range().second, static_cast<double>(0.989f));
    // Click pins a query row, Shift+click a key column; a second click unpins.
    QSignalSpy pins(&view, &HeatmapView::pinChanged);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.plot()->replot();
    auto cellPoint = [&](int q, int k) {
      return QPoint(static_cast<int>(view.plot()->xAxis->coordToPixel(k)),
                    static_cast<int>(view.plot()->yAxis->coordToPixel(q)));
    };
    QTest::mouseClick(view.plot(), Qt::LeftButton, {}, cellPoint(1, 2));
    QCOMPARE(view.pinnedQuery(), 1);
    QCOMPARE(pins.count(), 1);
    QVERIFY(view.pinText().contains("z [2] 0.989"));  // the strongest key of the pinned row comes first
    QTest::mouseClick(view.plot(), Qt::LeftButton, Qt::ShiftModifier, cellPoint(0, 0));
    QCOMPARE(view.pinnedKey(), 0);
    QTest::mouseClick(view.plot(), Qt::LeftButton, {}, cellPoint(1, 1));
    QCOMPARE(view.pinnedQuery(), -1);  // a second click on the pinned row unpins it
    QCOMPARE(view.pinnedKey(), 0);
    QTest::mouseClick(view.plot(), Qt::LeftButton, {}, cellPoint(2, 0));
    QCOMPARE(view.pinnedQuery(), 2);
    view.setPin(-1, -1);
    QCOMPARE(view.pinnedQuery(), -1);

    // 4096 tokens: drawn at screen resolution, each drawn cell the maximum of its block; exact tooltips.
    AttentionMatrix big;
    big.heads = 1;
    big.q = big.k = 4096;
    big.headIndex = {0};
    big.data.assign(static_cast<size_t>(4096) * 4096, 0.0f);
    big.data[static_cast<size_t>(1000) * 4096 + 3001] = 0.875f;  // one strong weight
    view.setAttention(big, 0, std::vector<std::string>(4096, "t"), std::vector<std::string>(4096, "t"), "long");
    QVERIFY(view.drawnCells().width() < 4096 && view.drawnCells().width() >= 256);
    QVERIFY(view.drawnCells().width() <= std::max(256, view.plot()->axisRect()->width()));
    QCOMPARE(view.drawnValue(1000, 3001), 0.875);  // the block holding it shows it
    QCOMPARE(view.valueAt(1000, 3001), 0.875);
    QCOMPARE(view.valueAt(1000, 3000), 0.0);
    // Zooming in redraws the visible window more finely, down to single cells.
    view.plot()->xAxis->setRange(2990, 3010);
    view.plot()->yAxis->setRange(990, 1010);
    view.plot()->replot();
    QTRY_VERIFY(view.drawnCells().width() <= 24);
    QCOMPARE(view.drawnValue(1000, 3001), 0.875);
    QCOMPARE(view.drawnValue(1000, 3000), 0.0);

    // Random weights: every drawn cell is the maximum of exactly its block (the scan runs in two threads split on
    // a block row; both halves and the seam are checked), at full view and at a zoom that still downsamples.
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (float& v : big.data) v = u(rng);
    auto blockMaxHolds = [&](int step) {
      int checked = 0;
      for (int q = 0; q < 4096; q += step)
        for (int k = 0; k < 4096; k += step) {
          const QRect b = view.drawnBlock(q, k);
          if (b.isEmpty()) continue;
          float m = -1;
          for (int i = b.top(); i <= b.bottom(); ++i)
            for (int j = b.left(); j <= b.right(); ++j) m = std::max(m, big.data[static_cast<size_t>(i) * 4096 + j]);
          if (std::abs(view.drawnValue(q, k) - m) > 1e-6) return -1;
          ++checked;
        }
      return checked;
    };
    view.resetZoom();
    view.setAttention(big, 0, std::vector<std::string>(4096, "t"), std::vector<std::string>(4096, "t"), "random");
    QVERIFY(view.drawnCells().width() < 4096);
    QVERIFY(blockMaxHolds(13) > 90000);
    QCOMPARE(view.valueAt(2047, 2048), static_cast<double>(big.data[static_cast<size_t>(2047) * 4096 + 2048]));
    view.plot()->xAxis->setRange(500, 2700);
    view.plot()->yAxis->setRange(1200, 3900);
    view.plot()->replot();
    QTRY_VERIFY(view.drawnBlock(1200, 500).left() >= 499 && view.drawnCells().width() < 2200);
    QVERIFY(view.drawnBlock(100, 100).isEmpty());  // outside the window
    QVERIFY(blockMaxHolds(7) > 50000);
  }

  void tokenLabelsFitTheirAxisAndFollowZoom() {
    const int n = 34;
    AttentionMatrix a;
    a.heads = 1;
    a.q = a.k = n;
    a.headIndex = {0};
    a.data.assign(static_cast<size_t>(n) * n, 1.0f / n);
    std::vector<std::string> labels;
    for (int i = 0; i < n; ++i) labels.push_back("w" + std::to_string(i));
    const int line = QFontMetrics(QFont()).height();
    auto minGap = [](QCPAxis* axis) {
      const QVector<double> t = axis->tickVector();
      double gap = 1e9;
      for (int i = 1; i < t.size(); ++i) gap = std::min(gap, std::abs(axis->coordToPixel(t[i]) - axis->coordToPixel(t[i - 1])));
      return gap;
    };
    HeatmapView big;  // room for every token
    big.resize(1100, 900);
    big.show();
    big.setAttention(a, 0, labels, labels, "big");
    big.plot()->replot();
    QCOMPARE(big.plot()->yAxis->tickVector().size(), n);
    QCOMPARE(big.plot()->yAxis->tickVectorLabels().at(7), QString("w7"));
    QCOMPARE(big.plot()->xAxis->tickVector().size(), n);
    HeatmapView small;  // a compare panel: labels thinned so that they never overlap
    small.resize(260, 260);
    small.show();
    small.setAttention(a, 0, labels, labels, "small");
    small.plot()->replot();
    QVERIFY(small.plot()->yAxis->tickVector().size() < n);
    QVERIFY(small.plot()->yAxis->tickVector().size() >= 3);
    QVERIFY(minGap(small.plot()->yAxis) >= line);
    QVERIFY(minGap(small.plot()->xAxis) >= line);
    // Zooming into the small panel labels every token of the visible window again.
    small.plot()->xAxis->setRange(9.5, 13.5);
    small.plot()->yAxis->setRange(9.5, 13.5);
    small.plot()->replot();
    QCOMPARE(small.plot()->yAxis->tickVectorLabels(), QVector<QString>({"w10", "w11", "w12", "w13"}));
  }

  void pinsFollowAcrossViewsAndComparePanels() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("Once upon a time, there was a little girl named Lily.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2", "topk:k=2"});
    QVERIFY(idle.wait(60000));
    CompareView* c = w.compareView();
    w.tabs()->setCurrentWidget(c);
    HeatmapView* p1 = c->panel(1);
    p1->resize(500, 400);
    p1->plot()->replot();
    const QPoint at(static_cast<int>(p1->plot()->xAxis->coordToPixel(1)),
                    static_cast<int>(p1->plot()->yAxis->coordToPixel(4)));
    QTest::mouseClick(p1->plot(), Qt::LeftButton, {}, at);
    for (int i = 0; i < 3; ++i) QCOMPARE(c->panel(i)->pinnedQuery(), 4);
    QCOMPARE(c->difference()->pinnedQuery(), 4);
    QCOMPARE(w.heatmap()->pinnedQuery(), 4);        // the head view follows
    QCOMPARE(w.tokenLines()->selectedQuery(), 4);  // and the token lines
    // Choosing another head keeps the pin in every panel.
    w.headBox()->setValue(3);
    for (int i = 0; i < 3; ++i) QCOMPARE(c->panel(i)->pinnedQuery(), 4);
    // Selecting a token in the token lines pins the same row everywhere.
    TokenLineView* lines = w.tokenLines();
    lines->resize(600, 400);
    QTest::mouseClick(lines, Qt::LeftButton, {}, lines->queryPoint(2));
    QCOMPARE(w.heatmap()->pinnedQuery(), 2);
    QCOMPARE(c->panel(2)->pinnedQuery(), 2);
    w.shutdown();
  }

  void sessionSaveThenOpenRestoresTheSameState() {
    QTemporaryDir dir;
    const QString path = dir.filePath("s.attnscope");
    QJsonObject savedView;
    std::vector<float> head;
    {
      MainWindow w;
      QSignalSpy idle(&w, &MainWindow::idle);
      w.setInputText("Once upon a time, there was a little girl named Lily.");
      w.openModel(shared() + "/models/stories260K");
      QVERIFY(idle.wait(30000));
      w.compareNow({"window:w=2"});
      QVERIFY(idle.wait(60000));
      w.runNow();
      QVERIFY(idle.wait(30000));
      w.layerBox()->setValue(3);
      w.headBox()->setValue(5);
      w.scaleBox()->setCurrentIndex(2);
      w.gammaBox()->setValue(0.3);
      w.heatmap()->setPin(6, -1);
      w.linesHeadsBox()->setCurrentIndex(1);
      w.tabs()->setCurrentWidget(w.linesPage());
      head = w.heatmap()->values();
      savedView = w.sessionState().value("view").toObject();
      QSignalSpy saved(&w, &MainWindow::sessionSaved);
      w.saveSession(path);
      QVERIFY(saved.wait(30000));
      w.shutdown();
    }
    QVERIFY(QFileInfo(path).size() > 0);
    MainWindow w2;
    QSignalSpy opened(&w2, &MainWindow::sessionOpened);
    w2.openSession(path);
    QVERIFY(opened.wait(30000));
    QVERIFY(w2.capture());
    QCOMPARE(w2.sessionState().value("view").toObject(), savedView);
    QCOMPARE(w2.layerBox()->value(), 3);
    QCOMPARE(w2.headBox()->value(), 5);
    QCOMPARE(w2.heatmap()->pinnedQuery(), 6);
    QCOMPARE(w2.heatmap()->scale(), HeatmapView::Scale::Power);
    QCOMPARE(w2.tabs()->currentWidget(), w2.linesPage());
    QCOMPARE(w2.heatmap()->values(), head);  // the same capture, bit for bit
    QVERIFY(w2.compareView()->result());
    QCOMPARE(static_cast<int>(w2.compareView()->result()->panels.size()), 2);
    QCOMPARE(w2.compareView()->result()->panels[1].spec, std::string("window:w=2"));
    QCOMPARE(w2.summary().family, std::string("llama"));  // the model was reloaded: Run works again
    QVERIFY(w2.generateButton()->isEnabled());
    QVERIFY(!w2.isBusy());
    // Importance needs the engine's tensors of the input: available right after opening, no Run needed.
    QSignalSpy metrics(&w2, &MainWindow::metricsShown);
    w2.metricKind()->setCurrentIndex(3);
    w2.tabs()->setCurrentWidget(w2.metricsPage());
    QVERIFY(metrics.wait(30000));
    double norm = 0;
    for (int h = 0; h < 8; ++h) norm += std::pow(w2.metricsView()->valueAt(0, h), 2);
    QVERIFY(std::abs(norm - 1.0) < 1e-3);
    QCOMPARE(w2.heatmap()->values(), head);  // still the session's capture
    w2.shutdown();

    // A file that is not a session is an error dialog, and the window stays usable.
    const QString bogus = dir.filePath("bogus.attnscope");
    QFile f(bogus);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a session at all");
    f.close();
    MainWindow w3;
    QSignalSpy idle3(&w3, &MainWindow::idle);
    closeNextDialog();
    w3.openSession(bogus);
    QVERIFY(idle3.wait(30000));
    QVERIFY(!w3.isBusy());
    QVERIFY(!w3.capture());
    w3.shutdown();
  }

  void exportsHeadDataMetricsAndEveryHead() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("Once upon a time");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    w.layerBox()->setValue(2);
    w.headBox()->setValue(1);
    const AttentionMatrix* a = w.capture()->find("self", 2);
    QTemporaryDir dir;
    // NPY: the header names the shape, the data is the head, float32 little-endian.
    QVERIFY(w.exportHeadData(dir.filePath("h.npy")));
    QFile npy(dir.filePath("h.npy"));
    QVERIFY(npy.open(QIODevice::ReadOnly));
    const QByteArray bytes = npy.readAll();
    QVERIFY(bytes.startsWith("\x93NUMPY"));
    const int headerLen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    QCOMPARE((10 + headerLen) % 64, 0);
    QVERIFY(bytes.mid(10, headerLen).contains(QString("'shape': (%1, %2)").arg(a->q).arg(a->k).toUtf8()));
    QCOMPARE(bytes.size(), 10 + headerLen + a->q * a->k * 4);
    const float* data = reinterpret_cast<const float*>(bytes.constData() + 10 + headerLen);
    for (int i = 0; i < a->q; ++i)
      for (int j = 0; j < a->k; ++j) QCOMPARE(data[i * a->k + j], a->at(1, i, j));
    // CSV: a header row of key labels, one row per query.
    QVERIFY(w.exportHeadData(dir.filePath("h.csv")));
    QFile csv(dir.filePath("h.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList rows = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(rows.size(), a->q + 1);
    QCOMPARE(rows[1].split(',').size(), a->k + 1);
    QVERIFY(std::abs(rows[2].split(',').last().toDouble() - a->at(1, 1, a->k - 1)) < 1e-7);
    // Batch export of every head of layer 2 as PDF: one single-page PDF per head.
    QSignalSpy batch(&w, &MainWindow::batchExportDone);
    QCOMPARE(w.exportAllHeads(dir.path(), "pdf", false, 300), a->heads);
    QVERIFY(batch.wait(60000));
    QCOMPARE(batch.at(0).at(0).toInt(), a->heads);
    for (int h = 0; h < a->heads; ++h) {
      QFile pdf(dir.filePath(QString("self-L02-H%1.pdf").arg(h, 2, 10, QChar('0'))));
      QVERIFY(pdf.open(QIODevice::ReadOnly));
      const QByteArray doc = pdf.readAll();
      QVERIFY(doc.startsWith("%PDF-"));
      QCOMPARE(pdfPages(doc), 1);
    }
    // The overview tab exports the layers × heads grid.
    w.tabs()->setCurrentWidget(w.overviewPage());
    QVERIFY(w.exportFigure(dir.filePath("grid.svg")));
    QFile grid(dir.filePath("grid.svg"));
    QVERIFY(grid.open(QIODevice::ReadOnly));
    const QByteArray gridSvg = grid.readAll();
    QVERIFY(gridSvg.contains("<svg"));
    QVERIFY(gridSvg.contains("L4 H7"));  // the last head of the 5 × 8 grid is labelled
    QVERIFY(gridSvg.contains("Attention of every head"));  // a title
    QVERIFY(gridSvg.contains("attention weight"));         // and one colour bar for every cell
    // Every other view exports as it is on screen: the aggregate, the metrics heatmap over its bar chart, the lines.
    w.resize(1300, 850);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QSignalSpy aggShown(&w, &MainWindow::aggregateShown);
    w.tabs()->setCurrentWidget(w.aggregatePage());  // computed on the worker
    QVERIFY(aggShown.wait(30000));
    QVERIFY(w.exportFigure(dir.filePath("agg.svg")));
    QFile agg(dir.filePath("agg.svg"));
    QVERIFY(agg.open(QIODevice::ReadOnly));
    const QByteArray aggSvg = agg.readAll();
    QVERIFY(aggSvg.contains("mean over heads"));  // the aggregate's own title, as text
    QVERIFY(aggSvg.contains("upon"));             // and its token labels
    QSignalSpy metricsShown(&w, &MainWindow::metricsShown);
    w.tabs()->setCurrentWidget(w.metricsPage());
    if (metricsShown.isEmpty()) QVERIFY(metricsShown.wait(30000));
    QVERIFY(w.exportFigure(dir.filePath("metrics.png"), 72));
    const QImage metricsPng(dir.filePath("metrics.png"));
    const QSize heat = w.metricsView()->plot()->size();
    QCOMPARE(metricsPng.width(), heat.width());
    QVERIFY(metricsPng.height() >= heat.height() + 140);  // the bar chart under the heatmap
    QVERIFY(w.exportFigure(dir.filePath("metrics.pdf")));
    QFile metricsPdf(dir.filePath("metrics.pdf"));
    QVERIFY(metricsPdf.open(QIODevice::ReadOnly));
    const QByteArray metricsDoc = metricsPdf.readAll();
    QVERIFY(metricsDoc.startsWith("%PDF-"));
    QCOMPARE(pdfPages(metricsDoc), 1);
    w.tabs()->setCurrentWidget(w.linesPage());
    QCoreApplication::processEvents();
    QVERIFY(w.exportFigure(dir.filePath("lines.svg")));
    QFile linesFile(dir.filePath("lines.svg"));
    QVERIFY(linesFile.open(QIODevice::ReadOnly));
    const QByteArray linesSvg = linesFile.readAll();
    QVERIFY(linesSvg.contains("upon"));     // tokens stay text
    QVERIFY(linesSvg.contains("<path") || linesSvg.contains("<polyline") || linesSvg.contains("<line"));  // lines stay vectors
    w.tabs()->setCurrentWidget(w.heatmap());
    // Files exist now: a second export refuses to replace them without being told to.
    closeNextDialog();
    QCOMPARE(w.exportAllHeads(dir.path(), "pdf", false, 300, false), -1);
    // Comparison metrics: JSON is the report, CSV one row per variant × layer × head.
    w.compareNow({"window:w=2"});
    QVERIFY(idle.wait(60000));
    QVERIFY(w.exportComparisonMetrics(dir.filePath("m.json")));
    QFile js(dir.filePath("m.json"));
    QVERIFY(js.open(QIODevice::ReadOnly));
    QCOMPARE(QJsonDocument::fromJson(js.readAll()).object().value("format").toString(), QString("attnscope-compare"));
    QVERIFY(w.exportComparisonMetrics(dir.filePath("m.csv")));
    QFile mc(dir.filePath("m.csv"));
    QVERIFY(mc.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList lines = QString::fromUtf8(mc.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 1 + 2 * 5 * 8);  // header + (full, window) × 5 layers × 8 heads
    QVERIFY(lines[0].startsWith("variant,stack,layer,head,js_mean"));
    QVERIFY(lines.last().startsWith("window:w=2,self,4,7,"));
    w.shutdown();
  }

  void overviewFramesBarsLinesAndGeneration() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("kqvzmtbxhwlrpgcfkq");  // 16 letters, then the copy begins
    w.openModel(QString(ATTNSCOPE_DEMO_MODEL));
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    // Overview frames by sink mass: the head with the largest sink mass gets the brightest frame.
    QSignalSpy framed(&w, &MainWindow::overviewFramed);
    w.overviewFrameBox()->setCurrentIndex(w.overviewFrameBox()->findData("sink"));
    QVERIFY(framed.wait(30000));
    double best = -1;
    int bl = 0, bh = 0;
    for (const auto& a : w.capture()->layers)
      for (int h = 0; h < a.heads; ++h) {
        double sink = 0;
        for (int i = 0; i < a.q; ++i) sink += a.at(h, i, 0);
        if (sink / a.q > best) best = sink / a.q, bl = a.layer, bh = h;
      }
    const QColor top = w.overview()->frameColor(bl, bh);
    QVERIFY(top.isValid());
    for (int l = 0; l < w.summary().layers; ++l)
      for (int h = 0; h < w.summary().heads; ++h) QVERIFY(w.overview()->frameColor(l, h).lightness() <= top.lightness());
    // Head metrics: the bar chart shows the chosen layer's row of the grid.
    QSignalSpy metrics(&w, &MainWindow::metricsShown);
    w.metricKind()->setCurrentIndex(0);
    w.tabs()->setCurrentWidget(w.metricsPage());
    QVERIFY(metrics.wait(30000));
    w.layerBox()->setValue(1);
    auto* bars = static_cast<QCPBars*>(w.metricBars()->plottable(0));
    QCOMPARE(bars->data()->size(), w.summary().heads);
    for (int h = 0; h < w.summary().heads; ++h)
      QVERIFY(std::abs(bars->data()->at(h)->mainValue() - w.metricsView()->valueAt(1, h)) < 1e-6);
    // Token lines for every head of the layer, one colour each.
    w.linesHeadsBox()->setCurrentIndex(1);
    const AttentionMatrix* a = w.capture()->find("self", 1);
    for (int h = 0; h < a->heads; ++h) QCOMPARE(w.tokenLines()->weight(h, 3, 2), a->at(h, 3, 2));
    // Generation: the capture grows by the generated tokens; the step box pins each step's query row.
    QVERIFY(w.generateButton()->isVisibleTo(&w));
    const int prompt = static_cast<int>(w.capture()->queryLabels.size());
    w.generateNow(5);
    QVERIFY(idle.wait(30000));
    QCOMPARE(w.promptLength(), prompt);
    QCOMPARE(static_cast<int>(w.capture()->queryLabels.size()), prompt + 5);  // every generated token has its row
    QCOMPARE(w.capture()->find("self", 1)->q, prompt + 5);
    QVERIFY(w.stepBox()->isVisibleTo(&w));
    QCOMPARE(w.stepBox()->maximum(), 5);
    w.stepBox()->setValue(2);
    QCOMPARE(w.heatmap()->pinnedQuery(), prompt + 1);
    // The copy task: the generated tokens continue the copy.
    QString fed;
    for (int i = prompt; i < prompt + 5; ++i) fed += QString::fromStdString(w.capture()->queryLabels[i]);
    QCOMPARE(fed, QString("vzmtb"));
    QVERIFY(w.capture()->predictionText.find("vzmtb") != std::string::npos);
    w.shutdown();
  }

  void openingAnotherModelClearsThePreviousResults() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("Once upon a time.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2"});
    QVERIFY(idle.wait(60000));
    QVERIFY(w.compareView()->result());
    w.openModel(shared() + "/golden/gpt2-tiny-random");
    QVERIFY(idle.wait(30000));
    QCOMPARE(QString::fromStdString(w.summary().family), QString("gpt2"));
    QVERIFY(!w.compareView()->result());
    QCOMPARE(w.compareView()->table()->rowCount(), 0);
    QVERIFY(!w.capture());
    QVERIFY(!w.stackBox()->isVisible());
    QCOMPARE(w.stackBox()->count(), 0);
  }

  void failedOpenKeepsTheWorkingModelAndItsResults() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.setInputText("The cat sat on the mat.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    w.runNow();
    QVERIFY(idle.wait(30000));
    if (!w.capture()) QVERIFY(idle.wait(30000));
    QVERIFY(w.capture());
    const auto before = w.capture();
    const QString title = w.windowTitle();
    closeNextDialog();
    w.openModel(shared() + "/golden/tokenizers");  // no config.json: the open fails
    QVERIFY(idle.wait(30000));
    QCOMPARE(w.capture(), before);
    QCOMPARE(QString::fromStdString(w.summary().family), QString("llama"));
    QCOMPARE(w.windowTitle(), title);
    // ... and the model still runs.
    w.setInputText("Another sentence.");
    w.runNow();
    QVERIFY(idle.wait(30000));
    QVERIFY(w.capture() && w.capture() != before);
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
