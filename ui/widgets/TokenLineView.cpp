#include "TokenLineView.h"

#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

namespace attnscope {

namespace {
const QColor kHeadColors[] = {QColor("#1f77b4"), QColor("#ff7f0e"), QColor("#2ca02c"), QColor("#d62728"),
                              QColor("#9467bd"), QColor("#8c564b"), QColor("#e377c2"), QColor("#17becf")};
}

TokenLineView::TokenLineView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(300, 200);
  setToolTip(tr("Click a token on the left to see only its attention"));
}

void TokenLineView::setAttention(const AttentionMatrix& matrix, const std::vector<int>& heads,
                                 const std::vector<std::string>& queries, const std::vector<std::string>& keys) {
  m_matrix = matrix;
  m_heads = heads;
  m_queries = queries;
  m_keys = keys;
  if (m_selected >= m_matrix.q) m_selected = -1;
  update();
}

void TokenLineView::setSelectedQuery(int query) {
  m_selected = query;
  update();
  emit querySelected(query);
}

float TokenLineView::weight(int head, int query, int key) const { return m_matrix.at(m_heads.at(head), query, key); }

int TokenLineView::rowHeight() const {
  const int n = std::max(m_matrix.q, m_matrix.k);
  return n > 0 ? std::clamp((height() - 20) / n, 4, 22) : 18;
}

QPoint TokenLineView::queryPoint(int query) const { return QPoint(width() / 4 - 10, 10 + query * rowHeight() + rowHeight() / 2); }

void TokenLineView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().base());
  if (m_matrix.q == 0) {
    p.drawText(rect(), Qt::AlignCenter, tr("Run the model to see its attention as lines between tokens."));
    return;
  }
  p.setRenderHint(QPainter::Antialiasing);
  const int rh = rowHeight(), xl = width() / 4, xr = width() * 3 / 4;
  QFont f = font();
  f.setPointSizeF(std::clamp(rh * 0.6, 5.0, 11.0));
  p.setFont(f);
  auto label = [](const std::vector<std::string>& v, int i) {
    return i < static_cast<int>(v.size()) ? QString::fromStdString(v[i]) : QString::number(i);
  };
  for (size_t hi = 0; hi < m_heads.size(); ++hi) {
    QColor c = kHeadColors[hi % 8];
    for (int i = 0; i < m_matrix.q; ++i) {
      if (m_selected >= 0 && i != m_selected) continue;
      const QPointF a(xl, 10 + i * rh + rh / 2.0);
      for (int j = 0; j < m_matrix.k; ++j) {
        const float w = m_matrix.at(m_heads[hi], i, j);
        if (w < 0.01f) continue;
        c.setAlphaF(std::clamp(static_cast<double>(w), 0.05, 1.0) * (m_selected >= 0 ? 1.0 : 0.6));
        p.setPen(QPen(c, 0.5 + 3.5 * w));
        p.drawLine(a, QPointF(xr, 10 + j * rh + rh / 2.0));
      }
    }
  }
  p.setPen(palette().text().color());
  for (int i = 0; i < m_matrix.q; ++i) {
    QFont bf = f;
    bf.setBold(i == m_selected);
    p.setFont(bf);
    p.drawText(QRect(0, 10 + i * rh, xl - 6, rh), Qt::AlignRight | Qt::AlignVCenter, label(m_queries, i));
  }
  p.setFont(f);
  for (int j = 0; j < m_matrix.k; ++j)
    p.drawText(QRect(xr + 6, 10 + j * rh, width() - xr - 6, rh), Qt::AlignLeft | Qt::AlignVCenter, label(m_keys, j));
}

void TokenLineView::mousePressEvent(QMouseEvent* event) {
  if (m_matrix.q == 0 || event->pos().x() > width() / 2) return;
  const int i = (event->pos().y() - 10) / rowHeight();
  if (i < 0 || i >= m_matrix.q) return;
  setSelectedQuery(i == m_selected ? -1 : i);
}

}  // namespace attnscope
