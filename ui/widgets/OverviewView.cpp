#include "OverviewView.h"

#include <QElapsedTimer>
#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

#include "ColorMaps.h"

namespace attnscope {

OverviewView::OverviewView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(200, 150);
  setToolTip(tr("Every head of every layer; click one to open it"));
}

void OverviewView::setCapture(std::shared_ptr<const CaptureResult> capture, const std::string& stack) {
  m_capture = std::move(capture);
  m_stack = stack;
  rebuild();
}

void OverviewView::setColorMap(const QString& name) {
  m_colormap = name;
  rebuild();
}

void OverviewView::setSelected(int layer, int head) {
  m_selLayer = layer;
  m_selHead = head;
  update();
}

void OverviewView::setFrameMetric(const std::vector<float>& grid, int layers, int heads, const QString& name) {
  m_frame = grid;
  m_frameLayers = layers;
  m_frameHeads = heads;
  m_frameName = name;
  if (m_frame.size() != static_cast<size_t>(layers) * heads) m_frame.clear();
  rebuild();
}

QColor OverviewView::frameColor(int layer, int head) const {
  if (m_frame.empty() || layer < 0 || layer >= m_frameLayers || head < 0 || head >= m_frameHeads) return {};
  const auto [lo, hi] = std::minmax_element(m_frame.begin(), m_frame.end());
  const double span = *hi - *lo;
  const double t = span > 0 ? (m_frame[static_cast<size_t>(layer) * m_frameHeads + head] - *lo) / span : 0.5;
  return QColor(ColorMaps::gradient("magma").color(0.15 + 0.85 * t, QCPRange(0, 1)));
}

void OverviewView::resizeEvent(QResizeEvent*) { rebuild(); }

QRect OverviewView::tileRect(int layer, int head) const {
  const auto it = std::find(m_layers.begin(), m_layers.end(), layer);
  if (it == m_layers.end() || head < 0 || head >= m_heads) return {};
  const int r = static_cast<int>(it - m_layers.begin());
  return QRect(m_left + head * (m_tile + m_gap), m_top + r * (m_tile + m_gap), m_tile, m_tile);
}

void OverviewView::rebuild() {
  QElapsedTimer timer;
  timer.start();
  m_layers.clear();
  m_heads = 0;
  m_image = QImage();
  if (!m_capture) {
    update();
    return;
  }
  for (const auto& a : m_capture->layers)
    if (a.stack == m_stack) {
      m_layers.push_back(a.layer);
      m_heads = std::max(m_heads, a.heads);
    }
  if (m_layers.empty()) {
    update();
    return;
  }
  // Tiles as large as the widget allows (16..128 px).
  const int rows = static_cast<int>(m_layers.size());
  const int byW = (width() - m_left - 8) / std::max(1, m_heads) - m_gap;
  const int byH = (height() - m_top - 8 - (m_frame.empty() ? 0 : 26)) / std::max(1, rows) - m_gap;
  m_tile = std::clamp(std::min(byW, byH), 16, 128);
  const int legend = m_frame.empty() ? 0 : 26;
  m_image = QImage(std::max(m_left + m_heads * (m_tile + m_gap), m_frame.empty() ? 0 : 420),
                   m_top + rows * (m_tile + m_gap) + legend, QImage::Format_RGB32);
  m_image.fill(palette().window().color());
  QCPColorGradient g = ColorMaps::gradient(m_colormap);
  QVector<QRgb> lut(256);
  g.colorize(std::vector<double>([] {
               std::vector<double> v(256);
               for (int i = 0; i < 256; ++i) v[i] = i / 255.0;
               return v;
             }()).data(),
             QCPRange(0, 1), lut.data(), 256);
  for (const auto& a : m_capture->layers) {
    if (a.stack != m_stack) continue;
    for (int h = 0; h < a.heads; ++h) {
      const QRect t = tileRect(a.layer, a.headIndex.empty() ? h : a.headIndex[h]);
      // Each pixel samples the cell under its centre (screen resolution, not cell by cell).
      for (int y = 0; y < m_tile; ++y) {
        const int i = std::min(a.q - 1, (y * a.q) / m_tile);
        auto* line = reinterpret_cast<QRgb*>(m_image.scanLine(t.top() + y)) + t.left();
        for (int x = 0; x < m_tile; ++x) {
          const int j = std::min(a.k - 1, (x * a.k) / m_tile);
          const float v = a.at(h, i, j);
          line[x] = lut[std::clamp(static_cast<int>(v * 255.0f + 0.5f), 0, 255)];
        }
      }
    }
  }
  QPainter p(&m_image);
  p.setPen(palette().windowText().color());
  for (int h = 0; h < m_heads; ++h)
    p.drawText(QRect(m_left + h * (m_tile + m_gap), 2, m_tile, m_top - 4), Qt::AlignCenter, QString("H%1").arg(h));
  if (!m_frame.empty()) {
    p.setPen(Qt::NoPen);
    for (int l : m_layers)
      for (int h = 0; h < m_heads; ++h) {
        const QColor c = frameColor(l, h);
        if (!c.isValid()) continue;
        const QRect t = tileRect(l, h).adjusted(-3, -3, 3, 3);
        p.setBrush(c);  // a ring: four bars around the tile
        p.drawRect(QRect(t.left(), t.top(), t.width(), 3));
        p.drawRect(QRect(t.left(), t.bottom() - 2, t.width(), 3));
        p.drawRect(QRect(t.left(), t.top(), 3, t.height()));
        p.drawRect(QRect(t.right() - 2, t.top(), 3, t.height()));
      }
    const auto [lo, hi] = std::minmax_element(m_frame.begin(), m_frame.end());
    const int y = m_image.height() - legend + 6;
    p.setPen(palette().windowText().color());
    p.drawText(QRect(m_left, y, 250, 16), Qt::AlignLeft | Qt::AlignVCenter,
               tr("%1:  %2").arg(m_frameName).arg(*lo, 0, 'g', 3));
    QLinearGradient bar(m_left + 250, 0, m_left + 350, 0);
    QCPColorGradient magma = ColorMaps::gradient("magma");
    for (int i = 0; i <= 10; ++i) bar.setColorAt(i / 10.0, QColor(magma.color(0.15 + 0.085 * i, QCPRange(0, 1))));
    p.fillRect(QRect(m_left + 250, y + 2, 100, 12), bar);
    p.drawText(QRect(m_left + 356, y, 80, 16), Qt::AlignLeft | Qt::AlignVCenter, QString::number(*hi, 'g', 3));
  }
  for (size_t r = 0; r < m_layers.size(); ++r)
    p.drawText(QRect(0, m_top + static_cast<int>(r) * (m_tile + m_gap), m_left - 4, m_tile), Qt::AlignRight | Qt::AlignVCenter,
               QString("L%1").arg(m_layers[r]));
  // Grids too large for the window keep 16-pixel tiles and scroll.
  setMinimumSize(m_tile <= 16 ? m_image.size() : QSize(200, 150));
  m_renderMs = timer.nsecsElapsed() / 1e6;
  update();
}

void OverviewView::setMarkedHeads(const std::set<std::pair<int, int>>& heads) {
  m_marked = heads;
  update();
}

void OverviewView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  if (m_image.isNull()) {
    p.drawText(rect(), Qt::AlignCenter, tr("Run the model to see every head here."));
    return;
  }
  p.drawImage(0, 0, m_image);
  p.setRenderHint(QPainter::Antialiasing);
  for (const auto& [l, h] : m_marked) {
    const QRect r = tileRect(l, h);
    if (r.isNull()) continue;
    p.fillRect(r, QColor(255, 255, 255, 150));
    p.setPen(QPen(QColor(200, 30, 30), 3));
    p.drawLine(r.topLeft() + QPoint(6, 6), r.bottomRight() - QPoint(6, 6));
    p.drawLine(r.topRight() + QPoint(-6, 6), r.bottomLeft() + QPoint(6, -6));
  }
  const QRect sel = tileRect(m_selLayer, m_selHead);
  if (!sel.isNull()) {
    p.setPen(QPen(QColor("#e4572e"), 3));
    p.drawRect(sel.adjusted(-2, -2, 1, 1));
  }
}

void OverviewView::mousePressEvent(QMouseEvent* event) {
  for (int l : m_layers)
    for (int h = 0; h < m_heads; ++h)
      if (tileRect(l, h).contains(event->pos())) {
        setSelected(l, h);
        emit headChosen(l, h);
        return;
      }
}

}  // namespace attnscope
