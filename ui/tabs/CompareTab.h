#pragma once
#include "AnalysisTab.h"
#include "CompareView.h"

namespace attnscope {

/// Full attention next to up to three variants on one input, with the difference map and the metrics.
class CompareTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit CompareTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Compare variants"); }
  QString key() const override { return "compare"; }
  void writeFigure(const QString& path, int dpi) const override;
  bool hasFigure() const override { return m_doc && m_doc->comparison(); }
  QString figureName() const override;
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  CompareView* view() const { return m_compare; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  CompareView* m_compare;
};

}  // namespace attnscope
