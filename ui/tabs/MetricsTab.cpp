#include "MetricsTab.h"

#include <QHBoxLayout>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <stdexcept>

#include "ViewFigure.h"
#include <qcustomplot.h>

namespace attnscope {

MetricsTab::MetricsTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_kind = new QComboBox(this);
  m_kind->addItem(tr("entropy (nats)"), "entropy");
  m_kind->addItem(tr("mean attention distance (positions)"), "distance");
  m_kind->addItem(tr("sink mass on the first position"), "sink");
  m_kind->addItem(tr("importance |∂L/∂ξ| (Michel et al. 2019)"), "importance");
  row->addWidget(m_kind);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Vertical, this);
  m_grid = new HeatmapView(split);
  m_bars = new QCustomPlot(split);
  m_bars->setMinimumHeight(140);
  m_bars->xAxis->setLabel(tr("head"));
  auto* bars = new QCPBars(m_bars->xAxis, m_bars->yAxis);
  bars->setBrush(QColor(59, 82, 139));
  bars->setPen(Qt::NoPen);
  bars->setWidth(0.7);
  split->addWidget(m_grid);
  split->addWidget(m_bars);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  v->addWidget(split, 1);
}

void MetricsTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) {
      m_grid->clear();
      m_values.clear();
      updateBars();
    }
    if (m_active) refresh();
  });
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    m_note->clear();
    // Families with learned sinks get their sink's share of each row as a metric of its own.
    const int i = m_kind->findData("learned_sink");
    if (m_doc->summary().attentionSinks && i < 0)
      m_kind->insertItem(3, tr("learned sink mass (share of each row)"), "learned_sink");
    else if (!m_doc->summary().attentionSinks && i >= 0)
      m_kind->removeItem(i);
  });
  connect(m_doc, &AnalysisDocument::prunedHeadsChanged, this, [this] {
    m_grid->setMarkedCells({m_doc->prunedHeads().begin(), m_doc->prunedHeads().end()});
  });
  connect(m_view, &ViewState::headChanged, this, &MetricsTab::updateBars);
  connect(m_kind, &QComboBox::currentIndexChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_grid->plot(), &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const int head = static_cast<int>(std::lround(m_grid->plot()->xAxis->pixelToCoord(e->pos().x())));
    const int layer = static_cast<int>(std::lround(m_grid->plot()->yAxis->pixelToCoord(e->pos().y())));
    if (layer >= 0 && layer < m_layers && head >= 0 && head < m_heads) m_view->setLayerHead(layer, head);
  });
  connect(m_grid, &HeatmapView::pinChanged, this, [this] { m_grid->setPin(-1, -1); });
  if (!m_runner) return;
  connect(m_runner, &RunController::headMetricReady, this,
          [this](quint64 id, const std::vector<float>& v, int layers, int heads) {
            if (id == m_pending) showValues(v, layers, heads);
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

void MetricsTab::showValues(const std::vector<float>& v, int layers, int heads) {
  std::vector<std::string> rows, cols;
  for (int l = 0; l < layers; ++l) rows.push_back("L" + std::to_string(l));
  for (int h = 0; h < heads; ++h) cols.push_back("H" + std::to_string(h));
  double hi = 0;
  for (float x : v) hi = std::max(hi, static_cast<double>(x));
  m_grid->setMatrix(v, layers, heads, rows, cols, tr("%1 — %2").arg(modelName(), m_kind->currentText()), 0,
                    hi > 0 ? hi : 1.0, QString(), m_kind->currentData().toString(), "layer", "head");
  m_grid->setMarkedCells({m_doc->prunedHeads().begin(), m_doc->prunedHeads().end()});
  m_values = v;
  m_layers = layers;
  m_heads = heads;
  updateBars();
  m_note->clear();
  emit shown();
}

void MetricsTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty()) return;
  if (m_kind->currentData().toString() == "learned_sink") {
    // Read off the capture: the mean over query rows of each head's sink probability.
    const int layers = m_doc->summary().layers, heads = m_doc->summary().heads;
    std::vector<float> v(static_cast<size_t>(layers) * heads, 0.f);
    for (int l = 0; l < layers; ++l) {
      const AttentionMatrix* a = capture->find(currentStack(), l);
      if (!a || a->sinkMass.empty()) continue;
      for (int h = 0; h < a->heads; ++h) {
        double sum = 0;
        for (int i = 0; i < a->q; ++i) sum += a->sinkAt(h, i);
        v[static_cast<size_t>(l) * heads + a->headIndex[static_cast<size_t>(h)]] = static_cast<float>(sum / std::max(1, a->q));
      }
    }
    showValues(v, layers, heads);
    return;
  }
  if (!m_runner) return;
  m_note->setText(tr("computing…"));
  m_pending = m_runner->headMetric(capture, QString::fromStdString(currentStack()), m_kind->currentData().toString());
}

void MetricsTab::updateBars() {
  auto* bars = static_cast<QCPBars*>(m_bars->plottable(0));
  const int layer = m_view ? m_view->layer() : 0;
  if (m_values.empty() || layer >= m_layers) {
    bars->data()->clear();
    m_bars->replot();
    return;
  }
  QVector<double> x, y;
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  double top = 0;
  for (int h = 0; h < m_heads; ++h) {
    x << h;
    y << m_values[static_cast<size_t>(layer) * m_heads + h];
    top = std::max(top, y.back());
    ticks->addTick(h, QString("H%1").arg(h));
  }
  bars->setData(x, y, true);
  m_bars->xAxis->setTicker(ticks);
  m_bars->xAxis->setRange(-0.6, m_heads - 0.4);
  m_bars->yAxis->setRange(0, top > 0 ? top * 1.1 : 1.0);
  m_bars->yAxis->setLabel(m_kind->currentText());
  m_bars->xAxis->setLabel(tr("head (layer %1)").arg(layer));
  m_bars->replot();
}

void MetricsTab::writeFigure(const QString& path, int dpi) const {
  if (m_values.empty()) throw std::runtime_error("no head metric to export: open the Head metrics tab after a run");
  ViewPiece grid, bars;
  grid.plot = m_grid->plot();
  grid.rect = QRect(QPoint(0, 0), grid.plot->size());
  bars.plot = m_bars;
  bars.rect = QRect(QPoint(0, grid.plot->height()), m_bars->size());
  writeViewFigure({grid, bars}, path, dpi);
}

QJsonObject MetricsTab::saveState() const { return {{"metric", m_kind->currentData().toString()}}; }

void MetricsTab::restoreState(const QJsonObject& state) {
  const int i = m_kind->findData(state.value("metric").toString());
  if (i >= 0) m_kind->setCurrentIndex(i);
}

}  // namespace attnscope
