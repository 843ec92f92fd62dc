#pragma once
#include <QComboBox>
#include <QLabel>

#include "AnalysisTab.h"
#include "HeatmapView.h"

class QCustomPlot;

namespace attnscope {

/// A head metric of every head (entropy, mean attention distance, sink mass, a learned sink's share where the family
/// has one, Michel importance) as a
/// layers × heads heatmap, with the current layer's heads as bars under it. Click a cell to choose that head.
class MetricsTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit MetricsTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Head metrics"); }
  QString key() const override { return "metrics"; }
  void writeFigure(const QString& path, int dpi) const override;
  QString figureName() const override { return modelName() + "-" + m_kind->currentData().toString(); }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  HeatmapView* view() const { return m_grid; }
  /// entropy, distance, sink, learned_sink (families with sinks) or importance.
  QComboBox* kindBox() const { return m_kind; }
  QCustomPlot* bars() const { return m_bars; }
  /// The last message (computing…, or why the metric is not available).
  QString note() const { return m_note->text(); }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void updateBars();
  void showValues(const std::vector<float>& values, int layers, int heads);
  HeatmapView* m_grid;
  QComboBox* m_kind;
  QLabel* m_note;
  QCustomPlot* m_bars;
  std::vector<float> m_values;
  int m_layers = 0, m_heads = 0;
  quint64 m_pending = 0;
};

}  // namespace attnscope
