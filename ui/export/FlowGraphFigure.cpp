#include "FlowGraphFigure.h"

#include <QApplication>
#include <algorithm>

#include "FigureExport.h"
#include "FlowGraphPlot.h"
#include "ViewFigure.h"

namespace attnscope {

void renderFlowGraphFigure(const InformationFlowGraph& graph, const std::string& out, int dpi) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (graph.positions.empty() || graph.layers == 0) throw std::runtime_error("the graph is empty");
  // About 28 points per position and 26 per level, within a page-sized figure.
  const int w = std::clamp(140 + 28 * static_cast<int>(graph.positions.size()), 420, 1100);
  const int h = std::clamp(120 + 26 * (2 * graph.layers + 1), 300, 1100);
  FlowGraphPlot plot;
  plot.resize(w, h);
  plot.setGraph(graph);
  ViewPiece piece;
  piece.plot = &plot;
  piece.rect = QRect(0, 0, w, h);
  writeViewFigure({piece}, QString::fromStdString(out), dpi);
}

void renderFlowGraphFigureHeadless(const InformationFlowGraph& graph, const std::string& out, int dpi) {
  ensureFigureApplication();
  renderFlowGraphFigure(graph, out, dpi);
}

}  // namespace attnscope
