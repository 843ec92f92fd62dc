#include "RoutingTab.h"

#include <qcustomplot.h>

#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <stdexcept>

#include "ColorMaps.h"
#include "ViewFigure.h"

namespace attnscope {

namespace {
/// A qualitative palette (Tableau 20 order: the 10 strong colours, then their light partners) so neighbouring
/// expert numbers get distinguishable colours; repeats past 20 experts.
}  // namespace

QColor RoutingTab::expertColor(int e) {
  static const QColor kColors[] = {{31, 119, 180},  {255, 127, 14},  {44, 160, 44},   {214, 39, 40},
                                   {148, 103, 189}, {140, 86, 75},   {227, 119, 194}, {127, 127, 127},
                                   {188, 189, 34},  {23, 190, 207},  {174, 199, 232}, {255, 187, 120},
                                   {152, 223, 138}, {255, 152, 150}, {197, 176, 213}, {196, 156, 148},
                                   {247, 182, 210}, {199, 199, 199}, {219, 219, 141}, {158, 218, 229}};
  return kColors[((e % 20) + 20) % 20];
}

namespace {

/// A gradient of \p experts flat bands: value e (drawn over [-0.5, experts - 0.5]) gets expertColor(e).
QCPColorGradient expertGradient(int experts) {
  QCPColorGradient g;
  QMap<double, QColor> stops;
  const int n = std::max(experts, 1);
  for (int e = 0; e < n; ++e) {
    const double a = static_cast<double>(e) / n, b = static_cast<double>(e + 1) / n;
    stops.insert(a, RoutingTab::expertColor(e));
    stops.insert(std::max(a, b - 1e-6), RoutingTab::expertColor(e));
  }
  g.setColorStops(stops);
  // QCustomPlot truncates (value − lower) · (levels − 1) / range to a level: with many levels per band every
  // expert's value lands inside its own band.
  g.setLevelCount(std::min(350, 64 * n));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  return g;
}

QString tokenLabel(const std::vector<std::string>& labels, int t) {
  if (t < 0 || t >= static_cast<int>(labels.size())) return QString::number(t);
  return QString::fromStdString(labels[static_cast<size_t>(t)]);
}
}  // namespace

RoutingTab::RoutingTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  m_note = new QLabel(this);
  m_note->setWordWrap(true);
  v->addWidget(m_note);
  auto* split = new QSplitter(Qt::Vertical, this);
  m_map = new QCustomPlot(split);
  m_map->setMinimumHeight(160);
  m_map->setMouseTracking(true);
  m_colors = new QCPColorMap(m_map->xAxis, m_map->yAxis);
  m_colors->setInterpolate(false);
  m_legend = new QCPColorScale(m_map);
  m_map->plotLayout()->addElement(0, 1, m_legend);
  m_legend->setLabel(tr("first-choice expert"));
  m_colors->setColorScale(m_legend);
  m_map->yAxis->setRangeReversed(true);
  m_map->xAxis->setLabel(tr("token"));
  m_map->yAxis->setLabel(tr("MoE layer"));
  auto* bottom = new QSplitter(Qt::Horizontal, split);
  m_load = new QCustomPlot(bottom);
  m_load->setMinimumHeight(150);
  auto* bars = new QCPBars(m_load->xAxis, m_load->yAxis);
  bars->setPen(Qt::NoPen);
  bars->setWidth(0.7);
  m_load->addGraph();  // the uniform share k / experts
  m_load->graph(0)->setPen(QPen(QColor(90, 90, 90), 1, Qt::DashLine));
  m_load->xAxis->setLabel(tr("expert"));
  m_load->yAxis->setLabel(tr("share of token slots"));
  m_dist = new HeatmapView(bottom);
  bottom->addWidget(m_load);
  bottom->addWidget(m_dist);
  split->addWidget(m_map);
  split->addWidget(bottom);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  v->addWidget(split, 1);
}

void RoutingTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    m_token = m_layer = -1;
    m_colors->data()->clear();
    m_map->replot();
  });
  connect(m_map, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    int row = 0, token = 0;
    const auto capture = m_doc->capture();
    if (!capture || !cellAt(e->pos(), &row, &token)) return;
    select(token, capture->routing[static_cast<size_t>(row)].layer);
  });
  connect(m_map, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent* e) {
    int row = 0, token = 0;
    const auto capture = m_doc->capture();
    if (!capture || !cellAt(e->pos(), &row, &token)) return;
    const int layer = capture->routing[static_cast<size_t>(row)].layer;
    select(token, layer);
    m_view->setLayerHead(layer, m_view->head());
    m_view->setPin(token, -1);
    emit headChosen(layer, m_view->head());
  });
  connect(m_map, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    int row = 0, token = 0;
    const auto capture = m_doc->capture();
    if (!capture || !cellAt(e->pos(), &row, &token)) {
      QToolTip::hideText();
      return;
    }
    const CaptureResult::Routing& r = capture->routing[static_cast<size_t>(row)];
    QString text =
        tr("layer %1, token %2 '%3'").arg(r.layer).arg(token).arg(tokenLabel(capture->queryLabels, token));
    for (int j = 0; j < r.k; ++j)
      text += tr("\nexpert %1: weight %2 (router p = %3)")
                  .arg(r.chosen[static_cast<size_t>(token) * r.k + j])
                  .arg(r.weights[static_cast<size_t>(token) * r.k + j], 0, 'f', 3)
                  .arg(r.prob(token, r.chosen[static_cast<size_t>(token) * r.k + j]), 0, 'f', 3);
    QToolTip::showText(e->globalPosition().toPoint(), text.toHtmlEscaped().replace("\n", "<br>"), m_map);
    emit statusMessage(text.section('\n', 0, 1).replace('\n', " — "));
  });
}

void RoutingTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->routing.empty()) {
    m_note->setText(capture ? tr("This capture holds no routing.") : tr("Run the model to see its routing."));
    m_colors->data()->clear();
    m_map->replot();
    return;
  }
  const ModelSummary& s = m_doc->summary();
  QStringList layers;
  for (const auto& r : capture->routing) layers << QString::number(r.layer);
  m_note->setText(
      tr("Mixture of experts: %1 experts, %2 per token, in layers %3. Colour = each token's first-choice "
         "expert (hover for every choice and its weight). Click a cell: expert load of that layer and "
         "the token's router distribution; double-click: that layer's attention.")
          .arg(s.experts)
          .arg(s.expertsPerToken)
          .arg(layers.join(", ")));
  const int tokens = capture->routing.front().tokens;
  if (m_token < 0 || m_token >= tokens) m_token = tokens - 1;
  if (!capture->findRouting(m_layer)) m_layer = capture->routing.front().layer;
  drawMap();
  drawLoad();
  drawDistribution();
  emit shown();
}

void RoutingTab::select(int token, int layer) {
  const auto capture = m_doc->capture();
  if (!capture || !capture->findRouting(layer)) return;
  const int tokens = capture->findRouting(layer)->tokens;
  if (token < 0 || token >= tokens) return;
  m_token = token;
  m_layer = layer;
  drawLoad();
  drawDistribution();
  emit statusMessage(
      tr("token %1 '%2', layer %3").arg(token).arg(tokenLabel(capture->queryLabels, token)).arg(layer));
}

void RoutingTab::drawMap() {
  const auto capture = m_doc->capture();
  const auto& routing = capture->routing;
  const int rows = static_cast<int>(routing.size()), tokens = routing.front().tokens;
  const int experts = routing.front().experts;
  QCPColorMapData* d = m_colors->data();
  ColorMaps::fill(d, 0, tokens, 1, 0, rows, 1, [&](int t, int row) {
    const auto& r = routing[static_cast<size_t>(row)];
    return t < r.tokens ? static_cast<double>(r.chosen[static_cast<size_t>(t) * r.k]) : 0.0;
  });
  m_colors->setGradient(expertGradient(experts));
  m_colors->setDataRange(QCPRange(-0.5, experts - 0.5));
  QSharedPointer<QCPAxisTickerText> legendTicks(new QCPAxisTickerText);
  const int legendStep = std::max(1, experts / 16);
  for (int e = 0; e < experts; e += legendStep) legendTicks->addTick(e, QString("E%1").arg(e));
  m_legend->axis()->setTicker(legendTicks);
  QSharedPointer<QCPAxisTickerText> x(new QCPAxisTickerText), y(new QCPAxisTickerText);
  const int step = std::max(1, tokens / 40);
  for (int t = 0; t < tokens; t += step) x->addTick(t, tokenLabel(capture->queryLabels, t));
  for (int row = 0; row < rows; ++row)
    y->addTick(row, QString("L%1").arg(routing[static_cast<size_t>(row)].layer));
  m_map->xAxis->setTicker(x);
  m_map->xAxis->setTickLabelRotation(tokens > 12 ? 60 : 0);
  m_map->yAxis->setTicker(y);
  m_map->xAxis->setRange(-0.5, tokens - 0.5);
  m_map->yAxis->setRange(-0.5, rows - 0.5);
  m_map->replot();
}

void RoutingTab::drawLoad() {
  const auto capture = m_doc->capture();
  auto* bars = static_cast<QCPBars*>(m_load->plottable(0));
  const CaptureResult::Routing* r = capture ? capture->findRouting(m_layer) : nullptr;
  if (!r) {
    bars->data()->clear();
    m_load->replot();
    return;
  }
  const std::vector<double> share = loadShares();
  QVector<double> x, y;
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  const int step = std::max(1, r->experts / 16);
  for (int e = 0; e < r->experts; ++e) {
    x << e;
    y << share[static_cast<size_t>(e)];
    if (e % step == 0) ticks->addTick(e, QString("E%1").arg(e));
  }
  bars->setData(x, y, true);
  bars->setBrush(QColor(59, 82, 139));
  const double uniform = 1.0 / r->experts;
  m_load->graph(0)->setData(QVector<double>{-0.5, r->experts - 0.5}, QVector<double>{uniform, uniform});
  m_load->xAxis->setTicker(ticks);
  m_load->xAxis->setRange(-0.6, r->experts - 0.4);
  m_load->yAxis->setRange(0, std::max(uniform, *std::max_element(y.begin(), y.end())) * 1.15);
  m_load->xAxis->setLabel(tr("expert (layer %1; dashed: uniform load)").arg(r->layer));
  m_load->replot();
}

void RoutingTab::drawDistribution() {
  const auto capture = m_doc->capture();
  if (!capture || capture->routing.empty() || m_token < 0) {
    m_dist->clear();
    return;
  }
  const auto& routing = capture->routing;
  const int experts = routing.front().experts;
  std::vector<float> values;
  std::vector<std::string> rows, cols;
  for (const auto& r : routing) {
    rows.push_back("L" + std::to_string(r.layer));
    for (int e = 0; e < experts; ++e) values.push_back(m_token < r.tokens ? r.prob(m_token, e) : 0.f);
  }
  for (int e = 0; e < experts; ++e) cols.push_back("E" + std::to_string(e));
  m_dist->setMatrix(
      values, static_cast<int>(routing.size()), experts, rows, cols,
      tr("router distribution of token %1 '%2'").arg(m_token).arg(tokenLabel(capture->queryLabels, m_token)),
      0, 1, QString(), tr("router probability"), tr("MoE layer"), tr("expert"));
}

std::vector<double> RoutingTab::loadShares() const {
  const auto capture = m_doc ? m_doc->capture() : nullptr;
  const CaptureResult::Routing* r = capture ? capture->findRouting(m_layer) : nullptr;
  if (!r) return {};
  std::vector<double> share(static_cast<size_t>(r->experts), 0.0);
  for (int c : r->chosen)
    if (c >= 0 && c < r->experts) share[static_cast<size_t>(c)] += 1.0;
  const double slotCount = static_cast<double>(r->chosen.size());
  for (double& s : share) s /= std::max(1.0, slotCount);
  return share;
}

QColor RoutingTab::drawnColor(int row, int token) const {
  const int e = drawnExpert(row, token);
  if (e < 0) return QColor();
  return QColor::fromRgba(m_colors->gradient().color(e, m_colors->dataRange()));
}

int RoutingTab::drawnExpert(int row, int token) const {
  QCPColorMapData* d = m_colors->data();
  if (row < 0 || token < 0 || row >= d->valueSize() || token >= d->keySize()) return -1;
  return static_cast<int>(std::lround(d->cell(token, row)));
}

bool RoutingTab::cellAt(const QPoint& p, int* row, int* token) const {
  const auto capture = m_doc ? m_doc->capture() : nullptr;
  if (!capture || capture->routing.empty()) return false;
  const int t = static_cast<int>(std::lround(m_map->xAxis->pixelToCoord(p.x())));
  const int r = static_cast<int>(std::lround(m_map->yAxis->pixelToCoord(p.y())));
  if (r < 0 || r >= static_cast<int>(capture->routing.size()) || t < 0 ||
      t >= capture->routing.front().tokens)
    return false;
  *row = r;
  *token = t;
  return true;
}

QPoint RoutingTab::cellPoint(int row, int token) const {
  return QPoint(static_cast<int>(m_map->xAxis->coordToPixel(token)),
                static_cast<int>(m_map->yAxis->coordToPixel(row)));
}

bool RoutingTab::hasFigure() const {
  const auto capture = m_doc ? m_doc->capture() : nullptr;
  return capture && !capture->routing.empty();
}

void RoutingTab::writeFigure(const QString& path, int dpi) const {
  if (!hasFigure()) throw std::runtime_error("no routing to export: run a mixture-of-experts model first");
  ViewPiece map, load, dist;
  map.plot = m_map;
  map.rect = QRect(QPoint(0, 0), m_map->size());
  load.plot = m_load;
  load.rect = QRect(QPoint(0, m_map->height()), m_load->size());
  dist.plot = m_dist->plot();
  dist.rect = QRect(QPoint(m_load->width(), m_map->height()), m_dist->plot()->size());
  writeViewFigure({map, load, dist}, path, dpi);
}

QJsonObject RoutingTab::saveState() const { return {{"token", m_token}, {"layer", m_layer}}; }

void RoutingTab::restoreState(const QJsonObject& state) {
  m_token = state.value("token").toInt(-1);
  m_layer = state.value("layer").toInt(-1);
  if (m_active) refresh();
}

}  // namespace attnscope
