#pragma once
#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <map>
#include <memory>

#include "AnalysisTab.h"
#include "DeletionPlot.h"

namespace attnscope {

/// Faithfulness of the attributions by deletion: the last run's input with its tokens (or the model's heads)
/// removed in the order each chosen method ranks them, most important first, and the target's probability at
/// the last position at each fraction — one curve per method on one plot, with its area under the curve
/// (smaller = the ranking finds what the prediction depends on). Computed on the engine's thread while the
/// tab is visible; offered for causal language models.
class FaithfulnessTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit FaithfulnessTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Faithfulness"); }
  QString key() const override { return "deletion"; }
  bool availableFor(const ModelSummary& summary) const override {
    // Causal language models and encoder–decoder models (a token at the last position) and classifiers of any
    // modality (a class): the models the engine lists deletion rankings for.
    return !summary.deletionMethods.empty();
  }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_result != nullptr; }
  QString figureName() const override { return modelName() + "-deletion-curves"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  /// Shows \p result (what the run controller answers; tests hand in their own).
  void showResult(std::shared_ptr<const DeletionResult> result);
  DeletionPlot* plot() const { return m_plot; }
  /// The box of method \p name ("rollout", "flow", "attention", "alti", "value-zeroing", "grad-attn", "random", "dla", "random-heads").
  QCheckBox* methodBox(const QString& name) const { return m_methods.at(name); }
  QSpinBox* stepsBox() const { return m_steps; }
  QLineEdit* targetEdit() const { return m_target; }
  QString note() const { return m_note->text(); }
  /// "remove tokens by:", "blank patches by:" or "silence frames by:" (the model's modality).
  QString removeLabel() const { return m_removeLabel->text(); }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  QStringList chosenMethods() const;
  DeletionPlot* m_plot;
  std::map<QString, QCheckBox*> m_methods;
  QSpinBox* m_steps;
  QLineEdit* m_target;
  QLabel* m_note;
  QLabel* m_removeLabel;
  std::shared_ptr<const DeletionResult> m_result;
  quint64 m_pending = 0;
};

}  // namespace attnscope
