#pragma once
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "AnalysisTab.h"
#include "SweepPlot.h"

namespace attnscope {

/// The pruning sweep (Michel et al. 2019): prune 0 … 90 % of the heads in importance (or entropy, or random)
/// order and plot how far the output drifts. Click a point to mark its heads for pruning (Overview) and compare
/// that model with full.
class PruneTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit PruneTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Pruning sweep"); }
  QString key() const override { return "prune"; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_doc && m_doc->sweep(); }
  QString figureName() const override { return modelName() + "-pruning-sweep"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  /// The sweep's options from the controls; false (with the reason) when the ratios do not parse.
  bool options(PruneSweepOptions& options, QString* why) const;
  SweepPlot* plot() const { return m_plot; }
  QComboBox* orderBox() const { return m_order; }
  QLineEdit* ratiosEdit() const { return m_ratios; }
  /// Chooses sweep point \p index: its heads become the pruning choice.
  void choosePoint(int index);

 signals:
  void sweepRequested(const attnscope::PruneSweepOptions& options);

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  QComboBox* m_order;
  QSpinBox* m_seed;
  QLineEdit* m_ratios;
  QPushButton* m_run;
  QPushButton* m_compare;
  SweepPlot* m_plot;
  QLabel* m_point;
  int m_chosen = -1;
};

}  // namespace attnscope
