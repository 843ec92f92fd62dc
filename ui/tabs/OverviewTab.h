#pragma once
#include <QComboBox>

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
  /// Frame metric: "" (none), entropy, distance, sink or importance.
  QComboBox* frameBox() const { return m_frame; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  void requestFrame();
  OverviewView* m_overview;
  QComboBox* m_frame;
  std::string m_shownStack;
  const CaptureResult* m_shownCapture = nullptr;
  quint64 m_pending = 0;
};

}  // namespace attnscope
