#include "DlaFigure.h"

#include <QApplication>
#include <algorithm>

#include "DlaPlot.h"
#include "FigureExport.h"
#include "ViewFigure.h"

namespace attnscope {

void renderDlaFigure(const DirectLogitAttribution& dla, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (dla.heads.empty()) throw std::runtime_error("the attribution has no layers");
  const int layers = static_cast<int>(dla.heads.size()), heads = static_cast<int>(dla.heads[0].size());
  // Cells of about 40 × 22 points, within a page-sized figure.
  const int w = std::clamp(160 + 40 * (heads + 2), 420, 900), h = std::clamp(110 + 22 * layers, 260, 900);
  DlaPlot plot;
  plot.resize(w, h);
  plot.setAttribution(dla);
  ViewPiece piece;
  piece.plot = &plot;
  piece.rect = QRect(0, 0, w, h);
  writeViewFigure({piece}, QString::fromStdString(out), dpi);
}

void renderDlaFigureHeadless(const DirectLogitAttribution& dla, const std::string& out, int dpi) {
  ensureFigureApplication();
  renderDlaFigure(dla, out, dpi);
}

}  // namespace attnscope
