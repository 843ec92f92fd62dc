#include "AggregateTab.h"

#include <QHBoxLayout>
#include <QSignalBlocker>
#include <QVBoxLayout>
#include <algorithm>
#include <stdexcept>

#include "ViewFigure.h"
#include "WordLevel.h"

namespace attnscope {

AggregateTab::AggregateTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_kind = new QComboBox(this);
  m_kind->addItem(tr("mean over heads"), "mean");
  m_kind->addItem(tr("max over heads"), "max");
  m_kind->addItem(tr("rollout up to this layer (Abnar & Zuidema 2020)"), "rollout");
  m_kind->addItem(tr("attention flow up to this layer (max-flow, Abnar & Zuidema 2020)"), "flow");
  row->addWidget(m_kind);
  m_queryLabel = new QLabel(tr("query row:"), this);
  m_queryLabel->setToolTip(tr("This long input's attention is computed on demand: the aggregate of one query row "
                              "(a row vector times each layer's matrix)"));
  m_query = new QSpinBox(this);
  m_query->setToolTip(m_queryLabel->toolTip());
  row->addWidget(m_queryLabel);
  row->addWidget(m_query);
  m_queryLabel->hide();
  m_query->hide();
  row->addStretch(1);
  v->addLayout(row);
  m_matrix = new HeatmapView(this);
  v->addWidget(m_matrix, 1);
}

void AggregateTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) m_matrix->clear();
    syncQueryBox();
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::headChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::appearanceChanged, this, [this] { m_matrix->setColorMap(m_view->colorMap()); });
  connect(m_kind, &QComboBox::currentIndexChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::wordsChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_query, &QSpinBox::valueChanged, this, [this] {
    if (m_active) refresh();
  });
  if (!m_runner) return;
  connect(m_runner, &RunController::aggregated, this,
          [this](quint64 id, std::vector<float> v, int rows, int cols) {
            const auto capture = m_doc->capture();
            if (id != m_pending || !capture) return;
            const auto& keys = capture->stackKeyLabels[m_pendingStack];
            std::vector<std::string> keyLabels = keys;
            const WordLevel words(m_view->words() && rows == static_cast<int>(capture->stackQueryLabels[m_pendingStack].size()),
                                  m_doc->summary(), capture->stackQueryLabels[m_pendingStack], keys);
            if (words.active() && cols == static_cast<int>(keys.size())) {
              v = words.merge(v, rows, cols);
              rows = static_cast<int>(words.queryLabels().size());
              cols = static_cast<int>(words.keyLabels().size());
              keyLabels = words.keyLabels();
            }
            double top = 0;
            for (float x : v) top = std::max(top, static_cast<double>(x));
            const QString kind = m_kind->currentData().toString();
            const bool rollout = kind == "rollout" || kind == "flow";
            const auto& queries = capture->stackQueryLabels[m_pendingStack];
            QString title = tr("%1 — %2 — layer %3").arg(modelName(), m_kind->currentText()).arg(m_pendingLayer);
            std::vector<std::string> rowLabels = keyLabels.size() == keys.size() ? queries : words.queryLabels();
            if (keyLabels.size() != keys.size()) title += WordLevel::rule();
            if (m_pendingQuery >= 0 && rows == 1) {
              const std::string label = m_pendingQuery < static_cast<int>(queries.size())
                                            ? queries[static_cast<size_t>(m_pendingQuery)]
                                            : std::to_string(m_pendingQuery);
              rowLabels = {label};
              title += tr(" — query row %1 (%2)").arg(m_pendingQuery).arg(QString::fromStdString(label));
            }
            // A rollout or flow, or one row of a long input (weights of ~1/k each), is drawn up to its largest value.
            m_matrix->setMatrix(v, rows, cols, rowLabels, keyLabels, title, 0.0,
                                rollout || rows == 1 ? top : 1.0);
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) emit statusMessage(message);
  });
  m_matrix->setColorMap(m_view->colorMap());
}

void AggregateTab::syncQueryBox() {
  const auto capture = m_doc->capture();
  if (capture == m_queryBoxFor.lock()) return;
  m_queryBoxFor = capture;
  const bool row = capture && capture->onDemand();
  m_queryLabel->setVisible(row);
  m_query->setVisible(row);
  if (!row) return;
  // The last row by default: a causal model's last position has seen everything.
  const AttentionMatrix* a = capture->find(currentStack(), m_view->layer());
  const QSignalBlocker block(m_query);
  m_query->setRange(0, std::max(0, (a ? a->q : 1) - 1));
  m_query->setValue(m_restoredQuery >= 0 ? std::min(m_restoredQuery, m_query->maximum()) : m_query->maximum());
  m_restoredQuery = -1;
}

void AggregateTab::refresh() {
  const auto capture = m_doc->capture();
  syncQueryBox();
  if (!capture || capture->stacks.empty() || !m_runner) return;
  m_pendingLayer = m_view->layer();
  m_pendingStack = currentStackIndex();
  m_pendingQuery = capture->onDemand() ? m_query->value() : -1;
  m_pending = m_runner->aggregate(capture, QString::fromStdString(currentStack()), m_pendingLayer,
                                  m_kind->currentData().toString(), std::max(0, m_pendingQuery));
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

QJsonObject AggregateTab::saveState() const {
  return {{"kind", m_kind->currentData().toString()}, {"query", m_query->value()}};
}

void AggregateTab::restoreState(const QJsonObject& state) {
  const int i = m_kind->findData(state.value("kind").toString());
  if (i >= 0) m_kind->setCurrentIndex(i);
  m_restoredQuery = state.value("query").toInt(-1);  // applied now or when the session's capture arrives
  if (m_restoredQuery >= 0 && m_query->isVisibleTo(this)) m_query->setValue(m_restoredQuery);
}

}  // namespace attnscope
