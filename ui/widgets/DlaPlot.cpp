#include "DlaPlot.h"

#include <QToolTip>
#include <algorithm>
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
  m_cross = new QCPColorMap(xAxis, yAxis);
  m_mlp = new QCPColorMap(xAxis, yAxis);
  m_scale = new QCPColorScale(this);
  plotLayout()->addElement(2, 1, m_scale);
  m_scale->setType(QCPAxis::atRight);
  m_scale->axis()->setLabel(tr("direct effect on the logit (final norm frozen)"));
  for (QCPColorMap* map : {m_heads, m_cross, m_mlp}) {
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
  // Encoder–decoder models: the blocks are named above the grid (items: drawn in figures as on screen).
  for (QCPItemText** label : {&m_selfLabel, &m_crossLabel}) {
    *label = new QCPItemText(this);
    (*label)->setClipToAxisRect(false);
    (*label)->setSelectable(false);
    (*label)->position->setTypeX(QCPItemPosition::ptPlotCoords);
    (*label)->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    (*label)->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
    (*label)->setPadding(QMargins(0, 0, 0, 3));
    (*label)->setVisible(false);
  }
  m_selfLabel->setText(tr("self-attention"));
  m_crossLabel->setText(tr("cross-attention"));
  m_mark = new QCPItemRect(this);
  m_mark->setPen(QPen(Qt::black, 2.5));
  m_mark->setBrush(Qt::NoBrush);
  m_mark->setVisible(false);
  setMouseTracking(true);
  connect(this, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    const Cell cell = cellAt(e->pos());
    if (cell.layer >= 0)
      QToolTip::showText(e->globalPos(), tip(cell), this);
    else
      QToolTip::hideText();
  });
  connect(this, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const Cell cell = cellAt(e->pos());
    if (cell.layer < 0) return;
    setSelected(cell.layer, cell.head, cell.cross);
    emit cellClicked(cell.layer, cell.head, cell.cross);
  });
}

int DlaPlot::headCount() const { return m_dla.heads.empty() ? 0 : static_cast<int>(m_dla.heads[0].size()); }

int DlaPlot::crossCount() const {
  return m_dla.crossHeads.empty() ? 0 : static_cast<int>(m_dla.crossHeads[0].size());
}

int DlaPlot::columnOf(const Cell& cell) const {
  const int heads = headCount(), cross = crossCount();
  if (cell.head < 0) return cross ? heads + cross + 2 : heads + 1;
  return cell.cross ? heads + 1 + cell.head : cell.head;
}

DlaPlot::Cell DlaPlot::cellOfColumn(int layer, int x) const {
  const int heads = headCount(), cross = crossCount();
  if (x >= 0 && x < heads) return {layer, x, false};
  if (cross && x > heads && x <= heads + cross) return {layer, x - heads - 1, true};
  if (x == columnOf({layer, -1, false})) return {layer, -1, false};
  return {};
}

std::vector<DlaPlot::Cell> DlaPlot::rowCells(int layer) const {
  std::vector<Cell> cells;
  for (int h = 0; h < headCount(); ++h) cells.push_back({layer, h, false});
  for (int h = 0; h < crossCount(); ++h) cells.push_back({layer, h, true});
  cells.push_back({layer, -1, false});
  return cells;
}

void DlaPlot::setAttribution(const DirectLogitAttribution& dla) {
  m_dla = dla;
  const int layers = static_cast<int>(dla.heads.size());
  const int heads = headCount(), cross = crossCount();
  m_sel = Cell();
  m_mark->setVisible(false);
  m_selfLabel->setVisible(cross > 0 && layers > 0);
  m_crossLabel->setVisible(cross > 0 && layers > 0);
  axisRect()->setMinimumMargins(QMargins(0, cross ? 18 : 0, 0, 0));
  if (layers == 0 || heads == 0) {  // nothing to show
    for (QCPColorMap* map : {m_heads, m_cross, m_mlp}) map->data()->clear();
    m_title->setText(QString());
    m_subtitle->setText(QString());
    writeCellTexts();
    replot();
    return;
  }
  m_span = 0;
  for (int l = 0; l < layers; ++l)
    for (const Cell& c : rowCells(l)) m_span = std::max(m_span, std::abs(valueAt(c.layer, c.head, c.cross)));
  if (!(m_span > 0)) m_span = 1;
  ColorMaps::fill(m_heads->data(), 0, heads, 1, 0, layers, 1,
                  [&](int j, int i) { return dla.heads[static_cast<size_t>(i)][static_cast<size_t>(j)]; });
  // The cross-attention heads and the MLP column each stand one empty column to the right of what precedes
  // them.
  if (cross)
    ColorMaps::fill(m_cross->data(), heads + 1, cross, 1, 0, layers, 1, [&](int j, int i) {
      return dla.crossHeads[static_cast<size_t>(i)][static_cast<size_t>(j)];
    });
  else
    m_cross->data()->clear();
  const int mlpColumn = columnOf({0, -1, false});
  ColorMaps::fill(m_mlp->data(), mlpColumn, 1, 1, 0, layers, 1,
                  [&](int, int i) { return dla.mlp[static_cast<size_t>(i)]; });
  for (QCPColorMap* map : {m_heads, m_cross, m_mlp}) map->setDataRange(QCPRange(-m_span, m_span));
  xAxis->setRange(-0.5, mlpColumn + 0.5);
  yAxis->setRange(-0.5, layers - 0.5);
  QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText), yt(new QCPAxisTickerText);
  for (int h = 0; h < heads; ++h) xt->addTick(h, QString("H%1").arg(h));
  for (int h = 0; h < cross; ++h) xt->addTick(heads + 1 + h, QString("H%1").arg(h));
  xt->addTick(mlpColumn, tr("MLP"));
  const int step = std::max(1, layers / 24);
  for (int l = 0; l < layers; l += step) yt->addTick(l, QString("L%1").arg(l));
  xAxis->setTicker(xt);
  yAxis->setTicker(yt);
  m_selfLabel->position->setCoords((heads - 1) / 2.0, 0);
  m_crossLabel->position->setCoords(heads + 1 + (cross - 1) / 2.0, 0);
  const int digits = decimalsFor(m_span);
  m_title->setText(tr("Direct logit attribution of “%1” at %2position %3 “%4”")
                       .arg(QString::fromStdString(dla.targetToken))
                       .arg(dla.stack == "decoder" ? tr("decoder ") : QString())
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

void DlaPlot::setSelected(int layer, int head, bool cross) {
  if (std::isnan(valueAt(layer, head, cross))) {
    m_sel = Cell();
    m_mark->setVisible(false);
  } else {
    m_sel = {layer, head, head >= 0 && cross};
    const double x = columnOf(m_sel);
    m_mark->topLeft->setCoords(x - 0.5, layer - 0.5);
    m_mark->bottomRight->setCoords(x + 0.5, layer + 0.5);
    m_mark->setVisible(true);
  }
  replot();
}

double DlaPlot::valueAt(int layer, int head, bool cross) const {
  const double none = std::numeric_limits<double>::quiet_NaN();
  if (layer < 0 || layer >= static_cast<int>(m_dla.heads.size())) return none;
  if (head == -1) return m_dla.mlp[static_cast<size_t>(layer)];
  const auto& grid = cross ? m_dla.crossHeads : m_dla.heads;
  if (layer >= static_cast<int>(grid.size())) return none;
  const auto& row = grid[static_cast<size_t>(layer)];
  if (head < 0 || head >= static_cast<int>(row.size())) return none;
  return row[static_cast<size_t>(head)];
}

QString DlaPlot::cellText(int layer, int head, bool cross) const {
  const int layers = static_cast<int>(m_dla.heads.size());
  if (layer < 0 || layer >= layers || std::isnan(valueAt(layer, head, cross))) return QString();
  const std::vector<Cell> cells = rowCells(layer);
  const Cell want{layer, head, head >= 0 && cross};
  const auto it = std::find(cells.begin(), cells.end(), want);
  const int index = layer * static_cast<int>(cells.size()) + static_cast<int>(it - cells.begin());
  if (it == cells.end() || index >= m_texts.size() || !m_texts[index]->visible()) return QString();
  return m_texts[index]->text();
}

DlaPlot::Cell DlaPlot::cellAt(const QPoint& pos) const {
  const int layers = static_cast<int>(m_dla.heads.size());
  if (!layers || !axisRect()->rect().contains(pos)) return {};
  const int x = static_cast<int>(std::lround(xAxis->pixelToCoord(pos.x())));
  const int y = static_cast<int>(std::lround(yAxis->pixelToCoord(pos.y())));
  if (y < 0 || y >= layers) return {};
  return cellOfColumn(y, x);
}

void DlaPlot::resizeEvent(QResizeEvent* event) {
  QCustomPlot::resizeEvent(event);
  writeCellTexts();
}

void DlaPlot::writeCellTexts() {
  const int layers = static_cast<int>(m_dla.heads.size());
  const int columns = layers ? static_cast<int>(rowCells(0).size()) : 0;
  const int want = layers * columns;
  while (m_texts.size() < want) {
    auto* t = new QCPItemText(this);
    t->setSelectable(false);
    t->setClipToAxisRect(true);
    m_texts.push_back(t);
  }
  while (m_texts.size() > want) removeItem(m_texts.takeLast());
  if (!want) return;
  replot(QCustomPlot::rpImmediateRefresh);  // lays the axis rect out, so cell sizes are known
  const double cellW = axisRect()->width() / (columnOf({0, -1, false}) + 1.0),
               cellH = axisRect()->height() / double(layers);
  const int digits = decimalsFor(m_span);
  QFont f(font().family(), 8);
  const QFontMetrics fm(f);
  for (int l = 0; l < layers; ++l) {
    const std::vector<Cell> cells = rowCells(l);
    for (int i = 0; i < columns; ++i) {
      QCPItemText* t = m_texts[l * columns + i];
      const Cell& c = cells[static_cast<size_t>(i)];
      const double v = valueAt(c.layer, c.head, c.cross);
      const QString text = signedValue(v, digits);
      t->setFont(f);
      t->setText(text);
      t->position->setCoords(columnOf(c), l);
      // Dark text on light cells, white on the saturated ends of the map.
      t->setColor(std::abs(v) > 0.6 * m_span ? Qt::white : Qt::black);
      t->setVisible(fm.horizontalAdvance(text) + 4 <= cellW && fm.height() + 2 <= cellH);
    }
  }
}

QString DlaPlot::tip(const Cell& cell) const {
  const double v = valueAt(cell.layer, cell.head, cell.cross);
  const QString part = cell.head < 0 ? tr("layer %1 MLP").arg(cell.layer)
                       : cell.cross  ? tr("layer %1 cross-attention head %2").arg(cell.layer).arg(cell.head)
                                     : tr("layer %1 head %2").arg(cell.layer).arg(cell.head);
  return tr("%1: %2 to the logit of “%3” (%4 % of it)")
      .arg(part)
      .arg(signedValue(v, decimalsFor(m_span) + 1))
      .arg(QString::fromStdString(m_dla.targetToken))
      .arg(QString::number(m_dla.logit != 0 ? 100.0 * v / m_dla.logit : 0.0, 'f', 1));
}

}  // namespace attnscope
