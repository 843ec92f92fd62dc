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
  const int cross = dla.crossHeads.empty() ? 0 : static_cast<int>(dla.crossHeads[0].size());
  // Columns: the heads, the cross-attention heads after a gap, a gap, the MLP. Cells of about 44 × 22 points,
  // within a page-sized figure wide enough for the title.
  const int columns = heads + (cross ? cross + 1 : 0) + 2;
  const int w = std::clamp(200 + 44 * columns, 560, 1400), h = std::clamp(130 + 22 * layers, 340, 900);
  DlaPlot plot;
  plot.resize(w, h);
  plot.setViewport(QRect(0, 0, w, h));  // a widget never shown gets no resize event: lay out at the figure's size
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
