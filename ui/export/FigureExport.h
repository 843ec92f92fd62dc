#pragma once
// Figures for papers: one head, a layer × head grid, or variants side by side, written as PNG (chosen DPI), SVG or
// PDF with title, axis labels and colour bar. Axes and text stay vector in SVG/PDF. Plain types only in this
// header (no Qt), so the Qt-free CLI can call it; the implementation needs a QApplication (offscreen is fine).
#include <string>
#include <vector>

#include "attnscope/EngineSession.h"

namespace attnscope {

struct FigureRequest {
  std::string kind = "head";  ///< "head", "grid" (every head of every captured layer), "compare"
  std::string stack;          ///< "" = the first stack
  int layer = 0, head = 0;
  std::string format = "png";  ///< png, svg, pdf
  int dpi = 150;               ///< PNG resolution
  std::string colormap = "viridis";
  std::string out;
};

/// \p captures: one capture, or (for "compare") the baseline first and the variants after it, each named by
/// \p names. Writes \p request.out atomically; throws std::runtime_error with a clear message.
void renderFigure(const FigureRequest& request, const std::vector<CaptureResult>& captures,
                  const std::vector<std::string>& names);

/// Same, creating the QApplication it needs (offscreen when there is no display) — for the CLI.
void renderFigureHeadless(const FigureRequest& request, const std::vector<CaptureResult>& captures,
                          const std::vector<std::string>& names);

/// Creates the QApplication figures need when there is none (offscreen when there is no display) — for the CLI.
void ensureFigureApplication();

/// Width/height in points of the figure renderFigure() would make (for tests and layout).
std::pair<int, int> figureSize(const FigureRequest& request, const std::vector<CaptureResult>& captures);

}  // namespace attnscope
