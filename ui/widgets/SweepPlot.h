#pragma once
#include <qcustomplot.h>

#include "SweepFigure.h"

namespace attnscope {

/// The pruning sweep as a plot: output drift (KL of the output distribution, mean attention JS, both in nats, left
/// axis) and top-1 agreement (right axis, 0–1) against the fraction of heads pruned (Michel et al. 2019, fig. 2).
/// Click a point to choose it.
class SweepPlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit SweepPlot(QWidget* parent = nullptr);
  void setCurve(const SweepCurve& curve);
  /// Marks point \p index (-1 = none).
  void setSelectedPoint(int index);
  int selectedPoint() const { return m_selected; }
  const SweepCurve& curve() const { return m_curve; }

 signals:
  void pointClicked(int index);

 private:
  SweepCurve m_curve;
  int m_selected = -1;
  QCPGraph* m_kl;
  QCPGraph* m_js;
  QCPGraph* m_top1;
  QCPGraph* m_mark;
  QCPTextElement* m_title;
};

}  // namespace attnscope
