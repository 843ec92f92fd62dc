#include "FlowGraphPlot.h"

#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <set>

namespace attnscope {

namespace {
const QColor kAttention(33, 102, 172), kResidual(120, 120, 120), kMlp(230, 120, 20);
/// MLP writes are drawn through a square beside the position, so they do not hide the residual edge.
constexpr double kMlpOffset = 0.28;

QString levelName(int level, int layers) {
  if (level == 0) return QObject::tr("embeddings");
  if (level == 2 * layers) return QObject::tr("output");
  return level % 2 ? QObject::tr("L%1 attn").arg(level / 2) : QObject::tr("L%1 out").arg(level / 2 - 1);
}
}  // namespace

FlowGraphPlot::FlowGraphPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(420, 300);
  plotLayout()->insertRow(0);
  m_title = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
  plotLayout()->addElement(0, 0, m_title);
  xAxis->setLabel(tr("position"));
  xAxis->setTickLabelRotation(60);
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setPen(QPen(QColor(235, 235, 235)));
  m_nodes = addGraph();
  m_nodes->setLineStyle(QCPGraph::lsNone);
  m_nodes->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 1), Qt::white, 7));
  m_top = addGraph();
  m_top->setLineStyle(QCPGraph::lsNone);
  m_top->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 1.5), QColor(178, 24, 43), 11));
  m_mark = new QCPItemLine(this);
  m_mark->setPen(QPen(QColor(255, 200, 0, 200), 9, Qt::SolidLine, Qt::RoundCap));
  m_mark->setLayer("background");
  m_mark->setVisible(false);
  setMouseTracking(true);
  connect(this, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const int i = edgeAt(e->pos());
    if (i < 0) return;
    setSelectedEdge(i);
    emit edgeClicked(i);
  });
  connect(this, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    const int i = edgeAt(e->pos());
    if (i < 0) {
      QToolTip::hideText();
      return;
    }
    const FlowEdge& edge = m_graph.edges[static_cast<size_t>(i)];
    QString text = tr("%1 edge, layer %2: %3 → %4, importance %5")
                       .arg(QString::fromStdString(edge.kind))
                       .arg(edge.layer)
                       .arg(edge.from)
                       .arg(edge.to)
                       .arg(edge.weight, 0, 'f', 3);
    if (!edge.heads.empty())
      text += tr("; head %1 (%2)").arg(edge.heads.front().first).arg(edge.heads.front().second, 0, 'f', 3);
    QToolTip::showText(e->globalPos(), text, this);
  });
}

void FlowGraphPlot::setGraph(const InformationFlowGraph& graph) {
  m_graph = graph;
  for (QCPAbstractItem* item : m_items) removeItem(item);
  m_items.clear();
  m_selected = -1;
  m_mark->setVisible(false);
  m_nodes->data()->clear();
  m_top->data()->clear();
  const int T = static_cast<int>(graph.positions.size()), levels = 2 * graph.layers;
  if (T == 0 || graph.layers == 0) {
    m_title->setText(QString());
    replot();
    return;
  }
  std::set<std::pair<int, int64_t>> nodes = {{levels, graph.position}};
  // Faint edges first, so the strong ones are drawn over them.
  std::vector<size_t> order(graph.edges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return graph.edges[a].weight < graph.edges[b].weight; });
  for (size_t i : order) {
    const FlowEdge& e = graph.edges[i];
    const QLineF line = edgeLine(static_cast<int>(i));
    QColor c = e.kind == "attention" ? kAttention : e.kind == "mlp" ? kMlp : kResidual;
    c.setAlphaF(0.35 + 0.65 * std::min(1.0, e.weight));
    auto* item = new QCPItemLine(this);
    item->setPen(QPen(c, 0.8 + 7.0 * e.weight, Qt::SolidLine, Qt::RoundCap));
    item->start->setCoords(line.p1());
    item->end->setCoords(line.p2());
    item->setSelectable(false);
    m_items.push_back(item);
    if (e.kind == "mlp") {  // the MLP as a small square halfway up its edge
      auto* box = new QCPItemRect(this);
      const QPointF centre = (line.p1() + line.p2()) / 2;
      box->topLeft->setCoords(centre.x() - 0.09, centre.y() + 0.12);
      box->bottomRight->setCoords(centre.x() + 0.09, centre.y() - 0.12);
      box->setPen(QPen(kMlp.darker(130)));
      box->setBrush(kMlp);
      box->setSelectable(false);
      m_items.push_back(box);
    }
    nodes.insert({e.fromLevel, e.from});
    nodes.insert({e.toLevel, e.to});
  }
  for (const auto& [level, position] : nodes)
    if (!(level == levels && position == graph.position))
      m_nodes->addData(static_cast<double>(position), level);
  m_top->addData(static_cast<double>(graph.position), levels);
  QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText), yt(new QCPAxisTickerText);
  const int step = std::max(1, (T + 39) / 40);  // at most 40 position labels (audio and image inputs are long)
  for (int p = 0; p < T; p += step)
    xt->addTick(p, QString::fromStdString(graph.positions[static_cast<size_t>(p)]));
  const int lstep = levels > 48 ? 4 : levels > 24 ? 2 : 1;
  for (int l = 0; l <= levels; l += lstep) yt->addTick(l, levelName(l, graph.layers));
  xAxis->setTicker(xt);
  yAxis->setTicker(yt);
  xAxis->setRange(-0.7, T - 0.3);
  yAxis->setRange(-0.6, levels + 0.6);
  m_title->setText(tr("Information flow into position %1 “%2” (edges ≥ %3)")
                       .arg(graph.position)
                       .arg(QString::fromStdString(graph.positions[static_cast<size_t>(graph.position)]))
                       .arg(graph.threshold, 0, 'g', 3));
  replot();
}

QLineF FlowGraphPlot::edgeLine(int index) const {
  const FlowEdge& e = m_graph.edges.at(static_cast<size_t>(index));
  const double dx = e.kind == "mlp" ? kMlpOffset : 0.0;
  return QLineF(QPointF(static_cast<double>(e.from) + dx, e.fromLevel),
                QPointF(static_cast<double>(e.to) + dx, e.toLevel));
}

int FlowGraphPlot::edgeAt(const QPointF& pos) const {
  int best = -1;
  double bestDistance = 6.0;  // pixels
  for (int i = 0; i < static_cast<int>(m_graph.edges.size()); ++i) {
    const QLineF l = edgeLine(i);
    const QPointF a(xAxis->coordToPixel(l.p1().x()), yAxis->coordToPixel(l.p1().y()));
    const QPointF b(xAxis->coordToPixel(l.p2().x()), yAxis->coordToPixel(l.p2().y()));
    const QPointF ab = b - a, ap = pos - a;
    const double len2 = QPointF::dotProduct(ab, ab);
    const double t = len2 > 0 ? std::clamp(QPointF::dotProduct(ap, ab) / len2, 0.0, 1.0) : 0.0;
    const QPointF d = pos - (a + t * ab);
    const double distance = std::hypot(d.x(), d.y());
    if (distance < bestDistance) {
      bestDistance = distance;
      best = i;
    }
  }
  return best;
}

void FlowGraphPlot::setSelectedEdge(int index) {
  m_selected = index >= 0 && index < static_cast<int>(m_graph.edges.size()) ? index : -1;
  m_mark->setVisible(m_selected >= 0);
  if (m_selected >= 0) {
    const QLineF l = edgeLine(m_selected);
    m_mark->start->setCoords(l.p1());
    m_mark->end->setCoords(l.p2());
  }
  replot();
}

}  // namespace attnscope
