#pragma once
// The per-step KL timeline under a generation made with an attention variant: one bar per generated step, the
// KL(full ‖ variant) of the next-token distributions on the same prefix (red where the full model would have chosen
// another token), the view's current step marked. Clicking a bar opens that step. Hidden unless the document's
// capture is such a generation.
#include <qcustomplot.h>

namespace attnscope {

class AnalysisDocument;
class ViewState;

class StepKlTimeline : public QCustomPlot {
  Q_OBJECT
 public:
  StepKlTimeline(AnalysisDocument* doc, ViewState* view, QWidget* parent = nullptr);
  /// Bars shown (0 when hidden).
  int steps() const { return m_steps; }
  /// The bar of step \p step (1-based) as drawn: its KL, and whether it is marked as a disagreement.
  double barValue(int step) const;
  bool barDisagrees(int step) const;

 private:
  void rebuild();
  void markStep();
  void mousePressEvent(QMouseEvent* event) override;

  AnalysisDocument* m_doc;
  ViewState* m_view;
  QCPBars* m_same = nullptr;
  QCPBars* m_changed = nullptr;
  QCPItemStraightLine* m_marker = nullptr;
  QCPTextElement* m_title = nullptr;
  int m_steps = 0;
};

}  // namespace attnscope
