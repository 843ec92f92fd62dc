#pragma once
#include <QString>
#include <QStringList>
#include <qcustomplot.h>

namespace attnscope {

/// Colour maps for heatmaps, built from colour stops (QCustomPlot has no viridis preset).
class ColorMaps {
 public:
  /// "viridis" (default), "magma", "greys"; "diverging" (blue–white–red) for signed differences.
  static QCPColorGradient gradient(const QString& name);
  static QStringList names() { return {"viridis", "magma", "greys"}; }
};

}  // namespace attnscope
