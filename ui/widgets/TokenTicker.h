#pragma once
#include <QStringList>
#include <qcustomplot.h>

namespace attnscope {

/// Token labels on a matrix axis: one tick per token when they fit, else every n-th token with n a 1-2-5 step
/// chosen from the axis's length in pixels and the label height, recomputed on every replot, so zooming in labels
/// every token of the visible window and a small panel does not stack its labels on top of each other.
class TokenTicker : public QCPAxisTicker {
 public:
  TokenTicker(QCPAxis* axis, QStringList labels) : m_axis(axis), m_labels(std::move(labels)) {}

 protected:
  double getTickStep(const QCPRange& range) override;
  int getSubTickCount(double) override { return 0; }
  QString getTickLabel(double tick, const QLocale&, QChar, int) override;

 public:
  /// A token label short enough for an axis: blanks made visible, long ones cut with an ellipsis.
  static QString elide(QString s);

 private:
  QCPAxis* m_axis;
  QStringList m_labels;
};

}  // namespace attnscope
