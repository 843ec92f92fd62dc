#pragma once
// Direct logit attribution as a layers × heads grid on a diverging colour map (blue = against the target, red
// = for it, white = 0, symmetric about 0), for encoder–decoder models a second grid of the cross-attention
// heads beside it, an MLP column, and the embeddings' and biases' parts in the subtitle. Each cell is written
// with its value when it is large enough. Click a cell to choose a head (or a layer's MLP).
#include <qcustomplot.h>

#include "attnscope/DirectLogitAttribution.h"

namespace attnscope {

class DlaPlot : public QCustomPlot {
  Q_OBJECT
 public:
  /// A cell of the grid: a head of a layer's attention (cross: its cross-attention), or (head −1) its MLP.
  struct Cell {
    int layer = -1, head = -1;
    bool cross = false;
    bool operator==(const Cell& o) const { return layer == o.layer && head == o.head && cross == o.cross; }
  };

  explicit DlaPlot(QWidget* parent = nullptr);
  void setAttribution(const DirectLogitAttribution& dla);
  const DirectLogitAttribution& attribution() const { return m_dla; }
  /// Marks the cell of (\p layer, \p head) (\p cross: a cross-attention head); head −1 = the layer's MLP;
  /// layer −1 = none.
  void setSelected(int layer, int head, bool cross = false);
  int selectedLayer() const { return m_sel.layer; }
  int selectedHead() const { return m_sel.head; }
  bool selectedCross() const { return m_sel.cross; }
  /// The value shown at (\p layer, \p head) (head −1 = MLP; \p cross: the cross-attention grid); NaN outside.
  double valueAt(int layer, int head, bool cross = false) const;
  /// The text written in that cell ("" when the cell is too small for it).
  QString cellText(int layer, int head, bool cross = false) const;
  /// The largest |part| among heads and MLPs: the colour map spans ±this.
  double span() const { return m_span; }
  /// The cell under widget pixel \p pos; layer −1 outside the grid.
  Cell cellAt(const QPoint& pos) const;

 signals:
  void cellClicked(int layer, int head, bool cross);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  int headCount() const;
  int crossCount() const;
  /// The x coordinate of \p cell's column; the columns: heads, a gap, cross heads (a gap), the MLP.
  int columnOf(const Cell& cell) const;
  Cell cellOfColumn(int layer, int x) const;
  /// Every cell of a layer in column order.
  std::vector<Cell> rowCells(int layer) const;
  void writeCellTexts();
  QString tip(const Cell& cell) const;

  DirectLogitAttribution m_dla;
  double m_span = 1;
  Cell m_sel;
  QCPColorMap* m_heads;
  QCPColorMap* m_cross;
  QCPColorMap* m_mlp;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  QCPTextElement* m_subtitle;
  QCPItemRect* m_mark;
  QCPItemText* m_selfLabel;   ///< "self-attention" above the heads (encoder–decoder models)
  QCPItemText* m_crossLabel;  ///< "cross-attention" above the cross-attention heads
  QVector<QCPItemText*> m_texts;
};

}  // namespace attnscope
