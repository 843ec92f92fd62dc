#include "AggregateTab.h"

#include <QHBoxLayout>
#include <QVBoxLayout>
#include <algorithm>
#include <stdexcept>

#include "ViewFigure.h"

namespace attnscope {

AggregateTab::AggregateTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_kind = new QComboBox(this);
  m_kind->addItem(tr("mean over heads"), "mean");
  m_kind->addItem(tr("max over heads"), "max");
  m_kind->addItem(tr("rollout up to this layer (Abnar & Zuidema 2020)"), "rollout");
  row->addWidget(m_kind);
  row->addStretch(1);
  v->addLayout(row);
  m_matrix = new HeatmapView(this);
  v->addWidget(m_matrix, 1);
}

void AggregateTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) m_matrix->clear();
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::headChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::appearanceChanged, this, [this] { m_matrix->setColorMap(m_view->colorMap()); });
  connect(m_kind, &QComboBox::currentIndexChanged, this, [this] {
    if (m_active) refresh();
  });
  if (!m_runner) return;
  connect(m_runner, &RunController::aggregated, this,
          [this](quint64 id, const std::vector<float>& v, int rows, int cols) {
            const auto capture = m_doc->capture();
            if (id != m_pending || !capture) return;
            double top = 0;
            for (float x : v) top = std::max(top, static_cast<double>(x));
            const bool rollout = m_kind->currentData().toString() == "rollout";
            m_matrix->setMatrix(v, rows, cols, capture->stackQueryLabels[m_pendingStack],
                                capture->stackKeyLabels[m_pendingStack],
                                tr("%1 — %2 — layer %3").arg(modelName(), m_kind->currentText()).arg(m_pendingLayer),
                                0.0, rollout ? top : 1.0);
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) emit statusMessage(message);
  });
  m_matrix->setColorMap(m_view->colorMap());
}

void AggregateTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty() || !m_runner) return;
  m_pendingLayer = m_view->layer();
  m_pendingStack = currentStackIndex();
  m_pending = m_runner->aggregate(capture, QString::fromStdString(currentStack()), m_pendingLayer,
                                  m_kind->currentData().toString());
}

void AggregateTab::writeFigure(const QString& path, int dpi) const {
  if (!m_doc->capture() || m_matrix->queries() == 0) throw std::runtime_error("run the model first");
  ViewPiece p;
  p.plot = m_matrix->plot();
  p.rect = QRect(QPoint(0, 0), p.plot->size());
  writeViewFigure({p}, path, dpi);
}

QString AggregateTab::figureName() const {
  return QString("%1-%2-L%3").arg(modelName(), m_kind->currentData().toString()).arg(m_view->layer());
}

QJsonObject AggregateTab::saveState() const { return {{"kind", m_kind->currentData().toString()}}; }

void AggregateTab::restoreState(const QJsonObject& state) {
  const int i = m_kind->findData(state.value("kind").toString());
  if (i >= 0) m_kind->setCurrentIndex(i);
}

}  // namespace attnscope
