#pragma once
#include <QComboBox>
#include <QLabel>

#include "AnalysisTab.h"
#include "TokenLineView.h"
#include "WordLevel.h"

namespace attnscope {

/// BertViz-style token lines of the current head (or every head of the layer, one colour each).
class LinesTab : public AnalysisTab {
  Q_OBJECT
 public:
  explicit LinesTab(QWidget* parent = nullptr);
  QString title() const override { return tr("Token lines"); }
  QString key() const override { return "lines"; }
  void writeFigure(const QString& path, int dpi) const override;
  QJsonObject saveState() const override;
  void restoreState(const QJsonObject& state) override;
  TokenLineView* view() const { return m_lines; }
  /// 0: this head, 1: every head of the layer.
  QComboBox* headsBox() const { return m_heads; }

 protected:
  void refresh() override;
  void connectSignals() override;

 private:
  TokenLineView* m_lines;
  QComboBox* m_heads;
  QLabel* m_rule;
  WordLevel m_words;  ///< the word groups drawn (inactive: positions)
};

}  // namespace attnscope
