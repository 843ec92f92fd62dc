#include "DlaPlot.h"

#include <QToolTip>
#include <cmath>
#include <limits>

#include "ColorMaps.h"

namespace attnscope {

namespace {
QString signedValue(double v, int digits) { return (v >= 0 ? "+" : "") + QString::number(v, 'f', digits); }
/// Decimals that show the grid's values to about three significant digits of its largest one.
int decimalsFor(double span) {
  return std::max(1, std::min(4, 2 - static_cast<int>(std::floor(std::log10(std::max(span, 1e-9))))));
}
}  // namespace

DlaPlot::DlaPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(360, 260);
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
  plotLayout()->addElement(0, 0, m_title);
  plotLayout()->insertRow(1);
  m_subtitle = new QCPTextElement(this, QString(), QFont(font().family(), 9));
  plotLayout()->addElement(1, 0, m_subtitle);
  m_heads = new QCPColorMap(xAxis, yAxis);
  m_mlp = new QCPColorMap(xAxis, yAxis);
  m_scale = new QCPColorScale(this);
  plotLayout()->addElement(2, 1, m_scale);
  m_scale->setType(QCPAxis::atRight);
  m_scale->axis()->setLabel(tr("direct effect on the logit (final norm frozen)"));
  for (QCPColorMap* map : {m_heads, m_mlp}) {
    map->setInterpolate(false);
    map->setTightBoundary(false);
    map->setColorScale(m_scale);
    map->setGradient(ColorMaps::gradient("diverging"));
  }
  auto* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  yAxis->setRangeReversed(true);  // layer 0 at the top, as in the layer × head grids
  yAxis->setLabel(tr("layer"));
  xAxis->setLabel(tr("head"));
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setVisible(false);
  m_mark = new QCPItemRect(this);
  m_mark->setPen(QPen(Qt::black, 2.5));
  m_mark->setBrush(Qt::NoBrush);
  m_mark->setVisible(false);
  setMouseTracking(true);
  connect(this, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    const auto cell = cellAt(e->pos());
    if (cell.first >= 0)
      QToolTip::showText(e->globalPos(), tip(cell.first, cell.second), this);
    else
      QToolTip::hideText();
  });
  connect(this, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const auto cell = cellAt(e->pos());
    if (cell.first < 0) return;
    setSelected(cell.first, cell.second);
    emit cellClicked(cell.first, cell.second);
  });
}

void DlaPlot::setAttribution(const DirectLogitAttribution& dla) {
  m_dla = dla;
  const int layers = static_cast<int>(dla.heads.size());
  const int heads = layers ? static_cast<int>(dla.heads[0].size()) : 0;
  m_selLayer = m_selHead = -1;
  m_mark->setVisible(false);
  if (layers == 0 || heads == 0) {  // nothing to show
    for (QCPColorMap* map : {m_heads, m_mlp}) map->data()->clear();
    m_title->setText(QString());
    m_subtitle->setText(QString());
    writeCellTexts();
    replot();
    return;
  }
  m_span = 0;
  for (int l = 0; l < layers; ++l) {
    for (double v : dla.heads[static_cast<size_t>(l)]) m_span = std::max(m_span, std::abs(v));
    m_span = std::max(m_span, std::abs(dla.mlp[static_cast<size_t>(l)]));
  }
  if (!(m_span > 0)) m_span = 1;
  ColorMaps::fill(m_heads->data(), 0, heads, 1, 0, layers, 1,
                  [&](int j, int i) { return dla.heads[static_cast<size_t>(i)][static_cast<size_t>(j)]; });
  // The MLP column stands one empty column to the right of the heads.
  ColorMaps::fill(m_mlp->data(), heads + 1, 1, 1, 0, layers, 1,
                  [&](int, int i) { return dla.mlp[static_cast<size_t>(i)]; });
  for (QCPColorMap* map : {m_heads, m_mlp}) map->setDataRange(QCPRange(-m_span, m_span));
  xAxis->setRange(-0.5, heads + 1.5);
  yAxis->setRange(-0.5, layers - 0.5);
  QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText), yt(new QCPAxisTickerText);
  for (int h = 0; h < heads; ++h) xt->addTick(h, QString("H%1").arg(h));
  xt->addTick(heads + 1, tr("MLP"));
  const int step = std::max(1, layers / 24);
  for (int l = 0; l < layers; l += step) yt->addTick(l, QString("L%1").arg(l));
  xAxis->setTicker(xt);
  yAxis->setTicker(yt);
  const int digits = decimalsFor(m_span);
  m_title->setText(tr("Direct logit attribution of “%1” at position %2 “%3”")
                       .arg(QString::fromStdString(dla.targetToken))
                       .arg(dla.position)
                       .arg(QString::fromStdString(dla.positionLabel)));
  m_subtitle->setText(tr("logit %1 = Σ of the parts (p %2%3); embeddings %4, biases %5")
                          .arg(QString::number(dla.logit, 'f', 3))
                          .arg(QString::number(dla.probability, 'g', 3))
                          .arg(dla.predicted ? tr(", predicted") : QString())
                          .arg(signedValue(dla.embed, digits))
                          .arg(signedValue(dla.bias, digits)));
  writeCellTexts();
  replot();
}

void DlaPlot::setSelected(int layer, int head) {
  const int layers = static_cast<int>(m_dla.heads.size());
  const int heads = layers ? static_cast<int>(m_dla.heads[0].size()) : 0;
  if (layer < 0 || layer >= layers || head < -1 || head >= heads) {
    m_selLayer = m_selHead = -1;
    m_mark->setVisible(false);
  } else {
    m_selLayer = layer;
    m_selHead = head;
    const double x = head < 0 ? heads + 1 : head;
    m_mark->topLeft->setCoords(x - 0.5, layer - 0.5);
    m_mark->bottomRight->setCoords(x + 0.5, layer + 0.5);
    m_mark->setVisible(true);
  }
  replot();
}

double DlaPlot::valueAt(int layer, int head) const {
  if (layer < 0 || layer >= static_cast<int>(m_dla.heads.size()))
    return std::numeric_limits<double>::quiet_NaN();
  const auto& row = m_dla.heads[static_cast<size_t>(layer)];
  if (head == -1) return m_dla.mlp[static_cast<size_t>(layer)];
  if (head < 0 || head >= static_cast<int>(row.size())) return std::numeric_limits<double>::quiet_NaN();
  return row[static_cast<size_t>(head)];
}

QString DlaPlot::cellText(int layer, int head) const {
  const int layers = static_cast<int>(m_dla.heads.size());
  if (layer < 0 || layer >= layers) return QString();
  const int heads = static_cast<int>(m_dla.heads[0].size());
  const int index = layer * (heads + 1) + (head < 0 ? heads : head);
  if (index < 0 || index >= m_texts.size() || !m_texts[index]->visible()) return QString();
  return m_texts[index]->text();
}

QPair<int, int> DlaPlot::cellAt(const QPoint& pos) const {
  const int layers = static_cast<int>(m_dla.heads.size());
  if (!layers || !axisRect()->rect().contains(pos)) return {-1, -1};
  const int heads = static_cast<int>(m_dla.heads[0].size());
  const int x = static_cast<int>(std::lround(xAxis->pixelToCoord(pos.x())));
  const int y = static_cast<int>(std::lround(yAxis->pixelToCoord(pos.y())));
  if (y < 0 || y >= layers) return {-1, -1};
  if (x >= 0 && x < heads) return {y, x};
  if (x == heads + 1) return {y, -1};
  return {-1, -1};
}

void DlaPlot::resizeEvent(QResizeEvent* event) {
  QCustomPlot::resizeEvent(event);
  writeCellTexts();
}

void DlaPlot::writeCellTexts() {
  const int layers = static_cast<int>(m_dla.heads.size());
  const int heads = layers ? static_cast<int>(m_dla.heads[0].size()) : 0;
  const int want = layers * (heads + 1);
  while (m_texts.size() < want) {
    auto* t = new QCPItemText(this);
    t->setSelectable(false);
    t->setClipToAxisRect(true);
    m_texts.push_back(t);
  }
  while (m_texts.size() > want) removeItem(m_texts.takeLast());
  if (!want) return;
  replot(QCustomPlot::rpImmediateRefresh);  // lays the axis rect out, so cell sizes are known
  const double cellW = axisRect()->width() / (heads + 2.0), cellH = axisRect()->height() / double(layers);
  const int digits = decimalsFor(m_span);
  QFont f(font().family(), 8);
  const QFontMetrics fm(f);
  for (int l = 0; l < layers; ++l) {
    for (int h = 0; h <= heads; ++h) {
      QCPItemText* t = m_texts[l * (heads + 1) + h];
      const double v = h < heads ? m_dla.heads[static_cast<size_t>(l)][static_cast<size_t>(h)]
                                 : m_dla.mlp[static_cast<size_t>(l)];
      const QString text = signedValue(v, digits);
      t->setFont(f);
      t->setText(text);
      t->position->setCoords(h < heads ? h : heads + 1, l);
      // Dark text on light cells, white on the saturated ends of the map.
      t->setColor(std::abs(v) > 0.6 * m_span ? Qt::white : Qt::black);
      t->setVisible(fm.horizontalAdvance(text) + 4 <= cellW && fm.height() + 2 <= cellH);
    }
  }
}

QString DlaPlot::tip(int layer, int head) const {
  const double v = valueAt(layer, head);
  const QString part = head < 0 ? tr("layer %1 MLP").arg(layer) : tr("layer %1 head %2").arg(layer).arg(head);
  return tr("%1: %2 to the logit of “%3” (%4 % of it)")
      .arg(part)
      .arg(signedValue(v, decimalsFor(m_span) + 1))
      .arg(QString::fromStdString(m_dla.targetToken))
      .arg(QString::number(m_dla.logit != 0 ? 100.0 * v / m_dla.logit : 0.0, 'f', 1));
}

}  // namespace attnscope
