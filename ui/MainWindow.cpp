#include "MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
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
#include <QVBoxLayout>

#include "ColorMaps.h"
#include "FigureExport.h"

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
          [this](const QString& metric, const std::vector<float>& v, int layers, int heads) {
            std::vector<std::string> rows, cols;
            for (int l = 0; l < layers; ++l) rows.push_back("L" + std::to_string(l));
            for (int h = 0; h < heads; ++h) cols.push_back("H" + std::to_string(h));
            double lo = 0, hi = 0;
            for (float x : v) hi = std::max(hi, static_cast<double>(x));
            m_metrics->setMatrix(v, layers, heads, rows, cols, m_metricKind->currentText(), lo, hi > 0 ? hi : 1.0,
                                 QString(), metric, "layer", "head");
            m_metricsNote->clear();
            emit metricsShown();
          });
  connect(m_worker, &RunWorker::aggregated, this,
          [this](const QString& kind, int layer, const std::vector<float>& v, int rows, int cols) {
            if (!m_capture) return;
            const int si = currentStack();
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
    m_overlay->setToolTip(title);
    emit overlayShown();
  });
  connect(m_worker, &RunWorker::overlayFailed, this, [this](const QString& message) {
    if (m_metricsNote) m_metricsNote->setText(message);
    m_overlay->setPixmap(QPixmap());
    m_overlay->setText(message);
  });
  connect(m_worker, &RunWorker::progress, this, [this](int done, int total) {
    m_progress->setMaximum(std::max(total, 1));
    m_progress->setValue(done);
  });
  m_thread.start();
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  m_colormap->setCurrentText(settings.value("view/colormap", "viridis").toString());
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
  QAction* save = fileMenu->addAction(tr("&Save capture…"), this, &MainWindow::saveCapture);
  save->setShortcut(QKeySequence::Save);
  QAction* exportFig = fileMenu->addAction(tr("&Export figure (PNG, SVG, PDF)…"), this, &MainWindow::chooseExport);
  exportFig->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
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
  inputRow->addWidget(m_inputs, 1);
  inputRow->addWidget(new QLabel(tr("variant"), central));
  inputRow->addWidget(m_variant);
  inputRow->addWidget(m_run);
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
  viewRow->addStretch(1);
  viewRow->addWidget(m_prediction);
  layout->addLayout(viewRow);

  m_tabs = new QTabWidget(central);
  m_heatmap = new HeatmapView(m_tabs);
  m_tabs->addTab(m_heatmap, tr("Head view"));
  m_overview = new OverviewView(m_tabs);
  m_tabs->addTab(m_overview, tr("Overview"));
  m_lines = new TokenLineView(m_tabs);
  m_tabs->addTab(m_lines, tr("Token lines"));
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
    m_metrics = new HeatmapView(m_metricsPage);
    v->addWidget(m_metrics, 1);
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
  connect(m_file, &QLineEdit::returnPressed, this, &MainWindow::runNow);
  connect(m_stack, &QComboBox::currentTextChanged, this, [this] { showHead(); });
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
  new QShortcut(QKeySequence(Qt::Key_PageDown), this, [this] { m_layer->stepUp(); });
  new QShortcut(QKeySequence(Qt::Key_PageUp), this, [this] { m_layer->stepDown(); });
  new QShortcut(QKeySequence(Qt::Key_BracketRight), this, [this] { m_head->stepUp(); });
  new QShortcut(QKeySequence(Qt::Key_BracketLeft), this, [this] { m_head->stepDown(); });
  new QShortcut(QKeySequence(Qt::Key_Escape), this, [this] { cancelRun(); });
  setBusy(false);
  m_run->setEnabled(false);
  resize(1100, 800);
}

void MainWindow::setBusy(bool busy, const QString& message) {
  m_busy = busy;
  m_run->setEnabled(!busy && m_loaded);
  m_cancel->setEnabled(busy);
  m_progress->setVisible(busy);
  if (busy) m_progress->setValue(0);
  if (!message.isEmpty()) statusBar()->showMessage(message, busy ? 0 : 8000);
}

void MainWindow::openModel(const QString& dir) {
  if (m_busy) return;
  m_loaded = false;
  m_capture.reset();
  m_heatmap->clear();
  setBusy(true, tr("Loading %1…").arg(dir));
  m_progress->setMaximum(0);  // indeterminate while loading
  QSettings().setValue("model/lastDir", dir);
  emit requestLoad(dir, m_device);
}

void MainWindow::setInputText(const QString& text) { m_text->setText(text); }

void MainWindow::setInputFile(const QString& path) {
  m_file->setText(path);
  QPixmap thumb(path);
  m_thumb->setPixmap(thumb.isNull() ? QPixmap() : thumb.scaled(m_thumb->size(), Qt::KeepAspectRatio,
                                                                  Qt::SmoothTransformation));
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
  emit requestHeadMetric(QString::fromStdString(m_capture->stacks[si]), m_metricKind->currentData().toString());
}

void MainWindow::updateAggregate() {
  if (!m_capture || m_tabs->currentWidget() != m_aggPage) return;
  const int si = currentStack();
  emit requestAggregate(QString::fromStdString(m_capture->stacks[si]), m_layer->value(),
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
  if (!m_loaded) {
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
  m_summary = s;
  m_loaded = true;
  m_pair->setVisible(acceptsPair);
  const bool media = s.modality == "image" || s.modality == "audio";
  m_inputs->setCurrentIndex(media ? 1 : 0);
  m_offset->setVisible(s.modality == "audio");
  m_thumb->setVisible(s.modality == "image");
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
              .arg(number(s.vocab), number(s.parameters), QString::fromStdString(s.dtype),
                   QString::fromStdString(s.device), QString::fromStdString(s.tokenizer));
  if (!s.note.empty())
    card += QString("<p style='color:#8a4b00'><b>%1</b></p>").arg(QString::fromStdString(s.note).toHtmlEscaped());
  m_card->setText(card);
  m_layer->setRange(0, std::max(0, s.layers - 1));
  m_head->setRange(0, std::max(0, s.heads - 1));
  setWindowTitle(QString("AttnScope — %1").arg(QFileInfo(QString::fromStdString(s.dir)).fileName()));
  setBusy(false, tr("Loaded %1 (%2)").arg(QString::fromStdString(s.dir), QString::fromStdString(s.architecture)));
  if (m_runAfterLoad) {
    m_runAfterLoad = false;
    runNow();
    return;
  }
  emit idle();
}

void MainWindow::onFinished(std::shared_ptr<const CaptureResult> result) {
  m_capture = std::move(result);
  setBusy(false, tr("Forward pass: %1 ms").arg(m_capture->seconds * 1000.0, 0, 'f', 1));
  m_prediction->setText(QString::fromStdString(m_capture->predictionText) +
                        (m_capture->variant.empty() ? QString() : QString("  [%1]").arg(QString::fromStdString(m_capture->variant))));
  {
    const QString current = m_stack->currentText();
    QSignalBlocker block(m_stack);
    m_stack->clear();
    for (const auto& st : m_capture->stacks) m_stack->addItem(QString::fromStdString(st));
    if (m_stack->findText(current) >= 0) m_stack->setCurrentText(current);
    m_stack->setVisible(m_capture->stacks.size() > 1);
  }
  showHead();
  updateOverlay();
  updateMetrics();
  emit idle();
}

void MainWindow::onFailed(const QString& title, const QString& message) {
  setBusy(false, title);
  m_compareView->setBusy(false);
  m_runAfterLoad = false;
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
  updateAggregate();
  const AttentionMatrix* a = m_capture->find(stack, m_layer->value());
  if (!a || m_head->value() >= a->heads) return;
  m_query->setRange(0, std::max(0, a->q - 1));
  m_lines->setAttention(*a, {m_head->value()}, m_capture->stackQueryLabels[si], m_capture->stackKeyLabels[si]);
  m_heatmap->setAttention(*a, m_head->value(), m_capture->stackQueryLabels[si], m_capture->stackKeyLabels[si],
                          tr("%1 — %2layer %3, head %4")
                              .arg(QString::fromStdString(m_summary.family))
                              .arg(stack == "self" ? QString() : QString::fromStdString(stack) + " ")
                              .arg(m_layer->value())
                              .arg(a->headIndex[m_head->value()]));
  updateOverlay();
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
                                                    tr("PDF (*.pdf);;SVG (*.svg);;PNG, 300 dpi (*.png)"));
  if (path.isEmpty()) return;
  QSettings().setValue("export/lastDir", QFileInfo(path).absolutePath());
  if (QFileInfo::exists(path) &&
      QMessageBox::question(this, tr("Replace file?"), tr("%1 exists. Replace it?").arg(path)) != QMessageBox::Yes)
    return;
  if (exportFigure(path)) statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
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
    const bool comparing = m_tabs->currentWidget() == m_compareView && m_compareView->result();
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
      r.kind = "head";
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
  shutdown();
  event->accept();
}

}  // namespace attnscope
