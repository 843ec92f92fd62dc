#pragma once
// The figure of a comparison: full and every variant on one colour scale, the difference map of one variant, its
// per-head JS grid with the pruned heads crossed out, and the metrics table. Plain types only in this header.
#include "FigureExport.h"

namespace attnscope {

/// Writes \p result as one figure (\p request: out, format, dpi, stack, layer, head, colormap) with the difference
/// and JS grid of panel \p differenceOf (1 = the first variant); throws std::runtime_error with the reason.
void writeComparisonFigure(const FigureRequest& request, const ComparisonResult& result, int differenceOf = 1);

}  // namespace attnscope
