#include "MainWindow.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QShortcut>
#include <QStatusBar>
#include <QVBoxLayout>

#include "AggregateTab.h"
#include "AttributionTab.h"
#include "CompareTab.h"
#include "HeadTab.h"
#include "HubCacheDialog.h"
#include "DlaTab.h"
#include "FaithfulnessTab.h"
#include "FlowGraphTab.h"
#include "LensTab.h"
#include "LinesTab.h"
#include "MetricsTab.h"
#include "RoutingTab.h"
#include "ModelCard.h"
#include "OverlayTab.h"
#include "OverviewTab.h"
#include "PruneTab.h"
#include "StepKlTimeline.h"
#include "Vocabulary.h"

namespace attnscope {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), m_doc(new AnalysisDocument(this)), m_view(new ViewState(this)),
      m_runner(new RunController(this)) {
  setWindowTitle("AttnScope");
  setAcceptDrops(true);
  QSettings settings;
  m_dtype = settings.value("model/dtype", "auto").toString();
  m_view->setColorMap(settings.value("view/colormap", "viridis").toString());
  m_view->setScale(static_cast<ViewState::Scale>(std::clamp(settings.value("view/scale", 0).toInt(), 0, 2)),
                   settings.value("view/gamma", 0.5).toDouble());

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  m_input = new InputPanel(m_doc, m_runner, central);
  m_controls = new ViewControls(m_doc, m_view, central);
  m_tabs = new QTabWidget(central);
  m_tabs->setUsesScrollButtons(true);
  layout->addWidget(m_input);
  layout->addWidget(m_controls);
  layout->addWidget(m_tabs, 1);
  m_klTimeline = new StepKlTimeline(m_doc, m_view, central);  // shows itself under a generation with a variant
  layout->addWidget(m_klTimeline);
  setCentralWidget(central);
  auto* prune = new PruneTab(m_tabs);
  for (AnalysisTab* t : std::initializer_list<AnalysisTab*>{new HeadTab(m_tabs), new OverviewTab(m_tabs),
                                                            new LinesTab(m_tabs), new AggregateTab(m_tabs),
                                                            new MetricsTab(m_tabs), new RoutingTab(m_tabs), new LensTab(m_tabs), new DlaTab(m_tabs), new FlowGraphTab(m_tabs),
                                                            new AttributionTab(m_tabs), new FaithfulnessTab(m_tabs),
                                                            new OverlayTab(m_tabs),
                                                            new CompareTab(m_tabs), prune})
    addTab(t);
  connect(prune, &PruneTab::sweepRequested, this, &MainWindow::sweepNow);
  connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::activateCurrentTab);

  m_dock = new QDockWidget(tr("Model"), this);
  m_dock->setObjectName("modelDock");
  m_dock->setWidget(new ModelCard(m_doc, m_dock));
  addDockWidget(Qt::LeftDockWidgetArea, m_dock);
  m_progress = new QProgressBar(this);
  m_progress->setMaximumWidth(200);
  m_progress->setVisible(false);
  statusBar()->addPermanentWidget(m_progress);

  m_exports = new ExportController(m_doc, m_view, m_runner, this,
                                   [this] { return qobject_cast<AnalysisTab*>(m_tabs->currentWidget()); });
  m_sessions = new SessionController(m_doc, m_view, m_runner, m_input, m_tabs, this);
  buildMenus();

  connect(m_input, &InputPanel::runRequested, this, &MainWindow::runNow);
  connect(m_input, &InputPanel::generateRequested, this, &MainWindow::generateNow);
  connect(m_input, &InputPanel::cancelRequested, this, &MainWindow::cancelRun);
  connect(m_controls, &ViewControls::statusMessage, this, [this](const QString& t) { status(t); });
  connect(m_exports, &ExportController::statusMessage, this, [this](const QString& t) { status(t); });
  connect(m_exports, &ExportController::batchProgress, this, [this](int done, int total) {
    m_progress->setVisible(done < total);
    m_progress->setMaximum(std::max(total, 1));
    m_progress->setValue(done);
  });
  connect(m_exports, &ExportController::batchDone, this, [this] { m_progress->setVisible(m_runner->busy()); });
  connect(m_sessions, &SessionController::statusMessage, this, [this](const QString& t) { status(t); });
  connect(m_sessions, &SessionController::opened, this, &MainWindow::idle);
  connect(m_runner, &RunController::stateChanged, this, &MainWindow::onState);
  connect(m_runner, &RunController::progress, this, [this](int done, int total) {
    m_progress->setMaximum(std::max(total, 1));
    m_progress->setValue(done);
  });
  connect(m_runner, &RunController::loaded, this, &MainWindow::onLoaded);
  connect(m_runner, &RunController::failed, this, &MainWindow::onFailed);
  connect(m_runner, &RunController::finished, this, [this](std::shared_ptr<const CaptureResult> result) {
    if (m_sessions->runFinished()) return;
    m_doc->setCapture(result);
    status(tr("Forward pass: %1 ms").arg(result->seconds * 1000.0, 0, 'f', 1));
    focusView();
    emit idle();
  });
  connect(m_runner, &RunController::partial, this, [this](std::shared_ptr<const CaptureResult> result) {
    if (m_sessions->phase() != SessionController::Phase::None) return;  // a session shows its own capture
    m_doc->setCapture(result);  // the first layers, shown while the forward goes on
    status(tr("Computing: %1 layers so far").arg(result->layers.size()));
  });
  connect(m_runner, &RunController::generated, this, [this](std::shared_ptr<const CaptureResult> result, int prompt) {
    m_doc->setCapture(result, prompt);
    status(tr("Generated %1 tokens in %2 s").arg(m_controls->stepBox()->maximum()).arg(result->seconds, 0, 'f', 2));
    focusView();
    emit idle();
  });
  connect(m_runner, &RunController::compared, this, [this](std::shared_ptr<const ComparisonResult> result) {
    m_doc->setComparison(result);
    status(tr("Compared %1 variants").arg(result->panels.size() - 1));
    focusView();
    emit idle();
  });
  connect(m_runner, &RunController::swept, this, [this](std::shared_ptr<const PruneSweepResult> result) {
    m_doc->setSweep(result);
    status(tr("Pruning sweep: %1 points").arg(result->points.size()));
    emit idle();
  });
  connect(m_runner, &RunController::cancelled, this, [this] {
    status(tr("Run cancelled"));
    emit idle();
  });
  connect(m_view, &ViewState::appearanceChanged, this, [this] {
    QSettings s;
    s.setValue("view/colormap", m_view->colorMap());
    s.setValue("view/scale", static_cast<int>(m_view->scale()));
    s.setValue("view/gamma", m_view->gamma());
  });
  new QShortcut(QKeySequence(Qt::Key_Escape), this, [this] {
    if (m_exports->batchRunning()) m_exports->cancelBatch();
    cancelRun();
  });
  setMinimumSize(800, 560);
  resize(1100, 800);
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
  onState();
  activateCurrentTab();
}

void MainWindow::activateCurrentTab() {
  // Only the visible tab computes (aggregates, metrics and overlays run on the engine's thread).
  for (int i = 0; i < m_tabs->count(); ++i)
    if (auto* t = qobject_cast<AnalysisTab*>(m_tabs->widget(i))) t->setActive(i == m_tabs->currentIndex());
  m_exports->updateActions();
}

MainWindow::~MainWindow() { shutdown(); }

void MainWindow::shutdown() { m_runner->shutdown(); }

void MainWindow::addTab(AnalysisTab* tab) {
  m_tabs->addTab(tab, tab->title());
  tab->attach(m_doc, m_view, m_runner);
  connect(tab, &AnalysisTab::headChosen, this, [this] { showTab("head"); });
  connect(tab, &AnalysisTab::statusMessage, this, [this](const QString& t) { status(t, 0); });
  connect(tab, &AnalysisTab::compareRequested, this, [this](const QStringList& specs) {
    showTab("compare");
    compareNow(specs);
  });
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open model folder…"), this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"),
                                                              QSettings().value("model/lastDir").toString());
        if (!dir.isEmpty()) openModel(dir);
      })->setShortcut(QKeySequence::Open);
  file->addAction(tr("Open from &Hugging Face cache…"), this, [this] {
        HubCacheDialog dialog(this);
        if (dialog.exec() == QDialog::Accepted && !dialog.chosenFolder().isEmpty()) openModel(dialog.chosenFolder());
      })->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_H));
  m_recent = file->addMenu(tr("Open &recent model"));
  connect(m_recent, &QMenu::aboutToShow, this, &MainWindow::fillRecentMenu);
  QMenu* dtypeMenu = file->addMenu(tr("Compute &dtype"));
  dtypeMenu->setToolTipsVisible(true);
  auto* dtypes = new QActionGroup(dtypeMenu);
  const QList<QPair<QString, QString>> choices = {
      {"auto", tr("Automatic (float32 on the CPU, the stored 16-bit type on a GPU)")},
      {"float32", "float32"},
      {"bfloat16", "bfloat16"},
      {"float16", "float16"}};
  for (const auto& [key, label] : choices) {
    QAction* a = dtypeMenu->addAction(label, this, [this, key = key] { setComputeDtype(key); });
    a->setCheckable(true);
    a->setChecked(key == m_dtype);
    dtypes->addAction(a);
  }
  file->addSeparator();
  file->addAction(tr("Open s&ession…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open session"),
                                                          QSettings().value("session/lastDir").toString(),
                                                          tr("AttnScope session (*.attnscope);;All files (*)"));
        if (!path.isEmpty()) openSession(path);
      })->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  file->addAction(tr("Save se&ssion…"), this, [this] {
        const QString start = QSettings().value("session/lastDir", QDir::homePath()).toString();
        const QString name = QFileInfo(m_doc->modelDir()).fileName();
        QString path = QFileDialog::getSaveFileName(this, tr("Save session"),
                                                    QDir(start).filePath((name.isEmpty() ? "session" : name) +
                                                                         ".attnscope"),
                                                    tr("AttnScope session (*.attnscope)"));
        if (path.isEmpty()) return;
        QSettings().setValue("session/lastDir", QFileInfo(path).absolutePath());
        saveSession(path.endsWith(".attnscope") ? path : path + ".attnscope");
      })->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
  file->addSeparator();
  m_exports->addActions(file);
  file->addSeparator();
  file->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  auto step = [this](int dl, int dh) {
    m_view->setLayerHead(std::clamp(m_view->layer() + dl, 0, std::max(0, m_doc->layerCount() - 1)),
                         std::clamp(m_view->head() + dh, 0, std::max(0, m_doc->headCount() - 1)));
  };
  view->addAction(tr("Next layer"), this, [step] { step(1, 0); })->setShortcut(QKeySequence(Qt::Key_PageDown));
  view->addAction(tr("Previous layer"), this, [step] { step(-1, 0); })->setShortcut(QKeySequence(Qt::Key_PageUp));
  view->addAction(tr("Next head"), this, [step] { step(0, 1); })->setShortcut(QKeySequence(Qt::Key_BracketRight));
  view->addAction(tr("Previous head"), this, [step] { step(0, -1); })->setShortcut(QKeySequence(Qt::Key_BracketLeft));
  view->addSeparator();
  auto* head = tab<HeadTab>();
  view->addAction(tr("Zoom in"), this, [head] { head->view()->zoomBy(1.5); })->setShortcut(QKeySequence::ZoomIn);
  view->addAction(tr("Zoom out"), this, [head] { head->view()->zoomBy(1 / 1.5); })->setShortcut(QKeySequence::ZoomOut);
  view->addAction(tr("Show the whole matrix"), this, [head] { head->view()->resetZoom(); })
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
  view->addAction(tr("Unpin row and column"), this, [this] { m_view->setPin(-1, -1); });
  view->addSeparator();
  view->addAction(m_dock->toggleViewAction());

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::showShortcuts)->setShortcut(QKeySequence::HelpContents);
  help->addAction(tr("&About AttnScope"), this, &MainWindow::showAbout);
}

void MainWindow::status(const QString& text, int ms) { statusBar()->showMessage(text, ms); }

void MainWindow::focusView() {
  // After a run the keys belong to the views ([ ] change head, Page Up/Down layer), not to the text box.
  if (QWidget* w = m_tabs->currentWidget()) w->setFocus(Qt::OtherFocusReason);
}

void MainWindow::onState() {
  const bool busy = m_runner->busy();
  m_input->setEngineState(m_doc->hasModel(), busy);
  m_progress->setVisible(busy || m_exports->batchRunning());
  if (busy) {
    m_progress->setValue(0);
    const auto s = m_runner->state();
    m_progress->setMaximum(s == RunController::State::Loading || s == RunController::State::OpeningSession ? 0 : 1);
  }
}

void MainWindow::openModel(const QString& dir) {
  // The current model and its results stay until the new one has loaded: a failed open changes nothing.
  if (!m_runner->load(dir, m_device, m_dtype)) return;
  QSettings().setValue("model/lastDir", dir);
  status(tr("Loading %1…").arg(dir), 0);
}

void MainWindow::onLoaded(const ModelSummary& s, bool acceptsPair) {
  m_doc->setModel(s, acceptsPair);  // replaces every result of the previous model at once
  for (int i = 0; i < m_tabs->count(); ++i)
    if (auto* t = qobject_cast<AnalysisTab*>(m_tabs->widget(i))) m_tabs->setTabEnabled(i, t->availableFor(s));
  if (!m_tabs->isTabEnabled(m_tabs->currentIndex())) showTab("head");
  setWindowTitle(QString("AttnScope — %1").arg(QFileInfo(QString::fromStdString(s.dir)).fileName()));
  status(tr("Loaded %1 (%2)").arg(QString::fromStdString(s.dir), QString::fromStdString(s.architecture)));
  addRecent(QString::fromStdString(s.dir));
  onState();
  if (m_sessions->modelLoaded()) return;
  if (m_runAfterLoad) {
    m_runAfterLoad = false;
    runNow();
    return;
  }
  emit idle();
}

void MainWindow::onFailed(RunController::State during, const QString& title, const QString& message) {
  m_runAfterLoad = false;
  status(title);
  if (m_sessions->jobFailed(title, message)) return;
  // A failed open leaves the working model (the engine kept it): say so.
  const bool keptModel = during == RunController::State::Loading && m_doc->hasModel();
  QMessageBox::critical(this, title,
                        keptModel ? message + tr("\n\n%1 is still open.").arg(QFileInfo(m_doc->modelDir()).fileName())
                                  : message);
  emit idle();
}

bool MainWindow::request(RunRequest& r) {
  QString why;
  if (m_input->makeRequest(r, &why)) return true;
  QMessageBox::information(this, tr("No input"), why);
  return false;
}

void MainWindow::runNow() {
  if (m_runner->state() == RunController::State::Loading || (!m_doc->hasModel() && !m_runner->busy())) {
    m_runAfterLoad = true;  // runs as soon as the model is loaded
    return;
  }
  RunRequest r;
  if (!m_doc->hasModel() || m_runner->busy() || !request(r)) return;
  m_doc->setRequest(r);
  if (m_runner->run(r)) status(tr("Running…"), 0);
}

void MainWindow::compareNow(const QStringList& specs) {
  RunRequest r;
  if (!m_doc->hasModel() || m_runner->busy() || !request(r)) return;
  r.variant.clear();
  if (m_runner->compare(r, specs)) status(tr("Comparing full with %1 variants…").arg(specs.size()), 0);
}

void MainWindow::generateNow(int count) {
  RunRequest r;
  if (!m_doc->hasModel() || m_runner->busy() || !request(r)) return;
  m_input->setGenerateCount(count);
  if (m_runner->generate(r, count)) status(tr("Generating %1 tokens…").arg(count), 0);
}

void MainWindow::sweepNow(const PruneSweepOptions& options) {
  RunRequest r;
  if (!m_doc->hasModel() || m_runner->busy() || !request(r)) return;
  r.variant.clear();
  if (m_runner->pruneSweep(r, options)) status(tr("Pruning sweep over %1 fractions…").arg(options.ratios.size()), 0);
}

void MainWindow::cancelRun() { m_runner->cancel(); }

void MainWindow::setComputeDtype(const QString& dtype) {
  if (dtype == m_dtype) return;
  m_dtype = dtype;
  QSettings().setValue("model/dtype", dtype);
  if (m_doc->hasModel() && !m_runner->busy()) openModel(m_doc->modelDir());
}

void MainWindow::openSession(const QString& path) { m_sessions->open(path, m_device, m_dtype); }

void MainWindow::saveSession(const QString& path) { m_sessions->save(path, m_device); }

bool MainWindow::showTab(const QString& key) {
  for (int i = 0; i < m_tabs->count(); ++i)
    if (auto* t = qobject_cast<AnalysisTab*>(m_tabs->widget(i)); t && t->key() == key && m_tabs->isTabEnabled(i)) {
      m_tabs->setCurrentIndex(i);
      return true;
    }
  return false;
}

void MainWindow::showShortcuts() {
  QMessageBox::information(
      this, tr("Keyboard shortcuts"),
      tr("<table cellspacing=4>"
         "<tr><td><b>Ctrl+O</b></td><td>open a model folder</td></tr>"
         "<tr><td><b>Ctrl+H</b></td><td>open a model from the Hugging Face cache</td></tr>"
         "<tr><td><b>Ctrl+Enter</b></td><td>run the input</td></tr>"
         "<tr><td><b>Esc</b></td><td>cancel the run or the export</td></tr>"
         "<tr><td><b>[ &nbsp; ]</b></td><td>previous / next head</td></tr>"
         "<tr><td><b>Page Up / Page Down</b></td><td>previous / next layer</td></tr>"
         "<tr><td><b>Ctrl+= &nbsp; Ctrl+-</b></td><td>zoom the head view in / out</td></tr>"
         "<tr><td><b>Ctrl+0</b></td><td>show the whole matrix</td></tr>"
         "<tr><td><b>click</b></td><td>pin a row and column (in every view)</td></tr>"
         "<tr><td><b>Ctrl+E</b></td><td>export the current view as a figure</td></tr>"
         "<tr><td><b>Ctrl+Shift+E</b></td><td>export every head to a folder</td></tr>"
         "<tr><td><b>Ctrl+S</b></td><td>save the capture (safetensors)</td></tr>"
         "<tr><td><b>Ctrl+Shift+S / O</b></td><td>save / open a session</td></tr></table>"));
}

void MainWindow::showAbout() {
  QMessageBox::about(this, tr("About AttnScope"),
                     tr("<b>AttnScope %1</b><br>Look inside transformer models: every layer's and head's attention, "
                        "and attention variants side by side.<br><br>Qt %2 · LibTorch %3")
                         .arg(ATTNSCOPE_VERSION, qVersion(), QString::fromStdString(libtorchVersion())));
}

void MainWindow::addRecent(const QString& dir) {
  QSettings settings;
  QStringList recent = settings.value("model/recent").toStringList();
  recent.removeAll(dir);
  recent.prepend(dir);
  while (recent.size() > 8) recent.removeLast();
  settings.setValue("model/recent", recent);
}

void MainWindow::fillRecentMenu() {
  m_recent->clear();
  const QStringList recent = QSettings().value("model/recent").toStringList();
  for (const QString& dir : recent) {
    QAction* a = m_recent->addAction(QFileInfo(dir).fileName() + "   " + dir, this, [this, dir] { openModel(dir); });
    a->setEnabled(QFileInfo(dir + "/config.json").exists());
  }
  if (recent.isEmpty()) m_recent->addAction(tr("(none yet)"))->setEnabled(false);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  for (const QUrl& url : event->mimeData()->urls()) {
    const QFileInfo info(url.toLocalFile());
    const QString suffix = info.suffix().toLower();
    if (info.isDir()) return openModel(info.absoluteFilePath());
    if (info.isFile() && suffix == "attnscope") return openSession(info.absoluteFilePath());
    const InputKind kind = inputKind(m_doc->summary());
    if (info.isFile() && m_doc->hasModel() &&
        ((kind == InputKind::Image && imageExtensions().contains(suffix)) ||
         (kind == InputKind::Audio && audioExtensions().contains(suffix))))
      return m_input->setFile(info.absoluteFilePath());
    if (info.isFile() && info.dir().exists("config.json")) return openModel(info.absolutePath());
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings().setValue("window/geometry", saveGeometry());
  QSettings().setValue("window/state", saveState());
  shutdown();
  event->accept();
}

}  // namespace attnscope
