#include "ExportController.h"

#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QInputDialog>
#include <QMessageBox>
#include <QSettings>
#include <QSpinBox>

#include "AnalysisTab.h"
#include "AtomicWrite.h"
#include "FigureExport.h"
#include "attnscope/DataExport.h"

namespace attnscope {

ExportController::ExportController(AnalysisDocument* document, ViewState* view, RunController* runner,
                                   QWidget* window, std::function<AnalysisTab*()> currentTab)
    : QObject(window), m_doc(document), m_view(view), m_runner(runner), m_window(window),
      m_currentTab(std::move(currentTab)) {
  m_timer.setInterval(0);
  connect(&m_timer, &QTimer::timeout, this, &ExportController::batchStep);
  connect(m_doc, &AnalysisDocument::captureChanged, this, &ExportController::updateActions);
  connect(m_doc, &AnalysisDocument::comparisonChanged, this, &ExportController::updateActions);
  connect(m_runner, &RunController::captureSaved, this,
          [this](const QString& path) { emit statusMessage(tr("Saved %1").arg(path)); });
}

void ExportController::addActions(QMenu* menu) {
  m_capture = menu->addAction(tr("&Save capture (safetensors)…"), this, &ExportController::chooseCapture);
  m_capture->setShortcut(QKeySequence::Save);
  m_figure = menu->addAction(tr("&Export figure (PDF, SVG, PNG)…"), this, &ExportController::chooseFigure);
  m_figure->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  m_allHeads = menu->addAction(tr("Export &all heads to a folder…"), this, &ExportController::chooseAllHeads);
  m_allHeads->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
  m_headData = menu->addAction(tr("Export head &data (NPY, CSV)…"), this, &ExportController::chooseHeadData);
  m_metrics = menu->addAction(tr("Export comparison &metrics (JSON, CSV)…"), this, &ExportController::chooseMetrics);
  updateActions();
}

void ExportController::updateActions() {
  if (!m_figure) return;
  const bool capture = m_doc->capture() != nullptr;
  AnalysisTab* tab = m_currentTab();
  m_figure->setEnabled(tab && tab->hasFigure());
  m_allHeads->setEnabled(capture);
  m_headData->setEnabled(capture);
  m_capture->setEnabled(capture && m_doc->hasModel());
  m_metrics->setEnabled(m_doc->comparison() != nullptr);
}

QString ExportController::askPath(const QString& title, const QString& name, const QString& filter) {
  const QString start = QSettings().value("export/lastDir", QDir::homePath()).toString();
  const QString path = QFileDialog::getSaveFileName(m_window, title, QDir(start).filePath(name), filter);
  if (!path.isEmpty()) QSettings().setValue("export/lastDir", QFileInfo(path).absolutePath());
  return path;
}

void ExportController::chooseFigure() {
  AnalysisTab* tab = m_currentTab();
  if (!tab || !tab->hasFigure()) return;
  const QString path = askPath(tr("Export figure"), tab->figureName() + ".pdf",
                               tr("PDF (*.pdf);;SVG (*.svg);;PNG (*.png)"));
  if (path.isEmpty()) return;  // the dialog has already asked before replacing a file
  int dpi = QSettings().value("export/dpi", 300).toInt();
  if (QFileInfo(path).suffix().compare("png", Qt::CaseInsensitive) == 0) {  // vectors need no resolution
    bool ok = false;
    dpi = QInputDialog::getInt(m_window, tr("PNG resolution"), tr("Dots per inch (the figure is sized in points):"),
                               dpi, 36, 1200, 50, &ok);
    if (!ok) return;
    QSettings().setValue("export/dpi", dpi);
  }
  if (exportFigure(path, dpi)) emit statusMessage(tr("Exported %1").arg(path));
}

bool ExportController::exportFigure(const QString& path, int dpi) {
  try {
    AnalysisTab* tab = m_currentTab();
    if (!tab) throw std::runtime_error("no view to export");
    tab->writeFigure(path, dpi);
    return true;
  } catch (const std::exception& e) {
    QMessageBox::critical(m_window, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

bool ExportController::exportHeadData(const QString& path) {
  const auto capture = m_doc->capture();
  const AttentionMatrix* a = m_doc->matrix(m_view->stack(), m_view->layer());
  try {
    if (!capture || !a || m_view->head() >= a->heads) throw std::runtime_error("run the model first");
    if (a->onDemand) throw std::runtime_error("this long input's attention is computed on demand from queries and keys; export one head or a block of it with attnscope-cli head");
    const int si = m_doc->stackIndex(m_view->stack());
    const size_t cells = static_cast<size_t>(a->q) * a->k;
    const std::vector<float> values(a->data.begin() + static_cast<std::ptrdiff_t>(cells * m_view->head()),
                                    a->data.begin() + static_cast<std::ptrdiff_t>(cells * (m_view->head() + 1)));
    const QString suffix = QFileInfo(path).suffix().toLower();
    std::string bytes;
    if (suffix == "npy")
      bytes = encodeNpy(values, a->q, a->k);
    else if (suffix == "csv")
      bytes = encodeCsv(values, a->q, a->k, capture->stackQueryLabels[si], capture->stackKeyLabels[si]);
    else
      throw std::runtime_error("choose a file ending in .npy or .csv (got '" + path.toStdString() + "')");
    writeFileAtomically(path, QByteArray::fromStdString(bytes));
    return true;
  } catch (const std::exception& e) {
    QMessageBox::critical(m_window, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

bool ExportController::exportComparisonMetrics(const QString& path) {
  const auto result = m_doc->comparison();
  try {
    if (!result) throw std::runtime_error("compare variants first (Compare variants tab)");
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == "json") writeFileAtomically(path, QByteArray::fromStdString(result->reportJson));
    else if (suffix == "csv") writeFileAtomically(path, QByteArray::fromStdString(comparisonCsv(result->reportJson)));
    else throw std::runtime_error("choose a file ending in .json or .csv (got '" + path.toStdString() + "')");
    return true;
  } catch (const std::exception& e) {
    QMessageBox::critical(m_window, tr("Cannot export"), QString::fromStdString(e.what()));
    return false;
  }
}

void ExportController::chooseHeadData() {
  const QString name = QString("%1-L%2-H%3.npy")
                           .arg(QFileInfo(m_doc->modelDir()).fileName())
                           .arg(m_view->layer())
                           .arg(m_view->head());
  const QString path = askPath(tr("Export head data"), name, tr("NumPy (*.npy);;CSV (*.csv)"));
  if (!path.isEmpty() && exportHeadData(path)) emit statusMessage(tr("Exported %1").arg(path));
}

void ExportController::chooseMetrics() {
  const QString path = askPath(tr("Export comparison metrics"), QFileInfo(m_doc->modelDir()).fileName() + "-report.json",
                               tr("JSON report (*.json);;CSV, one row per head (*.csv)"));
  if (!path.isEmpty() && exportComparisonMetrics(path)) emit statusMessage(tr("Exported %1").arg(path));
}

void ExportController::chooseCapture() {
  if (!m_doc->capture()) return;
  const QString path = askPath(tr("Save capture"), QFileInfo(m_doc->modelDir()).fileName() + "-capture.safetensors",
                               tr("safetensors (*.safetensors)"));
  if (!path.isEmpty()) m_runner->saveCapture(path);
}

int ExportController::exportAllHeads(const QString& dir, const QString& format, bool wholeModel, int dpi,
                                     bool overwrite) {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty()) {
    QMessageBox::information(m_window, tr("Nothing to export"), tr("Run the model first."));
    return -1;
  }
  if (m_timer.isActive()) return -1;
  const std::string stack = capture->stacks[m_doc->stackIndex(m_view->stack())];
  std::vector<Job> jobs;
  QStringList existing;
  for (const auto& a : capture->layers) {
    if (a.stack != stack || (!wholeModel && a.layer != m_view->layer())) continue;
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
    QMessageBox::information(m_window, tr("Nothing to export"), tr("No captured heads in this stack/layer."));
    return -1;
  }
  if (!existing.isEmpty() && !overwrite) {
    QMessageBox::warning(m_window, tr("Files exist"),
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
  m_batchCapture = {*capture};
  emit batchProgress(0, static_cast<int>(m_batch.size()));
  emit statusMessage(tr("Exporting %1 figures to %2… (Esc cancels)").arg(m_batch.size()).arg(dir));
  m_timer.start();
  return static_cast<int>(m_batch.size());
}

void ExportController::batchStep() {
  // One figure per event-loop turn: the window keeps repainting and Esc stays responsive.
  auto finish = [this](bool cancelled) {
    m_timer.stop();
    const int done = static_cast<int>(m_batchDone);
    m_batch.clear();
    m_batchCapture.clear();
    emit statusMessage(cancelled ? tr("Export cancelled after %1 figures").arg(done) : tr("Exported %1 figures").arg(done));
    emit batchDone(done, cancelled);
  };
  if (m_batchCancel) return finish(true);
  if (m_batchDone >= m_batch.size()) return finish(false);
  const Job& job = m_batch[m_batchDone];
  FigureRequest r;
  r.kind = "head";
  r.stack = job.stack;
  r.layer = job.layer;
  r.head = job.head;
  r.format = m_batchFormat.toStdString();
  r.dpi = m_batchDpi;
  r.colormap = m_view->colorMap().toStdString();
  r.out = job.path.toStdString();
  try {
    renderFigure(r, m_batchCapture, {m_batchCapture.front().variant.empty() ? "full" : m_batchCapture.front().variant});
  } catch (const std::exception& e) {
    m_batchCancel = true;
    QMessageBox::critical(m_window, tr("Cannot export"), QString::fromStdString(e.what()));
    return finish(true);
  }
  ++m_batchDone;
  emit batchProgress(static_cast<int>(m_batchDone), static_cast<int>(m_batch.size()));
}

void ExportController::chooseAllHeads() {
  if (!m_doc->capture()) return;
  QDialog dialog(m_window);
  dialog.setWindowTitle(tr("Export all heads"));
  auto* form = new QFormLayout(&dialog);
  auto* scope = new QComboBox(&dialog);
  scope->addItem(tr("every head of layer %1").arg(m_view->layer()));
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
  const QString dir = QFileDialog::getExistingDirectory(m_window, tr("Folder for the figures"),
                                                        QSettings().value("export/lastDir").toString());
  if (dir.isEmpty()) return;
  QSettings().setValue("export/lastDir", dir);
  const bool whole = scope->currentIndex() == 1;
  if (exportAllHeads(dir, format->currentText(), whole, dpi->value(), false) >= 0) return;
  if (QMessageBox::question(m_window, tr("Replace files?"), tr("Replace the existing figures in %1?").arg(dir)) ==
      QMessageBox::Yes)
    exportAllHeads(dir, format->currentText(), whole, dpi->value(), true);
}

}  // namespace attnscope
