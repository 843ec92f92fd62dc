#pragma once
// Scores over the input positions (or words) as a bar chart figure (PDF, SVG or PNG): attention flow,
// rollout, ALTI, value zeroing. Plain types only in this header, so the Qt-free parts of the CLI can fill it;
// the implementation needs a QApplication (renderTokenScoresFigureHeadless makes an offscreen one).
#include <string>
#include <vector>

namespace attnscope {

/// One bar per position (or word).
struct TokenScores {
  std::string title;
  std::vector<std::string> labels;
  std::vector<double> values;
  int highlight = -1;  ///< the scored position's bar, drawn in another colour (-1 = none)
  std::string valueLabel = "share";  ///< the value axis
};

/// Writes \p scores to \p out (.pdf, .svg, .png at \p dpi) atomically; throws std::runtime_error with the
/// reason.
void renderTokenScoresFigure(const TokenScores& scores, const std::string& out, int dpi = 300);
/// Same, creating the QApplication it needs (offscreen without a display) — for the CLI.
void renderTokenScoresFigureHeadless(const TokenScores& scores, const std::string& out, int dpi = 300);

}  // namespace attnscope
