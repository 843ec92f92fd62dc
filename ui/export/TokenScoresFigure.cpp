#include "TokenScoresFigure.h"

#include <qcustomplot.h>

#include <QApplication>
#include <algorithm>

#include "FigureExport.h"
#include "TokenScoresPlot.h"
#include "ViewFigure.h"

namespace attnscope {

void renderTokenScoresFigure(const TokenScores& s, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (s.values.empty() || s.values.size() != s.labels.size()) throw std::runtime_error("no scores to draw");
  const int n = static_cast<int>(s.values.size());
  const int w = std::clamp(120 + 22 * n, 420, 1100), h = 320;  // points
  TokenScoresPlot plot;
  plot.resize(w, h);
  plot.setScores(s);
  plot.replot();
  ViewPiece piece;
  piece.plot = &plot;
  piece.rect = QRect(0, 0, w, h);
  writeViewFigure({piece}, QString::fromStdString(out), dpi);
}

void renderTokenScoresFigureHeadless(const TokenScores& scores, const std::string& out, int dpi) {
  ensureFigureApplication();
  renderTokenScoresFigure(scores, out, dpi);
}

}  // namespace attnscope
