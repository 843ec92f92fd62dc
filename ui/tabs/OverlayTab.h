#pragma once
#include <QCheckBox>
#include <QImage>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>

#include "AnalysisTab.h"

namespace attnscope {

/// Attention drawn over the input itself: a query's attention (or rollout) over the image patches or the audio
/// spectrogram. Only for image and audio models.
class OverlayTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit OverlayTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Input overlay"); }
  QString key() const override { return "overlay"; }
  bool availableFor(const ModelSummary& summary) const override;
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return !m_image.isNull(); }
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  QLabel* label() const { return m_picture; }
  /// The overlay at full size (null before an image or audio model ran).
  const QImage& image() const { return m_image; }
  QSpinBox* queryBox() const { return m_query; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  QSpinBox* m_query;
  QCheckBox* m_rollout;
  QSlider* m_opacity;
  QLabel* m_picture;
  QImage m_image;
  quint64 m_pending = 0;
};

}  // namespace attnscope
