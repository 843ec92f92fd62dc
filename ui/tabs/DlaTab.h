#pragma once
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QSpinBox>
#include <memory>

#include "AnalysisTab.h"
#include "DlaPlot.h"

namespace attnscope {

/// Direct logit attribution of the last run's input: what every head, every MLP and the embeddings add to the
/// target's logit at one position (the final norm's scale frozen at the actual residual, so the parts add up
/// to the logit), as a layers × heads grid on a diverging colour map beside an MLP column (encoder–decoder models:
/// the decoder's heads, then its cross-attention heads), with the largest parts listed. Clicking a head opens its
/// attention with the position's row pinned. Computed on the engine's thread while the tab is visible; offered
/// when the model summary says the residual stream is a sum of writes (pre-norm decoders, pre-norm
/// encoder–decoder models' decoders).
class DlaTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit DlaTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Logit attribution"); }
  QString key() const override { return "dla"; }
  bool availableFor(const ModelSummary& summary) const override { return summary.hasDirectAttribution; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_dla != nullptr; }
  QString figureName() const override { return modelName() + "-logit-attribution"; }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  /// Shows \p dla (what the run controller answers; tests hand in their own).
  void showAttribution(std::shared_ptr<const DirectLogitAttribution> dla);
  DlaPlot* plot() const { return m_plot; }
  /// The position whose logit is split (−1 = the last, shown as "last").
  QSpinBox* positionBox() const { return m_position; }
  QLineEdit* targetEdit() const { return m_target; }
  /// The parts, largest |value| first ("L3H2  +1.234").
  QListWidget* partsList() const { return m_parts; }
  QString note() const { return m_note->text(); }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  DlaPlot* m_plot;
  QSpinBox* m_position;
  QLineEdit* m_target;
  QLabel* m_note;
  QListWidget* m_parts;
  std::shared_ptr<const DirectLogitAttribution> m_dla;
  quint64 m_pending = 0;
};

}  // namespace attnscope
