#pragma once
// Direct logit attribution as a layers × heads grid on a diverging colour map (blue = against the target, red
// = for it, white = 0, symmetric about 0), an MLP column beside it, and the embeddings' and biases' parts in
// the subtitle. Each cell is written with its value when it is large enough. Click a cell to choose a head
// (or a layer's MLP).
#include <qcustomplot.h>

#include "attnscope/DirectLogitAttribution.h"

namespace attnscope {

class DlaPlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit DlaPlot(QWidget* parent = nullptr);
  void setAttribution(const DirectLogitAttribution& dla);
  const DirectLogitAttribution& attribution() const { return m_dla; }
  /// Marks the cell of (\p layer, \p head); head −1 = the layer's MLP; layer −1 = none.
  void setSelected(int layer, int head);
  int selectedLayer() const { return m_selLayer; }
  int selectedHead() const { return m_selHead; }
  /// The value shown at (\p layer, \p head) (head −1 = MLP); NaN outside the grid.
  double valueAt(int layer, int head) const;
  /// The text written in that cell ("" when the cell is too small for it).
  QString cellText(int layer, int head) const;
  /// The largest |part| among heads and MLPs: the colour map spans ±this.
  double span() const { return m_span; }
  /// The cell (layer, head) under widget pixel \p pos; head −1 = MLP; {-1, -1} outside.
  QPair<int, int> cellAt(const QPoint& pos) const;

 signals:
  void cellClicked(int layer, int head);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void writeCellTexts();
  QString tip(int layer, int head) const;

  DirectLogitAttribution m_dla;
  double m_span = 1;
  int m_selLayer = -1, m_selHead = -1;
  QCPColorMap* m_heads;
  QCPColorMap* m_mlp;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  QCPTextElement* m_subtitle;
  QCPItemRect* m_mark;
  QVector<QCPItemText*> m_texts;
};

}  // namespace attnscope
