#pragma once
// Figures drawn by attnscope-cli commands (--figure, --dpi): the Qt/QCustomPlot views of the GUI, offscreen, in a
// build with Qt (ATTNSCOPE_CLI_FIGURES); without Qt the options are refused before any work.

#include <iostream>
#include <stdexcept>
#include <string>

#include "CliOptions.h"
#include "attnscope/Errors.h"
#ifdef ATTNSCOPE_CLI_FIGURES
#include "DeletionFigure.h"
#include "DlaFigure.h"
#include "FigureExport.h"
#include "FlowGraphFigure.h"
#include "SweepFigure.h"
#include "TokenScoresFigure.h"
#endif

namespace attnscope::cli {

/// --figure FILE (.pdf, .svg or .png), checked before any work; "" when absent. Refused when built without
/// Qt.
std::string figureArg(const Args& a);

/// --dpi N for figures: 36..2400, 300 when absent.
int dpiArg(const Args& a);

/// Runs \p render for --figure \p figure (nothing when ""), its failure becoming the CLI's InputError.
template <class Render>
void drawFigure(const std::string& figure, Render render) {
  if (figure.empty()) return;
  try {
    render();
  } catch (const std::runtime_error& e) {
    throw InputError(std::string("--figure: ") + e.what());
  }
  std::cerr << "wrote " << figure << "\n";
}

}  // namespace attnscope::cli
