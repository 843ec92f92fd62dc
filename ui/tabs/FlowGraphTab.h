#pragma once
#include <QDoubleSpinBox>
#include <QLabel>
#include <QListWidget>
#include <QSpinBox>
#include <memory>

#include "AnalysisTab.h"
#include "FlowGraphPlot.h"

namespace attnscope {

/// The information-flow graph (Ferrando & Voita 2024) of the last run's input: the routes through which the
/// residual stream at one position was built, edges kept above a threshold the user moves (the graph is
/// computed once at a low threshold and filtered exactly as the threshold rises, so moving it is instant).
/// Clicking an attention edge lists its heads and opens the strongest one in the Head view with that cell
/// pinned. Offered when the model summary says the residual stream is a sum of writes.
class FlowGraphTab : public AnalysisTab {
  Q_OBJECT
 public:
  /// The graph is computed at this threshold (or the user's, when lower) and filtered above it.
  static constexpr double kComputedThreshold = 0.01;

  explicit FlowGraphTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Information flow"); }
  QString key() const override { return "flow"; }
  bool availableFor(const ModelSummary& summary) const override { return summary.hasResidualDecomposition; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_computed != nullptr; }
  QString figureName() const override { return modelName() + "-information-flow"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  /// Shows \p graph (computed at a threshold at most the box's), filtered to the box's threshold.
  void showGraph(std::shared_ptr<const InformationFlowGraph> graph);
  /// Chooses edge \p index of the shown graph: lists its heads; an attention edge opens its strongest head.
  void chooseEdge(int index);
  FlowGraphPlot* plot() const { return m_plot; }
  QSpinBox* positionBox() const { return m_position; }
  QDoubleSpinBox* thresholdBox() const { return m_threshold; }
  QListWidget* edgeList() const { return m_edge; }
  QString note() const { return m_note->text(); }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void filter();
  FlowGraphPlot* m_plot;
  QSpinBox* m_position;
  QDoubleSpinBox* m_threshold;
  QLabel* m_note;
  QListWidget* m_edge;
  std::shared_ptr<const InformationFlowGraph> m_computed;
  quint64 m_pending = 0;
};

}  // namespace attnscope
