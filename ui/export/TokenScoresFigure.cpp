#include "TokenScoresFigure.h"

#include <qcustomplot.h>

#include <QApplication>
#include <algorithm>

#include "FigureExport.h"
#include "ViewFigure.h"

namespace attnscope {

void renderTokenScoresFigure(const TokenScores& s, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (s.values.empty() || s.values.size() != s.labels.size()) throw std::runtime_error("no scores to draw");
  const int n = static_cast<int>(s.values.size());
  const int w = std::clamp(120 + 22 * n, 420, 1100), h = 320;  // points
  QCustomPlot plot;
  plot.resize(w, h);
  plot.plotLayout()->insertRow(0);
  plot.plotLayout()->addElement(0, 0,
                                new QCPTextElement(&plot, QString::fromStdString(s.title),
                                                   QFont(plot.font().family(), 11, QFont::Bold)));
  auto* bars = new QCPBars(plot.xAxis, plot.yAxis);
  auto* mark = new QCPBars(plot.xAxis, plot.yAxis);
  bars->setPen(Qt::NoPen);
  bars->setBrush(QColor(33, 102, 172));
  mark->setPen(Qt::NoPen);
  mark->setBrush(QColor(178, 24, 43));
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  double top = 0;
  for (int i = 0; i < n; ++i) {
    (i == s.highlight ? mark : bars)->addData(i, s.values[static_cast<size_t>(i)]);
    ticks->addTick(i, QString::fromStdString(s.labels[static_cast<size_t>(i)]));
    top = std::max(top, s.values[static_cast<size_t>(i)]);
  }
  plot.xAxis->setTicker(ticks);
  plot.xAxis->setTickLabelRotation(60);
  plot.xAxis->grid()->setVisible(false);
  plot.xAxis->setRange(-0.7, n - 0.3);
  plot.yAxis->setRange(0, std::max(top, 1e-9) * 1.08);
  plot.yAxis->setLabel(QObject::tr("share"));
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
