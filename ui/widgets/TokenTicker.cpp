#include "TokenTicker.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

QString TokenTicker::elide(QString s) {
  if (s.trimmed().isEmpty() && !s.isEmpty()) s = QString("␣").repeated(s.size());
  if (s.size() > 14) s = s.left(13) + QChar(0x2026);
  return s;
}


double TokenTicker::getTickStep(const QCPRange& range) {
  const bool horizontal = m_axis->orientation() == Qt::Horizontal;
  // Ticks are made before the layout runs, so the axis rect may still have the size of the last layout (or none,
  // for a plot drawn straight to a file): never trust it beyond the viewport the plot is drawn into now.
  const QRect view = m_axis->parentPlot()->viewport();
  const double rect = horizontal ? m_axis->axisRect()->width() : m_axis->axisRect()->height();
  const double bound = 0.85 * (horizontal ? view.width() : view.height());
  const double pixels = rect >= 32 ? std::min(rect, bound) : bound;
  const int line = QFontMetrics(m_axis->tickLabelFont()).height();
  // Labels of the x axis are rotated by 60°: the space one takes along the axis is line / sin(60°).
  const double perLabel = horizontal ? line / 0.866 : line;
  const double fit = std::max(1.0, pixels / perLabel);
  const double need = std::max(1.0, range.size() / fit);
  for (double mag = 1;; mag *= 10)
    for (double m : {1.0, 2.0, 5.0})
      if (m * mag >= need) return m * mag;
}

QString TokenTicker::getTickLabel(double tick, const QLocale&, QChar, int) {
  const long i = std::lround(tick);
  return i >= 0 && i < m_labels.size() ? elide(m_labels[static_cast<int>(i)]) : QString();
}

}  // namespace attnscope
