#pragma once
#include <QLabel>
#include <functional>
#include <QWidget>
#include <qcustomplot.h>

#include "attnscope/EngineSession.h"

namespace attnscope {

/// One head's attention as a heatmap: queries on the vertical axis (top to bottom), keys on the horizontal axis,
/// token labels on both, a colour scale (linear, log or power; auto or fixed range), and the value under the mouse
/// ("query → key: value") as a tooltip and a status line. A click pins a query row (Shift+click: a key column);
/// the pinned row's strongest keys are listed under the plot. Wheel zooms, drag pans.
///
/// Matrices larger than the plot in pixels are drawn at screen resolution: each drawn cell is the maximum of the
/// block of cells under one pixel (so a single strong weight stays visible), recomputed for the visible window
/// when the view is zoomed or panned. Tooltips always read the exact cell.
class HeatmapView : public QWidget {
  Q_OBJECT
 public:
  enum class Scale { Linear, Log, Power };

  explicit HeatmapView(QWidget* parent = nullptr);

  /// Shows head slot \p head of \p matrix with the given labels.
  void setAttention(const AttentionMatrix& matrix, int head, const std::vector<std::string>& queryLabels,
                    const std::vector<std::string>& keyLabels, const QString& title);
  /// Any [rows × cols] matrix (row-major) with a fixed colour range, gradient name and colour-bar label.
  void setMatrix(const std::vector<float>& values, int rows, int cols, const std::vector<std::string>& rowLabels,
                 const std::vector<std::string>& colLabels, const QString& title, double lo, double hi,
                 const QString& gradient = QString(), const QString& scaleLabel = "attention weight",
                 const QString& rowAxis = "query", const QString& colAxis = "key");
  /// Exact cells of rows [r0, r1) × keys [c0, c1), row-major (a long input's head, computed on demand).
  using CellReader = std::function<std::vector<float>(int r0, int r1, int c0, int c1)>;
  /// A head too long to hold (\p rows × \p cols): drawn from the block maxima setTile() delivers for each window
  /// tileWanted() asks for (the whole head first, then each zoomed or panned window at screen resolution); hover and
  /// pins read exact cells through \p cells.
  void setRemote(int rows, int cols, const std::vector<std::string>& queryLabels,
                 const std::vector<std::string>& keyLabels, const QString& title, CellReader cells);
  /// The block maxima [ny × nx] of the window (keys x0..x1, queries y0..y1, blocks of bx × by cells) that
  /// tileWanted() asked for; ignored when the view has moved on to another window.
  void setTile(int x0, int x1, int y0, int y1, int bx, int by, const std::vector<float>& maxima);
  bool remote() const { return static_cast<bool>(m_remoteCells); }
  /// Fixes the colour range (e.g. one scale shared by side-by-side panels); lo >= hi restores 0..1.
  void setRange(double lo, double hi);
  /// Auto range: 0 .. the largest value (symmetric around 0 for signed data).
  void setAutoRange();
  bool autoRange() const { return m_auto; }
  /// The colour range in data units.
  std::pair<double, double> range() const { return {m_lo, m_hi}; }
  /// Linear, logarithmic (log10; values below the range's lower end are clamped) or power (value^gamma) colour
  /// scale. Signed data (a difference map) is always linear.
  void setScale(Scale scale, double gamma = 0.5);
  Scale scale() const { return m_scaleMode; }
  double gamma() const { return m_gamma; }
  /// Thumbnail mode for grids: no colour bar, axis labels or tick labels.
  void setCompact(bool on);
  void clear();
  void setColorMap(const QString& name);

  /// Pins query row \p query and/or key column \p key (-1 = none) without emitting pinChanged.
  void setPin(int query, int key);
  int pinnedQuery() const { return m_pinQuery; }
  int pinnedKey() const { return m_pinKey; }
  /// Zoom about the centre (factor > 1 zooms in); resetZoom shows the whole matrix.
  void zoomBy(double factor);
  void resetZoom();

  /// The shown matrix, [queries × keys] row-major, data units.
  const std::vector<float>& values() const { return m_values; }
  /// The exact value of cell (query, key).
  double valueAt(int query, int key) const;
  /// The value the colour map draws for (query, key), in data units (the block maximum when downsampled).
  double drawnValue(int query, int key) const;
  /// "query → key: value" for a cell.
  QString cellText(int query, int key) const;
  /// The hover tooltip of a cell: cellText() escaped into rich text, so labels like "<s>" show as themselves.
  QString tooltipHtml(int query, int key) const;
  /// Text of the pinned row/column summary ("" when nothing is pinned).
  QString pinText() const;
  int queries() const { return m_q; }
  int keys() const { return m_k; }
  /// Cells per axis the colour map holds now (== queries()/keys() unless downsampled).
  QSize drawnCells() const;
  /// The matrix cells (x: keys, y: queries) the drawn cell holding (query, key) covers; empty when not drawn.
  QRect drawnBlock(int query, int key) const;
  QCustomPlot* plot() const { return m_plot; }
  /// Cells drawn crossed out (e.g. pruned heads in a layers × heads grid); (row, column) pairs.
  void setMarkedCells(const std::vector<std::pair<int, int>>& cells);
  int markedCells() const { return static_cast<int>(m_marks.size()); }
  /// The title line above the plot.
  QString title() const;

 signals:
  void hovered(const QString& text);
  /// The user pinned (or unpinned: -1) a query row or key column.
  void pinChanged(int query, int key);
  /// A remote head needs the block maxima of this window (see setTile()).
  void tileWanted(int x0, int x1, int y0, int y1, int bx, int by);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void onMouseMove(QMouseEvent* event);
  void onRelease(QMouseEvent* event);
  /// What the colour map draws: the whole matrix, or only the visible window when the matrix has more cells than
  /// the plot has pixels, in blocks of bx × by cells (nx × ny drawn cells).
  struct Window {
    int x0 = 0, x1 = -1, y0 = 0, y1 = -1, bx = 1, by = 1, nx = 0, ny = 0;
    bool operator==(const Window& o) const {
      return x0 == o.x0 && x1 == o.x1 && y0 == o.y0 && y1 == o.y1 && bx == o.bx && by == o.by;
    }
    bool downsampled() const { return bx > 1 || by > 1; }
  };
  Window visibleWindow() const;
  /// One pass over rows [r0, r1) of \p src (m_k columns): copies them into m_values when \p copy, widens
  /// [\p lo, \p hi] to their extremes, and reduces the rows inside \p w into m_blockMax. The range must hold
  /// whole block rows of \p w.
  void scanRows(const float* src, int r0, int r1, const Window& w, bool copy, float& lo, float& hi);
  /// Runs scanRows over all rows, in two threads for large matrices (split on a block-row boundary).
  void scanAll(const float* src, const Window& w, bool copy, float& lo, float& hi);
  void setLabels(const std::vector<std::string>& queryLabels, const std::vector<std::string>& keyLabels);
  void updateRange();
  void rebuildMap();
  void updatePinItems();
  double transform(double v) const;
  double inverse(double v) const;
  bool isSigned() const { return m_dataMin < 0; }

  QCustomPlot* m_plot;
  QCPColorMap* m_map;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  std::vector<QCPItemText*> m_marks;
  QCPItemRect* m_pinRow;
  QCPItemRect* m_pinCol;
  QLabel* m_status;
  QLabel* m_pinLabel;
  QStringList m_queryLabels, m_keyLabels;
  std::vector<float> m_values;  ///< [q × k] row-major, data units
  QString m_gradient = "viridis";
  bool m_fixedGradient = false;
  bool m_auto = true;
  bool m_rebuildQueued = false;
  Scale m_scaleMode = Scale::Linear;
  double m_gamma = 0.5;
  double m_lo = 0, m_hi = 1, m_fixedLo = 0, m_fixedHi = 1, m_dataMin = 0, m_dataMax = 1;
  int m_q = 0, m_k = 0;
  Window m_drawn;  ///< what the colour map holds now
  bool m_mapValid = false;
  std::vector<float> m_blockMax;  ///< [ny × nx] block maxima of m_blockWindow (when downsampled), data units
  Window m_blockWindow;
  int m_pinQuery = -1, m_pinKey = -1;
  QPoint m_pressPos;
  CellReader m_remoteCells;  ///< set for a remote head (then m_values is empty)
  Window m_requested;        ///< the window whose tile was asked for last
};

}  // namespace attnscope
