#pragma once
#include <QCheckBox>
#include <QComboBox>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <memory>

#include "AnalysisTab.h"
#include "TokenScoresPlot.h"

namespace attnscope {

/// How much one position draws on each input position, by a token method — attention rollout, attention flow, ALTI,
/// value zeroing or gradient × attention (TokenAttribution.h) — as bars over the positions (words when the view
/// state says so, a word getting the sum of its pieces) and, for image and audio models, drawn over the picture or
/// the spectrogram. Computed on the engine's thread while the tab is visible.
class AttributionTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit AttributionTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Attribution"); }
  QString key() const override { return "attribution"; }
  /// Every model: encoder–decoder ones are scored over their encoder (gradient × attention excepted).
  bool availableFor(const ModelSummary&) const override { return true; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_result != nullptr; }
  QString figureName() const override;
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;

  /// Shows \p result and \p overlay (what the run controller answers; tests hand in their own).
  void showResult(std::shared_ptr<const TokenAttribution> result, const QImage& overlay = QImage());
  TokenScoresPlot* plot() const { return m_plot; }
  QComboBox* methodBox() const { return m_method; }
  QSpinBox* positionBox() const { return m_position; }
  QLineEdit* targetEdit() const { return m_target; }
  /// The overlay shown (null for text models).
  QImage overlay() const { return m_overlay; }
  QString note() const { return m_note->text(); }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void redraw();
  TokenScoresPlot* m_plot;
  QLabel* m_picture;
  QComboBox* m_method;
  QSpinBox* m_position;
  QLineEdit* m_target;
  QLabel* m_note;
  std::shared_ptr<const TokenAttribution> m_result;
  QImage m_overlay;
  quint64 m_pending = 0;
};

}  // namespace attnscope
