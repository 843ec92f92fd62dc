#pragma once
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>

#include "AnalysisTab.h"
#include "OverviewView.h"

namespace attnscope {

/// Every head of the current stack as thumbnails in a layers × heads grid, frames coloured by a head metric.
class OverviewTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit OverviewTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Overview"); }
  QString key() const override { return "overview"; }
  void writeFigure(const QString& path, int dpi) const override;
  QString figureName() const override { return modelName() + "-overview"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  OverviewView* view() const { return m_overview; }
  /// The legend shown for a long input's thumbnails (sampled query rows).
  QLabel* sampledNote() const { return m_sampledNote; }
  /// The rule shown while the thumbnails are at word level (ViewState::words(), text models).
  QLabel* wordsNote() const { return m_wordsNote; }
  /// Frame metric: "" (none), entropy, distance, sink or importance.
  QComboBox* frameBox() const { return m_frame; }
  /// Checked: a click on a thumbnail toggles that head's pruning instead of opening it.
  QPushButton* pruneModeButton() const { return m_pruneMode; }
  /// Chooses the \p count least important heads (Michel importance, the prune variant's order) for pruning.
  void pruneLeastImportant(int count);
  QPushButton* compareButton() const { return m_compare; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void requestFrame();
  void showPruned();
  OverviewView* m_overview;
  QComboBox* m_frame;
  std::string m_shownStack;
  const CaptureResult* m_shownCapture = nullptr;
  bool m_shownWords = false;
  quint64 m_pending = 0;
  quint64 m_thumbnails = 0;  ///< pending sampled-row thumbnails of a long input
  QLabel* m_sampledNote;
  QLabel* m_wordsNote;
  quint64 m_importance = 0;  ///< pending importance request of "prune the N least important"
  int m_pruneCount = 0;
  QPushButton* m_pruneMode;
  QSpinBox* m_count;
  QPushButton* m_leastImportant;
  QPushButton* m_compare;
  QPushButton* m_clear;
  QLabel* m_prunedLabel;
};

}  // namespace attnscope
