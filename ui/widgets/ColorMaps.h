#pragma once
#include <QString>
#include <QStringList>
#include <functional>
#include <qcustomplot.h>

namespace attnscope {

/// Colour maps for heatmaps, built from colour stops (QCustomPlot has no viridis preset).
class ColorMaps {
 public:
  /// "viridis" (default), "magma", "greys"; "diverging" (blue–white–red) for signed differences.
  static QCPColorGradient gradient(const QString& name);
  static QStringList names() { return {"viridis", "magma", "greys"}; }
  /// Sizes \p d to \p nx × \p ny cells of \p bx × \p by matrix cells from (\p x0, \p y0), each drawn over the
  /// cells it covers, with value(j, i). QCustomPlot draws a single row or column with no height, so a single one is
  /// stored twice over the same extent.
  static void fill(QCPColorMapData* d, int x0, int nx, int bx, int y0, int ny, int by,
                   const std::function<double(int, int)>& value);
};

}  // namespace attnscope
