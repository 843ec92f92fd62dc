#include "DeletionFigure.h"

#include <QApplication>

#include "DeletionPlot.h"
#include "FigureExport.h"
#include "ViewFigure.h"

namespace attnscope {

void renderDeletionFigure(const DeletionResult& result, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (result.curves.empty()) throw std::runtime_error("no curves to draw");
  DeletionPlot plot;
  plot.resize(520, 360);  // points
  plot.setResult(result);
  ViewPiece piece;
  piece.plot = &plot;
  piece.rect = QRect(0, 0, 520, 360);
  writeViewFigure({piece}, QString::fromStdString(out), dpi);
}

void renderDeletionFigureHeadless(const DeletionResult& result, const std::string& out, int dpi) {
  ensureFigureApplication();
  renderDeletionFigure(result, out, dpi);
}

}  // namespace attnscope
