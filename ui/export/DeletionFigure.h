#pragma once
// Deletion curves as a figure (PDF, SVG or PNG), drawn by DeletionPlot. The implementation needs a
// QApplication (renderDeletionFigureHeadless makes an offscreen one, for the CLI).
#include <string>

#include "attnscope/DeletionCurve.h"

namespace attnscope {

/// Writes \p result to \p out (.pdf, .svg, .png at \p dpi) atomically; throws std::runtime_error with the
/// reason.
void renderDeletionFigure(const DeletionResult& result, const std::string& out, int dpi = 300);
/// Same, creating the QApplication it needs (offscreen without a display) — for the CLI.
void renderDeletionFigureHeadless(const DeletionResult& result, const std::string& out, int dpi = 300);

}  // namespace attnscope
