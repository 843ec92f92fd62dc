#include "SweepFigure.h"

#include <QApplication>

#include "FigureExport.h"
#include "SweepPlot.h"
#include "ViewFigure.h"

namespace attnscope {

void renderSweepFigure(const SweepCurve& curve, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (curve.ratios.empty()) throw std::runtime_error("the sweep has no points");
  SweepPlot plot;
  plot.resize(480, 320);  // points
  plot.setCurve(curve);
  ViewPiece piece;
  piece.plot = &plot;
  piece.rect = QRect(0, 0, 480, 320);
  writeViewFigure({piece}, QString::fromStdString(out), dpi);
}

void renderSweepFigureHeadless(const SweepCurve& curve, const std::string& out, int dpi) {
  ensureFigureApplication();
  renderSweepFigure(curve, out, dpi);
}

}  // namespace attnscope
