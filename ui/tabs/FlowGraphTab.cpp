#include "FlowGraphTab.h"

#include <QHBoxLayout>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>

#include "ViewFigure.h"

namespace attnscope {

FlowGraphTab::FlowGraphTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("into position:"), this));
  m_position = new QSpinBox(this);
  m_position->setRange(-1, 0);
  m_position->setSpecialValueText(tr("last"));
  m_position->setValue(-1);
  row->addWidget(m_position);
  row->addWidget(new QLabel(tr("threshold:"), this));
  m_threshold = new QDoubleSpinBox(this);
  m_threshold->setRange(0.001, 1.0);
  m_threshold->setDecimals(3);
  m_threshold->setSingleStep(0.01);
  m_threshold->setValue(0.02);
  m_threshold->setToolTip(
      tr("edges whose importance (the share of the sum they enter, by proximity) is below this "
         "are dropped, with everything reached only through them"));
  row->addWidget(m_threshold);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Horizontal, this);
  m_plot = new FlowGraphPlot(split);
  m_edge = new QListWidget(split);
  m_edge->setMinimumWidth(220);
  m_edge->addItem(tr("click an edge to see its heads"));
  split->setStretchFactor(0, 5);
  split->setStretchFactor(1, 1);
  v->addWidget(split, 1);
}

void FlowGraphTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    const auto capture = m_doc->capture();
    if (!capture) showGraph(nullptr);
    m_computed.reset();
    const int T = capture ? static_cast<int>(capture->queryLabels.size()) : 0;
    m_position->setMaximum(std::max(0, T - 1));
    // The default node: a language model's next-token prediction, an encoder's summary position ([CLS]).
    m_position->setSpecialValueText(m_doc->summary().causal ? tr("last") : tr("first"));
    if (m_active) refresh();
  });
  connect(m_position, &QSpinBox::valueChanged, this, [this] {
    m_computed.reset();
    if (m_active) refresh();
  });
  connect(m_threshold, &QDoubleSpinBox::valueChanged, this, [this] {
    if (m_computed && m_computed->threshold <= m_threshold->value())
      filter();  // exact, no recomputation
    else if (m_active)
      refresh();
  });
  connect(m_plot, &FlowGraphPlot::edgeClicked, this, &FlowGraphTab::chooseEdge);
  if (!m_runner) return;
  connect(m_runner, &RunController::flowGraphReady, this,
          [this](quint64 id, std::shared_ptr<const InformationFlowGraph> graph) {
            if (id != m_pending) return;
            m_note->clear();
            showGraph(std::move(graph));
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

void FlowGraphTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->partial || !m_runner || !availableFor(m_doc->summary())) return;
  if (m_computed && m_computed->threshold <= m_threshold->value()) return;  // what is shown is current
  m_note->setText(tr("computing…"));
  m_pending = m_runner->flowGraph(m_position->value(), std::min(kComputedThreshold, m_threshold->value()));
}

void FlowGraphTab::showGraph(std::shared_ptr<const InformationFlowGraph> graph) {
  m_computed = std::move(graph);
  filter();
}

void FlowGraphTab::filter() {
  m_edge->clear();
  m_edge->addItem(tr("click an edge to see its heads"));
  if (!m_computed) {
    m_plot->setGraph(InformationFlowGraph());
    return;
  }
  const InformationFlowGraph shown = withThreshold(*m_computed, m_threshold->value());
  m_plot->setGraph(shown);
  int attention = 0;
  for (const FlowEdge& e : shown.edges) attention += e.kind == "attention";
  if (m_computed->edges.empty())
    m_note->setText(tr("no edges: none of the parts entering position %1 at the top is nearer its sum than zero "
                       "(they cancel out), so no route can be traced")
                        .arg(shown.position));
  else if (shown.edges.empty())
    m_note->setText(tr("no edge reaches this threshold"));
  else
    m_note->setText(tr("%1 edges (%2 through attention)").arg(shown.edges.size()).arg(attention));
}

void FlowGraphTab::chooseEdge(int index) {
  const auto& edges = m_plot->graph().edges;
  if (index < 0 || index >= static_cast<int>(edges.size())) return;
  m_plot->setSelectedEdge(index);
  const FlowEdge& e = edges[static_cast<size_t>(index)];
  m_edge->clear();
  m_edge->addItem(tr("%1, layer %2: %3 → %4 (importance %5)")
                      .arg(QString::fromStdString(e.kind))
                      .arg(e.layer)
                      .arg(e.from)
                      .arg(e.to)
                      .arg(e.weight, 0, 'f', 3));
  for (const auto& [head, weight] : e.heads)
    m_edge->addItem(tr("  head %1: %2").arg(head).arg(weight, 0, 'f', 3));
  if (e.kind != "attention" || e.heads.empty()) return;
  m_view->setLayerHead(e.layer, e.heads.front().first);
  m_view->setPin(static_cast<int>(e.to), static_cast<int>(e.from));
  emit headChosen(e.layer, e.heads.front().first);
}

void FlowGraphTab::writeFigure(const QString& path, int dpi) const {
  if (!m_computed) throw std::runtime_error("nothing to draw: run the model first");
  ViewPiece piece;
  piece.plot = m_plot;
  piece.rect = QRect(QPoint(0, 0), m_plot->size());
  writeViewFigure({piece}, path, dpi);
}

QJsonObject FlowGraphTab::saveState() const {
  return {{"position", m_position->value()}, {"threshold", m_threshold->value()}};
}

void FlowGraphTab::restoreState(const QJsonObject& state) {
  const int position = state.value("position").toInt(-1);
  if (position > m_position->maximum()) m_position->setMaximum(position);
  m_position->setValue(position);
  m_threshold->setValue(state.value("threshold").toDouble(0.02));
}

}  // namespace attnscope
