#pragma once
// Direct logit attribution as a figure (PDF, SVG or PNG): the layers × heads grid with the MLP column
// (DlaPlot). The implementation needs a QApplication (renderDlaFigureHeadless makes an offscreen one, for the
// CLI).
#include <string>

#include "attnscope/DirectLogitAttribution.h"

namespace attnscope {

/// Writes \p dla to \p out (.pdf, .svg, .png at \p dpi) atomically; throws std::runtime_error with the
/// reason.
void renderDlaFigure(const DirectLogitAttribution& dla, const std::string& out, int dpi = 300);
/// Same, creating the QApplication it needs (offscreen without a display) — for the CLI.
void renderDlaFigureHeadless(const DirectLogitAttribution& dla, const std::string& out, int dpi = 300);

}  // namespace attnscope
