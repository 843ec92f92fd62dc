#include "DeletionPlot.h"

#include <algorithm>

namespace attnscope {

namespace {
// The rankings' colours; the random baselines are always grey and dashed.
const QColor kColours[] = {QColor(33, 102, 172), QColor(178, 24, 43),  QColor(27, 120, 55), QColor(230, 120, 20),
                           QColor(118, 42, 131), QColor(1, 133, 113), QColor(140, 81, 10)};
const QColor kRandomColour(120, 120, 120);
}

DeletionPlot::DeletionPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(360, 260);
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
  plotLayout()->addElement(0, 0, m_title);
  xAxis->setLabel(tr("fraction removed (most important first)"));
  yAxis->setLabel(tr("target probability"));
  xAxis->setRange(-0.02, 1.02);
  legend->setVisible(true);
  legend->setFont(QFont(font().family(), 8));
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
}

void DeletionPlot::setResult(const DeletionResult& r) {
  m_result = r;
  clearGraphs();
  double top = r.probability;
  size_t ranked = 0;
  for (size_t i = 0; i < r.curves.size(); ++i) {
    const DeletionCurve& c = r.curves[i];
    QCPGraph* g = addGraph();
    QVector<double> x(c.fractions.begin(), c.fractions.end()),
        y(c.probabilities.begin(), c.probabilities.end());
    g->setData(x, y);
    const bool random = c.method.rfind("random", 0) == 0;
    const QColor colour = random ? kRandomColour : kColours[ranked++ % (sizeof(kColours) / sizeof(kColours[0]))];
    g->setPen(QPen(colour, 2, random ? Qt::DashLine : Qt::SolidLine));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, Qt::white, 5));
    g->setName(tr("%1 (%2) — AUC %3")
                   .arg(QString::fromStdString(c.method), QString::fromStdString(c.unit))
                   .arg(c.auc, 0, 'f', 3));
    for (double p : c.probabilities) top = std::max(top, p);
  }
  yAxis->setRange(0, std::max(0.05, top * 1.08));
  const QString target = r.classTarget ? tr("Deletion curves: p(class “%1”), from %2")
                         : r.positionStack == "decoder"
                             ? tr("Deletion curves: p(“%1”) at the decoder's last position, from %2")
                             : tr("Deletion curves: p(“%1”) at the last position, from %2");
  m_title->setText(r.curves.empty()
                       ? QString()
                       : target.arg(QString::fromStdString(r.target)).arg(r.probability, 0, 'f', 3));
  replot();
}

}  // namespace attnscope
