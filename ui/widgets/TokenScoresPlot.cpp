#include "TokenScoresPlot.h"

#include <algorithm>

namespace attnscope {

TokenScoresPlot::TokenScoresPlot(QWidget* parent) : QCustomPlot(parent) {
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
  plotLayout()->addElement(0, 0, m_title);
  m_bars = new QCPBars(xAxis, yAxis);
  m_mark = new QCPBars(xAxis, yAxis);
  m_bars->setPen(Qt::NoPen);
  m_bars->setBrush(QColor(33, 102, 172));
  m_mark->setPen(Qt::NoPen);
  m_mark->setBrush(QColor(178, 24, 43));
  m_clipLabel = new QCPItemText(this);
  m_clipLabel->setPositionAlignment(Qt::AlignTop | Qt::AlignHCenter);
  m_clipLabel->setColor(QColor(178, 24, 43));
  m_clipLabel->setVisible(false);
  xAxis->setTickLabelRotation(60);
  xAxis->grid()->setVisible(false);
}

void TokenScoresPlot::setScores(const TokenScores& s) {
  m_scores = s;
  const int n = static_cast<int>(s.values.size());
  m_title->setText(QString::fromStdString(s.title));
  m_bars->data()->clear();
  m_mark->data()->clear();
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  const int every = std::max(1, (n + 59) / 60);  // at most ~60 labels; the rest of the bars stay
  double top = 0, others = 0, marked = 0;
  for (int i = 0; i < n; ++i) {
    const double v = s.values[static_cast<size_t>(i)];
    (i == s.highlight ? m_mark : m_bars)->addData(i, v);
    if (i % every == 0 || i == s.highlight)
      ticks->addTick(i, i < static_cast<int>(s.labels.size()) ? QString::fromStdString(s.labels[static_cast<size_t>(i)])
                                                              : QString::number(i));
    top = std::max(top, v);
    if (i == s.highlight)
      marked = v;
    else
      others = std::max(others, v);
  }
  xAxis->setTicker(ticks);
  xAxis->setRange(-0.7, std::max(1, n) - 0.3);
  // A scored position that dwarfs the rest (gradient × attention's identity, a rollout's self share) is cut at the
  // top with its value written there, so the other positions stay readable.
  m_clipped = others > 0 && marked > 3 * others;
  const double shown = m_clipped ? others * 1.25 : std::max(top, 1e-9) * 1.08;
  yAxis->setRange(0, shown);
  m_clipLabel->setVisible(m_clipped);
  if (m_clipped) {
    // Written beside the bar, towards the middle of the plot, so it never leaves the axis rectangle.
    const bool right = s.highlight > n / 2;
    m_clipLabel->setPositionAlignment(Qt::AlignTop | (right ? Qt::AlignRight : Qt::AlignLeft));
    m_clipLabel->position->setCoords(s.highlight + (right ? -0.5 : 0.5), shown);
    m_clipLabel->setText(QString::number(marked, 'g', 3) + QStringLiteral(" ↑"));
  }
  yAxis->setLabel(QString::fromStdString(s.valueLabel));
  replot(QCustomPlot::rpQueuedReplot);
}

double TokenScoresPlot::barValue(int i) const {
  for (const QCPBars* b : {m_bars, m_mark}) {
    const auto it = b->data()->findBegin(i, false);
    if (it != b->data()->constEnd() && it->key == i) return it->value;
  }
  return 0;
}

bool TokenScoresPlot::barHighlighted(int i) const {
  const auto it = m_mark->data()->findBegin(i, false);
  return it != m_mark->data()->constEnd() && it->key == i;
}

}  // namespace attnscope
