#include "StepKlTimeline.h"

#include "AnalysisDocument.h"
#include "ViewState.h"
#include "attnscope/EngineSession.h"

namespace attnscope {

StepKlTimeline::StepKlTimeline(AnalysisDocument* doc, ViewState* view, QWidget* parent)
    : QCustomPlot(parent), m_doc(doc), m_view(view) {
  setMinimumHeight(130);
  setMaximumHeight(170);
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 9));
  plotLayout()->addElement(0, 0, m_title);
  m_same = new QCPBars(xAxis, yAxis);
  m_same->setName(tr("same token as full"));
  m_same->setPen(Qt::NoPen);
  m_same->setBrush(QColor(33, 102, 172));
  m_changed = new QCPBars(xAxis, yAxis);
  m_changed->setName(tr("full would choose another token"));
  m_changed->setPen(Qt::NoPen);
  m_changed->setBrush(QColor(178, 24, 43));
  m_marker = new QCPItemStraightLine(this);
  m_marker->setPen(QPen(QColor(40, 40, 40), 1, Qt::DashLine));
  xAxis->setLabel(tr("generated step"));
  yAxis->setLabel(tr("KL (nats)"));
  QSharedPointer<QCPAxisTickerFixed> steps(new QCPAxisTickerFixed);
  steps->setTickStep(1.0);
  steps->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);  // whole steps, thinned when there are many
  xAxis->setTicker(steps);
  yAxis->ticker()->setTickCount(3);
  setVisible(false);
  connect(m_doc, &AnalysisDocument::captureChanged, this, &StepKlTimeline::rebuild);
  connect(m_view, &ViewState::stepChanged, this, &StepKlTimeline::markStep);
}

void StepKlTimeline::rebuild() {
  const auto capture = m_doc->capture();
  const bool shown = capture && m_doc->promptLength() >= 0 && !capture->stepKl.empty();
  m_steps = shown ? static_cast<int>(capture->stepKl.size()) : 0;
  setVisible(shown);
  QVector<double> x, same, changed;
  double top = 0;
  int disagreements = 0;
  for (int s = 0; s < m_steps; ++s) {
    const auto& step = capture->stepKl[static_cast<size_t>(s)];
    x << s + 1;
    same << (step.agree ? step.kl : 0.0);
    changed << (step.agree ? 0.0 : step.kl);
    top = std::max(top, step.kl);
    disagreements += step.agree ? 0 : 1;
  }
  m_same->setData(x, same, true);
  m_changed->setData(x, changed, true);
  if (shown) {
    double sum = 0;
    for (const auto& step : capture->stepKl) sum += step.kl;
    m_title->setText(tr("KL(full ‖ %1) of the next-token distribution per generated step — mean %2 nats; red: "
                        "full would choose another token (%3 of %4 steps)")
                         .arg(QString::fromStdString(capture->variant))
                         .arg(sum / m_steps, 0, 'f', 4)
                         .arg(disagreements)
                         .arg(m_steps));
  }
  xAxis->setRange(0.4, m_steps + 0.6);
  yAxis->setRange(0, std::max(1e-3, top * 1.1));
  markStep();
}

void StepKlTimeline::markStep() {
  const int step = m_view->step();
  m_marker->setVisible(step >= 1 && step <= m_steps);
  m_marker->point1->setCoords(step, 0);
  m_marker->point2->setCoords(step, 1);
  replot(QCustomPlot::rpQueuedReplot);
}

double StepKlTimeline::barValue(int step) const {
  const auto capture = m_doc->capture();
  if (step < 1 || step > m_steps || !capture) return 0;
  return capture->stepKl[static_cast<size_t>(step - 1)].kl;
}

bool StepKlTimeline::barDisagrees(int step) const {
  if (step < 1 || step > m_steps) return false;
  const QCPBarsDataContainer& red = *m_changed->data();
  const auto it = red.findBegin(step, false);
  return it != red.constEnd() && it->key == step && it->value > 0;
}

void StepKlTimeline::mousePressEvent(QMouseEvent* event) {
  QCustomPlot::mousePressEvent(event);
  if (m_steps == 0 || !axisRect()->rect().contains(event->pos())) return;
  const int step = static_cast<int>(std::lround(xAxis->pixelToCoord(event->pos().x())));
  if (step >= 1 && step <= m_steps) m_view->setStep(step);
}

}  // namespace attnscope
