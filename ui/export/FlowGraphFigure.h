#pragma once
// The information-flow graph as a figure (PDF, SVG or PNG), drawn by FlowGraphPlot. The implementation needs
// a QApplication (renderFlowGraphFigureHeadless makes an offscreen one, for the CLI).
#include <string>

#include "attnscope/InformationFlowGraph.h"

namespace attnscope {

/// Writes \p graph to \p out (.pdf, .svg, .png at \p dpi) atomically; throws std::runtime_error with the
/// reason.
void renderFlowGraphFigure(const InformationFlowGraph& graph, const std::string& out, int dpi = 300);
/// Same, creating the QApplication it needs (offscreen without a display) — for the CLI.
void renderFlowGraphFigureHeadless(const InformationFlowGraph& graph, const std::string& out, int dpi = 300);

}  // namespace attnscope
