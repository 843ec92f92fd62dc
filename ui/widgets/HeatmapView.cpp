#include "HeatmapView.h"

#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "ColorMaps.h"
#include "TokenTicker.h"

namespace attnscope {

namespace {
/// A "nice" tick step (1, 2 or 5 × 10^n) for about \p count ticks over \p span.
double niceStep(double span, int count) {
  const double raw = span / std::max(1, count);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

}  // namespace

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
  for (QCPItemRect** r : {&m_pinRow, &m_pinCol}) {
    *r = new QCPItemRect(m_plot);
    (*r)->setPen(QPen(QColor(255, 48, 48), 2));
    (*r)->setBrush(Qt::NoBrush);
    (*r)->setVisible(false);
    (*r)->setSelectable(false);
  }
  connect(m_plot, &QCustomPlot::mouseMove, this, &HeatmapView::onMouseMove);
  connect(m_plot, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) { m_pressPos = e->pos(); });
  connect(m_plot, &QCustomPlot::mouseRelease, this, &HeatmapView::onRelease);
  // Zooming or panning a downsampled matrix redraws the visible window at screen resolution (once per batch of
  // range changes).
  auto queue = [this] {
    if (m_rebuildQueued || m_q == 0) return;
    m_rebuildQueued = true;
    QTimer::singleShot(0, this, [this] {
      m_rebuildQueued = false;
      const Window before = m_drawn;
      rebuildMap();
      if (!(m_drawn == before)) m_plot->replot();
    });
  };
  connect(m_plot->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, queue);
  connect(m_plot->yAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, queue);

  m_status = new QLabel(this);
  m_status->setObjectName("cellStatus");
  m_status->setTextFormat(Qt::PlainText);  // token labels such as "<s>" are text, not markup
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_pinLabel = new QLabel(this);
  m_pinLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_pinLabel->setWordWrap(true);
  m_pinLabel->setVisible(false);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(m_plot, 1);
  layout->addWidget(m_pinLabel);
  layout->addWidget(m_status);
  clear();
}

void HeatmapView::setMarkedCells(const std::vector<std::pair<int, int>>& cells) {
  for (QCPItemText* t : m_marks) m_plot->removeItem(t);
  m_marks.clear();
  for (const auto& [row, col] : cells) {
    auto* t = new QCPItemText(m_plot);
    t->position->setType(QCPItemPosition::ptPlotCoords);
    t->position->setCoords(col, row);
    t->setText(QString::fromUtf8("\u00d7"));
    t->setFont(QFont(font().family(), 12, QFont::Bold));
    t->setColor(QColor(200, 30, 30));
    t->setClipToAxisRect(true);
    m_marks.push_back(t);
  }
  m_plot->replot();
}

QString HeatmapView::title() const { return m_title->text(); }

void HeatmapView::clear() {
  for (QCPItemText* t : m_marks) m_plot->removeItem(t);
  m_marks.clear();
  m_q = m_k = 0;
  m_values.clear();
  m_remoteCells = nullptr;
  m_requested = Window();
  m_blockWindow = Window();
  m_map->data()->clear();
  m_mapValid = false;
  m_pinQuery = m_pinKey = -1;
  updatePinItems();
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
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, nullptr);  // a hidden scale must not pad the plot
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

double HeatmapView::transform(double v) const {
  if (isSigned()) return v;
  switch (m_scaleMode) {
    case Scale::Log: return std::log10(std::max(v, m_lo));
    case Scale::Power: return std::pow(std::max(v, 0.0), m_gamma);
    default: return v;
  }
}

double HeatmapView::inverse(double v) const {
  if (isSigned()) return v;
  switch (m_scaleMode) {
    case Scale::Log: return std::pow(10.0, v);
    case Scale::Power: return std::pow(std::max(v, 0.0), 1.0 / m_gamma);
    default: return v;
  }
}

void HeatmapView::setRange(double lo, double hi) {
  m_auto = false;
  m_fixedLo = lo < hi ? lo : 0.0;
  m_fixedHi = lo < hi ? hi : 1.0;
  updateRange();
  m_mapValid = false;
  rebuildMap();
  m_plot->replot();
}

void HeatmapView::setAutoRange() {
  m_auto = true;
  updateRange();
  m_mapValid = false;
  rebuildMap();
  m_plot->replot();
}

void HeatmapView::setScale(Scale scale, double gamma) {
  m_scaleMode = scale;
  m_gamma = std::clamp(gamma, 0.05, 5.0);
  updateRange();
  m_mapValid = false;
  rebuildMap();
  m_plot->replot();
}

void HeatmapView::updateRange() {
  if (m_auto) {
    if (isSigned()) {
      const double m = std::max({std::abs(m_dataMin), std::abs(m_dataMax), 1e-12});
      m_lo = -m;
      m_hi = m;
    } else {
      m_lo = 0;
      m_hi = m_dataMax > 0 ? m_dataMax : 1.0;
    }
  } else {
    m_lo = m_fixedLo;
    m_hi = m_fixedHi;
  }
  const bool log = !isSigned() && m_scaleMode == Scale::Log;
  if (log && m_lo <= 0) m_lo = m_hi * 1e-4;  // four decades below the top
  m_map->setDataRange(QCPRange(transform(m_lo), transform(m_hi)));
  // Colour-bar ticks in data units.
  QCPAxis* axis = m_scale->axis();
  if (isSigned() || m_scaleMode == Scale::Linear) {
    axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    return;
  }
  QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
  if (log) {
    for (int e = static_cast<int>(std::ceil(std::log10(m_lo) - 1e-9)); e <= std::floor(std::log10(m_hi) + 1e-9); ++e)
      t->addTick(e, QString("1e%1").arg(e));
  } else {
    const double step = niceStep(m_hi - m_lo, 5);
    for (double v = std::ceil(m_lo / step) * step; v <= m_hi + 1e-12; v += step)
      t->addTick(transform(v), QString::number(v, 'g', 3));
  }
  axis->setTicker(t);
}

QSize HeatmapView::drawnCells() const { return QSize(m_drawn.nx, m_drawn.ny); }

QRect HeatmapView::drawnBlock(int query, int key) const {
  const Window& w = m_drawn;
  if (key < w.x0 || query < w.y0 || key > w.x1 || query > w.y1) return {};
  const int x0 = w.x0 + (key - w.x0) / w.bx * w.bx, y0 = w.y0 + (query - w.y0) / w.by * w.by;
  return QRect(QPoint(x0, y0), QPoint(std::min(w.x1, x0 + w.bx - 1), std::min(w.y1, y0 + w.by - 1)));
}

HeatmapView::Window HeatmapView::visibleWindow() const {
  Window w;
  if (m_q == 0 || m_k == 0) return w;
  const QRect r = m_plot->axisRect()->rect();
  const int pxW = std::max(256, r.width()), pxH = std::max(256, r.height());
  w.x1 = m_k - 1;
  w.y1 = m_q - 1;
  if (m_k > pxW || m_q > pxH) {  // only the visible window, at screen resolution
    const QCPRange xr = m_plot->xAxis->range(), yr = m_plot->yAxis->range();
    w.x0 = std::clamp(static_cast<int>(std::floor(xr.lower + 0.5)), 0, m_k - 1);
    w.x1 = std::clamp(static_cast<int>(std::ceil(xr.upper - 0.5)), w.x0, m_k - 1);
    w.y0 = std::clamp(static_cast<int>(std::floor(yr.lower + 0.5)), 0, m_q - 1);
    w.y1 = std::clamp(static_cast<int>(std::ceil(yr.upper - 0.5)), w.y0, m_q - 1);
  }
  const int cw = w.x1 - w.x0 + 1, ch = w.y1 - w.y0 + 1;
  w.bx = (cw + pxW - 1) / pxW;
  w.by = (ch + pxH - 1) / pxH;
  w.nx = (cw + w.bx - 1) / w.bx;
  w.ny = (ch + w.by - 1) / w.by;
  return w;
}

void HeatmapView::scanRows(const float* src, int r0, int r1, const Window& w, bool copy, float& lo, float& hi) {
  // Extremes in eight independent lanes (vectorised; one running min/max is a serial dependency chain). Block
  // maxima: an element-wise running maximum over a block's rows while the row is still in cache, then one
  // reduction per drawn cell when the block row is complete.
  float lo8[8], hi8[8];
  std::fill(lo8, lo8 + 8, lo);
  std::fill(hi8, hi8 + 8, hi);
  const int cw = w.x1 - w.x0 + 1;
  std::vector<float> acc(w.downsampled() ? static_cast<size_t>(cw) : 0);
  for (int r = r0; r < r1; ++r) {
    const float* row = src + static_cast<size_t>(r) * m_k;
    if (copy) {  // fresh data: copy it and find its extremes
      std::memcpy(m_values.data() + static_cast<size_t>(r) * m_k, row, static_cast<size_t>(m_k) * sizeof(float));
      int j = 0;
      for (; j + 8 <= m_k; j += 8)
        for (int l = 0; l < 8; ++l) {
          const float v = row[j + l];
          lo8[l] = v < lo8[l] ? v : lo8[l];
          hi8[l] = v > hi8[l] ? v : hi8[l];
        }
      for (; j < m_k; ++j) {
        lo8[0] = row[j] < lo8[0] ? row[j] : lo8[0];
        hi8[0] = row[j] > hi8[0] ? row[j] : hi8[0];
      }
    }
    if (!w.downsampled() || r < w.y0 || r > w.y1) continue;
    const int inBlock = (r - w.y0) % w.by;
    if (inBlock == 0) std::fill(acc.begin(), acc.end(), -std::numeric_limits<float>::infinity());
    float* out = acc.data();
    const float* part = row + w.x0;
    for (int c = 0; c < cw; ++c) out[c] = part[c] > out[c] ? part[c] : out[c];
    if (inBlock == w.by - 1 || r == w.y1) {
      float* cells = m_blockMax.data() + static_cast<size_t>((r - w.y0) / w.by) * w.nx;
      for (int cj = 0; cj < w.nx; ++cj) {
        const int c0 = cj * w.bx, c1 = std::min(cw, c0 + w.bx);
        float m = out[c0];
        for (int c = c0 + 1; c < c1; ++c) m = std::max(m, out[c]);
        cells[cj] = m;
      }
    }
  }
  lo = *std::min_element(lo8, lo8 + 8);
  hi = *std::max_element(hi8, hi8 + 8);
}

void HeatmapView::scanAll(const float* src, const Window& w, bool copy, float& lo, float& hi) {
  m_blockMax.assign(w.downsampled() ? static_cast<size_t>(w.nx) * w.ny : 0, 0.0f);
  lo = std::numeric_limits<float>::infinity();
  hi = -std::numeric_limits<float>::infinity();
  // Copying reads every row; redrawing a zoomed window only its rows.
  const int r0 = copy ? 0 : w.y0, r1 = copy ? m_q : w.y1 + 1;
  const size_t cells = static_cast<size_t>(r1 - r0) * m_k;
  // A 4096² head is 64 MB: two cores scan it in about half the time; small heads are not worth a thread.
  if (cells < (1u << 20) || std::thread::hardware_concurrency() < 2 || w.ny < 2) {
    scanRows(src, r0, r1, w, copy, lo, hi);
  } else {
    const int mid = w.downsampled() ? w.y0 + (w.ny / 2) * w.by : (r0 + r1) / 2;  // on a block-row boundary
    float lo2 = lo, hi2 = hi;
    std::thread other([&] { scanRows(src, mid, r1, w, copy, lo2, hi2); });
    scanRows(src, r0, mid, w, copy, lo, hi);
    other.join();
    lo = std::min(lo, lo2);
    hi = std::max(hi, hi2);
  }
  m_blockWindow = w;
}

void HeatmapView::rebuildMap() {
  if (m_q == 0 || m_k == 0) return;
  const Window w = visibleWindow();
  if (m_mapValid && w == m_drawn) return;
  if (remote() && !(m_blockWindow == w)) {  // the tile is computed elsewhere: ask once, draw when it arrives
    if (!(m_requested == w)) {
      m_requested = w;
      emit tileWanted(w.x0, w.x1, w.y0, w.y1, w.bx, w.by);
    }
    return;
  }
  m_drawn = w;
  if (!w.downsampled() && !remote()) {
    ColorMaps::fill(m_map->data(), w.x0, w.nx, w.bx, w.y0, w.ny, w.by, [&](int j, int i) {
      return transform(m_values[static_cast<size_t>(w.y0 + i) * m_k + w.x0 + j]);
    });
  } else {
    // Block maximum: the transforms are monotonic, so transform(max) = max(transform).
    if (!(m_blockWindow == w)) {  // a zoom or pan since the last scan
      float lo, hi;
      scanAll(m_values.data(), w, false, lo, hi);
    }
    ColorMaps::fill(m_map->data(), w.x0, w.nx, w.bx, w.y0, w.ny, w.by,
                    [&](int j, int i) { return transform(m_blockMax[static_cast<size_t>(i) * w.nx + j]); });
  }
  m_mapValid = true;
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
  m_auto = false;
  m_fixedLo = lo < hi ? lo : 0.0;
  m_fixedHi = lo < hi ? hi : 1.0;
  setAttention(a, 0, rowLabels, colLabels, title);
  m_fixedGradient = !gradient.isEmpty();
  m_map->setGradient(ColorMaps::gradient(gradient.isEmpty() ? m_gradient : gradient));
  m_scale->axis()->setLabel(scaleLabel);
  m_plot->yAxis->setLabel(rowAxis);
  m_plot->xAxis->setLabel(colAxis);
  m_plot->replot();
}

void HeatmapView::setAttention(const AttentionMatrix& a, int head, const std::vector<std::string>& queryLabels,
                               const std::vector<std::string>& keyLabels, const QString& title) {
  m_remoteCells = nullptr;
  m_requested = Window();
  const bool sameShape = m_q == a.q && m_k == a.k;
  m_q = a.q;
  m_k = a.k;
  if (!sameShape) {  // a new shape shows the whole matrix; the same shape keeps the user's zoom
    m_plot->xAxis->setRange(-0.5, m_k - 0.5);
    m_plot->yAxis->setRange(-0.5, m_q - 0.5);
    if (m_pinQuery >= m_q) m_pinQuery = -1;
    if (m_pinKey >= m_k) m_pinKey = -1;
  }
  // One pass copies the head, finds its extremes and, when it is larger than the screen, its block maxima.
  m_values.resize(static_cast<size_t>(m_q) * m_k);
  m_mapValid = false;
  float mn = 0, mx = 0;
  scanAll(a.data.data() + static_cast<size_t>(head) * m_values.size(), visibleWindow(), true, mn, mx);
  m_dataMin = m_values.empty() ? 0.0 : mn;
  m_dataMax = m_values.empty() ? 1.0 : mx;
  if (m_fixedGradient) {
    m_fixedGradient = false;
    m_map->setGradient(ColorMaps::gradient(m_gradient));
  }
  m_scale->axis()->setLabel("attention weight");
  m_plot->yAxis->setLabel("query");
  m_plot->xAxis->setLabel("key");
  setLabels(queryLabels, keyLabels);
  updateRange();
  rebuildMap();
  updatePinItems();
  m_title->setText(title);
  m_plot->replot();
}

void HeatmapView::setLabels(const std::vector<std::string>& queryLabels, const std::vector<std::string>& keyLabels) {
  m_queryLabels.clear();
  m_keyLabels.clear();
  for (const auto& l : queryLabels) m_queryLabels << QString::fromStdString(l);
  for (const auto& l : keyLabels) m_keyLabels << QString::fromStdString(l);
  m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new TokenTicker(m_plot->xAxis, m_keyLabels)));
  m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new TokenTicker(m_plot->yAxis, m_queryLabels)));
}

void HeatmapView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  if (m_q > 256 || m_k > 256) QTimer::singleShot(0, this, [this] {
      rebuildMap();
      m_plot->replot();
    });
}

double HeatmapView::valueAt(int query, int key) const {
  if (query < 0 || query >= m_q || key < 0 || key >= m_k) return 0.0;
  if (remote()) return m_remoteCells(query, query + 1, key, key + 1).at(0);
  return m_values[static_cast<size_t>(query) * m_k + key];
}

double HeatmapView::drawnValue(int query, int key) const {
  const Window& w = m_drawn;
  const int cj = (key - w.x0) / w.bx, ci = (query - w.y0) / w.by;
  if (key < w.x0 || query < w.y0 || cj >= w.nx || ci >= w.ny) return std::nan("");
  return inverse(m_map->data()->cell(cj, ci));
}

QString HeatmapView::cellText(int query, int key) const {
  const QString q = query < m_queryLabels.size() ? m_queryLabels[query] : QString::number(query);
  const QString k = key < m_keyLabels.size() ? m_keyLabels[key] : QString::number(key);
  return QString("%1 [%2] → %3 [%4]: %5").arg(q).arg(query).arg(k).arg(key).arg(valueAt(query, key), 0, 'f', 4);
}

QString HeatmapView::tooltipHtml(int query, int key) const {
  // Tooltips guess rich text from the content: escape the labels so that tokens such as "<s>" show as themselves
  // (unescaped, Qt took "<s>" for strike-through and dropped it).
  return "<p style='white-space:pre'>" + cellText(query, key).toHtmlEscaped() + "</p>";
}

QString HeatmapView::pinText() const {
  auto top = [this](bool row, int index) {
    const int n = row ? m_k : m_q;
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::vector<float> line;  // a remote head's row or column, read at once
    if (remote()) line = row ? m_remoteCells(index, index + 1, 0, m_k) : m_remoteCells(0, m_q, index, index + 1);
    auto value = [&](int i) -> double {
      if (remote()) return line[static_cast<size_t>(i)];
      return row ? valueAt(index, i) : valueAt(i, index);
    };
    const int keep = std::min(5, n);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [&](int a, int b) { return value(a) > value(b); });
    QStringList parts;
    for (int i = 0; i < keep; ++i) {
      const QStringList& labels = row ? m_keyLabels : m_queryLabels;
      const QString l = order[i] < labels.size() ? labels[order[i]] : QString::number(order[i]);
      parts << QString("%1 [%2] %3").arg(l.toHtmlEscaped()).arg(order[i]).arg(value(order[i]), 0, 'f', 3);
    }
    return parts.join(" · ");
  };
  QStringList out;
  if (m_pinQuery >= 0 && m_pinQuery < m_q)
    out << QString("<b>query %1 [%2]</b> attends most to: %3")
               .arg((m_pinQuery < m_queryLabels.size() ? m_queryLabels[m_pinQuery] : QString()).toHtmlEscaped())
               .arg(m_pinQuery)
               .arg(top(true, m_pinQuery));
  if (m_pinKey >= 0 && m_pinKey < m_k)
    out << QString("<b>key %1 [%2]</b> is attended most by: %3")
               .arg((m_pinKey < m_keyLabels.size() ? m_keyLabels[m_pinKey] : QString()).toHtmlEscaped())
               .arg(m_pinKey)
               .arg(top(false, m_pinKey));
  return out.join("<br>");
}

void HeatmapView::updatePinItems() {
  const bool row = m_pinQuery >= 0 && m_pinQuery < m_q, col = m_pinKey >= 0 && m_pinKey < m_k;
  m_pinRow->setVisible(row);
  m_pinCol->setVisible(col);
  if (row) {
    m_pinRow->topLeft->setCoords(-0.5, m_pinQuery - 0.5);
    m_pinRow->bottomRight->setCoords(m_k - 0.5, m_pinQuery + 0.5);
  }
  if (col) {
    m_pinCol->topLeft->setCoords(m_pinKey - 0.5, -0.5);
    m_pinCol->bottomRight->setCoords(m_pinKey + 0.5, m_q - 0.5);
  }
  const QString text = pinText();
  m_pinLabel->setText(text);
  m_pinLabel->setVisible(!text.isEmpty());
}

void HeatmapView::setPin(int query, int key) {
  m_pinQuery = query < m_q ? query : -1;
  m_pinKey = key < m_k ? key : -1;
  updatePinItems();
  m_plot->replot();
}

void HeatmapView::zoomBy(double factor) {
  if (m_q == 0 || factor <= 0) return;
  m_plot->xAxis->scaleRange(1.0 / factor, m_plot->xAxis->range().center());
  m_plot->yAxis->scaleRange(1.0 / factor, m_plot->yAxis->range().center());
  m_plot->replot();
}

void HeatmapView::resetZoom() {
  if (m_q == 0) return;
  m_plot->xAxis->setRange(-0.5, m_k - 0.5);
  m_plot->yAxis->setRange(-0.5, m_q - 0.5);
  m_plot->replot();
}

void HeatmapView::onRelease(QMouseEvent* event) {
  if (m_q == 0 || event->button() != Qt::LeftButton || (event->pos() - m_pressPos).manhattanLength() > 3) return;
  const int key = static_cast<int>(std::lround(m_plot->xAxis->pixelToCoord(event->pos().x())));
  const int query = static_cast<int>(std::lround(m_plot->yAxis->pixelToCoord(event->pos().y())));
  if (key < 0 || key >= m_k || query < 0 || query >= m_q || !m_plot->axisRect()->rect().contains(event->pos())) return;
  if (event->modifiers() & Qt::ShiftModifier) m_pinKey = m_pinKey == key ? -1 : key;
  else m_pinQuery = m_pinQuery == query ? -1 : query;
  updatePinItems();
  m_plot->replot();
  emit pinChanged(m_pinQuery, m_pinKey);
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
  m_status->setText(text);  // plain text (see the constructor): "<s>" stays "<s>"
  QToolTip::showText(event->globalPosition().toPoint(), tooltipHtml(query, key), m_plot);
  emit hovered(text);
}

void HeatmapView::setRemote(int rows, int cols, const std::vector<std::string>& queryLabels,
                            const std::vector<std::string>& keyLabels, const QString& title, CellReader cells) {
  const bool sameShape = m_q == rows && m_k == cols;
  const QCPRange xr = m_plot->xAxis->range(), yr = m_plot->yAxis->range();  // the same shape keeps the user's zoom
  setAttention(AttentionMatrix(), 0, queryLabels, keyLabels, title);    // labels, axes, title; no cells yet
  m_q = rows, m_k = cols;
  m_remoteCells = std::move(cells);
  m_dataMin = 0, m_dataMax = 1;
  if (sameShape) m_plot->xAxis->setRange(xr), m_plot->yAxis->setRange(yr);
  else resetZoom();
  m_map->data()->clear();
  rebuildMap();  // asks for the first tile
  updatePinItems();
  m_plot->replot();
}

void HeatmapView::setTile(int x0, int x1, int y0, int y1, int bx, int by, const std::vector<float>& maxima) {
  if (!remote()) return;
  Window w;
  w.x0 = x0, w.x1 = x1, w.y0 = y0, w.y1 = y1, w.bx = bx, w.by = by;
  w.nx = (x1 - x0 + bx) / bx;
  w.ny = (y1 - y0 + by) / by;
  if (!(w == visibleWindow()) || maxima.size() != static_cast<size_t>(w.nx) * w.ny) return;
  m_blockMax = maxima;
  m_blockWindow = w;
  if (x0 == 0 && y0 == 0 && x1 == m_k - 1 && y1 == m_q - 1 && !maxima.empty()) {
    // The whole head's block maxima hold its largest cell: the auto colour range.
    m_dataMin = std::min(0.0f, *std::min_element(maxima.begin(), maxima.end()));
    m_dataMax = *std::max_element(maxima.begin(), maxima.end());
    updateRange();
  }
  m_mapValid = false;
  rebuildMap();
  m_plot->replot();
}

}  // namespace attnscope
