#pragma once
// Scores over the input positions (or words) as bars, one per position with its label, the scored position's bar
// in red: the Attribution tab's view and the `attribute --figure` chart.
#include <qcustomplot.h>

#include "TokenScoresFigure.h"

namespace attnscope {

class TokenScoresPlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit TokenScoresPlot(QWidget* parent = nullptr);
  void setScores(const TokenScores& scores);
  const TokenScores& scores() const { return m_scores; }
  /// The drawn bar of position (or word) \p i: its value, and whether it is the highlighted one.
  double barValue(int i) const;
  bool barHighlighted(int i) const;
  /// Whether the highlighted bar is cut at the top of the axis (it is over 3x every other bar).
  bool highlightClipped() const { return m_clipped; }

 private:
  TokenScores m_scores;
  QCPTextElement* m_title;
  QCPBars* m_bars;
  QCPBars* m_mark;
  QCPItemText* m_clipLabel;
  bool m_clipped = false;
};

}  // namespace attnscope
