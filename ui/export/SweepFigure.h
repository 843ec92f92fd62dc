#pragma once
// The pruning sweep as a figure (PDF, SVG or PNG). Plain types only in this header, so the Qt-free parts of the
// CLI can fill it; the implementation needs a QApplication (renderSweepFigureHeadless makes an offscreen one).
#include <string>
#include <vector>

namespace attnscope {

/// One sweep: output drift and agreement at each fraction of heads pruned (NaN where the model has no logits).
struct SweepCurve {
  std::string title;
  std::vector<double> ratios, logitsKl, top1, jsMean;
};

/// Writes \p curve to \p out (.pdf, .svg, .png at \p dpi) atomically; throws std::runtime_error with the reason.
void renderSweepFigure(const SweepCurve& curve, const std::string& out, int dpi = 300);
/// Same, creating the QApplication it needs (offscreen without a display) — for the CLI.
void renderSweepFigureHeadless(const SweepCurve& curve, const std::string& out, int dpi = 300);

}  // namespace attnscope
