#pragma once
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <memory>

#include "AnalysisTab.h"
#include "HeatmapView.h"

class QCustomPlot;
class QCPItemText;

namespace attnscope {

/// The logit lens (nostalgebraist 2020) of the last run's input: every layer's residual stream read through the
/// model's own final norm and output head, as a layers × positions grid coloured by the top token's probability
/// (or the target's probability or rank) with the top token written in each cell when they fit. Click a cell: its
/// top-10 tokens, and the target's probability at that position across the layers. Computed on the engine's thread
/// while the tab is visible; offered for models with a token output head.
class LensTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit LensTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Logit lens"); }
  QString key() const override { return "lens"; }
  bool availableFor(const ModelSummary& summary) const override { return summary.hasLens; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_lens != nullptr; }
  QString figureName() const override { return modelName() + "-logit-lens"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  /// Shows \p lens (what the run controller answers; tests hand in their own).
  void showLens(std::shared_ptr<const LensResult> lens);
  /// The cell whose top-10 list and target curve are shown.
  void chooseCell(int layer, int position);
  HeatmapView* view() const { return m_grid; }
  QListWidget* topList() const { return m_top; }
  QCustomPlot* targetPlot() const { return m_curve; }
  QLineEdit* targetEdit() const { return m_target; }
  /// "top" (the top token's probability), "target" (the target's probability) or "rank" (the target's rank).
  QComboBox* modeBox() const { return m_mode; }
  /// The tokens written in the cells, elided to their width (empty when the cells are too narrow), layer-major.
  QStringList cellTexts() const;
  QString note() const { return m_note->text(); }

 protected:
  void refresh() override;
  void resizeEvent(QResizeEvent* event) override;
  void connectSignals() override;

 private:
  void draw();
  /// The top token in each cell wide enough for text (again after a resize).
  void writeCellTexts();
  HeatmapView* m_grid;
  QComboBox* m_mode;
  QLineEdit* m_target;
  QLabel* m_note;
  QListWidget* m_top;
  QCustomPlot* m_curve;
  QList<QCPItemText*> m_texts;
  std::vector<float> m_values;  ///< what the colours show, layer-major
  double m_top1 = 0;            ///< their largest value
  std::shared_ptr<const LensResult> m_lens;
  int m_layer = -1, m_position = -1;
  quint64 m_pending = 0;
};

}  // namespace attnscope
