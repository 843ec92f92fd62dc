#include "SweepPlot.h"

#include <cmath>

namespace attnscope {

SweepPlot::SweepPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(320, 220);
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
  plotLayout()->addElement(0, 0, m_title);
  xAxis->setLabel(tr("fraction of heads pruned"));
  xAxis->setRange(-0.02, 1.0);
  yAxis->setLabel(tr("drift from the full model (nats)"));
  yAxis2->setVisible(true);
  yAxis2->setLabel(tr("top-1 agreement"));
  yAxis2->setRange(0, 1.05);
  auto style = [](QCPGraph* g, QColor c, Qt::PenStyle pen, QCPScatterStyle::ScatterShape shape) {
    g->setPen(QPen(c, 2, pen));
    g->setScatterStyle(QCPScatterStyle(shape, c, Qt::white, 7));
  };
  m_kl = addGraph(xAxis, yAxis);
  m_kl->setName(tr("output KL(full ‖ pruned)"));
  style(m_kl, QColor(178, 34, 34), Qt::SolidLine, QCPScatterStyle::ssCircle);
  m_js = addGraph(xAxis, yAxis);
  m_js->setName(tr("mean attention JS"));
  style(m_js, QColor(120, 120, 120), Qt::DashLine, QCPScatterStyle::ssSquare);
  m_top1 = addGraph(xAxis, yAxis2);
  m_top1->setName(tr("top-1 agreement (right axis)"));
  style(m_top1, QColor(33, 102, 172), Qt::SolidLine, QCPScatterStyle::ssDiamond);
  m_mark = addGraph(xAxis, yAxis2);
  m_mark->setPen(Qt::NoPen);
  m_mark->setLineStyle(QCPGraph::lsNone);
  m_mark->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 2), Qt::NoBrush, 14));
  m_mark->removeFromLegend();
  // The legend in a row under the plot, never over the curves.
  legend->setVisible(true);
  legend->setFont(QFont(font().family(), 8));
  axisRect()->insetLayout()->take(legend);
  auto* below = new QCPLayoutGrid;
  plotLayout()->addElement(2, 0, below);
  below->setMargins(QMargins(5, 0, 5, 5));
  below->addElement(0, 0, legend);
  legend->setFillOrder(QCPLegend::foColumnsFirst);
  legend->setBorderPen(Qt::NoPen);
  plotLayout()->setRowStretchFactor(2, 0.001);
  connect(this, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int index, QMouseEvent*) {
    if (index >= 0 && index < static_cast<int>(m_curve.ratios.size())) {
      setSelectedPoint(index);
      emit pointClicked(index);
    }
  });
}

void SweepPlot::setCurve(const SweepCurve& c) {
  m_curve = c;
  m_selected = -1;
  QVector<double> x, kl, js, top1, xk, xj, xt;
  double top = 0;
  for (size_t i = 0; i < c.ratios.size(); ++i) {
    if (i < c.logitsKl.size() && std::isfinite(c.logitsKl[i])) {
      xk << c.ratios[i];
      kl << c.logitsKl[i];
      top = std::max(top, c.logitsKl[i]);
    }
    if (i < c.jsMean.size() && std::isfinite(c.jsMean[i])) {
      xj << c.ratios[i];
      js << c.jsMean[i];
      top = std::max(top, c.jsMean[i]);
    }
    if (i < c.top1.size() && std::isfinite(c.top1[i])) {
      xt << c.ratios[i];
      top1 << c.top1[i];
    }
  }
  m_kl->setData(xk, kl, true);
  m_js->setData(xj, js, true);
  m_top1->setData(xt, top1, true);
  m_mark->data()->clear();
  yAxis->setRange(0, top > 0 ? top * 1.1 : 1.0);
  double maxRatio = 0;
  for (double r : c.ratios) maxRatio = std::max(maxRatio, r);
  xAxis->setRange(-0.02, std::max(0.1, maxRatio + 0.02));
  m_title->setText(QString::fromStdString(c.title));
  replot();
}

void SweepPlot::setSelectedPoint(int index) {
  m_selected = index;
  m_mark->data()->clear();
  if (index >= 0 && index < static_cast<int>(m_curve.ratios.size()) && index < static_cast<int>(m_curve.top1.size()) &&
      std::isfinite(m_curve.top1[index]))
    m_mark->addData(m_curve.ratios[index], m_curve.top1[index]);
  replot();
}

}  // namespace attnscope
