#pragma once
#include "AnalysisTab.h"
#include "HeatmapView.h"
#include "WordLevel.h"

namespace attnscope {

/// The head view: one head of one layer as a heatmap (zoom, pins, hover readout). A family with learned sinks
/// (gpt-oss) gets the sink as one more key column, so the mass Hugging Face's probabilities leave out is visible.
class HeadTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit HeadTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Head view"); }
  QString key() const override { return "head"; }
  void writeFigure(const QString& path, int dpi) const override;
  HeatmapView* view() const { return m_heatmap; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void applyAppearance();
  /// Head m_view->head() of \p a with its learned sink as a last "⟨sink⟩" key column (rows then sum to 1).
  void showWithSink(const AttentionMatrix& a, const std::vector<std::string>& queryLabels,
                    std::vector<std::string> keyLabels, const QString& title);
  HeatmapView* m_heatmap;
  quint64 m_pendingTile = 0;
  WordLevel m_words;  ///< the word groups drawn (inactive: positions)  ///< the request of the window on screen (a long input's head)
};

}  // namespace attnscope
