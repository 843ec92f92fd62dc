#pragma once
#include <QLabel>
#include <QWidget>
#include <qcustomplot.h>

#include "attnscope/EngineSession.h"

namespace attnscope {

/// One head's attention as a heatmap: queries on the vertical axis (top to bottom),
/// keys on the horizontal axis, token labels on both, a colour scale, and the
/// value under the mouse ("query → key: value") as a tooltip and a status line.
class HeatmapView : public QWidget {
  Q_OBJECT
 public:
  explicit HeatmapView(QWidget* parent = nullptr);

  /// Shows head slot \p head of \p matrix with the given labels.
  void setAttention(const AttentionMatrix& matrix, int head, const std::vector<std::string>& queryLabels,
                    const std::vector<std::string>& keyLabels, const QString& title);
  /// Any [rows × cols] matrix (row-major) with a colour range, gradient name and colour-bar label.
  void setMatrix(const std::vector<float>& values, int rows, int cols, const std::vector<std::string>& rowLabels,
                 const std::vector<std::string>& colLabels, const QString& title, double lo, double hi,
                 const QString& gradient = QString(), const QString& scaleLabel = "attention weight",
                 const QString& rowAxis = "query", const QString& colAxis = "key");
  /// Fixes the colour range (e.g. one scale shared by side-by-side panels); lo >= hi restores 0..1.
  void setRange(double lo, double hi);
  /// Thumbnail mode for grids: no colour bar, axis labels or tick labels.
  void setCompact(bool on);
  void clear();
  void setColorMap(const QString& name);

  /// The value drawn in cell (query, key), read back from the colour map.
  double valueAt(int query, int key) const;
  /// "query → key: value" for a cell.
  QString cellText(int query, int key) const;
  int queries() const { return m_q; }
  int keys() const { return m_k; }
  QCustomPlot* plot() const { return m_plot; }

 signals:
  void hovered(const QString& text);

 private:
  void onMouseMove(QMouseEvent* event);
  static QString elide(const std::string& label);

  QCustomPlot* m_plot;
  QCPColorMap* m_map;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  QLabel* m_status;
  QStringList m_queryLabels, m_keyLabels;
  QString m_gradient = "viridis";
  bool m_fixedGradient = false;
  int m_q = 0, m_k = 0;
};

}  // namespace attnscope
