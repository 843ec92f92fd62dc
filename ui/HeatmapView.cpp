#include "HeatmapView.h"

#include <QToolTip>
#include <QVBoxLayout>

#include "ColorMaps.h"

namespace attnscope {

HeatmapView::HeatmapView(QWidget* parent) : QWidget(parent) {
  m_plot = new QCustomPlot(this);
  m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  m_plot->plotLayout()->insertRow(0);
  m_title = new QCPTextElement(m_plot, "", QFont(font().family(), 11, QFont::Bold));
  m_plot->plotLayout()->addElement(0, 0, m_title);
  m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
  m_map->setInterpolate(false);
  m_map->setTightBoundary(false);
  m_scale = new QCPColorScale(m_plot);
  m_plot->plotLayout()->addElement(1, 1, m_scale);
  m_scale->setType(QCPAxis::atRight);
  m_scale->axis()->setLabel("attention weight");
  m_map->setColorScale(m_scale);
  m_map->setGradient(ColorMaps::gradient("viridis"));
  auto* margins = new QCPMarginGroup(m_plot);
  m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  m_plot->yAxis->setRangeReversed(true);
  m_plot->xAxis->setLabel("key");
  m_plot->yAxis->setLabel("query");
  m_plot->xAxis->setTickLabelRotation(60);
  m_plot->setMouseTracking(true);
  connect(m_plot, &QCustomPlot::mouseMove, this, &HeatmapView::onMouseMove);

  m_status = new QLabel(this);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(m_plot, 1);
  layout->addWidget(m_status);
  clear();
}

QString HeatmapView::elide(const std::string& label) {
  QString s = QString::fromStdString(label);
  if (s.trimmed().isEmpty() && !s.isEmpty()) s = QString("␣").repeated(s.size());
  if (s.size() > 14) s = s.left(13) + QChar(0x2026);
  return s;
}

void HeatmapView::clear() {
  m_q = m_k = 0;
  m_map->data()->clear();
  m_title->setText("Open a model folder and press Run");
  m_status->clear();
  m_plot->replot();
}

void HeatmapView::setColorMap(const QString& name) {
  m_gradient = name;
  if (m_fixedGradient) return;  // a signed map keeps its diverging colours
  m_map->setGradient(ColorMaps::gradient(name));
  m_plot->replot();
}

void HeatmapView::setCompact(bool on) {
  if (on && m_scale->layout()) {
    m_plot->plotLayout()->take(m_scale);
    m_plot->plotLayout()->simplify();
    m_scale->setVisible(false);
  }
  m_plot->xAxis->setTickLabels(!on);
  m_plot->yAxis->setTickLabels(!on);
  if (on) {
    m_plot->xAxis->setLabel("");
    m_plot->yAxis->setLabel("");
  }
  m_plot->replot();
}

void HeatmapView::setRange(double lo, double hi) {
  m_map->setDataRange(lo < hi ? QCPRange(lo, hi) : QCPRange(0.0, 1.0));
  m_plot->replot();
}

void HeatmapView::setMatrix(const std::vector<float>& values, int rows, int cols,
                            const std::vector<std::string>& rowLabels, const std::vector<std::string>& colLabels,
                            const QString& title, double lo, double hi, const QString& gradient,
                            const QString& scaleLabel, const QString& rowAxis, const QString& colAxis) {
  AttentionMatrix a;
  a.heads = 1;
  a.q = rows;
  a.k = cols;
  a.headIndex = {0};
  a.data = values;
  setAttention(a, 0, rowLabels, colLabels, title);
  m_fixedGradient = !gradient.isEmpty();
  m_map->setGradient(ColorMaps::gradient(gradient.isEmpty() ? m_gradient : gradient));
  m_scale->axis()->setLabel(scaleLabel);
  m_plot->yAxis->setLabel(rowAxis);
  m_plot->xAxis->setLabel(colAxis);
  setRange(lo, hi);
}

void HeatmapView::setAttention(const AttentionMatrix& a, int head, const std::vector<std::string>& queryLabels,
                               const std::vector<std::string>& keyLabels, const QString& title) {
  m_q = a.q;
  m_k = a.k;
  m_map->data()->setSize(m_k, m_q);
  m_map->data()->setRange(QCPRange(0, m_k - 1), QCPRange(0, m_q - 1));
  for (int i = 0; i < m_q; ++i)
    for (int j = 0; j < m_k; ++j) m_map->data()->setCell(j, i, a.at(head, i, j));
  m_map->setDataRange(QCPRange(0.0, 1.0));
  if (m_fixedGradient) {
    m_fixedGradient = false;
    m_map->setGradient(ColorMaps::gradient(m_gradient));
  }
  m_scale->axis()->setLabel("attention weight");
  m_plot->yAxis->setLabel("query");
  m_plot->xAxis->setLabel("key");
  m_queryLabels.clear();
  m_keyLabels.clear();
  for (const auto& l : queryLabels) m_queryLabels << QString::fromStdString(l);
  for (const auto& l : keyLabels) m_keyLabels << QString::fromStdString(l);
  // Label every token when they fit, else every n-th.
  auto ticker = [](const std::vector<std::string>& labels, int count) {
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    const int step = std::max(1, count / 48);
    for (int i = 0; i < count; i += step) t->addTick(i, elide(i < static_cast<int>(labels.size()) ? labels[i] : ""));
    return t;
  };
  m_plot->xAxis->setTicker(ticker(keyLabels, m_k));
  m_plot->yAxis->setTicker(ticker(queryLabels, m_q));
  m_plot->xAxis->setRange(-0.5, m_k - 0.5);
  m_plot->yAxis->setRange(-0.5, m_q - 0.5);
  m_title->setText(title);
  m_plot->replot();
}

double HeatmapView::valueAt(int query, int key) const { return m_map->data()->cell(key, query); }

QString HeatmapView::cellText(int query, int key) const {
  const QString q = query < m_queryLabels.size() ? m_queryLabels[query] : QString::number(query);
  const QString k = key < m_keyLabels.size() ? m_keyLabels[key] : QString::number(key);
  return QString("%1 [%2] → %3 [%4]: %5").arg(q).arg(query).arg(k).arg(key).arg(valueAt(query, key), 0, 'f', 4);
}

void HeatmapView::onMouseMove(QMouseEvent* event) {
  if (m_q == 0) return;
  const int key = static_cast<int>(std::lround(m_plot->xAxis->pixelToCoord(event->pos().x())));
  const int query = static_cast<int>(std::lround(m_plot->yAxis->pixelToCoord(event->pos().y())));
  if (key < 0 || key >= m_k || query < 0 || query >= m_q || !m_plot->axisRect()->rect().contains(event->pos())) {
    QToolTip::hideText();
    return;
  }
  const QString text = cellText(query, key);
  m_status->setText(text);
  QToolTip::showText(event->globalPosition().toPoint(), text, m_plot);
  emit hovered(text);
}

}  // namespace attnscope
