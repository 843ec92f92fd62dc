#pragma once
#include <QComboBox>
#include <QLabel>
#include <QSpinBox>

#include "AnalysisTab.h"
#include "HeatmapView.h"

namespace attnscope {

/// Mean or max over the heads of the current layer, or attention rollout up to it (Abnar & Zuidema 2020),
/// computed on the run controller's thread while the tab is visible. For a long input (attention computed on demand)
/// one query row, chosen in a spin box: a row vector times each layer's matrix, never the [q, k] matrices.
class AggregateTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit AggregateTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Aggregates"); }
  QString key() const override { return "aggregates"; }
  void writeFigure(const QString& path, int dpi) const override;
  QString figureName() const override;
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  HeatmapView* view() const { return m_matrix; }
  /// mean, max or rollout.
  QComboBox* kindBox() const { return m_kind; }
  /// The query row of a long input's aggregate (shown only for on-demand captures).
  QSpinBox* queryBox() const { return m_query; }

 protected:
  void refresh() override;
  void connectSignals() override;
  /// Shows the query-row box for an on-demand capture (range and default row set once per capture).
  void syncQueryBox();

 private:
  HeatmapView* m_matrix;
  QComboBox* m_kind;
  QLabel* m_queryLabel;
  QSpinBox* m_query;
  int m_pendingQuery = -1;   ///< the row asked for (−1: the whole matrix)
  int m_restoredQuery = -1;
  std::weak_ptr<const CaptureResult> m_queryBoxFor;  ///< the capture the box was set up for  ///< a saved state's row, applied when its capture arrives
  quint64 m_pending = 0;
  int m_pendingLayer = 0;
  int m_pendingStack = 0;
};

}  // namespace attnscope
