#pragma once
#include <QComboBox>

#include "AnalysisTab.h"
#include "HeatmapView.h"

namespace attnscope {

/// Mean or max over the heads of the current layer, or attention rollout up to it (Abnar & Zuidema 2020),
/// computed on the run controller's thread while the tab is visible.
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

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  HeatmapView* m_matrix;
  QComboBox* m_kind;
  quint64 m_pending = 0;
  int m_pendingLayer = 0;
  int m_pendingStack = 0;
};

}  // namespace attnscope
