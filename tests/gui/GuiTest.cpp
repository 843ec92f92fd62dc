// Qt Test suite for the first window (offscreen): the heatmap shows the capture's
// values, the run happens on the worker thread with progress, errors surface as
// a dialog instead of a crash, and cancel/shutdown leave no thread running.
#include <QMessageBox>
#include <QProcess>
#include <QSignalSpy>
#include <QTimer>
#include <QtTest>
#include <QTemporaryDir>
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <random>
#include <set>

#include "CompareView.h"
#include "HubCacheDialog.h"
#include "AggregateTab.h"
#include "AttributionTab.h"
#include "CompareTab.h"
#include "HeadTab.h"
#include "DlaTab.h"
#include "FaithfulnessTab.h"
#include "FlowGraphTab.h"
#include "LensTab.h"
#include "LinesTab.h"
#include "MainWindow.h"
#include "MetricsTab.h"
#include "OverlayTab.h"
#include "OverviewTab.h"
#include "PruneTab.h"
#include "RoutingTab.h"
#include "StartArguments.h"
#include "StepKlTimeline.h"
#include <QCommandLineParser>
#include <QTextDocument>
#include <QTreeWidget>
#include <QMenuBar>
#include <qcustomplot.h>
#include "attnscope/SessionFile.h"

using namespace attnscope;

namespace {
QString shared() {
  const QByteArray env = qgetenv("ATTNSCOPE_SHARED");
  return env.isEmpty() ? QString(ATTNSCOPE_SHARED_DEFAULT) : QString::fromLocal8Bit(env);
}

/// The golden GQA Llama (RoPE, no learned positions) with its position limit raised to 8,192, and its tokenizer,
/// copied into \p dir: a small model that takes long inputs.
bool writeLongLlama(const QTemporaryDir& dir) {
  const QString src = shared() + "/golden/llama-gqa-random";
  for (const char* f : {"model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    if (!QFile::copy(src + "/" + f, dir.filePath(f))) return false;
  QFile cf(src + "/config.json");
  if (!cf.open(QIODevice::ReadOnly)) return false;
  QJsonObject config = QJsonDocument::fromJson(cf.readAll()).object();
  config["max_position_embeddings"] = 8192;
  QFile out(dir.filePath("config.json"));
  return out.open(QIODevice::WriteOnly) && out.write(QJsonDocument(config).toJson()) > 0;
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

/// A hand-made capture: one stack "self", 2 layers × 2 heads over 3 tokens; every row sums to 1.
std::shared_ptr<CaptureResult> handMadeCapture() {
  auto c = std::make_shared<CaptureResult>();
  c->stacks = {"self"};
  c->queryLabels = c->keyLabels = {"<s>", "Once", "upon"};
  c->stackQueryLabels = {c->queryLabels};
  c->stackKeyLabels = {c->keyLabels};
  for (int l = 0; l < 2; ++l) {
    AttentionMatrix a;
    a.stack = "self";
    a.layer = l;
    a.heads = 2;
    a.q = a.k = 3;
    a.headIndex = {0, 1};
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 3; ++i) {
        float row[3] = {1.0f + l + h, 1.0f + i, 2.0f + h * i};
        const float sum = row[0] + row[1] + row[2];
        for (float x : row) a.data.push_back(x / sum);
      }
    c->layers.push_back(a);
  }
  c->predictionText = "next: time";
  return c;
}

/// A document, view state and an inline run controller (no thread, no model) for testing one tab alone.
struct TabBench {
  AnalysisDocument doc;
  ViewState view;
  RunController runner{nullptr, false};
};
/// A copy of golden case \p name in \p dir with a word-level tokenizer over its random vocabulary ("w0" … "wN"), so
/// the window can run it on typed text.
bool writeWordTokenizerCopy(const QTemporaryDir& dir, const QString& name, int vocab) {
  const QString src = shared() + "/golden/" + name;
  for (const char* f : {"config.json", "model.safetensors"})
    if (!QFile::copy(src + "/" + f, dir.filePath(f))) return false;
  QJsonObject words;
  for (int i = 0; i < vocab; ++i) words.insert(QString("w%1").arg(i), i);
  QJsonObject model{{"type", "WordLevel"}, {"vocab", words}, {"unk_token", "w0"}};
  QJsonObject tok{{"version", "1.0"}, {"model", model}, {"pre_tokenizer", QJsonObject{{"type", "WhitespaceSplit"}}}};
  QFile out(dir.filePath("tokenizer.json"));
  if (!out.open(QIODevice::WriteOnly)) return false;
  out.write(QJsonDocument(tok).toJson());
  return true;
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
    QCOMPARE(QString::fromStdString(w.document()->summary().family), QString("mistral"));
    QCOMPARE(QString::fromStdString(w.document()->summary().computeDtype), QString("F32"));
    w.setComputeDtype("bfloat16");
    QVERIFY(idle.wait(30000));
    QCOMPARE(QString::fromStdString(w.document()->summary().computeDtype), QString("BF16"));
    w.setComputeDtype("auto");
    QVERIFY(idle.wait(30000));
  }

  void routingTabAndSinkColumn() {
    // A mixture-of-experts model: the Routing tab shows the capture's choices, its load bars count them.
    QTemporaryDir moe, oss;
    QVERIFY(writeWordTokenizerCopy(moe, "mixtral-tiny-random", 128));
    QVERIFY(writeWordTokenizerCopy(oss, "gpt_oss-tiny-random", 128));
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("w1 w17 w33 w5 w90 w64 w2 w100 w7 w45");
    w.openModel(moe.path());
    w.runNow();
    QVERIFY(idle.wait(30000));
    if (!w.document()->capture()) QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->capture());
    const auto capture = w.document()->capture();
    QCOMPARE(w.document()->summary().experts, 4);
    QCOMPARE(static_cast<int>(capture->routing.size()), 2);
    RoutingTab* routing = w.tab<RoutingTab>();
    QVERIFY(w.showTab("routing"));
    routing->resize(900, 600);
    const CaptureResult::Routing& r1 = capture->routing[1];
    QCOMPARE(r1.tokens, 10);
    QCOMPARE(r1.k, 2);
    for (int t = 0; t < r1.tokens; ++t) {
      QCOMPARE(routing->drawnExpert(1, t), r1.chosen[static_cast<size_t>(t) * 2]);
      // … in that expert's own colour (every expert its own, not a neighbour's band).
      QCOMPARE(routing->drawnColor(1, t).rgb(), RoutingTab::expertColor(r1.chosen[static_cast<size_t>(t) * 2]).rgb());
    }
    routing->select(3, 1);
    QCOMPARE(routing->selectedLayer(), 1);
    const std::vector<double> shares = routing->loadShares();
    QCOMPARE(static_cast<int>(shares.size()), 4);
    double total = 0;
    for (int e = 0; e < 4; ++e) {
      int count = 0;
      for (int c : r1.chosen) count += c == e;
      QVERIFY(std::abs(shares[static_cast<size_t>(e)] - count / 20.0) < 1e-9);
      total += shares[static_cast<size_t>(e)];
    }
    QVERIFY(std::abs(total - 1.0) < 1e-9);
    // The token's router distribution across layers: one row per MoE layer, each a distribution.
    QCOMPARE(routing->distribution()->queries(), 2);
    QCOMPARE(routing->distribution()->keys(), 4);
    for (int e = 0; e < 4; ++e) QVERIFY(std::abs(routing->distribution()->valueAt(1, e) - r1.prob(3, e)) < 1e-6);
    // A double-click opens that layer's attention with the token's row pinned.
    routing->map()->replot();
    QTest::mouseDClick(routing->map(), Qt::LeftButton, {}, routing->cellPoint(0, 6));
    QCOMPARE(w.controls()->layerBox()->value(), 0);
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.tab<HeadTab>()));
    // A figure of the tab is written.
    QTemporaryDir out;
    routing->writeFigure(out.filePath("routing.png"), 72);
    QVERIFY(QImage(out.filePath("routing.png")).width() > 100);

    // gpt-oss: the head view adds the ⟨sink⟩ column, and every row then sums to 1.
    w.openModel(oss.path());
    w.runNow();
    QVERIFY(idle.wait(30000));
    if (!w.document()->capture() || w.document()->summary().family != "gpt_oss") QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->summary().attentionSinks);
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(routing)));  // gpt-oss is a MoE model too
    w.showTab("head");
    w.controls()->layerBox()->setValue(1);
    w.controls()->headBox()->setValue(2);
    const AttentionMatrix* a = w.document()->capture()->find("self", 1);
    QVERIFY(a && !a->sinkMass.empty());
    HeatmapView* head = w.tab<HeadTab>()->view();
    QCOMPARE(head->keys(), a->k + 1);
    for (int i = 0; i < a->q; ++i) {
      double sum = 0;
      for (int j = 0; j <= a->k; ++j) sum += head->valueAt(i, j);
      QVERIFY(std::abs(sum - 1.0) < 1e-5);
      QCOMPARE(head->valueAt(i, a->k), static_cast<double>(a->sinkAt(2, i)));
    }
    // Head metrics: the learned sink mass is the mean over rows of each head's sink share.
    MetricsTab* metrics = w.tab<MetricsTab>();
    const int kind = metrics->kindBox()->findData("learned_sink");
    QVERIFY(kind >= 0);
    metrics->kindBox()->setCurrentIndex(kind);
    w.showTab("metrics");
    double mean = 0;
    for (int i = 0; i < a->q; ++i) mean += a->sinkAt(2, i);
    QVERIFY(std::abs(metrics->view()->valueAt(1, 2) - mean / a->q) < 1e-6);
  }

  void runOnWorkerShowsEveryHead() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("The cat sat on the mat.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    w.runNow();  // queued until the model is loaded
    QVERIFY(idle.wait(30000));
    if (!w.document()->capture()) QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->capture());
    QCOMPARE(w.document()->summary().layers, 2);
    QCOMPARE(w.document()->summary().heads, 6);
    QCOMPARE(w.controls()->layerBox()->maximum(), 1);
    QCOMPARE(w.controls()->headBox()->maximum(), 5);
    w.controls()->layerBox()->setValue(1);
    w.controls()->headBox()->setValue(4);
    const AttentionMatrix* a = w.document()->capture()->find("self", 1);
    QVERIFY(a);
    QCOMPARE(w.tab<HeadTab>()->view()->queries(), a->q);
    for (int i = 0; i < a->q; ++i)
      for (int j = 0; j < a->k; ++j) QCOMPARE(w.tab<HeadTab>()->view()->valueAt(i, j), static_cast<double>(a->at(4, i, j)));
    QCOMPARE(w.document()->capture()->queryLabels.front(), std::string("<s>"));
    // Token lines: the line weights are the capture's; clicking a query token selects it.
    TokenLineView* lines = w.tab<LinesTab>()->view();
    lines->resize(600, 400);
    for (int i = 0; i < a->q; ++i)
      for (int j = 0; j < a->k; ++j) QCOMPARE(lines->weight(0, i, j), a->at(4, i, j));
    QTest::mouseClick(lines, Qt::LeftButton, {}, lines->queryPoint(2));
    QCOMPARE(lines->selectedQuery(), 2);
    // The overview holds every head of every layer; a click opens that head in the head view.
    OverviewView* o = w.tab<OverviewTab>()->view();
    o->resize(800, 400);
    QCOMPARE(o->rows(), 2);
    QCOMPARE(o->columns(), 6);
    QTest::mouseClick(o, Qt::LeftButton, {}, o->tileRect(0, 3).center());
    QCOMPARE(w.controls()->layerBox()->value(), 0);
    QCOMPARE(w.controls()->headBox()->value(), 3);
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.tab<HeadTab>()));
    // Aggregates: the mean over heads equals the capture's mean, computed on the worker thread.
    QSignalSpy shown(w.tab<AggregateTab>(), &AnalysisTab::shown);
    w.controls()->layerBox()->setValue(1);
    w.tabs()->setCurrentWidget(w.tab<AggregateTab>());
    QVERIFY(shown.wait(30000));
    const AttentionMatrix* l1 = w.document()->capture()->find("self", 1);
    for (int i = 0; i < l1->q; ++i)
      for (int j = 0; j < l1->k; ++j) {
        double mean = 0;
        for (int h = 0; h < l1->heads; ++h) mean += l1->at(h, i, j);
        QVERIFY(std::abs(w.tab<AggregateTab>()->view()->valueAt(i, j) - mean / l1->heads) < 1e-6);
      }
    // Head metrics: the sink mass of (layer 1, head 2) is the mean weight on position 0.
    QSignalSpy metrics(w.tab<MetricsTab>(), &AnalysisTab::shown);
    w.tab<MetricsTab>()->kindBox()->setCurrentIndex(2);
    w.tabs()->setCurrentWidget(w.tab<MetricsTab>());
    QVERIFY(metrics.wait(30000));
    double sink = 0;
    for (int i = 0; i < l1->q; ++i) sink += l1->at(2, i, 0);
    QVERIFY(std::abs(w.tab<MetricsTab>()->view()->valueAt(1, 2) - sink / l1->q) < 1e-5);
    QCOMPARE(w.tab<MetricsTab>()->view()->queries(), 2);
    QCOMPARE(w.tab<MetricsTab>()->view()->keys(), 6);
    w.tab<MetricsTab>()->kindBox()->setCurrentIndex(3);  // importance by autograd (the LM head is the objective)
    QVERIFY(metrics.wait(30000));
    double norm = 0;
    for (int h = 0; h < 6; ++h) norm += std::pow(w.tab<MetricsTab>()->view()->valueAt(0, h), 2);
    QVERIFY(std::abs(norm - 1.0) < 1e-3);  // L2-normalised per layer
    w.tabs()->setCurrentWidget(w.tab<AggregateTab>());
    // Rollout rows are distributions too.
    w.tab<AggregateTab>()->kindBox()->setCurrentIndex(2);
    QVERIFY(shown.wait(30000));
    for (int i = 0; i < l1->q; ++i) {
      double sum = 0;
      for (int j = 0; j < l1->k; ++j) sum += w.tab<AggregateTab>()->view()->valueAt(i, j);
      QVERIFY(std::abs(sum - 1.0) < 1e-4);
    }
    // Attention flow: distributions as well, and not the rollout again.
    std::vector<double> rollout;
    for (int i = 0; i < l1->q; ++i)
      for (int j = 0; j < l1->k; ++j) rollout.push_back(w.tab<AggregateTab>()->view()->valueAt(i, j));
    w.tab<AggregateTab>()->kindBox()->setCurrentIndex(w.tab<AggregateTab>()->kindBox()->findData("flow"));
    QVERIFY(shown.wait(30000));
    double apart = 0;
    for (int i = 0; i < l1->q; ++i) {
      double sum = 0;
      for (int j = 0; j < l1->k; ++j) {
        sum += w.tab<AggregateTab>()->view()->valueAt(i, j);
        apart = std::max(apart, std::abs(w.tab<AggregateTab>()->view()->valueAt(i, j) - rollout[i * l1->k + j]));
      }
      QVERIFY(std::abs(sum - 1.0) < 1e-4);
    }
    QVERIFY(apart > 1e-3);
    w.shutdown();
    QVERIFY(!w.runner()->threadRunning());
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
    w.input()->setFile(dir + "/input.png");
    loadAndRun(w, dir);
    QVERIFY(w.document()->capture());
    QCOMPARE(w.document()->capture()->queryLabels.front(), std::string("[CLS]"));
    QCOMPARE(w.document()->capture()->keyLabels.at(5), std::string("(1,0)"));
    QCOMPARE(w.tab<HeadTab>()->view()->keys(), 17);
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(w.tab<OverlayTab>())));
    QVERIFY(!w.tabs()->isTabEnabled(w.tabs()->indexOf(w.tab<LensTab>())));  // a classifier: no token output head
    QVERIFY(!w.tabs()->isTabEnabled(w.tabs()->indexOf(w.tab<DlaTab>())));   // nor direct logit attribution
    // The information flow needs no token head: it traces the [CLS] position by default.
    FlowGraphTab* flow = w.tab<FlowGraphTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(flow)));
    QCOMPARE(flow->positionBox()->specialValueText(), QString("first"));
    QSignalSpy flowShown(flow, &AnalysisTab::shown);
    QVERIFY(w.showTab("flow"));
    QVERIFY(flowShown.wait(30000));
    QCOMPARE(flow->plot()->graph().position, int64_t(0));
    QCOMPARE(flow->plot()->graph().positions.at(5), std::string("(1,0)"));
    QVERIFY(!flow->plot()->graph().edges.empty());
    // Faithfulness: a classifier's patches are blanked in each ranking's order; the class's curve starts at its p.
    FaithfulnessTab* faith = w.tab<FaithfulnessTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(faith)));
    QCOMPARE(faith->removeLabel(), QString("blank patches by:"));
    QVERIFY(!faith->methodBox("dla")->isEnabled());
    QSignalSpy faithShown(faith, &AnalysisTab::shown);
    QVERIFY(w.showTab("deletion"));
    QVERIFY(faithShown.wait(60000));
    const DeletionResult& deletion = faith->plot()->result();
    QVERIFY(deletion.classTarget);
    QCOMPARE(deletion.unit, std::string("patches"));
    QCOMPARE(deletion.removable, 16);
    QVERIFY(!deletion.curves.empty());
    for (const DeletionCurve& c : deletion.curves) QCOMPARE(c.probabilities.front(), deletion.probability);
    QSignalSpy shown(w.tab<OverlayTab>(), &AnalysisTab::shown);
    w.tabs()->setCurrentWidget(w.tab<OverlayTab>());  // the overlay is drawn on the worker thread
    QVERIFY(shown.wait(30000));
    QVERIFY(!w.tab<OverlayTab>()->label()->pixmap().isNull());
    QVERIFY(w.tab<OverlayTab>()->label()->pixmap().width() >= 200);  // fitted to the view
    // Export on this tab writes the overlay at its full size (72 dpi: one pixel per point).
    QTemporaryDir out;
    QVERIFY(w.exports()->exportFigure(out.filePath("overlay.png"), 72));
    const QImage png(out.filePath("overlay.png"));
    QVERIFY(!w.tab<OverlayTab>()->image().isNull());
    QCOMPARE(png.size(), w.tab<OverlayTab>()->image().size());
    QVERIFY(w.exports()->exportFigure(out.filePath("overlay.pdf")));
    QFile pdf(out.filePath("overlay.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.readAll().startsWith("%PDF-"));
    w.shutdown();
  }

  void audioModelsShowStacksAndTime() {
    MainWindow w;
    const QString wh = shared() + "/golden/whisper-tiny-random";
    w.input()->setFile(wh + "/jfk_2s.wav");
    loadAndRun(w, wh);
    QVERIFY(w.document()->capture());
    QCOMPARE(static_cast<int>(w.document()->capture()->stacks.size()), 3);
    QVERIFY(w.controls()->stackBox()->isVisibleTo(&w));
    w.controls()->stackBox()->setCurrentText("cross");
    QCOMPARE(w.tab<HeadTab>()->view()->keys(), 100);  // encoder frames
    QCOMPARE(w.tab<HeadTab>()->view()->queries(), 1);  // the decoder start token
    QCOMPARE(w.document()->capture()->stackKeyLabels.at(2).at(1), std::string("0.02s"));
    // An encoder–decoder model is attributed over its encoder. Gradient × attention (the default) scores the encoder's
    // frames for the decoder's prediction at its last position (Chefer's encoder–decoder rules): one bar per frame,
    // none highlighted (the scored position is the decoder's); ALTI follows the encoder, one bar per frame summing to
    // 1; the information flow is offered too.
    AttributionTab* attribution = w.tab<AttributionTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(attribution)));
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(w.tab<FlowGraphTab>())));
    QCOMPARE(attribution->methodBox()->currentData().toString(), QString("grad-attn"));
    QSignalSpy attributed(attribution, &AnalysisTab::shown);
    QVERIFY(w.showTab("attribution"));
    QVERIFY(attributed.wait(30000));
    QCOMPARE(attribution->plot()->scores().values.size(), size_t(100));
    QCOMPARE(attribution->plot()->scores().highlight, -1);
    QVERIFY(QString::fromStdString(attribution->plot()->scores().title).contains("decoder position 0"));
    for (int j = 0; j < 100; ++j) QVERIFY(!attribution->plot()->barHighlighted(j));
    attribution->methodBox()->setCurrentIndex(attribution->methodBox()->findData("alti"));
    QVERIFY(attributed.wait(30000));
    const auto& frames = attribution->plot()->scores().values;
    QCOMPARE(frames.size(), size_t(100));
    double share = 0;
    for (double v : frames) share += v;
    QVERIFY(std::abs(share - 1.0) < 1e-6);
    // Faithfulness: the decoder's token is the target; the encoder's frames are silenced in the order of the rankings
    // that apply to an encoder–decoder model (those that follow the encoder from an encoder position are disabled).
    FaithfulnessTab* faith = w.tab<FaithfulnessTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(faith)));
    QCOMPARE(faith->removeLabel(), QString("silence frames by:"));
    for (const char* off : {"rollout", "flow", "alti", "value-zeroing"}) QVERIFY(!faith->methodBox(off)->isEnabled());
    QVERIFY(faith->methodBox("dla")->isEnabled());  // the decoder's and cross-attention heads (pre-norm Whisper)
    QVERIFY(faith->methodBox("grad-attn")->isChecked());
    QSignalSpy faithShown(faith, &AnalysisTab::shown);
    QVERIFY(w.showTab("deletion"));
    QVERIFY(faithShown.wait(60000));
    const DeletionResult& deletion = faith->plot()->result();
    QVERIFY(!deletion.classTarget);
    QCOMPARE(deletion.unit, std::string("frames"));
    QCOMPARE(deletion.removable, 100);
    QCOMPARE(deletion.curves.size(), size_t(3));  // attention, grad × attn, random
    for (const DeletionCurve& c : deletion.curves) QCOMPARE(c.probabilities.front(), deletion.probability);
    // Direct logit attribution splits the decoder's logit: its cross-attention heads beside its own heads; a click on
    // a cross-attention head opens the cross-attention stack with the decoder's position pinned.
    DlaTab* dla = w.tab<DlaTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(dla)));
    QSignalSpy dlaShown(dla, &AnalysisTab::shown);
    QVERIFY(w.showTab("dla"));
    QVERIFY(dlaShown.wait(30000));
    const DirectLogitAttribution& split = dla->plot()->attribution();
    QCOMPARE(split.stack, std::string("decoder"));
    QCOMPARE(split.position, int64_t(0));
    QCOMPARE(dla->positionBox()->maximum(), 0);  // the decoder's one position, not the encoder's 100 frames
    QCOMPARE(split.crossHeads.size(), split.heads.size());
    QVERIFY(std::abs(split.sum() - split.logit) < 1e-4);
    w.controls()->stackBox()->setCurrentText("encoder");
    const int heads = static_cast<int>(split.heads[0].size());
    const QPoint crossCell(dla->plot()->xAxis->coordToPixel(heads + 2), dla->plot()->yAxis->coordToPixel(1));
    QCOMPARE(dla->plot()->cellAt(crossCell), (DlaPlot::Cell{1, 1, true}));
    QCOMPARE(dla->plot()->valueAt(1, 1, true), split.crossHeads[1][1]);
    QTest::mouseClick(dla->plot(), Qt::LeftButton, Qt::NoModifier, crossCell);
    QCOMPARE(w.viewState()->stack(), QString("cross"));
    QCOMPARE(w.viewState()->layer(), 1);
    QCOMPARE(w.viewState()->head(), 1);
    QCOMPARE(w.viewState()->pinQuery(), 0);
    // The input panel previews the audio (waveform over spectrogram), drawn on the worker thread.
    QSignalSpy preview(w.input(), &InputPanel::previewShown);
    w.input()->setFile(wh + "/jfk_2s.wav");
    QVERIFY(preview.wait(30000));
    const QImage pic = w.input()->preview()->pixmap().toImage();
    QCOMPARE(pic.width(), 160);
    QCOMPARE(pic.height(), 36);
    QVERIFY(pic.pixelColor(80, 6) != pic.pixelColor(80, 30));  // waveform band above a spectrogram band
    w.shutdown();
  }

  void variantRunsThroughTheWholeModel() {
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    w.input()->setVariant("window:w=2");
    loadAndRun(w, shared() + "/models/stories260K");
    QVERIFY(w.document()->capture());
    QCOMPARE(w.document()->capture()->variant, std::string("window:w=2"));
    w.controls()->layerBox()->setValue(3);
    const int last = w.tab<HeadTab>()->view()->queries() - 1;
    int nonZero = 0;
    for (int j = 0; j < w.tab<HeadTab>()->view()->keys(); ++j) nonZero += w.tab<HeadTab>()->view()->valueAt(last, j) > 0 ? 1 : 0;
    QCOMPARE(nonZero, 2);  // the last two keys only
    // A bad spec is an error dialog, not a crash.
    closeNextDialog();
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setVariant("window:w=-1");
    w.runNow();
    QVERIFY(idle.wait(30000));
    QVERIFY(!w.isBusy());
    QCOMPARE(w.document()->capture()->variant, std::string("window:w=2"));  // the previous result stays
    w.shutdown();
  }

  void compareViewSharesOneScaleAndShowsTheDifference() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2", "linear"});
    QVERIFY(idle.wait(60000));
    CompareView* c = w.tab<CompareTab>()->view();
    QVERIFY(c->result());
    QCOMPARE(static_cast<int>(c->result()->panels.size()), 3);
    QCOMPARE(c->table()->rowCount(), 3);
    QCOMPARE(c->table()->item(1, 0)->text(), QString("window:w=2"));
    w.controls()->layerBox()->setValue(2);
    w.controls()->headBox()->setValue(5);
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
    w.tabs()->setCurrentWidget(w.tab<CompareTab>());
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp.pdf")));
    QFile pdf(dir.filePath("cmp.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.readAll().startsWith("%PDF-"));
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp.svg")));
    QFile svg(dir.filePath("cmp.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    QVERIFY(svg.readAll().contains("<svg"));
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp.png"), 72));
    const QImage png(dir.filePath("cmp.png"));
    // Three panels of 440 points over the difference map, the JS grid and the metrics (460 points) at 72 dpi.
    QCOMPARE(png.width(), 2 * 440 + 460);
    QCOMPARE(png.height(), 400 + 10 + 400);
    // At print resolution the text keeps the room the layout gave it: nothing is cut at the figure's edges (a
    // label drawn larger than laid out runs off the page), and the axis titles are drawn inside it.
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp150.png"), 150));
    const QImage hi = QImage(dir.filePath("cmp150.png")).convertToFormat(QImage::Format_RGB32);
    QCOMPARE(hi.width(), (2 * 440 + 460) * 150 / 72);
    auto inked = [&](int x, int y) { return qGray(hi.pixel(x, y)) < 200; };
    int edge = 0;
    for (int x = 0; x < hi.width(); ++x) edge += inked(x, 0) + inked(x, 1) + inked(x, hi.height() - 1) + inked(x, hi.height() - 2);
    for (int y = 0; y < hi.height(); ++y) edge += inked(0, y) + inked(1, y) + inked(hi.width() - 1, y) + inked(hi.width() - 2, y);
    QCOMPARE(edge, 0);
    int leftMargin = 0;  // the rotated "query" title left of the first panel's token labels (the top row)
    const int rowHeight = 400 * 150 / 72;
    for (int y = rowHeight / 3; y < 2 * rowHeight / 3; ++y)
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
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2", "topk:k=2"});
    QVERIFY(idle.wait(60000));
    CompareView* c = w.tab<CompareTab>()->view();
    w.tabs()->setCurrentWidget(w.tab<CompareTab>());
    HeatmapView* p1 = c->panel(1);
    p1->resize(500, 400);
    p1->plot()->replot();
    const QPoint at(static_cast<int>(p1->plot()->xAxis->coordToPixel(1)),
                    static_cast<int>(p1->plot()->yAxis->coordToPixel(4)));
    QTest::mouseClick(p1->plot(), Qt::LeftButton, {}, at);
    for (int i = 0; i < 3; ++i) QCOMPARE(c->panel(i)->pinnedQuery(), 4);
    QCOMPARE(c->difference()->pinnedQuery(), 4);
    QCOMPARE(w.tab<HeadTab>()->view()->pinnedQuery(), 4);        // the head view follows
    QCOMPARE(w.tab<LinesTab>()->view()->selectedQuery(), 4);  // and the token lines
    // Choosing another head keeps the pin in every panel.
    w.controls()->headBox()->setValue(3);
    for (int i = 0; i < 3; ++i) QCOMPARE(c->panel(i)->pinnedQuery(), 4);
    // Selecting a token in the token lines pins the same row everywhere.
    TokenLineView* lines = w.tab<LinesTab>()->view();
    lines->resize(600, 400);
    QTest::mouseClick(lines, Qt::LeftButton, {}, lines->queryPoint(2));
    QCOMPARE(w.tab<HeadTab>()->view()->pinnedQuery(), 2);
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
      w.input()->setText("Once upon a time, there was a little girl named Lily.");
      w.openModel(shared() + "/models/stories260K");
      QVERIFY(idle.wait(30000));
      w.compareNow({"window:w=2"});
      QVERIFY(idle.wait(60000));
      w.runNow();
      QVERIFY(idle.wait(30000));
      w.controls()->layerBox()->setValue(3);
      w.controls()->headBox()->setValue(5);
      w.controls()->scaleBox()->setCurrentIndex(2);
      w.controls()->gammaBox()->setValue(0.3);
      w.viewState()->setPin(6, -1);  // what a click on row 6 does
      w.tab<LinesTab>()->headsBox()->setCurrentIndex(1);
      w.tabs()->setCurrentWidget(w.tab<LinesTab>());
      head = w.tab<HeadTab>()->view()->values();
      savedView = w.sessions()->state("auto").value("view").toObject();
      QSignalSpy saved(w.sessions(), &SessionController::saved);
      w.saveSession(path);
      QVERIFY(saved.wait(30000));
      w.shutdown();
    }
    QVERIFY(QFileInfo(path).size() > 0);
    MainWindow w2;
    QSignalSpy opened(w2.sessions(), &SessionController::opened);
    {  // the documented command line: attnscope --session FILE
      std::vector<std::string> args = protectSessionArgument({"attnscope", "--session", path.toStdString()});
      QStringList list;
      for (const auto& a : args) list << QString::fromStdString(a);
      QCommandLineParser parser;
      addStartOptions(parser);
      QVERIFY(parser.parse(list));
      applyStartOptions(w2, parser, QString(), QString());
    }
    QVERIFY(opened.wait(30000));
    QVERIFY(w2.document()->capture());
    QCOMPARE(w2.sessions()->state("auto").value("view").toObject(), savedView);
    QCOMPARE(w2.controls()->layerBox()->value(), 3);
    QCOMPARE(w2.controls()->headBox()->value(), 5);
    QCOMPARE(w2.tab<HeadTab>()->view()->pinnedQuery(), 6);
    QCOMPARE(w2.tab<HeadTab>()->view()->scale(), HeatmapView::Scale::Power);
    QCOMPARE(w2.tabs()->currentWidget(), w2.tab<LinesTab>());
    QCOMPARE(w2.tab<HeadTab>()->view()->values(), head);  // the same capture, bit for bit
    QVERIFY(w2.tab<CompareTab>()->view()->result());
    QCOMPARE(static_cast<int>(w2.tab<CompareTab>()->view()->result()->panels.size()), 2);
    QCOMPARE(w2.tab<CompareTab>()->view()->result()->panels[1].spec, std::string("window:w=2"));
    QCOMPARE(w2.document()->summary().family, std::string("llama"));  // the model was reloaded: Run works again
    QVERIFY(w2.input()->generateButton()->isEnabled());
    QVERIFY(!w2.isBusy());
    // Importance needs the engine's tensors of the input: available right after opening, no Run needed.
    QSignalSpy metrics(w2.tab<MetricsTab>(), &AnalysisTab::shown);
    w2.tab<MetricsTab>()->kindBox()->setCurrentIndex(3);
    w2.tabs()->setCurrentWidget(w2.tab<MetricsTab>());
    QVERIFY(metrics.wait(30000));
    double norm = 0;
    for (int h = 0; h < 8; ++h) norm += std::pow(w2.tab<MetricsTab>()->view()->valueAt(0, h), 2);
    QVERIFY(std::abs(norm - 1.0) < 1e-3);
    QCOMPARE(w2.tab<HeadTab>()->view()->values(), head);  // still the session's capture
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
    QVERIFY(!w3.document()->capture());
    w3.shutdown();
  }

  void exportsHeadDataMetricsAndEveryHead() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    w.controls()->layerBox()->setValue(2);
    w.controls()->headBox()->setValue(1);
    const AttentionMatrix* a = w.document()->capture()->find("self", 2);
    QTemporaryDir dir;
    // NPY: the header names the shape, the data is the head, float32 little-endian.
    QVERIFY(w.exports()->exportHeadData(dir.filePath("h.npy")));
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
    QVERIFY(w.exports()->exportHeadData(dir.filePath("h.csv")));
    QFile csv(dir.filePath("h.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList rows = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(rows.size(), a->q + 1);
    QCOMPARE(rows[1].split(',').size(), a->k + 1);
    QVERIFY(std::abs(rows[2].split(',').last().toDouble() - a->at(1, 1, a->k - 1)) < 1e-7);
    // Batch export of every head of layer 2 as PDF: one single-page PDF per head.
    QSignalSpy batch(w.exports(), &ExportController::batchDone);
    QCOMPARE(w.exports()->exportAllHeads(dir.path(), "pdf", false, 300), a->heads);
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
    w.tabs()->setCurrentWidget(w.tab<OverviewTab>());
    QVERIFY(w.exports()->exportFigure(dir.filePath("grid.svg")));
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
    QSignalSpy aggShown(w.tab<AggregateTab>(), &AnalysisTab::shown);
    w.tabs()->setCurrentWidget(w.tab<AggregateTab>());  // computed on the worker
    QVERIFY(aggShown.wait(30000));
    QVERIFY(w.exports()->exportFigure(dir.filePath("agg.svg")));
    QFile agg(dir.filePath("agg.svg"));
    QVERIFY(agg.open(QIODevice::ReadOnly));
    const QByteArray aggSvg = agg.readAll();
    QVERIFY(aggSvg.contains("mean over heads"));  // the aggregate's own title, as text
    QVERIFY(aggSvg.contains("upon"));             // and its token labels
    QSignalSpy metricsShown(w.tab<MetricsTab>(), &AnalysisTab::shown);
    w.tabs()->setCurrentWidget(w.tab<MetricsTab>());
    if (metricsShown.isEmpty()) QVERIFY(metricsShown.wait(30000));
    QVERIFY(w.exports()->exportFigure(dir.filePath("metrics.png"), 72));
    const QImage metricsPng(dir.filePath("metrics.png"));
    const QSize heat = w.tab<MetricsTab>()->view()->plot()->size();
    QCOMPARE(metricsPng.width(), heat.width());
    QVERIFY(metricsPng.height() >= heat.height() + 140);  // the bar chart under the heatmap
    QVERIFY(w.exports()->exportFigure(dir.filePath("metrics.pdf")));
    QFile metricsPdf(dir.filePath("metrics.pdf"));
    QVERIFY(metricsPdf.open(QIODevice::ReadOnly));
    const QByteArray metricsDoc = metricsPdf.readAll();
    QVERIFY(metricsDoc.startsWith("%PDF-"));
    QCOMPARE(pdfPages(metricsDoc), 1);
    w.tabs()->setCurrentWidget(w.tab<LinesTab>());
    QCoreApplication::processEvents();
    QVERIFY(w.exports()->exportFigure(dir.filePath("lines.svg")));
    QFile linesFile(dir.filePath("lines.svg"));
    QVERIFY(linesFile.open(QIODevice::ReadOnly));
    const QByteArray linesSvg = linesFile.readAll();
    QVERIFY(linesSvg.contains("upon"));     // tokens stay text
    QVERIFY(linesSvg.contains("<path") || linesSvg.contains("<polyline") || linesSvg.contains("<line"));  // lines stay vectors
    w.tabs()->setCurrentWidget(w.tab<HeadTab>());
    // Files exist now: a second export refuses to replace them without being told to.
    closeNextDialog();
    QCOMPARE(w.exports()->exportAllHeads(dir.path(), "pdf", false, 300, false), -1);
    // Comparison metrics: JSON is the report, CSV one row per variant × layer × head.
    w.compareNow({"window:w=2"});
    QVERIFY(idle.wait(60000));
    QVERIFY(w.exports()->exportComparisonMetrics(dir.filePath("m.json")));
    QFile js(dir.filePath("m.json"));
    QVERIFY(js.open(QIODevice::ReadOnly));
    QCOMPARE(QJsonDocument::fromJson(js.readAll()).object().value("format").toString(), QString("attnscope-compare"));
    QVERIFY(w.exports()->exportComparisonMetrics(dir.filePath("m.csv")));
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
    w.input()->setText("kqvzmtbxhwlrpgcfkq");  // 16 letters, then the copy begins
    w.openModel(QString(ATTNSCOPE_DEMO_MODEL));
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    // Overview frames by sink mass: the head with the largest sink mass gets the brightest frame.
    QSignalSpy framed(w.tab<OverviewTab>(), &AnalysisTab::shown);
    w.tab<OverviewTab>()->frameBox()->setCurrentIndex(w.tab<OverviewTab>()->frameBox()->findData("sink"));
    QVERIFY(framed.wait(30000));
    double best = -1;
    int bl = 0, bh = 0;
    for (const auto& a : w.document()->capture()->layers)
      for (int h = 0; h < a.heads; ++h) {
        double sink = 0;
        for (int i = 0; i < a.q; ++i) sink += a.at(h, i, 0);
        if (sink / a.q > best) best = sink / a.q, bl = a.layer, bh = h;
      }
    const QColor top = w.tab<OverviewTab>()->view()->frameColor(bl, bh);
    QVERIFY(top.isValid());
    for (int l = 0; l < w.document()->summary().layers; ++l)
      for (int h = 0; h < w.document()->summary().heads; ++h) QVERIFY(w.tab<OverviewTab>()->view()->frameColor(l, h).lightness() <= top.lightness());
    // Head metrics: the bar chart shows the chosen layer's row of the grid.
    QSignalSpy metrics(w.tab<MetricsTab>(), &AnalysisTab::shown);
    w.tab<MetricsTab>()->kindBox()->setCurrentIndex(0);
    w.tabs()->setCurrentWidget(w.tab<MetricsTab>());
    QVERIFY(metrics.wait(30000));
    w.controls()->layerBox()->setValue(1);
    auto* bars = static_cast<QCPBars*>(w.tab<MetricsTab>()->bars()->plottable(0));
    QCOMPARE(bars->data()->size(), w.document()->summary().heads);
    for (int h = 0; h < w.document()->summary().heads; ++h)
      QVERIFY(std::abs(bars->data()->at(h)->mainValue() - w.tab<MetricsTab>()->view()->valueAt(1, h)) < 1e-6);
    // Token lines for every head of the layer, one colour each.
    w.tab<LinesTab>()->headsBox()->setCurrentIndex(1);
    const AttentionMatrix* a = w.document()->capture()->find("self", 1);
    for (int h = 0; h < a->heads; ++h) QCOMPARE(w.tab<LinesTab>()->view()->weight(h, 3, 2), a->at(h, 3, 2));
    // Generation: the capture grows by the generated tokens; the step box pins each step's query row.
    QVERIFY(w.input()->generateButton()->isVisibleTo(&w));
    const int prompt = static_cast<int>(w.document()->capture()->queryLabels.size());
    w.generateNow(5);
    QVERIFY(idle.wait(30000));
    QCOMPARE(w.document()->promptLength(), prompt);
    QCOMPARE(static_cast<int>(w.document()->capture()->queryLabels.size()), prompt + 5);  // every generated token has its row
    QCOMPARE(w.document()->capture()->find("self", 1)->q, prompt + 5);
    QVERIFY(w.controls()->stepBox()->isVisibleTo(&w));
    QCOMPARE(w.controls()->stepBox()->maximum(), 5);
    w.controls()->stepBox()->setValue(2);
    QCOMPARE(w.tab<HeadTab>()->view()->pinnedQuery(), prompt + 1);
    // The copy task: the generated tokens continue the copy.
    QString fed;
    for (int i = prompt; i < prompt + 5; ++i) fed += QString::fromStdString(w.document()->capture()->queryLabels[i]);
    QCOMPARE(fed, QString("vzmtb"));
    QVERIFY(w.document()->capture()->predictionText.find("vzmtb") != std::string::npos);
    w.shutdown();
  }

  void openingAnotherModelClearsThePreviousResults() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2"});
    QVERIFY(idle.wait(60000));
    QVERIFY(w.tab<CompareTab>()->view()->result());
    w.openModel(shared() + "/golden/gpt2-tiny-random");
    QVERIFY(idle.wait(30000));
    QCOMPARE(QString::fromStdString(w.document()->summary().family), QString("gpt2"));
    QVERIFY(!w.tab<CompareTab>()->view()->result());
    QCOMPARE(w.tab<CompareTab>()->view()->table()->rowCount(), 0);
    QVERIFY(!w.document()->capture());
    QVERIFY(!w.controls()->stackBox()->isVisible());
    QCOMPARE(w.controls()->stackBox()->count(), 0);
  }

  void failedOpenKeepsTheWorkingModelAndItsResults() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("The cat sat on the mat.");
    w.openModel(shared() + "/golden/llama-gqa-random");
    w.runNow();
    QVERIFY(idle.wait(30000));
    if (!w.document()->capture()) QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->capture());
    const auto before = w.document()->capture();
    const QString title = w.windowTitle();
    closeNextDialog();
    w.openModel(shared() + "/golden/tokenizers");  // no config.json: the open fails
    QVERIFY(idle.wait(30000));
    QCOMPARE(w.document()->capture(), before);
    QCOMPARE(QString::fromStdString(w.document()->summary().family), QString("llama"));
    QCOMPARE(w.windowTitle(), title);
    // ... and the model still runs.
    w.input()->setText("Another sentence.");
    w.runNow();
    QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->capture() && w.document()->capture() != before);
  }

  void badModelFolderShowsDialogNotCrash() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    closeNextDialog();
    w.openModel(shared() + "/golden/tokenizers");  // no config.json
    QVERIFY(idle.wait(30000));
    QVERIFY(!w.isBusy());
    QVERIFY(!w.document()->capture());
  }


  void headTabAloneShowsTheHandMadeCapture() {
    TabBench b;
    HeadTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    auto cap = handMadeCapture();
    b.doc.setCapture(cap);
    b.view.setLayerHead(1, 1);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) QCOMPARE(tab.view()->valueAt(i, j), static_cast<double>(cap->layers[1].at(1, i, j)));
    b.view.setPin(2, 0);  // the view state's pin reaches the heatmap, and a click's pin reaches the view state
    QCOMPARE(tab.view()->pinnedQuery(), 2);
    b.view.setColorMap("magma");
    b.view.setScale(ViewState::Scale::Log, 0.5);
    QCOMPARE(tab.view()->scale(), HeatmapView::Scale::Log);
    QVERIFY(tab.hasFigure());
    QTemporaryDir dir;
    tab.writeFigure(dir.filePath("h.svg"), 72);
    QVERIFY(QFileInfo(dir.filePath("h.svg")).size() > 1000);
    b.doc.setModel(ModelSummary(), false);  // another model: nothing of the old capture stays
    QCOMPARE(tab.view()->queries(), 0);
  }

  void lensTabFromAHandMadeResult() {
    // 3 layers × 4 positions with known top tokens, probabilities and target numbers.
    auto lens = std::make_shared<LensResult>();
    lens->positions = {"<s>", " Once", " upon", " a"};
    lens->layers = 3;
    for (int l = 0; l < 3; ++l)
      for (int p = 0; p < 4; ++p) {
        LensResult::Cell c;
        for (int i = 0; i < 10; ++i) {
          c.tokens.push_back("t" + std::to_string(l) + std::to_string(p) + "_" + std::to_string(i));
          c.ids.push_back(100 * l + 10 * p + i);
          c.p.push_back(0.5f / (i + 1) * (l + 1) / 3.0f);
        }
        c.targetToken = " time";
        c.targetP = 0.1f * (l + 1) + 0.01f * p;
        c.targetRank = 2 - l;
        lens->cells.push_back(c);
      }
    TabBench b;
    LensTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    tab.resize(900, 500);
    tab.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    tab.showLens(lens);
    HeatmapView* view = tab.view();
    QCOMPARE(view->queries(), 3);  // rows: layers
    QCOMPARE(view->keys(), 4);     // columns: positions
    for (int l = 0; l < 3; ++l)
      for (int p = 0; p < 4; ++p) QVERIFY(std::abs(view->valueAt(l, p) - lens->at(l, p).p.front()) < 1e-6);
    const QStringList texts = tab.cellTexts();
    QCOMPARE(texts.size(), 12);
    QCOMPARE(texts.at(1 * 4 + 2), QString("t12_0"));  // layer 1, position 2: its top token
    // The last cell is chosen first: the model's own output at the last position.
    QCOMPARE(tab.topList()->count(), 11);
    QVERIFY(tab.topList()->item(0)->text().contains("after layer 2, position 3"));
    tab.chooseCell(1, 2);
    QVERIFY(tab.topList()->item(1)->text().startsWith("1. 't12_0'"));
    QVERIFY(tab.topList()->item(10)->text().startsWith("10. 't12_9'"));
    const auto curve = tab.targetPlot()->graph(0)->data();
    QCOMPARE(curve->size(), 3);
    for (int l = 0; l < 3; ++l) QVERIFY(std::abs(curve->at(l)->value - lens->at(l, 2).targetP) < 1e-6);
    QVERIFY(tab.targetPlot()->yAxis->label().contains("' time'"));
    tab.modeBox()->setCurrentIndex(tab.modeBox()->findData("target"));
    QVERIFY(std::abs(view->valueAt(2, 1) - lens->at(2, 1).targetP) < 1e-6);
    tab.modeBox()->setCurrentIndex(tab.modeBox()->findData("rank"));
    QCOMPARE(view->valueAt(0, 3), 2.0);
    QTemporaryDir dir;
    tab.writeFigure(dir.filePath("lens.svg"), 72);
    QVERIFY(QFileInfo(dir.filePath("lens.svg")).size() > 1000);
    // Cells too narrow to write a token in (50 positions on this width): colours only.
    auto wide = std::make_shared<LensResult>(*lens);
    wide->positions.assign(50, "x");
    wide->cells.clear();
    for (int i = 0; i < 3 * 50; ++i) wide->cells.push_back(lens->cells[0]);
    tab.showLens(wide);
    QVERIFY(tab.cellTexts().isEmpty());
    QCOMPARE(view->keys(), 50);
  }

  void lensTabShowsTheModelsOwnPredictionAtTheLastLayer() {
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    LensTab* lens = w.tab<LensTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(lens)));
    QSignalSpy shown(lens, &AnalysisTab::shown);
    QVERIFY(w.showTab("lens"));
    QVERIFY(shown.wait(30000));
    const auto capture = w.document()->capture();
    const QJsonObject prediction = QJsonDocument::fromJson(QByteArray::fromStdString(capture->predictionJson)).object();
    const QJsonObject next = prediction["next_tokens"].toArray().at(0).toObject();
    const int layers = w.document()->summary().layers;
    const int last = static_cast<int>(capture->queryLabels.size()) - 1;
    QCOMPARE(lens->view()->queries(), layers);
    QCOMPARE(lens->view()->keys(), last + 1);
    // The last layer's lens is the model's output: its top token at the last position is the predicted next token.
    QVERIFY(lens->topList()->item(1)->text().startsWith(QString("1. '%1'").arg(next["token"].toString())));
    QVERIFY(std::abs(lens->view()->valueAt(layers - 1, last) - next["probability"].toDouble()) < 1e-5);
    // A target token: its probability after the last layer at the last position is the model's.
    shown.clear();
    lens->targetEdit()->setText(QString("#%1").arg(next["id"].toInt()));
    emit lens->targetEdit()->editingFinished();
    QVERIFY(shown.wait(30000));
    lens->modeBox()->setCurrentIndex(lens->modeBox()->findData("target"));
    QVERIFY(std::abs(lens->view()->valueAt(layers - 1, last) - next["probability"].toDouble()) < 1e-5);
    // A target that is not one token says so.
    lens->targetEdit()->setText("two words");
    emit lens->targetEdit()->editingFinished();
    QTRY_VERIFY_WITH_TIMEOUT(lens->note().contains("tokens"), 30000);
    w.shutdown();
  }

  void dlaTabFromAHandMadeResult() {
    // 2 layers × 3 heads with known parts: the grid, the MLP column, the sorted list, a click on a head.
    auto dla = std::make_shared<DirectLogitAttribution>();
    dla->model = "llama";
    dla->position = 2;
    dla->positionLabel = " upon";
    dla->targetToken = " a";
    dla->targetId = 263;
    dla->heads = {{0.5, -1.25, 0.0}, {2.0, 0.25, -0.75}};
    dla->mlp = {3.0, -0.5};
    dla->embed = 0.125;
    dla->bias = -0.0625;
    dla->logit = dla->sum();
    dla->probability = 0.4;
    dla->predicted = true;
    TabBench b;
    DlaTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    tab.resize(900, 500);
    tab.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    tab.showAttribution(dla);
    DlaPlot* plot = tab.plot();
    for (int l = 0; l < 2; ++l) {
      for (int h = 0; h < 3; ++h) QCOMPARE(plot->valueAt(l, h), dla->heads[l][h]);
      QCOMPARE(plot->valueAt(l, -1), dla->mlp[l]);
    }
    QCOMPARE(plot->span(), 3.0);  // symmetric colours: ±the largest part
    QCOMPARE(plot->cellText(0, 1), QString("-1.25"));
    QCOMPARE(plot->cellText(1, -1), QString("-0.50"));
    // The list: the logit, then the parts by |value| (the 3.0 MLP of layer 0 first, the 0.0 head last).
    QCOMPARE(tab.partsList()->count(), 1 + 2 + 2 * 4);
    QVERIFY(tab.partsList()->item(0)->text().contains(QString::number(dla->logit, 'f', 4)));
    QVERIFY(tab.partsList()->item(1)->text().startsWith("L0 MLP"));
    QVERIFY(tab.partsList()->item(2)->text().startsWith("L1H0"));
    QVERIFY(tab.partsList()->item(tab.partsList()->count() - 1)->text().startsWith("L0H2"));
    // A click on layer 1 head 2 opens its attention with the position's row pinned.
    QSignalSpy chosen(&tab, &AnalysisTab::headChosen);
    const QPoint at(plot->xAxis->coordToPixel(2), plot->yAxis->coordToPixel(1));
    QCOMPARE(plot->cellAt(at), (DlaPlot::Cell{1, 2, false}));
    QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier, at);
    QCOMPARE(chosen.count(), 1);
    QCOMPARE(b.view.layer(), 1);
    QCOMPARE(b.view.head(), 2);
    QCOMPARE(b.view.pinQuery(), 2);
    QCOMPARE(b.view.pinKey(), -1);
    QCOMPARE(plot->selectedLayer(), 1);
    // The MLP column is not a head: selected, nothing opened.
    QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier,
                      QPoint(plot->xAxis->coordToPixel(4), plot->yAxis->coordToPixel(0)));
    QCOMPARE(chosen.count(), 1);
    QCOMPARE(plot->selectedHead(), -1);
    QTemporaryDir dir;
    tab.writeFigure(dir.filePath("dla.svg"), 72);
    QVERIFY(QFileInfo(dir.filePath("dla.svg")).size() > 1000);
    tab.positionBox()->setMaximum(5);
    tab.positionBox()->setValue(4);
    tab.targetEdit()->setText("#7");
    const QJsonObject state = tab.saveState();
    DlaTab again;
    again.restoreState(state);
    QCOMPARE(again.positionBox()->value(), 4);
    QCOMPARE(again.targetEdit()->text(), QString("#7"));
    // An encoder–decoder model's split: 2 cross-attention heads per layer stand between the heads and the MLP.
    auto seq = std::make_shared<DirectLogitAttribution>(*dla);
    seq->stack = "decoder";
    seq->crossHeads = {{-2.5, 0.75}, {0.0, 1.5}};
    seq->logit = seq->sum();
    tab.showAttribution(seq);
    QCOMPARE(plot->valueAt(0, 0, true), -2.5);
    QCOMPARE(plot->valueAt(1, 1, true), 1.5);
    QCOMPARE(plot->valueAt(1, -1), -0.5);
    QVERIFY(std::isnan(plot->valueAt(0, 2, true)));
    QCOMPARE(plot->cellText(0, 0, true), QString("-2.50"));
    QCOMPARE(plot->cellAt(QPoint(plot->xAxis->coordToPixel(4), plot->yAxis->coordToPixel(0))),
             (DlaPlot::Cell{0, 0, true}));
    QCOMPARE(plot->cellAt(QPoint(plot->xAxis->coordToPixel(7), plot->yAxis->coordToPixel(1))),
             (DlaPlot::Cell{1, -1, false}));
    QCOMPARE(plot->cellAt(QPoint(plot->xAxis->coordToPixel(3), plot->yAxis->coordToPixel(1))).layer, -1);  // a gap
    QCOMPARE(plot->span(), 3.0);
    QCOMPARE(tab.partsList()->count(), 1 + 2 + 2 * 6);
    QVERIFY(tab.partsList()->item(1)->text().startsWith("L0 MLP"));
    QVERIFY(tab.partsList()->item(2)->text().startsWith("L0 cross H0"));
    QSignalSpy crossChosen(&tab, &AnalysisTab::headChosen);
    QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier,
                      QPoint(plot->xAxis->coordToPixel(5), plot->yAxis->coordToPixel(0)));
    QCOMPARE(crossChosen.count(), 1);
    QCOMPARE(b.view.stack(), QString("cross"));
    QCOMPARE(b.view.layer(), 0);
    QCOMPARE(b.view.head(), 1);
    QVERIFY(plot->selectedCross());
  }

  void dlaTabOnStories260kAddsUpToThePredictedLogit() {
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    DlaTab* tab = w.tab<DlaTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(tab)));
    QSignalSpy shown(tab, &AnalysisTab::shown);
    QVERIFY(w.showTab("dla"));
    QVERIFY(shown.wait(30000));
    const auto capture = w.document()->capture();
    const QJsonObject prediction = QJsonDocument::fromJson(QByteArray::fromStdString(capture->predictionJson)).object();
    const QJsonObject next = prediction["next_tokens"].toArray().at(0).toObject();
    const DirectLogitAttribution& dla = tab->plot()->attribution();
    QCOMPARE(dla.targetId, static_cast<int64_t>(next["id"].toInt()));
    QCOMPARE(dla.position, static_cast<int64_t>(capture->queryLabels.size()) - 1);
    QVERIFY(std::abs(dla.probability - next["probability"].toDouble()) < 1e-5);
    QVERIFY(std::abs(dla.sum() - dla.logit) < 1e-4);
    QCOMPARE(static_cast<int>(dla.heads.size()), w.document()->summary().layers);
    // Another position and a fixed target.
    shown.clear();
    tab->positionBox()->setValue(3);
    QVERIFY(shown.wait(30000));
    QCOMPARE(tab->plot()->attribution().position, int64_t(3));
    QVERIFY(std::abs(tab->plot()->attribution().sum() - tab->plot()->attribution().logit) < 1e-4);
    tab->targetEdit()->setText("two words");
    emit tab->targetEdit()->editingFinished();
    QTRY_VERIFY_WITH_TIMEOUT(tab->note().contains("tokens"), 30000);
    w.shutdown();
  }

  void flowGraphTabFromAHandMadeGraph() {
    // 2 layers, 3 positions, into position 2: an attention edge 0 → 2 in layer 1 (heads 1 then 0), residual edges,
    // an MLP edge, and a weak attention edge (0.02) that the threshold removes with what hangs only on it.
    auto g = std::make_shared<InformationFlowGraph>();
    g->model = "llama";
    g->position = 2;
    g->positions = {"<s>", " Once", " upon"};
    g->layers = 2;
    g->threshold = 0.01;
    g->edges = {{"residual", 1, 3, 4, 2, 2, 0.7, {}},
                {"mlp", 1, 3, 4, 2, 2, 0.3, {}},
                {"residual", 1, 2, 3, 2, 2, 0.5, {}},
                {"attention", 1, 2, 3, 0, 2, 0.4, {{1, 0.3}, {0, 0.1}}},
                {"attention", 1, 2, 3, 1, 2, 0.02, {{0, 0.02}}},
                {"residual", 0, 1, 2, 1, 1, 0.9, {}},
                {"residual", 0, 1, 2, 0, 0, 0.8, {}}};
    TabBench b;
    FlowGraphTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    tab.resize(1000, 600);
    tab.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    tab.thresholdBox()->setValue(0.04);
    tab.showGraph(g);
    // The weak edge is gone, and so is the residual edge below position 1 that only it reached.
    QCOMPARE(static_cast<int>(tab.plot()->graph().edges.size()), 5);
    for (const FlowEdge& e : tab.plot()->graph().edges) QVERIFY(e.weight >= 0.04);
    QVERIFY(tab.note().startsWith("5 edges (1 through attention)"));
    tab.thresholdBox()->setValue(0.01);  // at the computed threshold: every edge, no recomputation
    QCOMPARE(static_cast<int>(tab.plot()->graph().edges.size()), 7);
    tab.thresholdBox()->setValue(0.6);  // only the top residual survives
    QCOMPARE(static_cast<int>(tab.plot()->graph().edges.size()), 1);
    tab.thresholdBox()->setValue(0.04);
    // Clicking the attention edge lists its heads and opens the strongest head with the cell (2, 0) pinned.
    int attention = -1;
    for (int i = 0; i < static_cast<int>(tab.plot()->graph().edges.size()); ++i)
      if (tab.plot()->graph().edges[static_cast<size_t>(i)].kind == "attention") attention = i;
    QVERIFY(attention >= 0);
    const QLineF line = tab.plot()->edgeLine(attention);
    const QPointF mid = (line.p1() + line.p2()) / 2;
    const QPoint at(tab.plot()->xAxis->coordToPixel(mid.x()), tab.plot()->yAxis->coordToPixel(mid.y()));
    QCOMPARE(tab.plot()->edgeAt(at), attention);
    QSignalSpy chosen(&tab, &AnalysisTab::headChosen);
    QTest::mouseClick(tab.plot(), Qt::LeftButton, Qt::NoModifier, at);
    QCOMPARE(chosen.count(), 1);
    QCOMPARE(tab.plot()->selectedEdge(), attention);
    QCOMPARE(b.view.layer(), 1);
    QCOMPARE(b.view.head(), 1);
    QCOMPARE(b.view.pinQuery(), 2);
    QCOMPARE(b.view.pinKey(), 0);
    QCOMPARE(tab.edgeList()->count(), 3);
    QVERIFY(tab.edgeList()->item(1)->text().contains("head 1: 0.300"));
    QTemporaryDir dir;
    tab.writeFigure(dir.filePath("flow.pdf"), 72);
    QVERIFY(QFileInfo(dir.filePath("flow.pdf")).size() > 1000);
    const QJsonObject state = tab.saveState();
    FlowGraphTab again;
    again.restoreState(state);
    QCOMPARE(again.thresholdBox()->value(), 0.04);
    QCOMPARE(FlowGraphTab().thresholdBox()->value(), 0.02);  // the default
  }

  void flowGraphTabOnStories260k() {
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    FlowGraphTab* tab = w.tab<FlowGraphTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(tab)));
    QSignalSpy shown(tab, &AnalysisTab::shown);
    QVERIFY(w.showTab("flow"));
    QVERIFY(shown.wait(30000));
    const InformationFlowGraph& g = tab->plot()->graph();
    const int last = static_cast<int>(w.document()->capture()->queryLabels.size()) - 1;
    QCOMPARE(g.position, static_cast<int64_t>(last));
    QCOMPARE(g.layers, w.document()->summary().layers);
    QVERIFY(!g.edges.empty());
    const size_t atDefault = g.edges.size();
    for (const FlowEdge& e : g.edges) QVERIFY(e.weight >= 0.02 && e.from <= e.to);
    tab->thresholdBox()->setValue(0.2);
    QVERIFY(tab->plot()->graph().edges.size() < atDefault);
    shown.clear();
    tab->positionBox()->setValue(4);
    QVERIFY(shown.wait(30000));
    QCOMPARE(tab->plot()->graph().position, int64_t(4));
    w.shutdown();
  }

  void faithfulnessTabFromAHandMadeResultAndOnStories260k() {
    auto r = std::make_shared<DeletionResult>();
    r->target = " Lily";
    r->probability = 0.9;
    r->curves = {{"rollout", "tokens", {0, 0.5, 1}, {0.9, 0.3, 0.1}, 0.4, {}},
                 {"random", "tokens", {0, 0.5, 1}, {0.9, 0.7, 0.1}, 0.6, {}}};
    {
      TabBench b;
      FaithfulnessTab tab;
      tab.attach(&b.doc, &b.view, &b.runner);
      tab.resize(900, 500);
      tab.show();
      QVERIFY(QTest::qWaitForWindowExposed(&tab));
      tab.showResult(r);
      QCOMPARE(tab.plot()->graphCount(), 2);
      QCOMPARE(tab.plot()->graph(0)->data()->at(1)->value, 0.3);
      QVERIFY(tab.plot()->graph(0)->name().contains("AUC 0.400"));
      QVERIFY(tab.plot()->graph(1)->name().startsWith("random"));
      QTemporaryDir dir;
      tab.writeFigure(dir.filePath("deletion.png"), 72);
      QVERIFY(QFileInfo(dir.filePath("deletion.png")).size() > 1000);
      tab.methodBox("dla")->setChecked(true);
      tab.methodBox("random")->setChecked(false);
      FaithfulnessTab again;
      again.restoreState(tab.saveState());
      QVERIFY(again.methodBox("dla")->isChecked());
      QVERIFY(!again.methodBox("random")->isChecked());
      QVERIFY(again.methodBox("rollout")->isChecked());
    }
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    FaithfulnessTab* tab = w.tab<FaithfulnessTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(tab)));
    QSignalSpy shown(tab, &AnalysisTab::shown);
    QVERIFY(w.showTab("deletion"));
    QVERIFY(shown.wait(60000));
    const DeletionResult& result = tab->plot()->result();
    QCOMPARE(static_cast<int>(result.curves.size()), 6);  // rollout, flow, attention, ALTI, grad × attn, random
    QVERIFY(std::any_of(result.curves.begin(), result.curves.end(),
                        [](const DeletionCurve& c) { return c.method == "grad-attn"; }));
    const QJsonObject prediction =
        QJsonDocument::fromJson(QByteArray::fromStdString(w.document()->capture()->predictionJson)).object();
    const QJsonObject next = prediction["next_tokens"].toArray().at(0).toObject();
    QCOMPARE(result.targetId, static_cast<int64_t>(next["id"].toInt()));
    for (const DeletionCurve& c : result.curves)  // nothing removed: the model's own probability
      QVERIFY(std::abs(c.probabilities.front() - next["probability"].toDouble()) < 1e-5);
    w.shutdown();
  }

  void firstLayerIsShownBeforeTheRunEnds() {
    // The golden GQA Llama with its position limit raised and a 4,202-token text kept as queries and keys: the
    // document first receives the partial capture of layer 0 (drawn on demand while the forward goes on), then the
    // finished one.
    QTemporaryDir dir;
    QVERIFY(writeLongLlama(dir));
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.openModel(dir.path());
    QVERIFY(idle.wait(30000));
    QString text;
    for (int i = 0; i < 120; ++i)
      text += "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
              "friends. ";
    w.input()->setText(text);
    w.input()->setStore("qk");
    std::vector<std::shared_ptr<const CaptureResult>> seen;
    connect(w.document(), &AnalysisDocument::captureChanged, &w, [&] { seen.push_back(w.document()->capture()); });
    w.runNow();
    QVERIFY(idle.wait(60000));
    QVERIFY(seen.size() >= 2);
    QVERIFY(seen.front()->partial);
    QCOMPARE(seen.front()->layers.size(), size_t(1));
    QCOMPARE(seen.front()->layers[0].layer, 0);
    QVERIFY(seen.front()->onDemand());
    QVERIFY(seen.front()->layers[0].q > 4000);
    QVERIFY(!seen.back()->partial);
    QCOMPARE(seen.back()->layers.size(), size_t(2));
    // The head view draws the finished capture's layer 0 from its queries and keys.
    HeatmapView* view = w.tab<HeadTab>()->view();
    QVERIFY(view->remote());
    QTRY_VERIFY_WITH_TIMEOUT(view->drawnCells().width() > 0, 30000);
    const AttentionMatrix& a = seen.back()->layers[0];
    QVERIFY(std::abs(view->valueAt(a.q - 1, 0) - seen.front()->source->cells("self", 0, 0, a.q - 1, a.q, 0, 1)[0]) < 1e-7);
    w.shutdown();
  }

  void longInputHeadIsComputedOnDemandAtScreenResolution() {
    // A 4,096-token input of the golden GQA Llama (RoPE, no learned positions) with its position limit raised.
    QTemporaryDir dir;
    QVERIFY(writeLongLlama(dir));
    {  // input_ids [1, 4096] int64, as a safetensors file written byte by byte
      const int T = 4096;
      std::mt19937 rng(5);
      QByteArray data;
      for (int i = 0; i < T; ++i) {
        const qint64 id = 3 + static_cast<qint64>(rng() % 497);
        data.append(reinterpret_cast<const char*>(&id), 8);
      }
      QByteArray header = QString(R"({"input_ids":{"dtype":"I64","shape":[1,%1],"data_offsets":[0,%2]}})")
                              .arg(T)
                              .arg(data.size())
                              .toUtf8();
      while (header.size() % 8) header.append(' ');
      const quint64 n = static_cast<quint64>(header.size());
      QFile f(dir.filePath("inputs.safetensors"));
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(reinterpret_cast<const char*>(&n), 8);
      f.write(header);
      f.write(data);
    }
    auto session = EngineSession::open(dir.path().toStdString(), "cpu");
    RunRequest request;
    request.inputsPath = dir.filePath("inputs.safetensors").toStdString();
    request.store = "qk";
    auto cap = std::make_shared<CaptureResult>(session->run(request));
    QVERIFY(cap->onDemand());
    QCOMPARE(cap->layers.size(), size_t(2));
    QCOMPARE(cap->layers[1].q, 4096);
    QVERIFY(cap->layers[1].data.empty());
    // The independent side: `attnscope-cli head` on the saved capture, the whole head as .npy.
    session->saveLastCapture(dir.filePath("cap.safetensors").toStdString());
    QProcess cli;
    cli.start(ATTNSCOPE_CLI_PATH, {"head", "--capture", dir.filePath("cap.safetensors"), "--layer", "1", "--head", "5",
                                   "--out", dir.filePath("head.npy")});
    QVERIFY(cli.waitForFinished(120000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    QFile npy(dir.filePath("head.npy"));
    QVERIFY(npy.open(QIODevice::ReadOnly));
    const QByteArray bytes = npy.readAll();
    const int headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    QCOMPARE(bytes.size(), 10 + headerLen + 4096 * 4096 * 4);
    const float* cells = reinterpret_cast<const float*>(bytes.constData() + 10 + headerLen);
    auto exact = [&](int q, int k) { return static_cast<double>(cells[static_cast<size_t>(q) * 4096 + k]); };

    TabBench b;
    HeadTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    tab.resize(700, 600);
    tab.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    b.doc.setCapture(cap);
    b.view.setLayerHead(1, 5);
    HeatmapView* view = tab.view();
    QVERIFY(view->remote());
    QCOMPARE(view->queries(), 4096);
    // The first tile arrives from the engine's thread: the whole head at screen resolution.
    QTRY_VERIFY_WITH_TIMEOUT(view->drawnCells().width() > 0, 30000);
    QVERIFY(view->drawnCells().width() < 4096 && view->drawnCells().height() < 4096);
    int checked = 0;
    for (int q : {0, 1000, 2047, 3000, 4095})
      for (int k : {0, 500, 2000, 4095}) {
        const QRect block = view->drawnBlock(q, k);
        QVERIFY(!block.isEmpty());
        double m = 0;
        for (int i = block.top(); i <= block.bottom(); ++i)
          for (int j = block.left(); j <= block.right(); ++j) m = std::max(m, exact(i, j));
        QVERIFY2(std::abs(view->drawnValue(q, k) - m) < 1e-6,
                 qPrintable(QString("block of (%1, %2): drawn %3, head's maximum %4").arg(q).arg(k)
                                .arg(view->drawnValue(q, k)).arg(m)));
        ++checked;
      }
    QCOMPARE(checked, 20);
    QVERIFY(std::abs(view->range().second - 1.0) < 1e-6);  // row 0 of a causal head is one weight of 1
    // Hover and pins read exact cells.
    QVERIFY(std::abs(view->valueAt(3000, 2999) - exact(3000, 2999)) < 1e-6);
    b.view.setPin(3000, -1);
    QVERIFY(view->pinText().contains("query"));
    // Zoomed in until every cell is drawn: the tile is the exact cells.
    view->plot()->xAxis->setRange(1999.5, 2099.5);
    view->plot()->yAxis->setRange(2999.5, 3099.5);
    view->plot()->replot();
    QTRY_VERIFY_WITH_TIMEOUT(view->drawnCells().width() == 100 && view->drawnBlock(3050, 2050).width() == 1, 30000);
    for (int q : {3000, 3050, 3099})
      for (int k : {2000, 2050, 2099}) QVERIFY(std::abs(view->drawnValue(q, k) - exact(q, k)) < 1e-6);
    // Views that need every head's probabilities say so instead of drawing.
    QVERIFY_EXCEPTION_THROWN(tab.writeFigure(dir.filePath("f.svg"), 72), std::runtime_error);
    // The overview: thumbnails from 48 evenly spaced query rows, each key block drawn as its maximum.
    const CaptureResult thumbs = sampledThumbnails(*cap, "self", 48, 48);
    const AttentionMatrix* t = thumbs.find("self", 1);
    QVERIFY(t);
    QCOMPARE(t->q, 48);
    QCOMPARE(t->k, 48);  // 4096 keys in blocks of 86
    for (int i : {0, 20, 47})
      for (int c : {0, 30, 47}) {
        const int row = i * 4095 / 47;
        double m = 0;
        for (int k = c * 86; k < std::min(4096, (c + 1) * 86); ++k) m = std::max(m, exact(row, k));
        QVERIFY(std::abs(t->at(5, i, c) - m) < 1e-6);
      }
    OverviewTab overview;
    overview.attach(&b.doc, &b.view, &b.runner);
    QSignalSpy shown(&overview, &AnalysisTab::shown);
    overview.setActive(true);
    QTRY_VERIFY_WITH_TIMEOUT(shown.count() > 0, 30000);
    QVERIFY(overview.sampledNote()->isVisibleTo(&overview));
    // Aggregates of one query row (the last by default), as aggregateRow computes them.
    AggregateTab aggregates;
    aggregates.attach(&b.doc, &b.view, &b.runner);
    QSignalSpy aggregated(&aggregates, &AnalysisTab::shown);
    aggregates.kindBox()->setCurrentIndex(aggregates.kindBox()->findData("rollout"));
    aggregates.setActive(true);
    QTRY_VERIFY_WITH_TIMEOUT(aggregated.count() > 0, 60000);
    QVERIFY(aggregates.queryBox()->isVisibleTo(&aggregates));
    QCOMPARE(aggregates.queryBox()->value(), 4095);
    QCOMPARE(aggregates.view()->queries(), 1);
    QCOMPARE(aggregates.view()->keys(), 4096);
    const std::vector<float> rolled = aggregateRow(*cap, "self", 1, "rollout", 4095);
    for (int k : {0, 1, 2048, 4095}) QVERIFY(std::abs(aggregates.view()->valueAt(0, k) - rolled[k]) < 1e-7);
    aggregated.clear();
    aggregates.kindBox()->setCurrentIndex(aggregates.kindBox()->findData("mean"));
    aggregates.queryBox()->setValue(3000);
    QTRY_VERIFY_WITH_TIMEOUT(aggregated.count() > 0 && aggregates.view()->queries() == 1 &&
                                 std::abs(aggregates.view()->valueAt(0, 0) - aggregateRow(*cap, "self", 1, "mean", 3000)[0]) < 1e-7,
                             60000);
    // A session stores the queries and keys: reopened, the head view draws the same exact cells.
    SessionData saved;
    saved.stateJson = "{}";
    saved.capture = cap;
    {
      QFile f(dir.filePath("long.attnscope"));
      QVERIFY(f.open(QIODevice::WriteOnly));
      const std::string bytes = encodeSession(saved);
      f.write(bytes.data(), static_cast<qint64>(bytes.size()));
    }
    const SessionData reopened = readSession(dir.filePath("long.attnscope").toStdString());
    QVERIFY(reopened.capture && reopened.capture->onDemand());
    b.doc.setCapture(reopened.capture);
    b.view.setLayerHead(1, 5);
    QVERIFY(view->remote());
    QTRY_VERIFY_WITH_TIMEOUT(view->drawnCells().width() > 0, 30000);
    QVERIFY(std::abs(view->valueAt(3000, 2999) - exact(3000, 2999)) < 1e-6);
    QVERIFY(std::abs(view->valueAt(4095, 17) - exact(4095, 17)) < 1e-6);
  }

  void overviewLinesAndOverlayTabsAlone() {
    TabBench b;
    OverviewTab overview;
    LinesTab lines;
    OverlayTab overlay;
    for (AnalysisTab* t : std::initializer_list<AnalysisTab*>{&overview, &lines, &overlay}) t->attach(&b.doc, &b.view, &b.runner);
    auto cap = handMadeCapture();
    b.doc.setCapture(cap);
    overview.view()->resize(400, 300);
    QCOMPARE(overview.view()->rows(), 2);
    QCOMPARE(overview.view()->columns(), 2);
    QSignalSpy chosen(&overview, &AnalysisTab::headChosen);
    QTest::mouseClick(overview.view(), Qt::LeftButton, {}, overview.view()->tileRect(1, 0).center());
    QCOMPARE(chosen.count(), 1);
    QCOMPARE(b.view.layer(), 1);
    QCOMPARE(b.view.head(), 0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) QCOMPARE(lines.view()->weight(0, i, j), cap->layers[1].at(0, i, j));
    lines.headsBox()->setCurrentIndex(1);  // both heads of the layer
    QCOMPARE(lines.view()->weight(1, 2, 1), cap->layers[1].at(1, 2, 1));
    lines.view()->resize(300, 200);
    QTest::mouseClick(lines.view(), Qt::LeftButton, {}, lines.view()->queryPoint(1));
    QCOMPARE(b.view.pinQuery(), 1);  // the lines' query selection is the shared pin
    ModelSummary text, image;
    image.modality = "image";
    QVERIFY(!overlay.availableFor(text));
    QVERIFY(overlay.availableFor(image));
    QVERIFY(!overlay.hasFigure());
    // Tab states round-trip through JSON.
    overview.frameBox()->setCurrentIndex(overview.frameBox()->findData("sink"));
    OverviewTab other;
    other.restoreState(overview.saveState());
    QCOMPARE(other.frameBox()->currentData().toString(), QString("sink"));
  }

  void aggregateAndMetricsTabsAloneComputeFromTheCapture() {
    TabBench b;
    AggregateTab agg;
    MetricsTab metrics;
    agg.attach(&b.doc, &b.view, &b.runner);
    metrics.attach(&b.doc, &b.view, &b.runner);
    auto cap = handMadeCapture();
    b.doc.setCapture(cap);
    b.view.setLayer(1);
    QSignalSpy aggShown(&agg, &AnalysisTab::shown);
    agg.setActive(true);  // only the visible tab computes
    QVERIFY(aggShown.wait(5000));
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        QVERIFY(std::abs(agg.view()->valueAt(i, j) - (cap->layers[1].at(0, i, j) + cap->layers[1].at(1, i, j)) / 2) <
                1e-6);
    QSignalSpy metricShown(&metrics, &AnalysisTab::shown);
    metrics.kindBox()->setCurrentIndex(metrics.kindBox()->findData("sink"));
    metrics.setActive(true);
    QVERIFY(metricShown.wait(5000));
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 2; ++h) {
        double sink = 0;
        for (int i = 0; i < 3; ++i) sink += cap->layers[l].at(h, i, 0);
        QVERIFY(std::abs(metrics.view()->valueAt(l, h) - sink / 3) < 1e-6);
      }
    // Importance needs a model: the tab says why instead of failing.
    metrics.kindBox()->setCurrentIndex(metrics.kindBox()->findData("importance"));
    QTRY_VERIFY_WITH_TIMEOUT(metrics.note().contains("model"), 5000);
  }

  void compareTabAloneShowsPanelsAndFollowsTheHead() {
    TabBench b;
    CompareTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    auto result = std::make_shared<ComparisonResult>();
    result->layers = 2;
    result->heads = 2;
    VariantPanel full, top;
    full.spec = "full";
    full.capture = *handMadeCapture();
    top.spec = "topk:k=1";
    top.capture = *handMadeCapture();
    top.capture.variant = "topk:k=1";
    for (auto& a : top.capture.layers)
      for (int r = 0; r < a.heads * a.q; ++r) {  // keep each row's largest weight only
        float* row = a.data.data() + static_cast<size_t>(r) * a.k;
        const int best = static_cast<int>(std::max_element(row, row + a.k) - row);
        for (int j = 0; j < a.k; ++j) row[j] = j == best ? 1.0f : 0.0f;
      }
    top.jsGrid = {0.1f, 0.2f, 0.3f, 0.4f};
    full.jsGrid = {0, 0, 0, 0};
    result->panels = {full, top};
    result->reportJson = "{}";
    b.doc.setComparison(result);
    b.view.setLayerHead(1, 0);
    QVERIFY(tab.view()->panel(1));
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        QCOMPARE(tab.view()->panel(0)->valueAt(i, j), static_cast<double>(full.capture.layers[1].at(0, i, j)));
        QCOMPARE(tab.view()->panel(1)->valueAt(i, j), static_cast<double>(top.capture.layers[1].at(0, i, j)));
      }
    b.view.setPin(1, -1);
    QCOMPARE(tab.view()->panel(1)->pinnedQuery(), 1);
    QVERIFY(tab.hasFigure());
    b.doc.setModel(ModelSummary(), false);
    QVERIFY(!tab.view()->result());
  }


  void pruneTabAloneDrawsTheSweepAndMarksAPoint() {
    TabBench b;
    PruneTab tab;
    tab.attach(&b.doc, &b.view, &b.runner);
    auto sweep = std::make_shared<PruneSweepResult>();
    sweep->order = "importance";
    sweep->totalHeads = 4;
    sweep->ranking = {"L1H0", "L0H1", "L1H1", "L0H0"};
    for (int i = 0; i < 3; ++i) {
      PruneSweepPoint p;
      p.ratio = 0.25 * 2 * i;  // 0, 0.5, 1
      p.pruned.assign(sweep->ranking.begin(), sweep->ranking.begin() + 2 * i);
      p.logitsKl = 0.5 * i;
      p.top1Agreement = 1.0 - 0.3 * i;
      p.jsMean = 0.2 * i;
      sweep->points.push_back(p);
    }
    QSignalSpy shown(&tab, &AnalysisTab::shown);
    b.doc.setSweep(sweep);
    QCOMPARE(shown.count(), 1);
    QCOMPARE(tab.plot()->curve().ratios, (std::vector<double>{0, 0.5, 1.0}));
    QCOMPARE(tab.plot()->curve().top1, (std::vector<double>{1.0, 0.7, 1.0 - 0.6}));
    tab.choosePoint(1);
    QCOMPARE(tab.plot()->selectedPoint(), 1);
    QCOMPARE(b.doc.prunedHeads(), (std::set<std::pair<int, int>>{{1, 0}, {0, 1}}));
    QCOMPARE(b.doc.pruneSpec(), QString("prune:heads=L0H1,L1H0"));
    // Fractions that are not numbers in [0, 1] are refused before anything runs.
    PruneSweepOptions o;
    QString why;
    tab.ratiosEdit()->setText("0,0.5,2");
    QVERIFY(!tab.options(o, &why));
    QVERIFY2(why.contains("'2'"), qPrintable(why));
    tab.ratiosEdit()->setText("0, 0.3");
    QVERIFY(tab.options(o, &why));
    QCOMPARE(o.ratios, (std::vector<double>{0, 0.3}));
    QTemporaryDir dir;
    tab.resize(600, 400);
    tab.writeFigure(dir.filePath("sweep.pdf"), 72);
    QVERIFY(QFileInfo(dir.filePath("sweep.pdf")).size() > 1000);
    b.doc.setModel(ModelSummary(), false);  // another model: the sweep and the choice go
    QVERIFY(!b.doc.sweep());
    QVERIFY(b.doc.prunedHeads().empty());
    QVERIFY(tab.plot()->curve().ratios.empty());
  }

  void bracketKeysChangeHeadAfterARunEvenFromTheTextBox() {
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.activateWindow();
    w.input()->textEdit()->setFocus();
    QTest::keyClick(w.input()->textEdit(), Qt::Key_Return);  // Enter runs
    QVERIFY(idle.wait(30000));
    QVERIFY(w.document()->capture());
    QVERIFY(QApplication::focusWidget() != w.input()->textEdit());
    QCOMPARE(w.controls()->headBox()->value(), 0);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_BracketRight);
    QCOMPARE(w.controls()->headBox()->value(), 1);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_BracketLeft);
    QCOMPARE(w.controls()->headBox()->value(), 0);
    QCOMPARE(w.input()->textEdit()->text(), QString("Once upon a time"));  // nothing typed into the text
    // The plot title names the model (its folder), not the family.
    QVERIFY2(w.tab<HeadTab>()->view()->title().startsWith("stories260K — layer 0, head 0"),
             qPrintable(w.tab<HeadTab>()->view()->title()));
    QVERIFY2(w.tab<HeadTab>()->figureName().startsWith("stories260K"), qPrintable(w.tab<HeadTab>()->figureName()));
    // Help menu with shortcuts and About.
    QStringList menus;
    for (QAction* a : w.menuBar()->actions()) menus << a->text().remove('&');
    QVERIFY2(menus.contains("Help"), qPrintable(menus.join(',')));
    w.shutdown();
  }

  void windowIsUsableAt1024x700() {
    MainWindow w;
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.compareNow({"window:w=2", "topk:k=4", "linear"});
    QVERIFY(idle.wait(60000));
    w.showTab("compare");
    w.resize(1024, 700);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QVERIFY2(w.minimumSizeHint().width() <= 1024 && w.minimumSizeHint().height() <= 700,
             qPrintable(QString("%1x%2").arg(w.minimumSizeHint().width()).arg(w.minimumSizeHint().height())));
    QTRY_COMPARE(w.size(), QSize(1024, 700));
    // Generate does not grow the window.
    w.generateNow(4);
    QVERIFY(idle.wait(30000));
    QCoreApplication::processEvents();
    QCOMPARE(w.size(), QSize(1024, 700));
    // Nothing of the Compare tab lies outside it (overlap at 700 px).
    QWidget* compare = w.tab<CompareTab>();
    QVERIFY2(compare->minimumSizeHint().height() <= compare->height(),
             qPrintable(QString("%1 > %2").arg(compare->minimumSizeHint().height()).arg(compare->height())));
    w.shutdown();
  }


  void wordLevelMergesTheTextViews() {
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    const auto capture = w.document()->capture();
    const auto& labels = capture->queryLabels;  // ... " little" " g" "ir" "l" " named" ...
    const int g = static_cast<int>(std::find(labels.begin(), labels.end(), " g") - labels.begin());
    QVERIFY(g + 2 < static_cast<int>(labels.size()) && labels[g + 1] == "ir" && labels[g + 2] == "l");
    const int T = static_cast<int>(labels.size());
    QVERIFY(w.controls()->wordsBox()->isVisibleTo(&w));
    w.controls()->layerBox()->setValue(2);
    w.controls()->headBox()->setValue(3);
    w.viewState()->setPin(g + 4, -1);  // a position after the word: " Lily"'s row stays pinned through the toggle
    w.controls()->wordsBox()->setChecked(true);
    QVERIFY(w.viewState()->words());
    HeatmapView* head = w.tab<HeadTab>()->view();
    QCOMPARE(head->queries(), T - 2);  // " g" "ir" "l" became " girl"
    QVERIFY(head->title().contains("words"));
    // The merged cells: " girl"'s row is the mean of its pieces' rows; each column the sum of its pieces' columns.
    const AttentionMatrix* a = capture->find("self", 2);
    double girlOnGirl = 0;
    for (int i = g; i < g + 3; ++i)
      for (int j = g; j < g + 3; ++j) girlOnGirl += a->at(3, i, j) / 3.0;
    QVERIFY(std::abs(head->valueAt(g, g) - girlOnGirl) < 1e-6);
    const double lilyOnGirl = a->at(3, g + 4, g) + a->at(3, g + 4, g + 1) + a->at(3, g + 4, g + 2);
    QVERIFY(std::abs(head->valueAt(g + 2, g) - lilyOnGirl) < 1e-6);
    QCOMPARE(head->pinnedQuery(), g + 2);  // position g + 4 is word g + 2
    // The token lines join words too.
    QVERIFY(std::abs(w.tab<LinesTab>()->view()->weight(0, g + 2, g) - lilyOnGirl) < 1e-6);
    // The Aggregates tab's matrix is merged by the same rule, rows still summing to 1.
    QSignalSpy shown(w.tab<AggregateTab>(), &AnalysisTab::shown);
    w.tabs()->setCurrentWidget(w.tab<AggregateTab>());
    QVERIFY(shown.wait(30000));
    HeatmapView* aggregate = w.tab<AggregateTab>()->view();
    QCOMPARE(aggregate->queries(), T - 2);
    QCOMPARE(aggregate->keys(), T - 2);
    double row = 0;
    for (int j = 0; j < aggregate->keys(); ++j) row += aggregate->valueAt(g, j);
    QVERIFY(std::abs(row - 1.0) < 1e-5);
    QVERIFY(aggregate->title().contains("words"));
    // The Overview's thumbnails are drawn from the merged heads, with the rule written above them.
    w.showTab("overview");
    OverviewTab* overview = w.tab<OverviewTab>();
    QVERIFY(overview->wordsNote()->isVisibleTo(overview));
    const AttentionMatrix* thumb = overview->view()->capture()->find("self", 2);
    QVERIFY(thumb);
    QCOMPARE(thumb->q, T - 2);
    QCOMPARE(thumb->k, T - 2);
    QVERIFY(std::abs(thumb->at(3, g + 2, g) - lilyOnGirl) < 1e-6);
    QVERIFY(std::abs(thumb->at(3, g, g) - girlOnGirl) < 1e-6);
    // Clicking a word pins its first position: word g + 1 (" named") is position g + 3.
    emit head->pinChanged(g + 1, -1);
    QCOMPARE(w.viewState()->pinQuery(), g + 3);
    // The Compare tab's panels and difference map too: the difference of merged panels is the merged difference.
    QSignalSpy idle(&w, &MainWindow::idle);
    w.compareNow({"window:w=2"});
    QVERIFY(idle.wait(60000));
    w.showTab("compare");
    CompareView* compare = w.tab<CompareTab>()->view();
    QCOMPARE(compare->panel(0)->queries(), T - 2);
    QCOMPARE(compare->difference()->keys(), T - 2);
    QVERIFY(std::abs(compare->panel(0)->valueAt(g + 2, g) - lilyOnGirl) < 1e-6);
    QVERIFY(std::abs(compare->difference()->valueAt(g + 2, g) -
                     (compare->panel(1)->valueAt(g + 2, g) - compare->panel(0)->valueAt(g + 2, g))) < 1e-6);
    QCOMPARE(compare->panel(0)->pinnedQuery(), g + 1);  // position g + 3 is word g + 1
    w.controls()->wordsBox()->setChecked(false);
    QCOMPARE(head->queries(), T);
    QCOMPARE(head->pinnedQuery(), g + 3);
    QCOMPARE(compare->panel(0)->queries(), T);
    QCOMPARE(overview->view()->capture()->find("self", 2)->q, T);
    QVERIFY(!overview->wordsNote()->isVisibleTo(overview));
    w.shutdown();
  }

  void attributionTabFromAHandMadeResultAndOnTextAndImageModels() {
    {
      TabBench b;
      AttributionTab tab;
      tab.attach(&b.doc, &b.view, &b.runner);
      tab.resize(900, 500);
      tab.show();
      QVERIFY(QTest::qWaitForWindowExposed(&tab));
      auto r = std::make_shared<TokenAttribution>();
      r->method = "rollout";
      r->position = 3;
      r->highlight = 3;
      r->positionToken = "l";
      r->labels = {"<s>", " g", "ir", "l"};
      r->scores = {0.4, 0.1, 0.2, 0.3};
      tab.showResult(r);
      QCOMPARE(tab.plot()->barValue(2), 0.2);
      QVERIFY(tab.plot()->barHighlighted(3));
      QVERIFY(!tab.plot()->barHighlighted(0));
      QTemporaryDir dir;
      tab.writeFigure(dir.filePath("a.svg"), 72);
      QVERIFY(QFileInfo(dir.filePath("a.svg")).size() > 1000);
      tab.methodBox()->setCurrentIndex(2);
      tab.positionBox()->setValue(5);
      AttributionTab again;
      again.restoreState(tab.saveState());
      QCOMPARE(again.methodBox()->currentData().toString(), QString("alti"));
      QCOMPARE(again.positionBox()->value(), 5);
    }
    MainWindow w;
    w.input()->setText("Once upon a time, there was a little girl named Lily.");
    loadAndRun(w, shared() + "/models/stories260K");
    AttributionTab* tab = w.tab<AttributionTab>();
    QVERIFY(w.tabs()->isTabEnabled(w.tabs()->indexOf(tab)));
    QSignalSpy shown(tab, &AnalysisTab::shown);
    QVERIFY(w.showTab("attribution"));
    QVERIFY(shown.wait(30000));
    // The default: gradient × attention of the last position for the model's prediction, as the CLI computes it.
    const int T = static_cast<int>(w.document()->capture()->queryLabels.size());
    QCOMPARE(tab->plot()->scores().values.size(), static_cast<size_t>(T));
    QVERIFY(tab->plot()->barHighlighted(T - 1));
    QVERIFY(tab->plot()->barValue(T - 1) >= 1.0);  // the identity's 1 plus what attention adds
    QVERIFY(tab->plot()->highlightClipped());       // cut at the top so the other positions stay readable
    QVERIFY(tab->plot()->yAxis->range().upper < 0.5);
    QVERIFY(tab->overlay().isNull());
    // Words: " g" "ir" "l" become " girl", which gets the sum of its pieces.
    const auto labels = tab->plot()->scores().labels;
    const int g = static_cast<int>(std::find(labels.begin(), labels.end(), " g") - labels.begin());
    const double girl = tab->plot()->barValue(g) + tab->plot()->barValue(g + 1) + tab->plot()->barValue(g + 2);
    w.controls()->wordsBox()->setChecked(true);
    QCOMPARE(tab->plot()->scores().values.size(), static_cast<size_t>(T - 2));
    QVERIFY(std::abs(tab->plot()->barValue(g) - girl) < 1e-12);
    w.controls()->wordsBox()->setChecked(false);
    // Rollout of position 4 sums to 1; ALTI refuses nothing here.
    shown.clear();
    tab->methodBox()->setCurrentIndex(0);
    QVERIFY(shown.wait(30000));
    shown.clear();
    tab->positionBox()->setValue(4);
    QVERIFY(shown.wait(30000));
    double sum = 0;
    for (double v : tab->plot()->scores().values) sum += v;
    QVERIFY(std::abs(sum - 1.0) < 1e-6);
    QVERIFY(tab->plot()->barHighlighted(4));
    w.shutdown();

    // An image classifier: the scores over the picture too.
    MainWindow iw;
    const QString vit = shared() + "/golden/vit-tiny-random";
    iw.input()->setFile(vit + "/input.png");
    loadAndRun(iw, vit);
    AttributionTab* itab = iw.tab<AttributionTab>();
    QSignalSpy ishown(itab, &AnalysisTab::shown);
    QVERIFY(iw.showTab("attribution"));
    QVERIFY(ishown.wait(30000));
    QVERIFY(!itab->overlay().isNull());
    QVERIFY(itab->overlay().width() > 100);
    QCOMPARE(itab->plot()->scores().values.size(), size_t(17));  // [CLS] + 4 x 4 patches
    QVERIFY(itab->plot()->barHighlighted(0));
    iw.shutdown();
  }

  void generationUnderAVariantShowsTheKlTimeline() {
    MainWindow w;
    w.resize(1024, 700);
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time, there was a little girl named Lily");
    loadAndRun(w, shared() + "/models/stories260K");
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    StepKlTimeline* timeline = w.klTimeline();
    QVERIFY(!timeline->isVisible());  // a run, not a generation
    w.input()->setVariant("window:w=3");
    w.generateNow(8);
    QVERIFY(idle.wait(30000));
    QVERIFY(timeline->isVisible());
    const auto capture = w.document()->capture();
    QCOMPARE(timeline->steps(), 8);
    QCOMPARE(static_cast<int>(capture->stepKl.size()), 8);
    int disagreements = 0;
    for (int s = 1; s <= 8; ++s) {
      QCOMPARE(timeline->barValue(s), capture->stepKl[s - 1].kl);
      QCOMPARE(timeline->barDisagrees(s), !capture->stepKl[s - 1].agree);
      disagreements += capture->stepKl[s - 1].agree ? 0 : 1;
    }
    QVERIFY(disagreements > 0);  // window:w=3 changes " her" into " his" at step 8 on this prompt
    // The window still fits 1024 x 700 with the timeline shown.
    QVERIFY2(w.minimumSizeHint().height() <= 700, qPrintable(QString::number(w.minimumSizeHint().height())));
    // Clicking a bar opens that step: the step box follows and the head view pins its row.
    timeline->replot();
    const int x = static_cast<int>(timeline->xAxis->coordToPixel(3));
    const int y = static_cast<int>(timeline->yAxis->coordToPixel(0)) - 2;
    QTest::mouseClick(timeline, Qt::LeftButton, {}, QPoint(x, y));
    QCOMPARE(w.controls()->stepBox()->value(), 3);
    QCOMPARE(w.tab<HeadTab>()->view()->pinnedQuery(), w.document()->promptLength() + 2);
    // A generation with the full model has no timeline.
    w.input()->setVariant("full");
    w.generateNow(3);
    QVERIFY(idle.wait(30000));
    QVERIFY(!timeline->isVisible());
    w.shutdown();
  }

  void pruningToggleRunMarksAndTheSweep() {
    MainWindow w;
    w.resize(1280, 800);
    QSignalSpy idle(&w, &MainWindow::idle);
    w.input()->setText("Once upon a time, there was a little girl named Lily. She loved to play outside.");
    w.openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w.runNow();
    QVERIFY(idle.wait(30000));
    // Overview: in prune mode a click marks a head (and a second click unmarks it) instead of opening it.
    auto* overview = w.tab<OverviewTab>();
    w.showTab("overview");
    overview->view()->resize(800, 500);
    overview->pruneModeButton()->setChecked(true);
    for (auto [l, h] : std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {4, 7}, {2, 3}, {1, 0}})
      QTest::mouseClick(overview->view(), Qt::LeftButton, {}, overview->view()->tileRect(l, h).center());
    const std::set<std::pair<int, int>> chosen = {{0, 1}, {1, 0}, {4, 7}};
    QCOMPARE(w.document()->prunedHeads(), chosen);
    QCOMPARE(overview->view()->markedHeads(), chosen);
    QCOMPARE(w.document()->pruneSpec(), QString("prune:heads=L0H1,L1H0,L4H7"));
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(overview));  // clicks did not open the head view
    // Compare pruned vs full: the comparison prunes exactly those heads, marks them, and shows a kept head.
    overview->compareButton()->click();
    QVERIFY(idle.wait(60000));
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.tab<CompareTab>()));
    const auto result = w.document()->comparison();
    QVERIFY(result);
    QCOMPARE(static_cast<int>(result->panels.size()), 2);
    QCOMPARE(result->panels[1].prunedHeads, (std::vector<std::string>{"L0H1", "L1H0", "L4H7"}));
    CompareView* cv = w.tab<CompareTab>()->view();
    QCOMPARE(cv->jsGrid()->markedCells(), 3);
    QVERIFY(!chosen.count({w.viewState()->layer(), w.viewState()->head()}));
    for (int h = 0; h < result->heads; ++h)  // a pruned head's attention is all zeros in the variant
      if (chosen.count({4, h}))
        for (int i = 0; i < 5; ++i) QCOMPARE(result->panels[1].capture.find("self", 4)->at(h, i, 0), 0.0f);
    // The output effect comes first: KL, agreement and how many predictions changed.
    const QString summary = cv->outputSummary()->text();
    QVERIFY2(summary.contains("logits KL") && summary.contains("top-1 agreement") &&
                 summary.contains(QString("of %1 predictions changed").arg(result->panels[1].positions)),
             qPrintable(summary));
    QVERIFY(result->panels[1].positions > 0);
    // The metrics table fits its width at 1,280 px: no horizontal scroll bar.
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(cv->table()->horizontalScrollBarPolicy(), Qt::ScrollBarAlwaysOff);
    // The comparison's figure carries the difference map, the JS grid with its marks and the metrics.
    QTemporaryDir dir;
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp.svg")));
    QFile svg(dir.filePath("cmp.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray doc = svg.readAll();
    for (const char* text : {"− full", "JS per head", "logits KL", "L0H1"})
      QVERIFY2(doc.contains(text) || doc.contains(QString(text).toHtmlEscaped().toUtf8()), text);
    QVERIFY(doc.contains("\xc3\x97"));  // the × marks of the pruned heads
    QVERIFY(w.exports()->exportFigure(dir.filePath("cmp.pdf")));
    QVERIFY(QFileInfo(dir.filePath("cmp.pdf")).size() > 2000);

    // The sweep: nested prefixes of one ranking, round(ratio × heads) each; a click marks that point's heads.
    auto* prune = w.tab<PruneTab>();
    w.showTab("prune");
    prune->ratiosEdit()->setText("0,0.25,0.5");
    PruneSweepOptions options;
    QVERIFY(prune->options(options, nullptr));
    w.sweepNow(options);
    QVERIFY(idle.wait(60000));
    const auto sweep = w.document()->sweep();
    QVERIFY(sweep);
    QCOMPARE(static_cast<int>(sweep->points.size()), 3);
    QCOMPARE(sweep->totalHeads, 40);
    QCOMPARE(sweep->points[1].pruned.size(), size_t(10));
    QCOMPARE(sweep->points[2].pruned.size(), size_t(20));
    for (const auto& h : sweep->points[1].pruned)
      QVERIFY(std::count(sweep->points[2].pruned.begin(), sweep->points[2].pruned.end(), h) == 1);
    QCOMPARE(sweep->points[0].logitsKl, 0.0);
    QVERIFY(sweep->points[2].logitsKl > sweep->points[0].logitsKl);
    prune->choosePoint(1);
    QCOMPARE(w.document()->prunedHeads(), AnalysisDocument::parseHeadNames(sweep->points[1].pruned));
    QCOMPARE(static_cast<int>(overview->view()->markedHeads().size()), 10);
    QVERIFY(w.exports()->exportFigure(dir.filePath("sweep.svg")));
    QFile sweepSvg(dir.filePath("sweep.svg"));
    QVERIFY(sweepSvg.open(QIODevice::ReadOnly));
    QVERIFY(sweepSvg.readAll().contains("fraction of heads pruned"));
    // The choice is part of the session state.
    QCOMPARE(w.sessions()->state("auto").value("tabs").toObject().value("overview").toObject().value("pruned").toString(),
             w.document()->prunedHeadNames().join(','));
    w.shutdown();
  }

  void cancelLeavesNoThreadRunning() {
    auto* w = new MainWindow;
    QSignalSpy idle(w, &MainWindow::idle);
    w->input()->setText(QString("Once upon a time ").repeated(80));
    w->openModel(shared() + "/models/stories260K");
    QVERIFY(idle.wait(30000));
    w->runNow();
    w->cancelRun();
    QVERIFY(idle.wait(30000));
    QVERIFY(!w->isBusy());
    w->shutdown();
    QVERIFY(!w->runner()->threadRunning());
    delete w;
  }
};

QTEST_MAIN(GuiTest)
#include "GuiTest.moc"
