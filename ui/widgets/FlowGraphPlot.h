#pragma once
// The information-flow graph drawn with positions on the x axis and the residual stream's levels on the y
// axis (embeddings at the bottom; each layer's attention step, then its MLP step, upwards): attention edges
// in blue from a source position to a position, residual edges in grey, MLP writes in orange through a small
// square, each edge as thick and opaque as its importance. Click an edge to choose it.
#include <qcustomplot.h>

#include "attnscope/InformationFlowGraph.h"

namespace attnscope {

class FlowGraphPlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit FlowGraphPlot(QWidget* parent = nullptr);
  void setGraph(const InformationFlowGraph& graph);
  const InformationFlowGraph& graph() const { return m_graph; }
  /// Marks edge \p index of graph().edges (−1 = none).
  void setSelectedEdge(int index);
  int selectedEdge() const { return m_selected; }
  /// The edge nearest to widget pixel \p pos within a few pixels; −1 when none.
  int edgeAt(const QPointF& pos) const;
  /// Where edge \p index is drawn: its two ends in plot coordinates (x = position, y = level).
  QLineF edgeLine(int index) const;
  /// The nodes drawn (level, position).
  int nodeCount() const { return m_nodes->data()->size(); }

 signals:
  void edgeClicked(int index);

 private:
  InformationFlowGraph m_graph;
  int m_selected = -1;
  QCPGraph* m_nodes;
  QCPGraph* m_top;
  QCPTextElement* m_title;
  QList<QCPAbstractItem*> m_items;
  QCPItemLine* m_mark;
};

}  // namespace attnscope
