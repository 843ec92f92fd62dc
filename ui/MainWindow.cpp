#include "HubCacheDialog.h"
#include "MainWindow.h"

#include <QAction>
#include <algorithm>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QFileDialog>
#include <QInputDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QHBoxLayout>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QShortcut>
#include <QStatusBar>
#include <QToolBar>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSplitter>
#include <QVBoxLayout>

#include "ColorMaps.h"
#include "HubCacheDialog.h"
#include "FigureExport.h"
#include "ViewFigure.h"
#include "attnscope/DataExport.h"

namespace attnscope {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), m_worker(new RunWorker) {
  setWindowTitle("AttnScope");
  setAcceptDrops(true);
  buildUi();
  m_worker->moveToThread(&m_thread);
  connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
  connect(this, &MainWindow::requestLoad, m_worker, &RunWorker::load);
  connect(this, &MainWindow::requestRun, m_worker, &RunWorker::runRequest);
  connect(this, &MainWindow::requestSave, m_worker, &RunWorker::save);
  connect(m_worker, &RunWorker::loaded, this, &MainWindow::onLoaded);
  connect(m_worker, &RunWorker::finished, this, &MainWindow::onFinished);
  connect(m_worker, &RunWorker::failed, this, &MainWindow::onFailed);
  connect(m_worker, &RunWorker::cancelled, this, [this] {
    setBusy(false, tr("Run cancelled"));
    m_compareView->setBusy(false);
    emit idle();
  });
  connect(m_worker, &RunWorker::saved, this,
          [this](const QString& path) { statusBar()->showMessage(tr("Saved %1").arg(path), 5000); });
  connect(this, &MainWindow::requestOverlay, m_worker, &RunWorker::overlay);
  connect(this, &MainWindow::requestCompare, m_worker, &RunWorker::compare);
  connect(this, &MainWindow::requestAggregate, m_worker, &RunWorker::aggregate);
  connect(this, &MainWindow::requestHeadMetric, m_worker, &RunWorker::headMetric);
  connect(m_worker, &RunWorker::headMetricReady, this,
          [this](const QString& purpose, const QString& metric, const std::vector<float>& v, int layers, int heads) {
            if (purpose == "overview") {
              m_overview->setFrameMetric(v, layers, heads, m_frameKind->currentText());
              emit overviewFramed();
              return;
            }
            std::vector<std::string> rows, cols;
            for (int l = 0; l < layers; ++l) rows.push_back("L" + std::to_string(l));
            for (int h = 0; h < heads; ++h) cols.push_back("H" + std::to_string(h));
            double lo = 0, hi = 0;
            for (float x : v) hi = std::max(hi, static_cast<double>(x));
            m_metrics->setMatrix(v, layers, heads, rows, cols, m_metricKind->currentText(), lo, hi > 0 ? hi : 1.0,
                                 QString(), metric, "layer", "head");
            m_metricGrid = v;
            m_metricLayers = layers;
            m_metricHeads = heads;
            updateBars();
            m_metricsNote->clear();
            emit metricsShown();
          });
  connect(m_worker, &RunWorker::viewFailed, this, [this](const QString& purpose, const QString& message) {
    if (purpose == "metrics") m_metricsNote->setText(message);
    else statusBar()->showMessage(message, 8000);
  });
  connect(this, &MainWindow::requestGenerate, m_worker, &RunWorker::generate);
  connect(m_worker, &RunWorker::generated, this, [this](std::shared_ptr<const CaptureResult> result, int prompt) {
    m_promptLength = prompt;
    adoptCapture(std::move(result));
    setBusy(false, tr("Generated %1 tokens in %2 s").arg(m_step->maximum()).arg(m_capture->seconds, 0, 'f', 2));
    emit idle();
  });
  connect(this, &MainWindow::requestSaveSession, m_worker, &RunWorker::saveSession);
  connect(m_worker, &RunWorker::sessionSaved, this, [this](const QString& path) {
    statusBar()->showMessage(tr("Session saved to %1").arg(path), 5000);
    emit sessionSaved(path);
  });
  connect(this, &MainWindow::requestOpenSession, m_worker, &RunWorker::openSession);
  connect(this, &MainWindow::requestPreview, m_worker, &RunWorker::preview);
  connect(m_worker, &RunWorker::previewReady, this, [this](const QString& path, const QImage& img, double total) {
    if (path != m_file->text()) return;  // an older request
    m_thumb->setPixmap(QPixmap::fromImage(img));
    m_thumb->setToolTip(tr("%1: %2 s in all; the preview shows the model's window from %3 s")
                            .arg(QFileInfo(path).fileName())
                            .arg(total, 0, 'f', 2)
                            .arg(m_offset->value(), 0, 'f', 2));
    emit previewShown();
  });
  connect(m_worker, &RunWorker::previewFailed, this, [this](const QString& path, const QString& message) {
    if (path != m_file->text()) return;
    m_thumb->setPixmap(QPixmap());
    m_thumb->setToolTip(message);
  });
  connect(m_worker, &RunWorker::sessionRead, this,
          [this](const QString& path, const QString& stateJson, std::shared_ptr<const CaptureResult> capture,
                 std::shared_ptr<const ComparisonResult> comparison, bool modelFound) {
            const QJsonObject state = QJsonDocument::fromJson(stateJson.toUtf8()).object();
            m_promptLength = state.value("generation").toObject().value("prompt_length").toInt(-1);
            m_compareView->setResult(comparison);
            if (capture) adoptCapture(capture);
            applySessionState(state);
            QSettings().setValue("session/lastDir", QFileInfo(path).absolutePath());
            if (modelFound) {
              m_sessionPending = true;  // sessionOpened() once the model is loaded
              statusBar()->showMessage(tr("Session %1: loading its model…").arg(path));
              return;
            }
            setBusy(false);
            m_loaded = false;
            m_run->setEnabled(false);
            m_card->setText(tr("<b>Model folder not found</b><br><br>%1<br><br>The session's captures are shown; "
                               "open the model folder (File ▸ Open model folder…) to run it again.")
                                .arg(state.value("model").toString().toHtmlEscaped()));
            statusBar()->showMessage(tr("Session %1 opened without its model").arg(path), 8000);
            emit sessionOpened();
            emit idle();
          });
  connect(m_worker, &RunWorker::aggregated, this,
          [this](const QString& kind, int layer, const std::vector<float>& v, int rows, int cols) {
            if (!m_capture) return;
            const int si = currentStack();
            if (m_capture->stackQueryLabels[si].size() != static_cast<size_t>(rows)) return;  // an older request
            double top = 0;
            for (float x : v) top = std::max(top, static_cast<double>(x));
            const QString what = m_aggKind->currentText();
            m_aggregate->setMatrix(v, rows, cols, m_capture->stackQueryLabels[si], m_capture->stackKeyLabels[si],
                                   tr("%1 — layer %2").arg(what).arg(layer), 0.0, kind == "rollout" ? top : 1.0);
            emit aggregateShown();
          });
  connect(m_worker, &RunWorker::compared, this, [this](std::shared_ptr<const ComparisonResult> result) {
    setBusy(false, tr("Compared %1 variants").arg(result->panels.size() - 1));
    m_compareView->setBusy(false);
    m_compareView->setResult(result);
    showHead();
    emit idle();
  });
  connect(m_worker, &RunWorker::overlayReady, this, [this](const QImage& img, const QString& title) {
    // Fit the picture to the view's width (never enlarged); the full-size picture is what the CLI writes.
    const int room = std::max(200, m_tabs->width() - 40);
    const QImage fitted = img.width() > room ? img.scaledToWidth(room, Qt::SmoothTransformation) : img;
    m_overlay->setPixmap(QPixmap::fromImage(fitted));
    m_overlayImage = img;
    m_overlay->setToolTip(title);
    emit overlayShown();
  });
  connect(m_worker, &RunWorker::overlayFailed, this, [this](const QString& message) {
    m_overlay->setPixmap(QPixmap());
    m_overlayImage = QImage();
    m_overlay->setText(message);
  });
  connect(m_worker, &RunWorker::progress, this, [this](int done, int total) {
    m_progress->setMaximum(std::max(total, 1));
    m_progress->setValue(done);
  });
  m_thread.start();
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
  m_colormap->setCurrentText(settings.value("view/colormap", "viridis").toString());
  m_scaleKind->setCurrentIndex(std::clamp(settings.value("view/scale", 0).toInt(), 0, 2));
  m_gamma->setValue(settings.value("view/gamma", 0.5).toDouble());
  applyScale();
  m_batchTimer.setInterval(0);
  connect(&m_batchTimer, &QTimer::timeout, this, &MainWindow::batchStep);
}

MainWindow::~MainWindow() { shutdown(); }

void MainWindow::shutdown() {
  if (!m_thread.isRunning()) return;
  m_worker->requestCancel();
  m_thread.quit();
  m_thread.wait();
}

void MainWindow::buildUi() {
  auto* fileMenu = menuBar()->addMenu(tr("&File"));
  QAction* open = fileMenu->addAction(tr("&Open model folder…"), this, &MainWindow::chooseModel);
  open->setShortcut(QKeySequence::Open);
  fileMenu->addAction(tr("Open from &Hugging Face cache…"), this, &MainWindow::chooseCachedModel)
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_H));
  m_recent = fileMenu->addMenu(tr("Open &recent model"));
  connect(m_recent, &QMenu::aboutToShow, this, &MainWindow::fillRecentMenu);
  QMenu* dtypeMenu = fileMenu->addMenu(tr("Compute &dtype"));
  dtypeMenu->setToolTip(tr("What the weights are computed in; applies to the next model opened (the current one is "
                           "reopened)"));
  auto* dtypes = new QActionGroup(dtypeMenu);
  m_dtype = QSettings().value("model/dtype", "auto").toString();
  const QList<QPair<QString, QString>> dtypeChoices = {
      {"auto", tr("Automatic (float32 on the CPU, the stored 16-bit type on a GPU)")},
      {"float32", tr("float32")},
      {"bfloat16", tr("bfloat16")},
      {"float16", tr("float16")}};
  for (const auto& [key, label] : dtypeChoices) {
    QAction* a = dtypeMenu->addAction(label);
    a->setCheckable(true);
    a->setChecked(key == m_dtype);
    dtypes->addAction(a);
    connect(a, &QAction::triggered, this, [this, key = key] { setComputeDtype(key); });
  }
  fileMenu->addSeparator();
  fileMenu->addAction(tr("Open s&ession…"), this, &MainWindow::chooseOpenSession)
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  fileMenu->addAction(tr("Save se&ssion…"), this, &MainWindow::chooseSaveSession)
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
  fileMenu->addSeparator();
  QAction* save = fileMenu->addAction(tr("&Save capture (safetensors)…"), this, &MainWindow::saveCapture);
  save->setShortcut(QKeySequence::Save);
  QAction* exportFig = fileMenu->addAction(tr("&Export figure (PNG, SVG, PDF)…"), this, &MainWindow::chooseExport);
  exportFig->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  fileMenu->addAction(tr("Export &all heads to a folder…"), this, &MainWindow::chooseBatchExport)
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
  fileMenu->addAction(tr("Export head &data (NPY, CSV)…"), this, &MainWindow::chooseHeadData);
  fileMenu->addAction(tr("Export comparison &metrics (JSON, CSV)…"), this, &MainWindow::chooseMetricsExport);
  fileMenu->addSeparator();
  fileMenu->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);

  auto* inputRow = new QHBoxLayout;
  m_inputs = new QStackedWidget(central);
  auto* textPage = new QWidget(m_inputs);
  auto* textRow = new QHBoxLayout(textPage);
  textRow->setContentsMargins(0, 0, 0, 0);
  m_text = new QLineEdit(textPage);
  m_text->setPlaceholderText(tr("Text to run through the model"));
  m_pair = new QLineEdit(textPage);
  m_pair->setPlaceholderText(tr("Second segment (sentence-pair models)"));
  m_pair->setVisible(false);
  textRow->addWidget(m_text, 3);
  textRow->addWidget(m_pair, 2);
  auto* filePage = new QWidget(m_inputs);
  auto* fileRow = new QHBoxLayout(filePage);
  fileRow->setContentsMargins(0, 0, 0, 0);
  m_thumb = new QLabel(filePage);
  m_thumb->setFixedSize(40, 32);
  m_thumb->setScaledContents(false);
  m_file = new QLineEdit(filePage);
  m_file->setPlaceholderText(tr("Image or audio file (open or drop it here)"));
  m_browse = new QPushButton(tr("Browse…"), filePage);
  m_offset = new QDoubleSpinBox(filePage);
  m_offset->setPrefix(tr("from "));
  m_offset->setSuffix(tr(" s"));
  m_offset->setDecimals(2);
  m_offset->setRange(0, 86400);
  m_offset->setSingleStep(0.1);
  m_offset->setToolTip(tr("Start of the model's window in the audio file"));
  fileRow->addWidget(m_thumb);
  fileRow->addWidget(m_file, 1);
  fileRow->addWidget(m_browse);
  fileRow->addWidget(m_offset);
  m_inputs->addWidget(textPage);
  m_inputs->addWidget(filePage);
  m_variant = new QComboBox(central);
  m_variant->setEditable(true);
  m_variant->addItems({"full", "window:w=8", "block:size=16,global=1,random=1", "hier:block=8,keep=2", "topk:k=8",
                       "linear", "performer:features=64", "prune:ratio=0.3", "quant:bits=4", "dropout:p=0.1"});
  m_variant->setToolTip(tr("Attention variant for the run (any spec: see `attnscope-cli compare --help`)"));
  m_variant->setMinimumContentsLength(12);
  m_variant->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_run = new QPushButton(tr("Run"), central);
  m_run->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  m_run->setToolTip(tr("Run the model (Ctrl+Enter)"));
  m_cancel = new QPushButton(tr("Cancel"), central);
  m_cancel->setEnabled(false);
  m_genCount = new QSpinBox(central);
  m_genCount->setRange(1, 1024);
  m_genCount->setValue(20);
  m_genCount->setSuffix(tr(" tokens"));
  m_genCount->setToolTip(tr("How many tokens to generate (greedy)"));
  m_generate = new QPushButton(tr("Generate"), central);
  m_generate->setToolTip(tr("Greedy generation; the attention of every generated step can then be browsed"));
  m_step = new QSpinBox(central);
  m_step->setPrefix(tr("step "));
  m_step->setToolTip(tr("Generated step whose query row is pinned in the head view and token lines"));
  for (QWidget* w : {static_cast<QWidget*>(m_genCount), static_cast<QWidget*>(m_generate),
                     static_cast<QWidget*>(m_step)})
    w->setVisible(false);
  inputRow->addWidget(m_inputs, 1);
  inputRow->addWidget(new QLabel(tr("variant"), central));
  inputRow->addWidget(m_variant);
  inputRow->addWidget(m_run);
  inputRow->addWidget(m_genCount);
  inputRow->addWidget(m_generate);
  inputRow->addWidget(m_step);
  inputRow->addWidget(m_cancel);
  layout->addLayout(inputRow);

  auto* viewRow = new QHBoxLayout;
  m_layer = new QSpinBox(central);
  m_head = new QSpinBox(central);
  m_layer->setPrefix(tr("layer "));
  m_head->setPrefix(tr("head "));
  m_layer->setToolTip(tr("Layer (Page Up / Page Down)"));
  m_head->setToolTip(tr("Head ([ / ])"));
  m_colormap = new QComboBox(central);
  m_colormap->addItems(ColorMaps::names());
  m_prediction = new QLabel(central);
  m_stack = new QComboBox(central);
  m_stack->setToolTip(tr("Attention stack (encoder, decoder, cross)"));
  m_stack->setVisible(false);
  viewRow->addWidget(m_stack);
  viewRow->addWidget(m_layer);
  viewRow->addWidget(m_head);
  viewRow->addWidget(new QLabel(tr("colour map"), central));
  viewRow->addWidget(m_colormap);
  m_scaleKind = new QComboBox(central);
  m_scaleKind->addItems({tr("linear"), tr("log"), tr("power")});
  m_scaleKind->setToolTip(tr("Colour scale: linear, log10 (four decades below the top) or value^γ"));
  m_gamma = new QDoubleSpinBox(central);
  m_gamma->setPrefix(tr("γ "));
  m_gamma->setRange(0.1, 3.0);
  m_gamma->setSingleStep(0.1);
  m_gamma->setValue(0.5);
  m_autoRange = new QCheckBox(tr("auto range"), central);
  m_autoRange->setChecked(true);
  m_autoRange->setToolTip(tr("Colour range 0 .. the head's largest weight; off: the fixed range on the right"));
  m_rangeLo = new QDoubleSpinBox(central);
  m_rangeHi = new QDoubleSpinBox(central);
  for (QDoubleSpinBox* b : {m_rangeLo, m_rangeHi}) {
    b->setDecimals(4);
    b->setRange(0.0, 1.0);
    b->setSingleStep(0.05);
    b->setEnabled(false);
  }
  m_rangeHi->setValue(1.0);
  viewRow->addWidget(new QLabel(tr("scale"), central));
  viewRow->addWidget(m_scaleKind);
  viewRow->addWidget(m_gamma);
  viewRow->addWidget(m_autoRange);
  viewRow->addWidget(m_rangeLo);
  viewRow->addWidget(m_rangeHi);
  viewRow->addStretch(1);
  viewRow->addWidget(m_prediction);
  layout->addLayout(viewRow);

  m_tabs = new QTabWidget(central);
  m_heatmap = new HeatmapView(m_tabs);
  m_tabs->addTab(m_heatmap, tr("Head view"));
  m_overviewPage = new QWidget(m_tabs);
  {
    auto* v = new QVBoxLayout(m_overviewPage);
    auto* row = new QHBoxLayout;
    m_frameKind = new QComboBox(m_overviewPage);
    m_frameKind->addItem(tr("no frame colour"), "");
    m_frameKind->addItem(tr("frame: entropy"), "entropy");
    m_frameKind->addItem(tr("frame: mean distance"), "distance");
    m_frameKind->addItem(tr("frame: sink mass"), "sink");
    m_frameKind->addItem(tr("frame: importance"), "importance");
    m_frameKind->setToolTip(tr("Colour each thumbnail's frame by a head metric"));
    row->addWidget(m_frameKind);
    row->addStretch(1);
    v->addLayout(row);
    auto* scrollGrid = new QScrollArea(m_overviewPage);
    m_overview = new OverviewView(scrollGrid);
    scrollGrid->setWidget(m_overview);
    scrollGrid->setWidgetResizable(true);
    v->addWidget(scrollGrid, 1);
  }
  m_tabs->addTab(m_overviewPage, tr("Overview"));
  m_linesPage = new QWidget(m_tabs);
  {
    auto* v = new QVBoxLayout(m_linesPage);
    auto* row = new QHBoxLayout;
    m_linesHeads = new QComboBox(m_linesPage);
    m_linesHeads->addItem(tr("this head"));
    m_linesHeads->addItem(tr("every head of the layer (one colour each)"));
    row->addWidget(m_linesHeads);
    row->addStretch(1);
    v->addLayout(row);
    m_lines = new TokenLineView(m_linesPage);
    v->addWidget(m_lines, 1);
  }
  m_tabs->addTab(m_linesPage, tr("Token lines"));
  m_aggPage = new QWidget(m_tabs);
  {
    auto* v = new QVBoxLayout(m_aggPage);
    auto* row = new QHBoxLayout;
    m_aggKind = new QComboBox(m_aggPage);
    m_aggKind->addItem(tr("mean over heads"), "mean");
    m_aggKind->addItem(tr("max over heads"), "max");
    m_aggKind->addItem(tr("rollout up to this layer (Abnar & Zuidema 2020)"), "rollout");
    row->addWidget(m_aggKind);
    row->addStretch(1);
    v->addLayout(row);
    m_aggregate = new HeatmapView(m_aggPage);
    v->addWidget(m_aggregate, 1);
  }
  m_tabs->addTab(m_aggPage, tr("Aggregates"));
  m_metricsPage = new QWidget(m_tabs);
  {
    auto* v = new QVBoxLayout(m_metricsPage);
    auto* row = new QHBoxLayout;
    m_metricKind = new QComboBox(m_metricsPage);
    m_metricKind->addItem(tr("entropy (nats)"), "entropy");
    m_metricKind->addItem(tr("mean attention distance (positions)"), "distance");
    m_metricKind->addItem(tr("sink mass on the first position"), "sink");
    m_metricKind->addItem(tr("importance |∂L/∂ξ| (Michel et al. 2019)"), "importance");
    row->addWidget(m_metricKind);
    m_metricsNote = new QLabel(m_metricsPage);
    row->addWidget(m_metricsNote, 1);
    v->addLayout(row);
    auto* split = new QSplitter(Qt::Vertical, m_metricsPage);
    m_metrics = new HeatmapView(split);
    m_bars = new QCustomPlot(split);
    m_bars->setMinimumHeight(140);
    m_bars->xAxis->setLabel(tr("head"));
    auto* bars = new QCPBars(m_bars->xAxis, m_bars->yAxis);
    bars->setBrush(QColor(59, 82, 139));
    bars->setPen(Qt::NoPen);
    bars->setWidth(0.7);
    split->addWidget(m_metrics);
    split->addWidget(m_bars);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    v->addWidget(split, 1);
  }
  m_tabs->addTab(m_metricsPage, tr("Head metrics"));
  connect(m_metricKind, &QComboBox::currentIndexChanged, this, &MainWindow::updateMetrics);
  connect(m_metrics->plot(), &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const int head = static_cast<int>(std::lround(m_metrics->plot()->xAxis->pixelToCoord(e->pos().x())));
    const int layer = static_cast<int>(std::lround(m_metrics->plot()->yAxis->pixelToCoord(e->pos().y())));
    if (layer >= 0 && layer < m_summary.layers && head >= 0 && head < m_summary.heads) {
      m_layer->setValue(layer);
      m_head->setValue(head);
    }
  });
  connect(m_aggKind, &QComboBox::currentIndexChanged, this, &MainWindow::updateAggregate);
  connect(m_overview, &OverviewView::headChosen, this, [this](int layer, int head) {
    m_layer->setValue(layer);
    m_head->setValue(head);
    m_tabs->setCurrentWidget(m_heatmap);
  });
  connect(m_frameKind, &QComboBox::currentIndexChanged, this, &MainWindow::updateOverviewFrame);
  connect(m_linesHeads, &QComboBox::currentIndexChanged, this, &MainWindow::updateLines);
  auto* overlayPage = new QWidget(m_tabs);
  auto* overlayLayout = new QVBoxLayout(overlayPage);
  auto* overlayControls = new QHBoxLayout;
  m_query = new QSpinBox(overlayPage);
  m_query->setPrefix(tr("query "));
  m_query->setToolTip(tr("Query position whose attention is drawn (0 = the class token)"));
  m_rollout = new QCheckBox(tr("rollout over layers"), overlayPage);
  m_opacity = new QSlider(Qt::Horizontal, overlayPage);
  m_opacity->setRange(0, 100);
  m_opacity->setValue(55);
  m_opacity->setMaximumWidth(160);
  overlayControls->addWidget(m_query);
  overlayControls->addWidget(m_rollout);
  overlayControls->addWidget(new QLabel(tr("opacity"), overlayPage));
  overlayControls->addWidget(m_opacity);
  overlayControls->addStretch(1);
  overlayLayout->addLayout(overlayControls);
  auto* scroll = new QScrollArea(overlayPage);
  m_overlay = new QLabel(tr("Run an image or audio model to see its attention over the input."), scroll);
  m_overlay->setAlignment(Qt::AlignCenter);
  scroll->setWidget(m_overlay);
  scroll->setWidgetResizable(true);
  overlayLayout->addWidget(scroll, 1);
  m_overlayPage = overlayPage;
  m_tabs->addTab(overlayPage, tr("Input overlay"));
  m_tabs->setTabEnabled(m_tabs->indexOf(overlayPage), false);
  m_compareView = new CompareView(m_tabs);
  m_tabs->addTab(m_compareView, tr("Compare variants"));
  connect(m_compareView, &CompareView::compareRequested, this, &MainWindow::compareNow);
  connect(m_compareView, &CompareView::headChosen, this, [this](int layer, int head) {
    m_layer->setValue(layer);
    m_head->setValue(head);
  });
  layout->addWidget(m_tabs, 1);
  setCentralWidget(central);

  auto* dock = new QDockWidget(tr("Model"), this);
  dock->setObjectName("modelDock");
  m_card = new QLabel(tr("No model loaded.\n\nFile ▸ Open model folder…\nor drop a Hugging Face\nmodel folder here."), dock);
  m_card->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  m_card->setMargin(8);
  m_card->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_card->setMinimumWidth(220);
  m_card->setMaximumWidth(280);
  m_card->setWordWrap(true);
  dock->setWidget(m_card);
  addDockWidget(Qt::LeftDockWidgetArea, dock);

  m_progress = new QProgressBar(this);
  m_progress->setMaximumWidth(200);
  m_progress->setVisible(false);
  statusBar()->addPermanentWidget(m_progress);

  connect(m_run, &QPushButton::clicked, this, &MainWindow::runNow);
  connect(m_text, &QLineEdit::returnPressed, this, &MainWindow::runNow);
  connect(m_cancel, &QPushButton::clicked, this, &MainWindow::cancelRun);
  connect(m_browse, &QPushButton::clicked, this, &MainWindow::chooseInputFile);
  connect(m_offset, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &MainWindow::updatePreview);
  connect(m_file, &QLineEdit::returnPressed, this, &MainWindow::runNow);
  connect(m_stack, &QComboBox::currentTextChanged, this, [this] {
    showHead();
    showStep();
  });
  connect(m_query, qOverload<int>(&QSpinBox::valueChanged), this, &MainWindow::updateOverlay);
  connect(m_rollout, &QCheckBox::toggled, this, &MainWindow::updateOverlay);
  connect(m_opacity, &QSlider::valueChanged, this, &MainWindow::updateOverlay);
  connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::updateOverlay);
  connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::updateAggregate);
  connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::updateMetrics);
  connect(m_layer, qOverload<int>(&QSpinBox::valueChanged), this, &MainWindow::showHead);
  connect(m_head, qOverload<int>(&QSpinBox::valueChanged), this, &MainWindow::showHead);
  connect(m_colormap, &QComboBox::currentTextChanged, this, [this](const QString& name) {
    m_heatmap->setColorMap(name);
    m_compareView->setColorMap(name);
    m_overview->setColorMap(name);
    m_aggregate->setColorMap(name);
    QSettings().setValue("view/colormap", name);
    updateOverlay();
  });
  connect(m_heatmap, &HeatmapView::hovered, this, [this](const QString& t) { statusBar()->showMessage(t); });
  auto* viewMenu = menuBar()->addMenu(tr("&View"));
  viewMenu->addAction(tr("Next layer"), this, [this] { m_layer->stepUp(); })->setShortcut(QKeySequence(Qt::Key_PageDown));
  viewMenu->addAction(tr("Previous layer"), this, [this] { m_layer->stepDown(); })
      ->setShortcut(QKeySequence(Qt::Key_PageUp));
  viewMenu->addAction(tr("Next head"), this, [this] { m_head->stepUp(); })->setShortcut(QKeySequence(Qt::Key_BracketRight));
  viewMenu->addAction(tr("Previous head"), this, [this] { m_head->stepDown(); })
      ->setShortcut(QKeySequence(Qt::Key_BracketLeft));
  viewMenu->addSeparator();
  viewMenu->addAction(tr("Zoom in"), this, [this] { m_heatmap->zoomBy(1.5); })->setShortcut(QKeySequence::ZoomIn);
  viewMenu->addAction(tr("Zoom out"), this, [this] { m_heatmap->zoomBy(1 / 1.5); })->setShortcut(QKeySequence::ZoomOut);
  viewMenu->addAction(tr("Show the whole matrix"), this, [this] { m_heatmap->resetZoom(); })
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
  viewMenu->addAction(tr("Unpin row and column"), this, [this] {
    m_heatmap->setPin(-1, -1);
    m_compareView->setPin(-1, -1);
  });
  viewMenu->addSeparator();
  viewMenu->addAction(dock->toggleViewAction());
  new QShortcut(QKeySequence(Qt::Key_Escape), this, [this] {
    if (m_batchTimer.isActive()) m_batchCancel = true;
    cancelRun();
  });
  connect(m_generate, &QPushButton::clicked, this, [this] { generateNow(m_genCount->value()); });
  connect(m_step, qOverload<int>(&QSpinBox::valueChanged), this, &MainWindow::showStep);
  connect(m_scaleKind, &QComboBox::currentIndexChanged, this, &MainWindow::applyScale);
  connect(m_gamma, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &MainWindow::applyScale);
  connect(m_autoRange, &QCheckBox::toggled, this, &MainWindow::applyScale);
  connect(m_rangeLo, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &MainWindow::applyScale);
  connect(m_rangeHi, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &MainWindow::applyScale);
  // A pinned query row follows everywhere: head view, token lines, every compare panel.
  connect(m_heatmap, &HeatmapView::pinChanged, this, [this](int q, int k) {
    m_lines->setSelectedQuery(q);
    m_compareView->setPin(q, k);
  });
  connect(m_compareView, &CompareView::pinChanged, this, [this](int q, int k) {
    m_heatmap->setPin(q, k);
    m_lines->setSelectedQuery(q);
  });
  connect(m_lines, &TokenLineView::querySelected, this, [this](int q) {
    m_heatmap->setPin(q, m_heatmap->pinnedKey());
    m_compareView->setPin(q, m_heatmap->pinnedKey());
  });
  connect(m_metrics, &HeatmapView::pinChanged, this, [this] { m_metrics->setPin(-1, -1); });
  setBusy(false);
  m_run->setEnabled(false);
  resize(1100, 800);
}

void MainWindow::setBusy(bool busy, const QString& message) {
  m_busy = busy;
  m_run->setEnabled(!busy && m_loaded);
  m_generate->setEnabled(!busy && m_loaded);
  m_cancel->setEnabled(busy);
  m_progress->setVisible(busy);
  if (busy) m_progress->setValue(0);
  if (!message.isEmpty()) statusBar()->showMessage(message, busy ? 0 : 8000);
}

void MainWindow::openModel(const QString& dir) {
  if (m_busy) return;
  // The current model and its results stay until the new one has loaded: a failed open changes nothing.
  m_opening = true;
  setBusy(true, tr("Loading %1…").arg(dir));
  m_progress->setMaximum(0);  // indeterminate while loading
  QSettings().setValue("model/lastDir", dir);
  emit requestLoad(dir, m_device, m_dtype);
}

void MainWindow::setInputText(const QString& text) { m_text->setText(text); }

void MainWindow::setInputFile(const QString& path) {
  m_file->setText(path);
  if (m_summary.modality == "audio") {
    updatePreview();
    return;
  }
  QPixmap thumb(path);
  m_thumb->setPixmap(thumb.isNull() ? QPixmap() : thumb.scaled(m_thumb->size(), Qt::KeepAspectRatio,
                                                                  Qt::SmoothTransformation));
}

void MainWindow::updatePreview() {
  if (m_summary.modality != "audio" || m_file->text().isEmpty()) return;
  // The model's window (Whisper 30 s, KWT 1 s); 10 s when the model does not say.
  const double seconds = m_summary.windowSeconds > 0 ? m_summary.windowSeconds : 10.0;
  emit requestPreview(m_file->text(), m_offset->value(), seconds, m_thumb->width(), m_thumb->height());
}

void MainWindow::setVariant(const QString& spec) { m_variant->setCurrentText(spec); }

void MainWindow::chooseInputFile() {
  const bool image = m_summary.modality == "image";
  const QString key = image ? "input/lastImageDir" : "input/lastAudioDir";
  const QString filter = image ? tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)")
                               : tr("Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.au);;All files (*)");
  const QString path = QFileDialog::getOpenFileName(this, image ? tr("Open an image") : tr("Open an audio file"),
                                                    QSettings().value(key).toString(), filter);
  if (path.isEmpty()) return;
  QSettings().setValue(key, QFileInfo(path).absolutePath());
  setInputFile(path);
}

void MainWindow::updateMetrics() {
  if (!m_capture || m_tabs->currentWidget() != m_metricsPage) return;
  const int si = currentStack();
  m_metricsNote->setText(tr("computing…"));
  emit requestHeadMetric(m_capture, QString::fromStdString(m_capture->stacks[si]),
                         m_metricKind->currentData().toString(), "metrics");
}

void MainWindow::updateAggregate() {
  if (!m_capture || m_tabs->currentWidget() != m_aggPage) return;
  const int si = currentStack();
  emit requestAggregate(m_capture, QString::fromStdString(m_capture->stacks[si]), m_layer->value(),
                        m_aggKind->currentData().toString());
}

void MainWindow::updateOverlay() {
  if (!m_capture || !m_tabs->isTabEnabled(m_tabs->indexOf(m_overlayPage)) || m_tabs->currentWidget() != m_overlayPage)
    return;
  const QString stack = m_stack->isVisible() ? m_stack->currentText() : QString();
  emit requestOverlay(stack, m_layer->value(), m_head->value(), m_query->value(), m_rollout->isChecked(),
                      m_opacity->value() / 100.0, m_colormap->currentText());
}

void MainWindow::runNow() {
  if (!m_loaded || m_opening) {
    m_runAfterLoad = true;  // runs as soon as the model is loaded
    return;
  }
  if (m_busy) return;
  RunRequest r;
  if (!currentRequest(r)) return;
  setBusy(true, tr("Running…"));
  emit requestRun(r);
}

int MainWindow::currentStack() const {
  const int si = std::max(0, m_stack->currentIndex());
  return m_capture && si < static_cast<int>(m_capture->stacks.size()) ? si : 0;
}

bool MainWindow::currentRequest(RunRequest& r) {
  r.variant = m_variant->currentText().trimmed().toStdString();
  if (m_summary.modality == "image" || m_summary.modality == "audio") {
    if (m_file->text().isEmpty()) {
      QMessageBox::information(this, tr("No input"),
                               tr("Choose an %1 file first (Browse… or drop it on the window).")
                                   .arg(QString::fromStdString(m_summary.modality)));
      return false;
    }
    (m_summary.modality == "image" ? r.imagePath : r.audioPath) = m_file->text().toStdString();
    r.offsetSeconds = m_offset->value();
  } else {
    r.text = m_text->text().toStdString();
    r.pair = m_pair->text().toStdString();
    r.hasPair = m_pair->isVisible() && !m_pair->text().isEmpty();
  }
  return true;
}

void MainWindow::compareNow(const QStringList& specs) {
  if (!m_loaded || m_busy) return;
  RunRequest r;
  if (!currentRequest(r)) return;
  r.variant.clear();
  setBusy(true, tr("Comparing full with %1 variants…").arg(specs.size()));
  m_compareView->setBusy(true);
  emit requestCompare(r, specs);
}

void MainWindow::cancelRun() {
  if (m_busy) m_worker->requestCancel();
}

void MainWindow::onLoaded(const ModelSummary& s, bool acceptsPair) {
  if (m_opening) {  // a new model replaces the old one's results: nothing of the previous model stays on screen
    m_capture.reset();
    m_heatmap->clear();
    m_compareView->clear();
    m_overlay->setPixmap(QPixmap());
    m_prediction->clear();
    m_prediction->setToolTip(QString());
    {
      QSignalBlocker block(m_stack);
      m_stack->clear();
    }
    m_stack->setVisible(false);
    m_step->setVisible(false);
    m_opening = false;
  }
  m_summary = s;
  m_loaded = true;
  m_pair->setVisible(acceptsPair);
  // Encoder–decoder text models (T5, BART) take a target for the teacher-forced decoder in the second field.
  m_pair->setPlaceholderText(s.encoderDecoder && s.modality == "text"
                                 ? tr("Target (decoder, teacher-forced; empty = start token only)")
                                 : tr("Second segment (sentence-pair models)"));
  const bool media = s.modality == "image" || s.modality == "audio";
  m_inputs->setCurrentIndex(media ? 1 : 0);
  m_offset->setVisible(s.modality == "audio");
  m_thumb->setVisible(media);
  m_thumb->setFixedSize(s.modality == "audio" ? QSize(160, 36) : QSize(40, 32));
  updatePreview();
  m_tabs->setTabEnabled(m_tabs->indexOf(m_overlayPage), media);
  if (!media && m_tabs->currentWidget() == m_overlayPage) m_tabs->setCurrentWidget(m_heatmap);
  auto number = [](int64_t n) { return QLocale().toString(static_cast<qlonglong>(n)); };
  QString card = QString("<b>%1</b><br><br>").arg(QFileInfo(QString::fromStdString(s.dir)).fileName().toHtmlEscaped());
  card += QString("<table cellspacing=2>"
                  "<tr><td>family</td><td><b>%1</b></td></tr>"
                  "<tr><td>class</td><td>%2</td></tr>"
                  "<tr><td>modality</td><td>%3</td></tr>"
                  "<tr><td>layers</td><td>%4</td></tr>"
                  "<tr><td>heads</td><td>%5 q / %6 kv</td></tr>"
                  "<tr><td>hidden</td><td>%7</td></tr>"
                  "<tr><td>vocabulary</td><td>%8</td></tr>"
                  "<tr><td>parameters</td><td>%9</td></tr>"
                  "<tr><td>dtype</td><td>%10</td></tr>"
                  "<tr><td>device</td><td>%11</td></tr>"
                  "<tr><td>tokenizer</td><td>%12</td></tr></table>")
              .arg(QString::fromStdString(s.family), QString::fromStdString(s.architecture),
                   QString::fromStdString(s.modality))
              .arg(s.layers)
              .arg(s.heads)
              .arg(s.kvHeads)
              .arg(s.hidden)
              .arg(number(s.vocab), number(s.parameters),
                   QString::fromStdString(s.computeDtype.empty() || s.computeDtype == s.dtype
                                              ? s.dtype
                                              : s.dtype + " on disk, computed in " + s.computeDtype),
                   QString::fromStdString(s.device), QString::fromStdString(s.tokenizer));
  if (!s.note.empty())
    card += QString("<p style='color:#8a4b00'><b>%1</b></p>").arg(QString::fromStdString(s.note).toHtmlEscaped());
  m_card->setText(card);
  m_layer->setRange(0, std::max(0, s.layers - 1));
  m_head->setRange(0, std::max(0, s.heads - 1));
  setWindowTitle(QString("AttnScope — %1").arg(QFileInfo(QString::fromStdString(s.dir)).fileName()));
  setBusy(false, tr("Loaded %1 (%2)").arg(QString::fromStdString(s.dir), QString::fromStdString(s.architecture)));
  const bool canGenerate = (s.causal && s.modality == "text") || s.encoderDecoder;
  m_genCount->setVisible(canGenerate);
  m_generate->setVisible(canGenerate);
  addRecent(QString::fromStdString(s.dir));
  if (m_sessionPending) {
    m_sessionPending = false;
    m_runAfterLoad = false;
    if (m_capture) adoptCapture(m_capture);  // ranges and model-backed views now that the model is here
    applySessionState(m_pendingView);
    // Importance and the input overlays need the engine's own tensors of the input, not only the capture: run the
    // session's input once more in the background. The restored capture stays what is shown.
    const bool media = m_summary.modality == "image" || m_summary.modality == "audio";
    const bool inputThere = media ? QFileInfo(m_file->text()).isFile() : !m_text->text().isEmpty();
    RunRequest r;
    if (m_capture && m_promptLength < 0 && inputThere && currentRequest(r)) {
      m_sessionRerun = true;
      setBusy(true, tr("Session restored; running its input again for importance and overlays…"));
      emit requestRun(r);
      return;
    }
    statusBar()->showMessage(tr("Session restored"), 5000);
    emit sessionOpened();
    emit idle();
    return;
  }
  if (m_runAfterLoad) {
    m_runAfterLoad = false;
    runNow();
    return;
  }
  emit idle();
}

void MainWindow::onFinished(std::shared_ptr<const CaptureResult> result) {
  if (m_sessionRerun) {  // the engine now holds the session's input; keep showing the restored capture
    m_sessionRerun = false;
    setBusy(false, tr("Session restored"));
    adoptCapture(m_capture);
    applySessionState(m_pendingView);
    emit sessionOpened();
    emit idle();
    return;
  }
  m_promptLength = -1;
  adoptCapture(std::move(result));
  setBusy(false, tr("Forward pass: %1 ms").arg(m_capture->seconds * 1000.0, 0, 'f', 1));
  emit idle();
}

void MainWindow::adoptCapture(std::shared_ptr<const CaptureResult> result) {
  m_capture = std::move(result);
  m_prediction->setText(QString::fromStdString(m_capture->predictionText) +
                        (m_capture->variant.empty() ? QString() : QString("  [%1]").arg(QString::fromStdString(m_capture->variant))));
  m_prediction->setToolTip(m_prediction->text());
  {
    const QString current = m_stack->currentText();
    QSignalBlocker block(m_stack);
    m_stack->clear();
    for (const auto& st : m_capture->stacks) m_stack->addItem(QString::fromStdString(st));
    if (m_stack->findText(current) >= 0) m_stack->setCurrentText(current);
    m_stack->setVisible(m_capture->stacks.size() > 1);
  }
  // Ranges from the capture itself (a restored session may arrive before its model).
  int layers = 0, heads = 0;
  for (const auto& a : m_capture->layers) {
    layers = std::max(layers, a.layer + 1);
    heads = std::max(heads, a.heads);
  }
  m_layer->setRange(0, std::max(0, std::max(layers, m_loaded ? m_summary.layers : 0) - 1));
  m_head->setRange(0, std::max(0, std::max(heads, m_loaded ? m_summary.heads : 0) - 1));
  const bool generation = m_promptLength >= 0;
  m_step->setVisible(generation);
  if (generation) {
    // Steps count along the generated sequence: the decoder of an encoder–decoder model, else the one stack.
    const auto dec = std::find(m_capture->stacks.begin(), m_capture->stacks.end(), "decoder");
    const size_t di = dec == m_capture->stacks.end() ? 0 : static_cast<size_t>(dec - m_capture->stacks.begin());
    const int steps = std::max(0, static_cast<int>(m_capture->stackQueryLabels[di].size()) - m_promptLength);
    QSignalBlocker block(m_step);
    m_step->setRange(0, steps);
    m_step->setValue(steps);
    m_step->setToolTip(tr("Generated step (1..%1; 0 = none) whose query row is pinned").arg(steps));
    // Whisper: show the cross-attention, the alignment of each decoded token against time.
    if (m_stack->findText("cross") >= 0 && m_stack->currentText() == "encoder") {
      QSignalBlocker b(m_stack);
      m_stack->setCurrentText("cross");
    }
  }
  showHead();
  if (generation) showStep();
  updateOverlay();
  updateMetrics();
  updateOverviewFrame();
}

void MainWindow::onFailed(const QString& title, const QString& message) {
  setBusy(false, title);
  m_compareView->setBusy(false);
  m_runAfterLoad = false;
  if (m_sessionRerun) {  // the session's captures are shown all the same
    m_sessionRerun = false;
    QMessageBox::warning(this, tr("Session restored without a new run"),
                         tr("The session's captures are shown, but running its input again failed, so importance and "
                            "the input overlay are not available until the next Run:\n\n%1").arg(message));
    emit sessionOpened();
    emit idle();
    return;
  }
  if (m_opening) {  // the worker kept the previous model: say so
    m_opening = false;
    QMessageBox::critical(this, title,
                          m_loaded ? message + tr("\n\n%1 is still open.")
                                                   .arg(QFileInfo(QString::fromStdString(m_summary.dir)).fileName())
                                   : message);
    emit idle();
    return;
  }
  QMessageBox::critical(this, title, message);
  emit idle();
}

void MainWindow::showHead() {
  if (m_compareView->result()) {
    const auto& st = m_compareView->result()->panels.front().capture.stacks;
    const int ci = std::max(0, m_stack->currentIndex());
    m_compareView->showHead(ci < static_cast<int>(st.size()) ? st[ci] : st.front(), m_layer->value(), m_head->value());
  }
  if (!m_capture || m_capture->stacks.empty()) return;
  const int si = currentStack();
  const std::string stack = m_capture->stacks[si];
  if (m_overviewStack != stack || m_overviewCapture != m_capture.get()) {
    m_overview->setCapture(m_capture, stack);
    m_overviewStack = stack;
    m_overviewCapture = m_capture.get();
  }
  m_overview->setSelected(m_layer->value(), m_head->value());
  updateBars();
  updateAggregate();
  const AttentionMatrix* a = m_capture->find(stack, m_layer->value());
  if (!a || m_head->value() >= a->heads) return;
  m_query->setRange(0, std::max(0, a->q - 1));
  updateLines();
  m_heatmap->setAttention(*a, m_head->value(), m_capture->stackQueryLabels[si], m_capture->stackKeyLabels[si],
                          tr("%1 — %2layer %3, head %4")
                              .arg(QString::fromStdString(m_summary.family))
                              .arg(stack == "self" ? QString() : QString::fromStdString(stack) + " ")
                              .arg(m_layer->value())
                              .arg(a->headIndex[m_head->value()]));
  updateOverlay();
}

void MainWindow::chooseCachedModel() {
  if (m_busy) return;
  HubCacheDialog dialog(this);
  if (dialog.exec() == QDialog::Accepted && !dialog.chosenFolder().isEmpty()) openModel(dialog.chosenFolder());
}

void MainWindow::setComputeDtype(const QString& dtype) {
  if (dtype == m_dtype) return;
  m_dtype = dtype;
  QSettings().setValue("model/dtype", dtype);
  if (m_loaded && !m_busy && !m_summary.dir.empty()) openModel(QString::fromStdString(m_summary.dir));
}

void MainWindow::chooseModel() {
  const QString start = QSettings().value("model/lastDir").toString();
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"), start);
  if (!dir.isEmpty()) openModel(dir);
}

void MainWindow::saveCapture() {
  if (!m_capture) {
    QMessageBox::information(this, tr("Nothing to save"), tr("Run the model first."));
    return;
  }
  const QString path = QFileDialog::getSaveFileName(this, tr("Save capture"), "capture.safetensors",
                                                    tr("safetensors (*.safetensors)"));
  if (!path.isEmpty()) emit requestSave(path);
}

void MainWindow::chooseExport() {
  if (!m_capture && !m_compareView->result()) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Run the model first."));
    return;
  }
  const QString start = QSettings().value("export/lastDir").toString();
  const QString path = QFileDialog::getSaveFileName(this, tr("Export figure"), start + "/attention.pdf",
                                                    tr("PDF (*.pdf);;SVG (*.svg);;PNG (*.png)"));
  if (path.isEmpty()) return;
  QSettings().setValue("export/lastDir", QFileInfo(path).absolutePath());
  int dpi = QSettings().value("export/dpi", 300).toInt();
  if (QFileInfo(path).suffix().compare("png", Qt::CaseInsensitive) == 0) {  // vectors need no resolution
    bool ok = false;
    dpi = QInputDialog::getInt(this, tr("PNG resolution"), tr("Dots per inch (the figure is sized in points):"), dpi,
                               36, 1200, 50, &ok);
    if (!ok) return;
    QSettings().setValue("export/dpi", dpi);
  }
  if (QFileInfo::exists(path) &&
      QMessageBox::question(this, tr("Replace file?"), tr("%1 exists. Replace it?").arg(path)) != QMessageBox::Yes)
    return;
  if (exportFigure(path, dpi)) statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
}

bool MainWindow::exportFigure(const QString& path, int dpi) {
  FigureRequest r;
  r.out = path.toStdString();
  r.format = QFileInfo(path).suffix().toLower().toStdString();
  r.dpi = dpi;
  r.layer = m_layer->value();
  r.head = m_head->value();
  r.colormap = m_colormap->currentText().toStdString();
  try {
    // Views drawn as they are on screen: the aggregate, the metrics heatmap with its bar chart, the token lines, the
    // input overlay at its full size.
    QWidget* tab = m_tabs->currentWidget();
    std::vector<ViewPiece> pieces;
    auto plotPiece = [](QCustomPlot* plot, int top) {
      ViewPiece p;
      p.plot = plot;
      p.rect = QRect(QPoint(0, top), plot->size());
      return p;
    };
    if (tab == m_aggPage) {
      pieces.push_back(plotPiece(m_aggregate->plot(), 0));
    } else if (tab == m_metricsPage) {
      pieces.push_back(plotPiece(m_metrics->plot(), 0));
      pieces.push_back(plotPiece(m_bars, m_metrics->plot()->height()));
    } else if (tab == m_linesPage) {
      ViewPiece p;
      p.widget = m_lines;
      p.rect = QRect(0, 0, m_lines->width(), std::min(m_lines->height(), m_lines->contentHeight()));
      pieces.push_back(p);
    } else if (tab == m_overlayPage) {
      if (m_overlayImage.isNull()) throw std::runtime_error("no overlay to export: run an image or audio model first");
      ViewPiece p;
      p.image = m_overlayImage;
      p.rect = QRect(QPoint(0, 0), m_overlayImage.size());
      pieces.push_back(p);
    }
    if (!pieces.empty()) {
      if (!m_capture) throw std::runtime_error("run the model first");
      writeViewFigure(pieces, path, dpi);
      return true;
    }
    const bool comparing = m_tabs->currentWidget() == m_compareView && m_compareView->result();
    const bool grid = m_tabs->currentWidget() == m_overviewPage;
    std::vector<CaptureResult> caps;
    std::vector<std::string> names;
    if (comparing) {
      r.kind = "compare";
      for (const auto& p : m_compareView->result()->panels) {
        caps.push_back(p.capture);
        names.push_back(p.spec);
      }
    } else {
      if (!m_capture) throw std::runtime_error("run the model first");
      r.kind = grid ? "grid" : "head";
      caps.push_back(*m_capture);
      names.push_back(m_capture->variant.empty() ? "full" : m_capture->variant);
    }
    if (m_stack->isVisible()) r.stack = m_stack->currentText().toStdString();
    renderFigure(r, caps, names);
    return true;
  } catch (const std::exception& e) {
    QMessageBox::critical(this, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

void MainWindow::generateNow(int count) {
  if (!m_loaded || m_busy) return;
  RunRequest r;
  if (!currentRequest(r)) return;
  m_genCount->setValue(count);
  setBusy(true, tr("Generating %1 tokens…").arg(count));
  emit requestGenerate(r, count);
}

void MainWindow::showStep() {
  if (!m_capture || m_promptLength < 0) return;
  const int step = m_step->value();
  // Generated rows exist in the decoder's self- and cross-attention (or the one stack of a decoder-only model).
  const bool rows = m_capture->stacks[currentStack()] != "encoder";
  const int row = step > 0 && rows ? m_promptLength + step - 1 : -1;
  m_heatmap->setPin(row, -1);
  m_lines->setSelectedQuery(row);
  if (row >= 0) {
    const auto& labels = m_capture->stackQueryLabels[currentStack()];
    if (row < static_cast<int>(labels.size()))
      statusBar()->showMessage(tr("Step %1: generated '%2'").arg(step).arg(QString::fromStdString(labels[row])), 8000);
  }
}

void MainWindow::updateLines() {
  if (!m_capture) return;
  const int si = currentStack();
  const AttentionMatrix* a = m_capture->find(m_capture->stacks[si], m_layer->value());
  if (!a || m_head->value() >= a->heads) return;
  std::vector<int> heads;
  if (m_linesHeads->currentIndex() == 1)
    for (int h = 0; h < a->heads; ++h) heads.push_back(h);
  else
    heads.push_back(m_head->value());
  const int keep = m_lines->selectedQuery();
  m_lines->setAttention(*a, heads, m_capture->stackQueryLabels[si], m_capture->stackKeyLabels[si]);
  if (keep >= 0 && keep < a->q) m_lines->setSelectedQuery(keep);
}

void MainWindow::updateOverviewFrame() {
  const QString metric = m_frameKind->currentData().toString();
  if (metric.isEmpty() || !m_capture) {
    m_overview->setFrameMetric({}, 0, 0, QString());
    return;
  }
  emit requestHeadMetric(m_capture, QString::fromStdString(m_capture->stacks[currentStack()]), metric, "overview");
}

void MainWindow::updateBars() {
  auto* bars = static_cast<QCPBars*>(m_bars->plottable(0));
  const int layer = m_layer->value();
  if (m_metricGrid.empty() || layer >= m_metricLayers) {
    bars->data()->clear();
    m_bars->replot();
    return;
  }
  QVector<double> x, y;
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  double top = 0;
  for (int h = 0; h < m_metricHeads; ++h) {
    x << h;
    y << m_metricGrid[static_cast<size_t>(layer) * m_metricHeads + h];
    top = std::max(top, y.back());
    ticks->addTick(h, QString("H%1").arg(h));
  }
  bars->setData(x, y, true);
  m_bars->xAxis->setTicker(ticks);
  m_bars->xAxis->setRange(-0.6, m_metricHeads - 0.4);
  m_bars->yAxis->setRange(0, top > 0 ? top * 1.1 : 1.0);
  m_bars->yAxis->setLabel(m_metricKind->currentText());
  m_bars->xAxis->setLabel(tr("head (layer %1)").arg(layer));
  m_bars->replot();
}

void MainWindow::applyScale() {
  const auto scale = static_cast<HeatmapView::Scale>(m_scaleKind->currentIndex());
  m_gamma->setVisible(scale == HeatmapView::Scale::Power);
  m_rangeLo->setEnabled(!m_autoRange->isChecked());
  m_rangeHi->setEnabled(!m_autoRange->isChecked());
  m_heatmap->setScale(scale, m_gamma->value());
  m_compareView->setScale(scale, m_gamma->value());
  if (m_autoRange->isChecked()) m_heatmap->setAutoRange();
  else m_heatmap->setRange(m_rangeLo->value(), m_rangeHi->value());
  QSettings().setValue("view/scale", m_scaleKind->currentIndex());
  QSettings().setValue("view/gamma", m_gamma->value());
}

bool MainWindow::writeBytes(const QString& path, const QByteArray& bytes) {
  QSaveFile f(path);  // the existing file stays intact unless the whole write succeeds
  if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit()) {
    QMessageBox::critical(this, tr("Cannot write"), tr("Cannot write %1: %2").arg(path, f.errorString()));
    return false;
  }
  return true;
}

bool MainWindow::exportHeadData(const QString& path) {
  if (!m_capture || m_heatmap->queries() == 0) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Run the model first."));
    return false;
  }
  const int si = currentStack();
  const QString suffix = QFileInfo(path).suffix().toLower();
  try {
    std::string bytes;
    if (suffix == "npy")
      bytes = encodeNpy(m_heatmap->values(), m_heatmap->queries(), m_heatmap->keys());
    else if (suffix == "csv")
      bytes = encodeCsv(m_heatmap->values(), m_heatmap->queries(), m_heatmap->keys(), m_capture->stackQueryLabels[si],
                        m_capture->stackKeyLabels[si]);
    else
      throw std::runtime_error("choose a file ending in .npy or .csv (got '" + path.toStdString() + "')");
    return writeBytes(path, QByteArray::fromStdString(bytes));
  } catch (const std::exception& e) {
    QMessageBox::critical(this, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

bool MainWindow::exportComparisonMetrics(const QString& path) {
  const auto result = m_compareView->result();
  if (!result || result->reportJson.empty()) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Compare variants first (Compare variants tab)."));
    return false;
  }
  const QString suffix = QFileInfo(path).suffix().toLower();
  try {
    if (suffix == "json") return writeBytes(path, QByteArray::fromStdString(result->reportJson));
    if (suffix == "csv") return writeBytes(path, QByteArray::fromStdString(comparisonCsv(result->reportJson)));
    throw std::runtime_error("choose a file ending in .json or .csv (got '" + path.toStdString() + "')");
  } catch (const std::exception& e) {
    QMessageBox::critical(this, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

int MainWindow::exportAllHeads(const QString& dir, const QString& format, bool wholeModel, int dpi, bool overwrite) {
  if (!m_capture) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Run the model first."));
    return -1;
  }
  if (m_batchTimer.isActive()) return -1;
  const std::string stack = m_capture->stacks[currentStack()];
  std::vector<BatchJob> jobs;
  QStringList existing;
  for (const auto& a : m_capture->layers) {
    if (a.stack != stack || (!wholeModel && a.layer != m_layer->value())) continue;
    for (int h = 0; h < a.heads; ++h) {
      const int head = a.headIndex.empty() ? h : a.headIndex[h];
      const QString name = QString("%1-L%2-H%3.%4")
                               .arg(QString::fromStdString(stack))
                               .arg(a.layer, 2, 10, QChar('0'))
                               .arg(head, 2, 10, QChar('0'))
                               .arg(format);
      const QString path = QDir(dir).filePath(name);
      if (QFileInfo::exists(path)) existing << name;
      jobs.push_back({stack, a.layer, head, path});
    }
  }
  if (jobs.empty()) {
    QMessageBox::information(this, tr("Nothing to export"), tr("No captured heads in this stack/layer."));
    return -1;
  }
  if (!existing.isEmpty() && !overwrite) {
    QMessageBox::warning(this, tr("Files exist"),
                         tr("%1 of the %2 files already exist in %3 (e.g. %4); nothing was written.")
                             .arg(existing.size())
                             .arg(jobs.size())
                             .arg(dir, existing.front()));
    return -1;
  }
  m_batch = std::move(jobs);
  m_batchDone = 0;
  m_batchCancel = false;
  m_batchFormat = format;
  m_batchDpi = dpi;
  m_batchCapture = {*m_capture};
  m_progress->setVisible(true);
  m_progress->setMaximum(static_cast<int>(m_batch.size()));
  m_progress->setValue(0);
  m_cancel->setEnabled(true);
  statusBar()->showMessage(tr("Exporting %1 figures to %2… (Esc cancels)").arg(m_batch.size()).arg(dir));
  m_batchTimer.start();
  return static_cast<int>(m_batch.size());
}

void MainWindow::batchStep() {
  // One figure per event-loop turn: the window keeps repainting and Cancel/Esc stay responsive.
  auto finish = [this](bool cancelled) {
    m_batchTimer.stop();
    const int done = static_cast<int>(m_batchDone);
    m_batch.clear();
    m_batchCapture.clear();
    m_progress->setVisible(m_busy);
    m_cancel->setEnabled(m_busy);
    statusBar()->showMessage(cancelled ? tr("Export cancelled after %1 figures").arg(done)
                                       : tr("Exported %1 figures").arg(done),
                             8000);
    emit batchExportDone(done, cancelled);
  };
  if (m_batchCancel) return finish(true);
  if (m_batchDone >= m_batch.size()) return finish(false);
  const BatchJob& job = m_batch[m_batchDone];
  FigureRequest r;
  r.kind = "head";
  r.stack = job.stack;
  r.layer = job.layer;
  r.head = job.head;
  r.format = m_batchFormat.toStdString();
  r.dpi = m_batchDpi;
  r.colormap = m_colormap->currentText().toStdString();
  r.out = job.path.toStdString();
  try {
    renderFigure(r, m_batchCapture, {m_batchCapture.front().variant.empty() ? "full" : m_batchCapture.front().variant});
  } catch (const std::exception& e) {
    m_batchCancel = true;
    QMessageBox::critical(this, tr("Cannot export"), QString::fromStdString(e.what()));
    return finish(true);
  }
  ++m_batchDone;
  m_progress->setValue(static_cast<int>(m_batchDone));
}

void MainWindow::chooseBatchExport() {
  if (!m_capture) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Run the model first."));
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Export all heads"));
  auto* form = new QFormLayout(&dialog);
  auto* scope = new QComboBox(&dialog);
  scope->addItem(tr("every head of layer %1").arg(m_layer->value()));
  scope->addItem(tr("every head of every layer"));
  auto* format = new QComboBox(&dialog);
  format->addItems({"pdf", "svg", "png"});
  auto* dpi = new QSpinBox(&dialog);
  dpi->setRange(72, 1200);
  dpi->setValue(300);
  dpi->setSuffix(" dpi");
  form->addRow(tr("Heads"), scope);
  form->addRow(tr("Format"), format);
  form->addRow(tr("PNG resolution"), dpi);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder for the figures"),
                                                        QSettings().value("export/lastDir").toString());
  if (dir.isEmpty()) return;
  QSettings().setValue("export/lastDir", dir);
  const bool whole = scope->currentIndex() == 1;
  if (exportAllHeads(dir, format->currentText(), whole, dpi->value(), false) >= 0) return;
  // Files exist: ask before replacing them.
  if (QMessageBox::question(this, tr("Replace files?"), tr("Replace the existing figures in %1?").arg(dir)) ==
      QMessageBox::Yes)
    exportAllHeads(dir, format->currentText(), whole, dpi->value(), true);
}

void MainWindow::chooseHeadData() {
  if (!m_capture) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Run the model first."));
    return;
  }
  const QString start = QSettings().value("export/lastDir").toString();
  const QString name = QString("L%1-H%2.npy").arg(m_layer->value()).arg(m_head->value());
  const QString path = QFileDialog::getSaveFileName(this, tr("Export head data"), QDir(start).filePath(name),
                                                    tr("NumPy (*.npy);;CSV (*.csv)"));
  if (path.isEmpty()) return;
  QSettings().setValue("export/lastDir", QFileInfo(path).absolutePath());
  if (exportHeadData(path)) statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
}

void MainWindow::chooseMetricsExport() {
  if (!m_compareView->result()) {
    QMessageBox::information(this, tr("Nothing to export"), tr("Compare variants first (Compare variants tab)."));
    return;
  }
  const QString start = QSettings().value("export/lastDir").toString();
  const QString path = QFileDialog::getSaveFileName(this, tr("Export comparison metrics"),
                                                    QDir(start).filePath("report.json"),
                                                    tr("JSON report (*.json);;CSV, one row per head (*.csv)"));
  if (path.isEmpty()) return;
  QSettings().setValue("export/lastDir", QFileInfo(path).absolutePath());
  if (exportComparisonMetrics(path)) statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
}

QJsonObject MainWindow::sessionState() const {
  QJsonObject input{{"text", m_text->text()},
                    {"pair", m_pair->text()},
                    {"file", m_file->text()},
                    {"offset", m_offset->value()}};
  QJsonArray specs;
  for (const QString& spec : m_compareView->specs()) specs.append(spec);
  QJsonObject view{{"tab", m_tabs->currentIndex()},
                   {"stack", m_stack->currentText()},
                   {"layer", m_layer->value()},
                   {"head", m_head->value()},
                   {"colormap", m_colormap->currentText()},
                   {"scale", m_scaleKind->currentIndex()},
                   {"gamma", m_gamma->value()},
                   {"auto_range", m_autoRange->isChecked()},
                   {"range_lo", m_rangeLo->value()},
                   {"range_hi", m_rangeHi->value()},
                   {"pin_query", m_heatmap->pinnedQuery()},
                   {"pin_key", m_heatmap->pinnedKey()},
                   {"lines_heads", m_linesHeads->currentIndex()},
                   {"overview_frame", m_frameKind->currentIndex()},
                   {"aggregate", m_aggKind->currentIndex()},
                   {"metric", m_metricKind->currentIndex()},
                   {"overlay_query", m_query->value()},
                   {"rollout", m_rollout->isChecked()},
                   {"opacity", m_opacity->value()},
                   {"step", m_step->value()}};
  QJsonObject state{{"model", m_loaded ? QString::fromStdString(m_summary.dir) : m_pendingView.value("model").toString()},
                    {"device", m_device},
                    {"input", input},
                    {"variant", m_variant->currentText()},
                    {"compare_specs", specs},
                    {"view", view}};
  if (m_promptLength >= 0) state["generation"] = QJsonObject{{"prompt_length", m_promptLength}};
  return state;
}

void MainWindow::applySessionState(const QJsonObject& state) {
  m_pendingView = state;
  const QJsonObject input = state.value("input").toObject();
  m_text->setText(input.value("text").toString());
  m_pair->setText(input.value("pair").toString());
  if (!input.value("file").toString().isEmpty()) setInputFile(input.value("file").toString());
  m_offset->setValue(input.value("offset").toDouble());
  m_variant->setCurrentText(state.value("variant").toString("full"));
  QStringList specs;
  for (const auto& v : state.value("compare_specs").toArray()) specs << v.toString();
  if (!specs.isEmpty()) m_compareView->setSpecs(specs);
  const QJsonObject v = state.value("view").toObject();
  m_colormap->setCurrentText(v.value("colormap").toString("viridis"));
  {
    QSignalBlocker b1(m_scaleKind), b2(m_gamma), b3(m_autoRange), b4(m_rangeLo), b5(m_rangeHi);
    m_scaleKind->setCurrentIndex(std::clamp(v.value("scale").toInt(), 0, 2));
    m_gamma->setValue(v.value("gamma").toDouble(0.5));
    m_autoRange->setChecked(v.value("auto_range").toBool(true));
    m_rangeLo->setValue(v.value("range_lo").toDouble(0.0));
    m_rangeHi->setValue(v.value("range_hi").toDouble(1.0));
  }
  applyScale();
  if (m_stack->findText(v.value("stack").toString()) >= 0) m_stack->setCurrentText(v.value("stack").toString());
  m_layer->setValue(v.value("layer").toInt());
  m_head->setValue(v.value("head").toInt());
  m_linesHeads->setCurrentIndex(std::clamp(v.value("lines_heads").toInt(), 0, 1));
  m_aggKind->setCurrentIndex(std::clamp(v.value("aggregate").toInt(), 0, m_aggKind->count() - 1));
  m_metricKind->setCurrentIndex(std::clamp(v.value("metric").toInt(), 0, m_metricKind->count() - 1));
  m_frameKind->setCurrentIndex(std::clamp(v.value("overview_frame").toInt(), 0, m_frameKind->count() - 1));
  m_query->setValue(v.value("overlay_query").toInt());
  m_rollout->setChecked(v.value("rollout").toBool());
  m_opacity->setValue(v.value("opacity").toInt(55));
  if (m_promptLength >= 0) m_step->setValue(v.value("step").toInt());
  const int pq = v.value("pin_query").toInt(-1), pk = v.value("pin_key").toInt(-1);
  m_heatmap->setPin(pq, pk);
  m_compareView->setPin(pq, pk);
  m_lines->setSelectedQuery(pq);
  const int tab = v.value("tab").toInt();
  if (tab >= 0 && tab < m_tabs->count() && m_tabs->isTabEnabled(tab)) m_tabs->setCurrentIndex(tab);
}

void MainWindow::saveSession(const QString& path) {
  if (!m_capture && !m_compareView->result() && !m_loaded) {
    QMessageBox::information(this, tr("Nothing to save"), tr("Open a model first."));
    return;
  }
  const QByteArray state = QJsonDocument(sessionState()).toJson(QJsonDocument::Compact);
  statusBar()->showMessage(tr("Saving the session…"));
  emit requestSaveSession(path, QString::fromUtf8(state), m_capture, m_compareView->result());
}

void MainWindow::openSession(const QString& path) {
  if (m_busy) return;
  m_loaded = false;
  m_sessionPending = false;
  setBusy(true, tr("Opening session %1…").arg(path));
  m_progress->setMaximum(0);
  emit requestOpenSession(path, m_device, m_dtype);
}

void MainWindow::chooseSaveSession() {
  const QString start = QSettings().value("session/lastDir").toString();
  const QString path = QFileDialog::getSaveFileName(this, tr("Save session"), QDir(start).filePath("session.attnscope"),
                                                    tr("AttnScope session (*.attnscope)"));
  if (path.isEmpty()) return;  // the dialog has already asked before replacing an existing file
  QSettings().setValue("session/lastDir", QFileInfo(path).absolutePath());
  saveSession(path.endsWith(".attnscope") ? path : path + ".attnscope");
}

void MainWindow::chooseOpenSession() {
  const QString start = QSettings().value("session/lastDir").toString();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), start,
                                                    tr("AttnScope session (*.attnscope);;All files (*)"));
  if (!path.isEmpty()) openSession(path);
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
    if (info.isDir()) {
      openModel(info.absoluteFilePath());
      return;
    }
    if (info.isFile() && info.suffix().toLower() == "attnscope") {
      openSession(info.absoluteFilePath());
      return;
    }
    static const QStringList media = {"png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff",
                                      "wav", "flac", "ogg", "mp3", "aiff", "au"};
    if (info.isFile() && media.contains(info.suffix().toLower()) && m_loaded &&
        (m_summary.modality == "image" || m_summary.modality == "audio")) {
      setInputFile(info.absoluteFilePath());
      return;
    }
    if (info.isFile() && info.dir().exists("config.json")) {
      openModel(info.absolutePath());
      return;
    }
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings().setValue("window/geometry", saveGeometry());
  QSettings().setValue("window/state", saveState());
  shutdown();
  event->accept();
}

}  // namespace attnscope
