#pragma once
#include <QLabel>

#include "AnalysisTab.h"
#include "HeatmapView.h"

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;

namespace attnscope {

/// Mixture-of-experts routing of the current capture: a layers × tokens map coloured by each token's
/// first-choice expert (every chosen expert and its weight in the tooltip), the expert load of the selected
/// layer as bars (share of the token slots each expert received, with the uniform share k / experts marked),
/// and the selected token's router distribution across the MoE layers. Click a cell to select that token and
/// layer; double-click opens the layer's attention with the token's row pinned. Available for models whose
/// summary reports experts.
class RoutingTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit RoutingTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Routing"); }
  QString key() const override { return "routing"; }
  bool availableFor(const ModelSummary& summary) const override { return summary.experts > 0; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override;
  QString figureName() const override { return modelName() + "-routing"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  QCustomPlot* map() const { return m_map; }
  QCustomPlot* load() const { return m_load; }
  HeatmapView* distribution() const { return m_dist; }
  /// Selected token (position) and MoE layer (model layer index); -1 when nothing is shown.
  int selectedToken() const { return m_token; }
  int selectedLayer() const { return m_layer; }
  /// First-choice expert the map draws for (routed row, token); -1 when absent.
  int drawnExpert(int row, int token) const;
  /// The colour the map draws (routed row, token) in.
  QColor drawnColor(int row, int token) const;
  /// Expert \p e's colour (a qualitative palette, repeating past 20 experts).
  static QColor expertColor(int e);
  /// Load bar heights of the selected layer (share of token slots per expert).
  std::vector<double> loadShares() const;
  /// Selects (token, model layer) as a click would.
  void select(int token, int layer);
  /// The map cell centre in widget pixels of (routed row, token), for tests and tooltips.
  QPoint cellPoint(int row, int token) const;

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void drawMap();
  void drawLoad();
  void drawDistribution();
  /// (routed row, token) under a widget point of the map; false outside.
  bool cellAt(const QPoint& p, int* row, int* token) const;
  QLabel* m_note;
  QCustomPlot* m_map;
  QCPColorMap* m_colors = nullptr;
  QCPColorScale* m_legend = nullptr;
  QCustomPlot* m_load;
  HeatmapView* m_dist;
  int m_token = -1, m_layer = -1;
};

}  // namespace attnscope
