#pragma once
// Deletion curves: the target's probability against the fraction of tokens (or heads) removed, one line per
// method with its area under the curve in the legend; the faster a curve falls, the more faithful the
// ranking.
#include <qcustomplot.h>

#include "attnscope/DeletionCurve.h"

namespace attnscope {

class DeletionPlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit DeletionPlot(QWidget* parent = nullptr);
  void setResult(const DeletionResult& result);
  const DeletionResult& result() const { return m_result; }

 private:
  DeletionResult m_result;
  QCPTextElement* m_title;
};

}  // namespace attnscope
